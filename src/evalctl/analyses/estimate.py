"""`evalctl estimate`: how is the model probably doing while its labels are late?

Each task with an estimator (`ESTIMATORS`; `analyses.estimators` says what one provides) is
fitted once per model version on the labelled reference and applied to every window of the
current selection, beside the realised metrics wherever labels exist: binary classifiers by
CBPE (`analyses.estimate_binary`), multiclass classifiers by one-vs-rest CBPE
(`analyses.estimate_multiclass`), regression models by direct loss estimation
(`analyses.estimate_regression`); `analyses.estimators.window_results` judges every window
of every estimator alike. Every task: the declared proxy columns per window
(`analyses.estimate_proxies`). One grouped query per side: rows aggregated by (window, version,
the estimator's columns), so memory grows with the distinct outputs per window, not with the
rows.

The back-test (labelled windows): mean and max absolute error of the estimate, band coverage,
and the windows the realised value *contradicts* (`estimate_backtest.contradicted`, one rule
for every estimator), with the concept-drift explanation in the recommendations.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import polars as pl

from evalctl.analyses import estimate_binary, estimate_multiclass, estimate_regression
from evalctl.analyses.common import chunk_index, overall_status, side_inputs
from evalctl.analyses.drift import calendar_window
from evalctl.analyses.estimate_backtest import backtest_summary, contradicted_recommendation
from evalctl.analyses.estimate_proxies import proxy_results, proxy_windows
from evalctl.analyses.estimators import (
    IDX,
    EstimateInput,
    Estimator,
    T,
    W,
    Y,
    window_results,
)
from evalctl.config import ModelConfig
from evalctl.errors import InputError
from evalctl.lake.selectors import Selector
from evalctl.lake.store import VERSION_COL, Selection, Store
from evalctl.reports import Report
from evalctl.reports.model import sort_worst_first
from evalctl.settings.sections import EstimateSettings

STRONG_CORRELATION = 0.5  # |r| over windows from which a proxy is said to track the metric
# task -> its estimator; a task without one (ranking) gets an `error` result and its proxies
ESTIMATORS: dict[str, Estimator] = {
    "binary_classification": estimate_binary.ESTIMATOR,
    "multiclass_classification": estimate_multiclass.ESTIMATOR,
    "regression": estimate_regression.ESTIMATOR,
}
ESTIMABLE_TASKS = frozenset(ESTIMATORS)


def estimator_for(model: ModelConfig) -> tuple[Estimator | None, str | None]:
    """The model's estimator, or None and why the task cannot be estimated for this model."""
    found = ESTIMATORS.get(model.task)
    if found is None:
        tasks = ", ".join(ESTIMATORS)
        return None, (f"performance estimation covers {tasks}; model {model.name!r} is "
                      f"{model.task}")
    why = found.unavailable(model)
    return (None, why) if why else (found, None)


def estimate_report(store: Store, model: ModelConfig, reference: Selector, current: Selector, *,
                    settings: EstimateSettings, windows: int | None = None) -> Report:
    """Estimated (and, where labelled, realised) performance per window, plus the proxies."""
    if windows is not None and windows < 1:
        raise InputError(f"--windows: expected at least 1 chunk, got {windows}")
    window = settings.window
    ref_sel, cur_sel = store.select(model.name, reference), store.select(model.name, current)
    key, step = (chunk_index(model.timestamp, windows), None) if windows else \
        calendar_window(model.timestamp, window, cur_sel)
    _check_versions(ref_sel, cur_sel)
    estimator, unavailable = estimator_for(model)
    if unavailable is not None and not model.proxies:
        raise InputError(f"estimate: {unavailable}, and the model declares no proxies")
    if estimator is not None:
        settings = estimator.settings(settings)
    own = estimator.columns(model) if estimator else {}
    in_versions = pl.col(VERSION_COL).is_in(cur_sel.versions)
    ref = _grouped(store.scan(model, reference, selection=ref_sel).filter(in_versions),
                   model, pl.lit(0), own)
    cur = _grouped(store.scan(model, current, selection=cur_sel), model, key, own)
    cur, bounds = _index_windows(cur, step, Y in own)
    inputs: dict[str, Any] = {"reference": side_inputs(ref_sel) | {"rows_used": int(
                              ref["n"].sum()), "versions_used": cur_sel.versions},
                              "current": side_inputs(cur_sel), "proxies": list(model.proxies),
                              "window": None if windows else window, "windows": windows,
                              "min_rows": settings.min_rows}
    proxies = proxy_windows(store, model, (ref_sel, ref), (cur_sel, cur), key, bounds,
                            settings) if model.proxies else {}
    if estimator is not None:
        data = EstimateInput(model, ref, cur, len(bounds), reference.text, settings, store,
                             (ref_sel, cur_sel), key)
        results, extra = window_results(estimator, data, bounds, proxies, settings)
        inputs |= extra
    else:
        results = [{"section": "estimate", "status": "error", "reason": unavailable}]
    if proxies:
        binary = model.task == "binary_classification" and estimator is not None
        results += proxy_results(proxies, cur if binary else None, bounds, results, settings)
    results = sort_worst_first(results, key="_")
    return Report(command="estimate", model=model.name, status=overall_status(results),
                  inputs=inputs, results=sort_worst_first(long_rows(results), key="_"),
                  summary=_summary(results, bounds, settings),
                  recommendations=_recommendations(results, model, settings,
                                                   (reference, current)))


# The per-metric keys of a window (`estimators.window_results`): the
# headline metric's flat, every metric's in dicts keyed by metric. `long_rows` turns them into
# one result per window and metric.
_PER_METRIC = ("metric", "estimate", "lower", "upper", "realized_value", "error", "estimated",
               "realized", "in_band", "metric_status", "metric_why")
_WINDOW_HEAD = ("section", "status", "window_start", "window_end", "rows", "labelled_rows")


def long_rows(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The results in long format: each window becomes one row per estimated metric (the
    headline metric first, then the estimator's order), with the metric's `estimated` value,
    band (`lower`, `upper`, `se`), `realized` value, `error` and `in_band`, and the window's
    own keys (rows, alerts, decided_by, contradicted, proxies...) repeated on each, as compare
    repeats a segment's. The headline metric's row has the window's `status` and `why` (its
    decision: every alert, proxies and contradiction included); another metric's row has that
    metric's own (`estimators.metric_verdicts`). Other results pass through."""
    out: list[dict[str, Any]] = []
    for row in results:
        if row.get("section") != "windows":
            out.append(row)
            continue
        head = {k: row[k] for k in _WINDOW_HEAD}
        tail = {k: v for k, v in row.items() if k not in _PER_METRIC and k not in head}
        estimated, realized, in_band = row["estimated"], row["realized"], row["in_band"]
        for metric in sorted(estimated, key=lambda m: m != row["metric"]):
            band_, actual = estimated[metric], (realized or {}).get(metric)
            value = band_["value"]
            own = {} if metric == row["metric"] else {"status": row["metric_status"][metric],
                                                      "why": row["metric_why"][metric]}
            out.append(head | {
                "metric": metric, "estimated": value, "lower": band_["lower"],
                "upper": band_["upper"], "se": band_["se"], "realized": actual,
                "error": None if actual is None or value is None else value - actual,
                "in_band": None if in_band is None else in_band.get(metric)} | tail | own)
    return out


def estimate_overall(store: Store, model: ModelConfig, reference: Selector, current: Selector,
                     metric: str) -> dict[str, Any]:
    """The estimate of `metric` over the whole current selection (one window), for the monitor:
    ``{value, low, high, n}`` with the band of `checks.estimate.confidence`. `value` is None, with
    a `reason`, when it cannot be estimated (task, metric, no labelled reference...)."""

    estimator, unavailable = estimator_for(model)
    gives = ", ".join(estimator.metrics) if estimator else ""
    if unavailable is not None:
        return {"value": None, "low": None, "high": None, "n": 0, "reason": unavailable}
    try:
        settings = model.settings.estimate
        report = estimate_report(store, replace(model, proxies=()), reference, current,
                                 settings=replace(settings, min_rows=1), windows=1)
    except InputError as exc:
        return {"value": None, "low": None, "high": None, "n": 0, "reason": str(exc)}
    row = next((r for r in report.results
                if r.get("section") == "windows" and r["metric"] == metric), None)
    if row is None:
        return {"value": None, "low": None, "high": None, "n": 0,
                "reason": f"{metric} cannot be estimated (the {model.task} estimator gives: "
                          f"{gives})"}
    return {"value": row["estimated"], "low": row["lower"], "high": row["upper"],
            "n": row["rows"]}


def _check_versions(ref: Selection, cur: Selection) -> None:
    missing = sorted(set(cur.versions) - set(ref.versions))
    if missing:
        raise InputError(f"--reference {ref.selector.text}: no rows of version "
                         f"{', '.join(missing)} (it has {', '.join(ref.versions)}); each version "
                         "is calibrated on its own reference rows")


def _grouped(lf: pl.LazyFrame, model: ModelConfig, key: pl.Expr, own: dict[str, pl.Expr]
             ) -> pl.DataFrame:
    """Rows per (window, version, the estimator's columns `own`) with the first and last
    timestamp and, per proxy, the count, sum and sum of squares of its finite values."""
    cols = [key.alias(W), pl.col(VERSION_COL), pl.col(model.timestamp).alias(T)]
    cols += [expr.alias(name) for name, expr in own.items()]
    keys = [W, VERSION_COL, *own]
    aggs = [pl.len().alias("n"), pl.col(T).min().alias("lo"), pl.col(T).max().alias("hi")]
    for i, name in enumerate(model.proxies):
        x = pl.col(name).cast(pl.Float64)
        cols.append(pl.when(x.is_finite()).then(x).alias(f"_x{i}"))
        aggs += [pl.col(f"_x{i}").count().alias(f"_x{i}n"), pl.col(f"_x{i}").sum().alias(
            f"_x{i}s"), (pl.col(f"_x{i}") ** 2).sum().alias(f"_x{i}q")]
    try:
        return lf.select(cols).group_by(keys).agg(aggs).collect()
    except (pl.exceptions.ColumnNotFoundError, pl.exceptions.InvalidOperationError) as exc:
        raise InputError(f"estimate: cannot read the selection: {str(exc).splitlines()[0]}"
                         ) from exc


def _index_windows(cur: pl.DataFrame, step: timedelta | None, labels: bool
                   ) -> tuple[pl.DataFrame, list[dict[str, Any]]]:
    """Windows in order: the frame gains their index; bounds, rows and labelled rows each."""
    labelled = pl.col("n").filter(pl.col(Y).is_not_null()).sum() if labels else pl.lit(0)
    frame = (cur.group_by(W).agg(pl.col("lo").min(), pl.col("hi").max(),
                                 pl.col("n").sum().alias("rows"), labelled.alias("labelled"))
             .sort(W).with_row_index(IDX))
    bounds = [{"window_start": r[W] if step else r["lo"],
               "window_end": r[W] + step if step else r["hi"], "rows": int(r["rows"]),
               "labelled_rows": int(r["labelled"] or 0), "_key": r[W]}
              for r in frame.iter_rows(named=True)]
    return cur.join(frame.select(W, IDX), on=W), bounds


# -- summary -----------------------------------------------------------------------------------

def _compared(results: list[dict[str, Any]], settings: EstimateSettings) -> list[dict[str, Any]]:
    """Windows with enough labels to check the estimate against the realised metric."""
    return sorted((r for r in results if r.get("section") == "windows"
                   and r["labelled_rows"] >= settings.min_rows and r["error"] is not None
                   and r["lower"] is not None), key=lambda r: r["window_start"])


def _summary(results: list[dict[str, Any]], bounds: list[dict[str, Any]],
             settings: EstimateSettings) -> dict[str, Any]:
    compared = _compared(results, settings)
    return {"windows": len(bounds), "labelled_windows": len(compared), "metric": settings.metric,
            **backtest_summary(compared)}


def _recommendations(results: list[dict[str, Any]], model: ModelConfig,
                     settings: EstimateSettings, sides: tuple[Selector, Selector]) -> list[str]:
    """What the estimate says and where to look next (`sides`: reference, current); `slices`
    is suggested only when the alerting windows hold labels, else `drift` (it needs none)."""
    reference, current = sides
    recs = [f"estimation is not available: {r['reason']}; tracking the proxies instead"
            for r in results if r.get("section") == "estimate"]
    windows = sorted((r for r in results if r.get("section") == "windows"),
                     key=lambda r: r["window_start"])
    alerts = [r for r in windows if r["status"] in ("warn", "fail")  # not only contradicted
              and len(r["alerts"]) > int(bool(r.get("contradicted")) and r["status"] == "warn")]
    if alerts:
        labelled = any(r["labelled_rows"] for r in alerts)
        where = (f"find where with: evalctl slices --model {model.name} --selector "
                 f"{current.text}" if labelled else
                 f"no labels there yet; see which inputs moved: evalctl drift --model "
                 f"{model.name} --reference {reference.text} --current {current.text}")
        side = "above" if model.task == "regression" else "below"  # a loss: lower is better
        recs.append(f"{len(alerts)} of {len(windows)} windows are estimated {side} the reference "
                    f"(first {_day(alerts[0]['window_start'])}); {where}")
    compared = _compared(results, settings)
    missed = [r for r in compared if not r["lower"] <= r["realized_value"] <= r["upper"]]
    contradicted = [r for r in compared if r.get("contradicted")]
    if model.task == "regression":
        recs += contradicted_recommendation(compared, settings.metric, (
            f"evalctl estimate --model {model.name} --reference "
            f"{_labelled_span(compared, current)} --current {current.text}") if compared else "")
    elif contradicted or len(missed) >= max(2, 0.2 * len(compared)):
        flagged = (f" and contradicts it in {len(contradicted)} (beyond twice the band, first "
                   f"{_day(contradicted[0]['window_start'])})" if contradicted else "")
        recs.append(f"the realised {settings.metric} fell outside the estimate's band in "
                    f"{len(missed)} of {len(compared)} labelled windows{flagged}: "
                    "P(label | model output) may have changed since the reference (concept "
                    "drift), which no label-free estimator can see; recalibrate on the recent "
                    f"labelled windows: evalctl estimate --model {model.name} --reference "
                    f"{_labelled_span(compared, current)} --current {current.text}")
    unlabelled = [r for r in windows if not r["labelled_rows"]]
    if unlabelled:
        recs.append(f"{len(unlabelled)} window(s) without labels yet "
                    f"({_day(unlabelled[0]['window_start'])} .. "
                    f"{_day(unlabelled[-1]['window_start'])}): judged on the estimate alone")
    best = next((r for r in results if r.get("rank") == 1 and r["corr_windows"] is not None),
                None)
    if best is not None:
        r = best["corr_windows"]
        strong = abs(r) >= STRONG_CORRELATION
        verb = ("tracks" if r > 0 else "inversely tracks") if strong else "does not track"
        recs.append(f"proxy {best['proxy']} {verb}" +
                    f" the realised {settings.metric} (correlation over "
                    f"{best['windows_correlated']} windows {best['corr_windows']:.2f})" +
                    ("" if strong else ": do not read it as a performance signal"))
    return recs


def _labelled_span(compared: list[dict[str, Any]], current: Selector) -> str:
    """A selector over the labelled windows: the current env and version, their days."""
    first = _day(compared[0]["window_start"])
    end = compared[-1]["window_end"]
    last = _day(end - timedelta(microseconds=1)) if isinstance(end, datetime) else _day(end)
    name = current.env + (f":{current.version}" if current.version else "")
    return f"{name}@{first}..{max(first, last)}"


def _day(value: Any) -> str:
    return value.date().isoformat() if hasattr(value, "date") else str(value)
