"""`evalctl estimate`: how is the model probably doing while its labels are late?

Each task with an estimator (`ESTIMATORS`; `analyses.estimators` says what one provides) is
fitted once per model version on the labelled reference and applied to every window of the
current selection, beside the realised metrics wherever labels exist: binary classifiers by
CBPE (`analyses.estimate_binary`), multiclass classifiers by one-vs-rest CBPE
(`analyses.estimate_multiclass`). Every task: the declared proxy columns per window (mean,
Welch test and PSI against the reference, correlation with the realised metric). One grouped
query per side: rows aggregated by (window, version, the estimator's columns), so memory
grows with the distinct outputs per window, not with the rows; with proxies, PSI adds the
reference binning and one summary scan of the current (`evalctl.stats`).

The back-test (labelled windows): mean and max absolute error of the estimate, band coverage,
and the windows the realised value *contradicts* (`estimators.is_contradicted`, one rule for
every estimator), with the concept-drift explanation in the recommendations.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import polars as pl

from evalctl.analyses import estimate_binary, estimate_multiclass
from evalctl.analyses.common import chunk_index, overall_status, side_inputs
from evalctl.analyses.drift import calendar_window
from evalctl.analyses.estimate_backtest import (
    backtest_summary,
    contradicted_recommendation,
    decided_by,
    metric_why,
)
from evalctl.analyses.estimate_regression import (
    dle_unavailable,
    regression_settings,
    regression_windows,
)
from evalctl.analyses.estimators import (
    IDX,
    EstimateInput,
    Estimates,
    Estimator,
    P,
    T,
    W,
    Y,
    band,
    is_contradicted,
)
from evalctl.analyses.performance import finite
from evalctl.checks import compute_score
from evalctl.config import ModelConfig
from evalctl.errors import InputError
from evalctl.lake.selectors import Selector
from evalctl.lake.store import VERSION_COL, Selection, Store
from evalctl.metrics.intervals import z_value
from evalctl.reports import Report
from evalctl.reports.model import sort_worst_first
from evalctl.settings.sections import EstimateSettings, ProxyRule
from evalctl.stats import cbpe, fit_binning, summarize

INSUFFICIENT = "insufficient"
STRONG_CORRELATION = 0.5  # |r| over windows from which a proxy is said to track the metric
MIN_CORRELATED_WINDOWS = 5  # labelled windows needed before correlating proxy and metric
# task -> its estimator; a task without one (ranking) gets an `error` result and its proxies
ESTIMATORS: dict[str, Estimator] = {
    "binary_classification": estimate_binary.ESTIMATOR,
    "multiclass_classification": estimate_multiclass.ESTIMATOR,
}
# every task `estimate` can estimate: CBPE per ESTIMATORS, direct loss estimation for regression
ESTIMABLE_TASKS = frozenset({*ESTIMATORS, "regression"})


def estimator_for(model: ModelConfig) -> tuple[Estimator | None, str | None]:
    """The model's estimator, or None and why the task cannot be estimated for this model."""
    found = ESTIMATORS.get(model.task)
    if found is None:
        tasks = ", ".join(ESTIMATORS)
        return None, (f"performance estimation covers {tasks}; model {model.name!r} is "
                      f"{model.task}")
    why = found.unavailable(model)
    return (None, why) if why else (found, None)


def task_settings(settings: EstimateSettings, estimator: Estimator) -> EstimateSettings:
    """The settings with the shown and judged metrics the task estimates: the defaults name
    the binary metrics; a config's names were checked against the task when it was loaded."""

    judged = tuple(m for m in settings.metrics if m in estimator.metrics) or estimator.metrics
    shown = settings.metric if settings.metric in estimator.metrics else estimator.metrics[0]
    return replace(settings, metrics=judged, metric=shown)


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
    regression = model.task == "regression"  # direct loss estimation (estimate_regression)
    if regression:
        estimator, unavailable = None, dle_unavailable(model)
        settings = regression_settings(settings)
    else:
        estimator, unavailable = estimator_for(model)
    if unavailable is not None and not model.proxies:
        raise InputError(f"estimate: {unavailable}, and the model declares no proxies")
    if estimator is not None:
        settings = task_settings(settings, estimator)
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
    proxies = _proxy_windows(store, model, (ref_sel, ref), (cur_sel, cur), key, bounds,
                             settings) if model.proxies else {}
    if estimator is not None:
        data = EstimateInput(model, ref, cur, len(bounds), reference.text, store,
                             (ref_sel, cur_sel), key)
        results, extra = _window_results(estimator, data, bounds, proxies, settings)
        inputs |= extra
    elif unavailable is None:
        results, extra = regression_windows(store, model, (ref_sel, cur_sel), key, bounds,
                                            proxies, settings)
        inputs |= extra
    else:
        results = [{"section": "estimate", "status": "error", "reason": unavailable}]
    if proxies:
        binary = model.task == "binary_classification" and estimator is not None
        results += _proxy_results(proxies, cur if binary else None, bounds, results, settings)
    results = sort_worst_first(results, key="_")
    return Report(command="estimate", model=model.name, status=overall_status(results),
                  inputs=inputs, results=long_rows(results),
                  summary=_summary(results, bounds, settings),
                  recommendations=_recommendations(results, model, settings,
                                                   (reference, current)))


# The per-metric keys of a window (`_window_result`, `estimate_regression._window_row`): the
# headline metric's flat, every metric's in dicts keyed by metric. `long_rows` turns them into
# one result per window and metric.
_PER_METRIC = ("metric", "estimate", "lower", "upper", "realized_value", "error", "estimated",
               "realized", "in_band", "metric_why")
_WINDOW_HEAD = ("section", "status", "window_start", "window_end", "rows", "labelled_rows")


def long_rows(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The results in long format: each window becomes one row per estimated metric (the
    headline metric first, then the estimator's order), with the metric's `estimated` value,
    band (`lower`, `upper`, `se`), `realized` value, `error` and `in_band`, and the window's
    own keys (status, rows, alerts, proxies...) repeated on each, as compare repeats a
    segment's. `why` is the window's on the headline metric's row, and on another metric's row
    that metric's own alert (None without one). Other results pass through."""
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
            own = {} if metric == row["metric"] else {"why": row["metric_why"].get(metric)}
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

    if model.task == "regression":  # direct loss estimation, through estimate_report
        estimator, unavailable, gives = None, dle_unavailable(model), "mae, rmse"
    else:
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


# -- estimates per window ----------------------------------------------------------------------

def _window_results(estimator: Estimator, data: EstimateInput, bounds: list[dict[str, Any]],
                    proxies: dict[str, list[dict[str, Any]]], settings: EstimateSettings
                    ) -> tuple[list[dict[str, Any]], dict[str, Any]]:

    fitted = estimator.estimate(data)
    z = z_value(settings.confidence)
    results = [_window_result(i, b, fitted.estimated, fitted.realised,
                              fitted.reference_realised, proxies, settings, z,
                              bounded=estimator.bounded)
               for i, b in enumerate(bounds)]
    extra = {"metric": settings.metric, "reference_realized": fitted.reference_realised,
             "reference_labelled_rows": int(data.ref.filter(pl.col(Y).is_not_null())["n"].sum()),
             **fitted.inputs, "uncertainty": estimator.uncertainty,
             "confidence": settings.confidence,
             "thresholds": {"metrics": list(settings.metrics), "min": settings.minimum,
                            "warn_drop": settings.warn_drop, "fail_drop": settings.fail_drop}}
    return results, extra


def _window_result(i: int, bound: dict[str, Any], est: Estimates, real: Estimates,
                   ref_real: dict[str, float | None], proxies: dict[str, list[dict[str, Any]]],
                   settings: EstimateSettings, z: float, bounded: bool = True) -> dict[str, Any]:
    estimated = {m: band(values, errors, i, z, bounded) for m, (values, errors) in est.items()}
    realized = {m: finite(v[i]) for m, (v, _) in real.items()} if bound["labelled_rows"] else None
    points = {name: series[i] for name, series in proxies.items()}
    head = estimated[settings.metric]
    actual = realized[settings.metric] if realized else None
    status, alerts = _window_status(estimated, ref_real, points, bound["rows"], settings)
    why = [a["why"] for a in alerts]
    decided = decided_by(alerts, settings.metric) if status in ("warn", "fail") else None
    contradicted = bound["labelled_rows"] >= settings.min_rows and is_contradicted(
        head, actual, z)
    if contradicted and status in ("pass", "warn"):
        status = "warn"
        why.append(f"realised {settings.metric} {actual:.3f} contradicts the estimate: "
                   "P(label | model output) changed since the reference?")
    return {
        "section": "windows", "status": status,
        **{k: v for k, v in bound.items() if k != "_key"},
        "metric": settings.metric, "estimate": head["value"], "lower": head["lower"],
        "upper": head["upper"], "realized_value": actual,
        "error": None if actual is None or head["value"] is None else head["value"] - actual,
        "why": why[0] + (f" (+{len(why) - 1} more)" if len(why) > 1 else "") if why else None,
        "reason": why[0] if status == "error" else None, "alerts": why,
        "decided_by": decided,
        "decided_by_text": alerts[0]["why"] if decided else None, "metric_why": metric_why(alerts),
        "estimated": estimated, "realized": realized, "contradicted": contradicted,
        "in_band": None if realized is None else cbpe.inside_band(estimated, realized),
        "proxies": {n: {k: v for k, v in p.items() if k != "why"} for n, p in points.items()},
        "proxy_means": [p["mean"] for p in points.values()]}


def _window_status(estimated: dict[str, dict[str, float | None]],
                   ref_real: dict[str, float | None], points: dict[str, dict[str, Any]],
                   rows: int, settings: EstimateSettings
                   ) -> tuple[str, list[dict[str, Any]]]:
    """The window's status and every alert behind it (failures first), each with its `why`
    (and, for an estimated metric, `check`, `value`, `threshold`)."""
    if rows < settings.min_rows:
        return INSUFFICIENT, [{"why": f"fewer than {settings.min_rows} rows: not judged"}]
    if estimated[settings.metric]["value"] is None:
        return "error", [{"why": f"{settings.metric} cannot be estimated: no rows with a "
                                 "finite score and a 0/1 prediction"}]
    alerts = cbpe.judge_window(estimated, ref_real, settings.metrics, settings.minimum,
                               settings.warn_drop, settings.fail_drop)
    alerts += [{"status": "warn", "why": p["why"]} for p in points.values()
               if p["status"] == "warn"]
    status = "fail" if any(a["status"] == "fail" for a in alerts) else (
        "warn" if alerts else "pass")
    return status, alerts




# -- proxies -----------------------------------------------------------------------------------

def _proxy_windows(store: Store, model: ModelConfig, ref_side: tuple[Selection, pl.DataFrame],
                   cur_side: tuple[Selection, pl.DataFrame], key: pl.Expr,
                   bounds: list[dict[str, Any]], settings: EstimateSettings
                   ) -> dict[str, list[dict[str, Any]]]:
    """Per proxy, one point per window (`cbpe.proxy_point`) plus its PSI vs the reference."""
    (ref_sel, ref), (cur_sel, cur) = ref_side, cur_side
    psi = _proxy_psi(store, model, ref_sel, cur_sel, key)
    sums = pl.col(r"^_x\d+[nsq]$").sum()
    per_window = cur.group_by(IDX).agg(sums).sort(IDX).to_dicts()
    ref_sums = ref.select(sums).row(0, named=True)
    out = {}
    for i, name in enumerate(model.proxies):
        rule = settings.proxies.get(name, ProxyRule())

        def side(row: dict[str, Any], i: int = i) -> tuple[float, float, float]:
            return (float(row[f"_x{i}n"] or 0), float(row[f"_x{i}s"] or 0),
                    float(row[f"_x{i}q"] or 0))

        points = []
        for row, bound in zip(per_window, bounds, strict=True):
            point = cbpe.proxy_point(name, side(ref_sums), side(row), (rule.minimum, rule.maximum))
            point["psi"] = psi.get((bound["_key"], name))
            if bound["rows"] < settings.min_rows:
                point["status"], point["why"] = INSUFFICIENT, None
            points.append(point)
        out[name] = points
    return out


def _proxy_psi(store: Store, model: ModelConfig, ref_sel: Selection, cur_sel: Selection,
               key: pl.Expr) -> dict[tuple[Any, str], float | None]:
    """PSI of every proxy in every window (reference-decile bins, `evalctl.stats`)."""

    kinds = dict.fromkeys(model.proxies, "numeric")
    ref_lf = store.scan(model, ref_sel.selector, with_actuals=False, selection=ref_sel).filter(
        pl.col(VERSION_COL).is_in(cur_sel.versions))
    cur_lf = store.scan(model, cur_sel.selector, with_actuals=False, selection=cur_sel)
    binning = fit_binning(ref_lf, kinds)
    ref = summarize(ref_lf, binning)[None]
    return {(w, p): compute_score(ref[p], summary[p], "numeric", "psi").value
            for w, summary in summarize(cur_lf, binning, by=key).items() for p in kinds}


def _proxy_results(proxies: dict[str, list[dict[str, Any]]], cur: pl.DataFrame | None,
                   bounds: list[dict[str, Any]], windows: list[dict[str, Any]],
                   settings: EstimateSettings) -> list[dict[str, Any]]:
    """One result per proxy: latest window, correlations with the realised metric, ranked."""
    realised = np.full(len(bounds), np.nan)
    for i, w in enumerate(r for r in windows if r.get("section") == "windows"):
        if w["labelled_rows"] >= settings.min_rows and w["realized_value"] is not None:
            realised[i] = w["realized_value"]
    by_rows = _row_correlations(cur, list(proxies)) if cur is not None else {}
    out = []
    for name, points in proxies.items():
        means = np.array([np.nan if p["mean"] is None else p["mean"] for p in points])
        both = np.isfinite(means) & np.isfinite(realised)
        judged = [p for p in points if p["status"] != INSUFFICIENT]
        latest = judged[-1] if judged else points[-1]
        out.append({
            "section": "proxies", "status": latest["status"], "proxy": name,
            **{k: latest[k] for k in ("mean", "reference_mean", "diff", "p_value", "psi")},
            "corr_windows": finite(cbpe.pearson(means, realised)) if both.sum()
            >= MIN_CORRELATED_WINDOWS else None, "windows_correlated": int(both.sum()),
            **by_rows.get(name, {"corr_rows": None, "corr_label": None, "labelled_rows": 0}),
            "series": [{k: v for k, v in b.items() if k != "_key"} | p
                       for b, p in zip(bounds, points, strict=True)]})
    order = sorted(out, key=lambda r: (-abs(r["corr_windows"] or 0), -abs(r["corr_rows"] or 0)))
    for rank, result in enumerate(order, start=1):
        result["rank"] = rank
    return order


def _row_correlations(cur: pl.DataFrame, names: list[str]) -> dict[str, dict[str, Any]]:
    """Point-biserial correlation of each proxy with correctness and with the label."""
    labelled = cur.filter(pl.col(Y).is_not_null() & pl.col(P).is_in([0, 1]))
    right, y = (pl.col(P) == pl.col(Y)).cast(pl.Float64), pl.col(Y).cast(pl.Float64)
    aggs = []
    for i in range(len(names)):
        n, s = pl.col(f"_x{i}n"), pl.col(f"_x{i}s")
        aggs += [n.sum().alias(f"n{i}"), s.sum().alias(f"s{i}"), pl.col(f"_x{i}q").sum().alias(
            f"q{i}"), (n * right).sum().alias(f"c{i}"), (s * right).sum().alias(f"sc{i}"),
            (n * y).sum().alias(f"y{i}"), (s * y).sum().alias(f"sy{i}")]
    row = {k: float(v or 0) for k, v in labelled.select(aggs).row(0, named=True).items()}
    return {name: {
        "corr_rows": finite(cbpe.correlation_from_sums(
            row[f"n{i}"], row[f"s{i}"], row[f"c{i}"], row[f"q{i}"], row[f"c{i}"], row[f"sc{i}"])),
        "corr_label": finite(cbpe.correlation_from_sums(
            row[f"n{i}"], row[f"s{i}"], row[f"y{i}"], row[f"q{i}"], row[f"y{i}"], row[f"sy{i}"])),
        "labelled_rows": int(row[f"n{i}"])} for i, name in enumerate(names)}


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
