"""`evalctl rca`: the metric changed between two windows - which population shift or which
segment explains it, is a pipeline problem involved, and what should be done.

How the lake is read (whatever the number of features):

1. `fit_binning` on the baseline (a stride sample of at most FIT_SAMPLE rows, read once into
   memory and kept for the co-shift check below): the same reference bins skew and drift use;
2. one `summarize` per side (reference, baseline, current), each row's window key being
   ``side * 10 + term code * 2 + from actuals``. For a 0/1 metric (accuracy) the term code
   (unlabelled / wrong / right) makes the per-window cell counts the segment tables themselves,
   so the same pass gives every feature's segment counts, the drift between the windows and
   the skew of each against the reference (summaries merge exactly across keys);
3. only for metrics with a continuous row term (Brier, log loss, MAE): one more plan with one
   shared scan per window and a group-by per feature (sums and sums of squares of the term).

Segments: numeric features are cut at baseline quantiles (`bins`, at fine-cell edges of the
summary: exact below ~1,000 distinct values, otherwise within one fine cell, ~0.1% of rows);
categorical features take the baseline vocabulary (top 50) with levels under `min_share` of
the rows in both windows grouped with the others as ``<other>``. Nulls (and ±inf) are a segment.
A small extra summarize (on samples) runs only when a population shift was found and other
columns drifted without explaining anything: no drift outside the responsible segment means
they moved with the shift (`co_shift`) rather than on their own (a data-quality suspect).
"""

from __future__ import annotations

from typing import Any

import polars as pl

from evalctl.analyses.common import checked_columns, side_inputs
from evalctl.analyses.hints import joinable_selectors
from evalctl.analyses.performance import LOWER_IS_BETTER
from evalctl.analyses.rca_findings import (
    drift_fields,
    explain_causes,
    feature_row,
    output_row,
    recommendations,
)
from evalctl.analyses.rca_metric import rca_metric, row_term
from evalctl.analyses.rca_multivariate import (
    joint_attribution,
    joint_recommendation,
    rank_by_importance,
)
from evalctl.analyses.rca_segments import (
    BASE,
    CUR,
    OVERALL,
    REF,
    cells_table,
    feature_vocabulary,
    merge_side,
    segment_edges,
    segment_query,
    summarize_sides,
)
from evalctl.analyses.skew import judge_features
from evalctl.checks.multivariate import require_sklearn
from evalctl.config import ModelConfig
from evalctl.errors import SelectorError
from evalctl.lake.selectors import Selector
from evalctl.lake.store import Selection, Store
from evalctl.reports import Report
from evalctl.reports.model import sort_worst_first, worst_status
from evalctl.settings.sections import DriftSettings, RcaSettings
from evalctl.slicing.predicates import Predicate, slice_expr
from evalctl.stats import Binning, fit_binning, summarize
from evalctl.stats.decompose import classify, feature_segments, judge_change

FIT_SAMPLE = 1_000_000


def rca_report(store: Store, model: ModelConfig, baseline: Selector, current: Selector, *,
               settings: RcaSettings, drift: DriftSettings, reference: Selector | None = None,
               reference_required: bool = False) -> Report:
    """Explain the metric change from `baseline` to `current` (see the module docstring)."""
    metric = rca_metric(model, settings.metric)
    term = row_term(model, metric)
    if settings.multivariate:

        require_sklearn("checks.rca.multivariate (or --multivariate)",
                        key=f"models.{model.name}.checks.rca.multivariate")
    windows = [store.select(model.name, s) for s in (baseline, current)]
    ref = _reference(store, model, reference, reference_required)
    kinds = checked_columns(model, drift)
    sample = _baseline_sample(store, model, windows[0], kinds)
    binning = fit_binning(sample.lazy(), kinds, top_k=drift.top_k)
    by_key = summarize_sides(store, model, [ref, *windows], binning,
                             term if metric == "accuracy" else None)
    sides = {side: merge_side(by_key, side) for side in (REF, BASE, CUR)}
    features = {f: k for f, k in model.features.items() if f in kinds and f not in binning.errors}
    edges = {f: segment_edges(sides[BASE][f], settings.bins) for f, k in features.items()
             if k == "numeric"}
    if metric == "accuracy":
        table = cells_table(by_key, binning, features, edges)
    else:
        labelled = [store.scan(model, s.selector, selection=s) for s in windows]
        table = segment_query(labelled, binning, features, edges, term)
    change = measure_change(table, metric, settings)
    inputs = {"baseline": _side(windows[0], table, BASE), "current": _side(windows[1], table, CUR),
              "reference": side_inputs(ref) if ref else None, "metric": metric,
              "max_drop": settings.max_drop, "min_labels": settings.min_labels}
    hints: dict[str, Any] = {"join": None, "estimate_reference": None}
    if change["mode"] == "within_noise":
        return _report(model, inputs, [change], change, [], settings, hints)
    drifted = judge_features(kinds, sides[BASE], sides[CUR], drift, None)
    skewed = ([judge_features(kinds, sides[REF], sides[s], drift, None) for s in (BASE, CUR)]
              if ref else [])
    rows = [feature_row(feature_segments(table, f, k, edges.get(f, []),
                                         feature_vocabulary(binning, f), settings.min_share),
                        change, metric)
            for f, k in features.items()]
    rows += [{"section": "causes", "feature": f, "kind": kinds[f], "status": "error",
              "reason": binning.errors[f], "segments": 0, "explained": None, "top": None,
              "top_segment": None} for f in model.features if f in binning.errors]
    for row in rows:
        row |= drift_fields(row["feature"], drifted, skewed)
        row["reference"] = ref.selector.text if ref else None
        classify(row, change, settings.min_explained, settings.max_drop)
    _check_co_shift(rows, store, model, windows, binning, drift, sample)
    outputs = [output_row(c, drifted, skewed) for c in kinds if c not in model.features]
    hints = _hints(store, model, ref, windows[1], rows, change)
    if settings.multivariate:

        joint = joint_attribution(store, model, windows, drift)
        rank_by_importance(rows, joint)
        hints["joint"] = joint
    return _report(model, inputs, [change, *rows, *outputs], change, rows, settings, hints)


def _hints(store: Store, model: ModelConfig, ref: Selection | None, current: Selection,
           rows: list[dict[str, Any]], change: dict[str, Any]) -> dict[str, Any]:
    """What the recommendations may point at on this store: a row-by-row skew whose selectors
    share ids (only looked for when a pipeline suspect needs one), and `validation` as the
    reference of `evalctl estimate` when it holds every version of the current window."""
    join = None
    if ref is not None and any(r.get("mode") in ("pipeline", "drift_without_effect")
                               for r in rows):
        found = joinable_selectors(store, model, ref.selector, current.selector)
        join = found.command(model) if found else None
    validated = {r.version for r in store.prediction_records(model.name)
                 if r.env == "validation"}
    estimate_reference = None
    if not change.get("measured") and set(current.versions) <= validated:
        estimate_reference = "validation"
    return {"join": join, "estimate_reference": estimate_reference}


def _reference(store: Store, model: ModelConfig, reference: Selector | None,
               required: bool) -> Selection | None:
    if reference is None:
        return None
    try:
        return store.select(model.name, reference)
    except SelectorError:
        if required:
            raise
        return None


def _sample(lf: pl.LazyFrame, rows: int) -> pl.LazyFrame:
    """A deterministic stride sample of at most about FIT_SAMPLE rows (all rows below it)."""
    step = -(-rows // FIT_SAMPLE)
    return lf.gather_every(step) if step > 1 else lf


def _baseline_sample(store: Store, model: ModelConfig, baseline: Selection,
                     kinds: dict[str, str]) -> pl.DataFrame:
    """The baseline's stride sample (`_sample`), its checked columns read once into memory
    (at most ~FIT_SAMPLE rows): the binning is fitted on it in a few passes and the co-shift
    check reads its baseline side from it, where each would otherwise read the baseline's
    files again (two to three times for the fit). The streaming engine keeps every n-th row
    as it reads (the same rows; the in-memory engine read the whole window first: at 5M rows
    a 2.0 GiB peak instead of 0.75 GiB)."""
    lf = store.scan(model, baseline.selector, with_actuals=False, selection=baseline)
    present = lf.collect_schema()
    return _sample(lf.select([c for c in kinds if c in present]), baseline.rows).collect(
        engine="streaming")


def measure_change(table: pl.DataFrame, metric: str, settings: RcaSettings) -> dict[str, Any]:
    """The overall change with its interval and verdict (the gate of `--fail-on`)."""
    total = {r["side"]: r for r in table.filter(pl.col("feature") == OVERALL).iter_rows(named=True)}
    return judge_change(total[BASE], total[CUR], metric=metric,
                        lower_is_better=metric in LOWER_IS_BETTER, max_drop=settings.max_drop,
                        min_labels=settings.min_labels, confidence=settings.confidence)


def _side(selection: Selection, table: pl.DataFrame, side: int) -> dict[str, Any]:
    total = table.filter((pl.col("feature") == OVERALL) & (pl.col("side") == side)).row(
        0, named=True)
    return {**side_inputs(selection), "labelled": int(total["n"]),
            "from_actuals": int(total["from_actuals"])}


def _check_co_shift(rows: list[dict[str, Any]], store: Store, model: ModelConfig,
                    windows: list[Selection], binning: Binning, drift: DriftSettings,
                    baseline_sample: pl.DataFrame) -> None:
    """Columns that drifted without effect while a population shift was found: if they do not
    drift outside the responsible segment (on samples: the baseline's is the fit's), they moved
    with the shift."""
    cause = next((r for r in rows if r.get("mode") == "population_shift" and r.get("top")), None)
    suspects = {r["feature"]: r for r in rows if r.get("mode") == "drift_without_effect"}
    if cause is None or not suspects:
        return
    kinds = {f: binning.kinds[f] for f in suspects}
    subset = Binning(kinds, {f: b for f, b in binning.numeric.items() if f in kinds},
                     {f: b for f, b in binning.categorical.items() if f in kinds})
    outside = ~slice_expr(Predicate.from_dict(p) for p in cause["top"]["predicates"])
    current = windows[1]
    samples = [baseline_sample.lazy(), _sample(store.scan(
        model, current.selector, with_actuals=False, selection=current), current.rows)]
    sides = [summarize(lf.filter(outside), subset)[None] for lf in samples]
    for result in judge_features(kinds, sides[0], sides[1], drift, None):
        if result["status"] == "pass":
            suspects[result["feature"]] |= {
                "mode": "co_shift", "status": "pass", "moved_with": cause["top"]["segment"],
                "drift_outside_score": result["score"]}


def _report(model: ModelConfig, inputs: dict[str, Any], results: list[dict[str, Any]],
            change: dict[str, Any], rows: list[dict[str, Any]], settings: RcaSettings,
            hints: dict[str, Any]) -> Report:
    metric = change["metric"]
    causes, segments, mode = explain_causes(change, rows, settings.top)
    ordered = [change, *causes, *segments, *(r for r in results if r["section"] == "outputs")]
    results = sort_worst_first(ordered, key="__order__")  # by status, our order within one
    top = next((r for r in causes if r["mode"] == "population_shift"), None)
    summary = {"metric": metric, "baseline": change["baseline"], "current": change["current"],
               "change": change["change"], "failure_mode": mode,
               "top_cause": top["feature"] if top else None,
               "explained_pct": _percent(top.get("explained")) if top else None}
    context = {"model": model, "baseline": inputs["baseline"]["selector"],
               "current": inputs["current"]["selector"], "reference": inputs["reference"],
               **hints}
    recs = recommendations(change, causes, segments, mode, context)
    joint = hints.get("joint")
    if joint is not None:

        summary["multivariate"] = {k: v for k, v in joint.items() if k != "importance"}
        recs += joint_recommendation(joint, causes)
    for row in results:  # one unit for "explains" everywhere: percent of the change
        if "explained" in row:
            row["explained_pct"] = _percent(row.pop("explained"))
    return Report(command="rca", model=model.name,
                  status=worst_status([r["status"] for r in results]), inputs=inputs,
                  results=results, summary=summary, recommendations=recs)


def _percent(share: float | None) -> float | None:
    return None if share is None else 100.0 * share
