"""The individual checks `evalctl monitor` runs for one model and one day.

Each returns result rows: ``check``, ``feature`` (or None), ``value``, ``threshold``,
``status`` and a one-line ``summary`` with the numbers that led to the status.
"""

from __future__ import annotations

import statistics
from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import polars as pl

from evalctl.analyses.drift import drift_report
from evalctl.checks.multivariate import ClassifierTestOptions
from evalctl.clock import parse_utc
from evalctl.config import ModelConfig
from evalctl.errors import EngineUnavailable, EvalctlError
from evalctl.lake.selectors import Selector, parse_selector
from evalctl.lake.store import LABEL_AT_COL, LABEL_SOURCE_COL, Store
from evalctl.settings.sections import MonitorSettings

if TYPE_CHECKING:  # only a type here: the Spark engine loads when one is given
    from evalctl.engines.spark import SparkEngine

VOLUME_HISTORY_DAYS = 14


def rows_per_day(store: Store, model: ModelConfig) -> dict[date, int]:
    """Production rows per partition date, from the ledger (no data scan)."""
    out: dict[date, int] = {}
    for record in store.prediction_records(model.name):
        if record.env == "production":
            for f in record.files:
                day = date.fromisoformat(f.date)
                out[day] = out.get(day, 0) + f.rows
    return out


def volume(store: Store, model: ModelConfig, day: date, s: MonitorSettings) -> dict[str, Any]:
    """The window's row count against the median of the previous 14 days with data."""
    counts = rows_per_day(store, model)
    rows = counts.get(day, 0)
    history = [n for d, n in counts.items() if day - timedelta(VOLUME_HISTORY_DAYS) <= d < day]
    usual = statistics.median(history) if history else None
    if rows == 0:
        return {"check": "volume", "value": 0, "threshold": usual, "status": "fail",
                "summary": f"no production data for {day}: a broken upstream source?"}
    if usual is None:
        return {"check": "volume", "value": rows, "threshold": None, "status": "pass",
                "summary": f"{rows:,} rows (no earlier days to compare with)"}
    change = rows / usual - 1
    status = "fail" if abs(change) >= s.volume_fail else (
        "warn" if abs(change) >= s.volume_warn else "pass")
    return {"check": "volume", "value": rows, "threshold": usual, "change": change,
            "status": status, "summary": f"{rows:,} rows vs usual {usual:,.0f} "
                                         f"({change:+.0%}; warn at ±{s.volume_warn:.0%})"}


def freshness(store: Store, model: ModelConfig, day: date, s: MonitorSettings,
              now: datetime) -> dict[str, Any]:
    """Hours between the newest stored timestamp and the end of the window (or now)."""
    stamps = [r.max_timestamp for r in store.prediction_records(model.name)
              if r.env == "production" and r.max_timestamp]
    end = min(datetime.combine(day + timedelta(days=1), datetime.min.time()),
              now.replace(tzinfo=None))
    if not stamps:
        return {"check": "freshness", "value": None, "status": "fail",
                "threshold": s.freshness_hours, "summary": "no production data at all"}
    newest = max(parse_utc(t) for t in stamps)  # Z, or the +00:00 / naive of older ledgers
    lag = max((end - newest).total_seconds() / 3600, 0.0)
    status = "fail" if lag > 2 * s.freshness_hours else (
        "warn" if lag > s.freshness_hours else "pass")
    return {"check": "freshness", "value": lag, "threshold": s.freshness_hours,
            "status": status, "summary": f"newest prediction {newest:%Y-%m-%d %H:%M}, "
                                         f"{lag:.1f} h before the end of the window"}


def labels(lf: pl.LazyFrame, model: ModelConfig, s: MonitorSettings) -> dict[str, Any]:
    """Label coverage of the window, and how long delayed labels took to arrive."""
    if not model.label:
        return {"check": "labels", "value": None, "status": "pass", "threshold": None,
                "coverage": 0.0, "summary": "the model has no label column"}
    row = lf.select(
        pl.len().alias("rows"), pl.col(model.label).is_not_null().sum().alias("labelled"),
        ((pl.col(LABEL_AT_COL) - pl.col(model.timestamp)).dt.total_seconds() / 3600)
        .filter(pl.col(LABEL_SOURCE_COL) == "actuals").median().alias("latency_h"),
    ).collect().row(0, named=True)
    coverage = row["labelled"] / row["rows"] if row["rows"] else 0.0
    status = "warn" if coverage < s.min_label_coverage else "pass"
    latency = row["latency_h"]
    text = f"{coverage:.0%} of {row['rows']:,} predictions have ground truth"
    if latency is not None:
        text += f"; delayed labels arrived after {latency:.0f} h (median)"
    return {"check": "labels", "value": coverage, "threshold": s.min_label_coverage,
            "status": status, "coverage": coverage, "labelled": int(row["labelled"]),
            "latency_hours": latency, "summary": text}


def drift(store: Store, model: ModelConfig, day: date, s: MonitorSettings,
          spark: SparkEngine | None = None, engine: str = "auto"
          ) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Each column's drift vs the reference over the last `drift_days` days, judged on `day`
    (a scan runs on `spark` when given; `engine` as `drift --engine`), and where its
    summaries came from (drift's ``engine`` and ``engine_reason``; empty when drift could
    not be computed). An engine that was asked for and cannot serve the question is the
    caller's error (`EngineUnavailable`, exit 2), not a drift row."""

    settings = model.settings.drift
    start = day - timedelta(days=s.drift_days - 1)
    current = Selector(text=f"production@{start}..{day}", env="production", start=start,
                       end=day)
    try:
        report = drift_report(store, model, parse_selector(s.reference), current,
                              settings=replace(settings, window="1d"), engine=engine,
                              spark=spark)
    except EngineUnavailable:
        raise
    except EvalctlError as exc:
        return [{"check": "drift", "value": None, "threshold": None, "status": "error",
                 "reason": str(exc), "summary": f"drift not computed: {exc}"}], {}
    how = {k: str(report.inputs[k]) for k in ("engine", "engine_reason")}
    return [_drift_row(r) for r in report.results], how


def _drift_row(r: dict[str, Any]) -> dict[str, Any]:
    """One column's drift row; when a data-quality check, not the measure, set the status,
    `decided_by` and the summary name it."""
    run = trailing_crossings([p["status"] for p in r["series"]])
    decided = r.get("decided_by")
    summary = f"{r['feature']}: {r.get('method')} {_fmt(r['score'])}"
    if decided:
        summary += (f" (fail at {_fmt(r.get('threshold'))}); {r['status']} set by the "
                    f"data-quality check {r['decided_by_text']}")
    if run:
        summary += f", {'alerting' if decided else 'drifting'} for {run} day(s)"
    return {"check": "drift", "feature": r["feature"], "value": r["score"],
            "threshold": r.get("threshold"), "status": r["status"],
            "method": r.get("method"), "onset": r.get("onset"),
            "windows_crossed_in_a_row": run, "reason": r.get("reason"),
            "decided_by": decided, "decided_by_text": r.get("decided_by_text"),
            "kind": r.get("kind"), "role": r.get("role"), "p_test": r.get("p_test"),
            "p_value": r.get("p_value"), "p_adjusted": r.get("p_adjusted"),
            "summary": summary}


def multivariate(store: Store, model: ModelConfig, day: date, s: MonitorSettings
                 ) -> dict[str, Any]:
    """`monitor.multivariate`: a classifier two-sample test of the day's production rows
    against the reference (sampled as `drift --multivariate` samples one window), with the
    features the classifier relied on (permutation importance)."""
    from evalctl.analyses.multivariate import (  # scikit-learn: only when configured
        MIN_AUROC,
        TOP_FEATURES,
        multivariate_features,
        one_window_test,
    )

    settings = model.settings.drift
    window = Selector(text=f"production@{day}", env="production", start=day, end=day)
    try:
        reference, current = (store.select(model.name, sel)
                              for sel in (parse_selector(s.reference), window))
        start = datetime.combine(day, datetime.min.time())
        test = one_window_test(
            store.scan(model, reference.selector, with_actuals=False, selection=reference),
            store.scan(model, window, with_actuals=False, selection=current),
            multivariate_features(model, settings),
            (start, start + timedelta(days=1), current.rows), settings, ClassifierTestOptions())
    except EvalctlError as exc:
        return {"check": "multivariate", "value": None, "threshold": MIN_AUROC,
                "status": "error", "reason": str(exc),
                "summary": f"multivariate test not computed: {exc}"}
    keep = ("auroc", "ci_low", "ci_high", "p_value", "rows_reference", "rows_window",
            "top_features", "reason")
    row = {"check": "multivariate", "value": test["auroc"], "threshold": MIN_AUROC,
           "status": test["status"], **{k: test[k] for k in keep},
           "importance": test["importance"][:TOP_FEATURES]}
    if test["auroc"] is None:
        row["summary"] = f"not judged: {test['reason']}"
    else:
        row["summary"] = (f"reference vs window AUROC {test['auroc']:.3f} "
                          f"[{test['ci_low']:.3f}, {test['ci_high']:.3f}], p {test['p_value']:.2g}"
                          + (f"; driven most by {test['top_features']}"
                             if test["top_features"] else ""))
    return row


def trailing_crossings(statuses: list[str]) -> int:
    """How many judged windows at the end of the series crossed (warn or fail) in a row."""
    run = 0
    for status in reversed(statuses):
        if status in ("insufficient", "error"):
            continue
        if status not in ("warn", "fail"):
            break
        run += 1
    return run


def _fmt(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, int | float) else "n/a"
