"""`evalctl rca`: the metric changed between two windows - which population shift or which
segment explains it, is a pipeline problem involved, and what should be done.

How the lake is read (whatever the number of features):

1. `fit_binning` on the baseline (a stride sample of at most FIT_SAMPLE rows): the same
   reference bins skew and drift use;
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

from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from evalctl.analyses.common import checked_columns, count_statuses, side_inputs
from evalctl.analyses.decompose import (
    classify,
    decompose,
    feature_segments,
    judge_change,
    segment_view,
    shifted_mix,
    top_mix_segment,
)
from evalctl.analyses.performance import LOWER_IS_BETTER
from evalctl.analyses.skew import judge_features
from evalctl.analyses.slices import error_expr
from evalctl.check_settings import DriftSettings, config_number, config_section
from evalctl.config import ModelConfig
from evalctl.errors import ConfigError, InputError, SelectorError
from evalctl.lake.selectors import Selector
from evalctl.lake.store import LABEL_SOURCE_COL, Selection, Store
from evalctl.reports import Report
from evalctl.reports.model import sort_worst_first, worst_status
from evalctl.slicing.predicates import Predicate, slice_expr
from evalctl.stats import Binning, fit_binning, merge, summarize
from evalctl.stats.summary import CategoricalSummary, NumericSummary, Summary

RCA_METRICS = {"binary_classification": ("accuracy", "brier", "log_loss"),
               "multiclass_classification": ("accuracy",), "regression": ("mae",)}
_KEYS = {"metric", "max_drop", "min_labels", "bins", "min_share", "min_explained", "top"}
REF, BASE, CUR = 0, 1, 2
FIT_SAMPLE = 1_000_000
_TERM, OVERALL = "__term", "__overall__"
_TABLE = {"side": pl.Int8, "feature": pl.String, "segment": pl.Int32, "rows": pl.Float64,
          "n": pl.Float64, "sum": pl.Float64, "sumsq": pl.Float64, "from_actuals": pl.Float64}


@dataclass(frozen=True)
class RcaSettings:
    """`checks.rca` (see `parse_rca_settings`)."""

    metric: str | None = None
    max_drop: float = 0.02
    min_labels: int = 100
    bins: int = 20
    min_share: float = 0.01
    min_explained: float = 0.25
    top: int = 5
    confidence: float = 0.95


def parse_rca_settings(key: str, raw: Any) -> RcaSettings:
    """```yaml
    rca:
      metric: accuracy      # default: accuracy (classification), mae (regression)
      max_drop: 0.02        # a significant drop larger than this fails (exit 1)
      min_labels: 100       # fewer labelled rows in a window: its performance is unknown
      bins: 20              # numeric features: baseline-quantile bins
      min_share: 0.01       # categories under this share of rows in both windows are grouped
      min_explained: 0.25   # a feature whose mix effect explains this share of the change
      top: 5                # segments listed
    ```"""
    section = config_section(key, raw, _KEYS)
    if section is None:
        return RcaSettings()
    raw = section
    out: dict[str, Any] = {}
    for name, low, high in (("max_drop", 0.0, None), ("min_share", 0.0, 1.0),
                            ("min_explained", 0.0, 1.0)):
        if name in raw:
            out[name] = config_number(f"{key}.{name}", raw[name], low=low, high=high)
    for name, low in (("min_labels", 2), ("bins", 2), ("top", 0)):
        if name in raw:
            out[name] = int(config_number(f"{key}.{name}", raw[name], low=low, integer=True))
    if "metric" in raw:
        if not isinstance(raw["metric"], str):
            raise ConfigError(f"{key}.metric: expected a metric name")
        out["metric"] = raw["metric"]
    return RcaSettings(**out)


def rca_metric(model: ModelConfig, metric: str | None) -> str:
    """The decomposed metric: a mean over labelled rows, so that segments add up exactly."""
    valid = RCA_METRICS.get(model.task)
    if not valid:
        raise InputError(f"rca: {model.task} models are not supported (segment metrics must "
                         "be means over rows)")
    chosen = metric or ("mae" if model.task == "regression" else "accuracy")
    if chosen not in valid:
        raise InputError(f"--metric: rca decomposes metrics that are means over rows; for "
                         f"{model.task} use one of {', '.join(valid)} (got {chosen!r})")
    if chosen in ("brier", "log_loss") and not model.score:
        raise InputError(f"--metric {chosen}: model {model.name!r} has no score column")
    if not model.label:
        raise InputError(f"model {model.name!r} has no `label` column in the config")
    if not model.features:
        raise InputError(f"model {model.name!r} has no features to explain a change with")
    return chosen


def row_term(model: ModelConfig, metric: str) -> pl.Expr:
    """The per-row term whose mean is the metric (null where the row has no label)."""
    label = pl.col(model.label or "")
    if metric == "accuracy" and model.prediction:
        return 1.0 - error_expr(model, None)
    if metric == "accuracy":
        predicted = (pl.col(model.score or "") >= model.threshold).cast(pl.Int8)
        return pl.when(label.is_null() | predicted.is_null()).then(None).otherwise(
            (predicted == label.cast(pl.Int8)).cast(pl.Float64))
    if metric == "log_loss":
        return error_expr(model, "log_loss")
    if metric == "brier":
        return (pl.col(model.score or "") - label).cast(pl.Float64) ** 2
    return (pl.col(model.score or model.prediction or "") - label).cast(pl.Float64).abs()


def rca_report(store: Store, model: ModelConfig, baseline: Selector, current: Selector, *,
               settings: RcaSettings, drift: DriftSettings, reference: Selector | None = None,
               reference_required: bool = False) -> Report:
    """Explain the metric change from `baseline` to `current` (see the module docstring)."""
    metric = rca_metric(model, settings.metric)
    term = row_term(model, metric)
    windows = [store.select(model.name, s) for s in (baseline, current)]
    ref = _reference(store, model, reference, reference_required)
    kinds = checked_columns(model, drift)
    fit_on = store.scan(model, baseline, with_actuals=False, selection=windows[0])
    binning = fit_binning(_sample(fit_on, windows[0].rows), kinds, top_k=drift.top_k)
    by_key = summarize_sides(store, model, [ref, *windows], binning,
                             term if metric == "accuracy" else None)
    sides = {side: _merge_side(by_key, side) for side in (REF, BASE, CUR)}
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
    if change["mode"] == "within_noise":
        return _report(model, inputs, [change], change, [], settings)
    drifted = judge_features(kinds, sides[BASE], sides[CUR], drift, None)
    skewed = ([judge_features(kinds, sides[REF], sides[s], drift, None) for s in (BASE, CUR)]
              if ref else [])
    rows = [_feature_row(feature_segments(table, f, k, edges.get(f, []), _vocabulary(binning, f),
                                          settings.min_share), change, metric)
            for f, k in features.items()]
    rows += [{"section": "causes", "feature": f, "kind": kinds[f], "status": "error",
              "reason": binning.errors[f]} for f in model.features if f in binning.errors]
    for row in rows:
        row |= _drift_fields(row["feature"], drifted, skewed)
        row["reference"] = ref.selector.text if ref else None
        classify(row, change, settings.min_explained, settings.max_drop)
    _check_co_shift(rows, store, model, windows, binning, drift)
    outputs = [_output_row(c, drifted, skewed) for c in kinds if c not in model.features]
    return _report(model, inputs, [change, *rows, *outputs], change, rows, settings)


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


def _vocabulary(binning: Binning, feature: str) -> tuple[str, ...]:
    bins = binning.categorical.get(feature)
    return bins.vocabulary if bins else ()


def summarize_sides(store: Store, model: ModelConfig, sides: list[Selection | None],
                    binning: Binning, term: pl.Expr | None) -> dict[int, dict[str, Summary]]:
    """Summaries keyed ``side * 10 + term code * 2 + from actuals`` (term code: 0 unlabelled,
    1 term 0, 2 term 1; the reference is key 0). One pass per side."""
    out: dict[int, dict[str, Summary]] = {}
    for side, selection in enumerate(sides):
        if selection is None:
            continue
        labelled = side != REF
        lf = store.scan(model, selection.selector, with_actuals=labelled, selection=selection)
        key = pl.lit(side * 10, pl.Int16)
        if labelled:
            actuals = (pl.col(LABEL_SOURCE_COL) == "actuals").fill_null(False).cast(pl.Int16)
            code = pl.lit(0) if term is None else pl.when(term.is_null()).then(0).when(
                term == 0.0).then(1).otherwise(2)
            key = (key + code.cast(pl.Int16) * 2 + actuals).cast(pl.Int16)
        out |= summarize(lf, binning, by=key)
    return out


def _merge_side(by_key: dict[int, dict[str, Summary]], side: int) -> dict[str, Summary]:
    merged: dict[str, Summary] = {}
    for key, summaries in by_key.items():
        if key // 10 == side:
            merged = {f: merge(merged[f], s) if f in merged else s for f, s in summaries.items()}
    return merged


def segment_edges(summary: Summary, bins: int) -> list[float]:
    """Baseline quantiles at 1/bins .. (bins-1)/bins, each moved up to the nearest fine edge of
    the summary (exact when every distinct value is an edge), so segments are unions of cells."""
    if not isinstance(summary, NumericSummary) or summary.error or not summary.count:
        return []
    cum = np.cumsum(np.asarray(summary.counts, dtype=np.int64))
    ranks = np.floor(np.arange(1, bins) / bins * (cum[-1] - 1))
    cells = np.searchsorted(cum, ranks, side="right")
    index = np.where(cells % 2 == 1, (cells - 1) // 2, cells // 2)
    edges = np.asarray(summary.edges)[index[index < len(summary.edges)]]
    low = summary.minimum if summary.minimum is not None else -np.inf
    return sorted({float(e) for e in edges if e > low})


def cells_table(by_key: dict[int, dict[str, Summary]], binning: Binning,
                features: dict[str, str], edges: dict[str, list[float]]) -> pl.DataFrame:
    """Segment tables from the keyed summaries (0/1 metrics): per side, feature and segment code
    (numeric: bin index, categorical: vocabulary index, vocabulary size for the rest; -1 null)
    the rows, labelled rows and sum of the term."""
    parts = []
    for key, summaries in by_key.items():
        side, code, actuals = key // 10, key % 10 // 2, key % 2
        if side == REF:
            continue
        rows = float(next(iter(summaries.values())).rows)
        weights = {"n": float(code > 0), "sum": float(code == 2), "from_actuals": float(actuals)}
        parts.append(_part(side, OVERALL, np.array([-1]), np.array([rows]), weights))
        for feature in features:
            codes, counts = _segment_counts(summaries[feature], binning, edges.get(feature, []))
            parts.append(_part(side, feature, codes, counts, weights))
    table = pl.concat(parts).group_by("side", "feature", "segment").agg(pl.all().sum())
    table = table.filter((pl.col("rows") > 0) | (pl.col("feature") == OVERALL))
    return table.with_columns(pl.col("sum").alias("sumsq"))  # a 0/1 term is its own square


def _part(side: int, feature: str, codes: np.ndarray, counts: np.ndarray,
          weights: dict[str, float]) -> pl.DataFrame:
    columns = {"side": side, "feature": feature, "segment": codes, "rows": counts,
               **{k: counts * w for k, w in weights.items()}}
    return pl.DataFrame(columns, schema={k: v for k, v in _TABLE.items() if k != "sumsq"})


def _segment_counts(summary: Summary, binning: Binning, edges: list[float]
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Counts per segment code from one summary's cells (aggregated numbers only)."""
    if summary.error:  # e.g. mistyped in one batch: its rows count as missing values
        return np.array([-1]), np.array([float(summary.rows)])
    counts = np.asarray(summary.counts, dtype=float)
    nulls = float((summary.nulls or 0) + getattr(summary, "nonfinite", 0))
    if isinstance(summary, CategoricalSummary):
        k = len(summary.vocabulary)
        codes = np.minimum(np.arange(counts.size), k)  # other and unseen levels together
    else:
        fine = np.asarray(binning.numeric[summary.feature].edges)
        lower = np.searchsorted(edges, np.concatenate([[-np.inf], fine]), side="right")
        codes = np.empty(counts.size, dtype=np.int64)
        codes[0::2], codes[1::2] = lower, np.searchsorted(edges, fine, side="right")
    return np.append(codes, -1), np.append(counts, nulls)


def segment_query(windows: list[pl.LazyFrame], binning: Binning, features: dict[str, str],
                  edges: dict[str, list[float]], term: pl.Expr) -> pl.DataFrame:
    """Segment tables for a continuous row term: one plan, one shared scan per window feeding a
    group-by per feature (common subplan elimination), with the same segment codes."""
    plans = []
    for side, lf in zip((BASE, CUR), windows, strict=True):
        codes = [_code(f, kind, edges.get(f, []), _vocabulary(binning, f)).alias(f"__c{i}")
                 for i, (f, kind) in enumerate(features.items())]
        base = lf.select(term.alias(_TERM), (pl.col(LABEL_SOURCE_COL) == "actuals")
                         .fill_null(False).alias("_actual"), *codes)
        tag = [pl.lit(side, pl.Int8).alias("side")]
        plans.append(base.select(*tag, pl.lit(OVERALL).alias("feature"),
                                 pl.lit(-1, pl.Int32).alias("segment"), *_sums()))
        plans += [base.group_by(f"__c{i}").agg(_sums()).select(
            *tag, pl.lit(f).alias("feature"), pl.col(f"__c{i}").cast(pl.Int32).alias("segment"),
            pl.exclude(f"__c{i}")) for i, f in enumerate(features)]
    return pl.concat(plans, how="diagonal_relaxed").collect().cast(_TABLE)  # type: ignore[arg-type]


def _code(feature: str, kind: str, edges: list[float], vocabulary: tuple[str, ...]) -> pl.Expr:
    if kind != "numeric":
        s = pl.col(feature).cast(pl.String)
        index = s.replace_strict(list(vocabulary), list(range(len(vocabulary))),
                                 default=len(vocabulary), return_dtype=pl.Int32)
        return pl.when(s.is_null()).then(-1).otherwise(index)
    x = pl.col(feature).cast(pl.Float64)
    position = pl.lit(pl.Series(edges, dtype=pl.Float64)).search_sorted(x, side="right")
    return pl.when(x.is_finite()).then(position.cast(pl.Int32)).otherwise(-1)


def _sums() -> list[pl.Expr]:
    term = pl.col(_TERM)
    return [pl.len().alias("rows"), term.count().alias("n"), term.sum().alias("sum"),
            (term * term).sum().alias("sumsq"), pl.col("_actual").sum().alias("from_actuals")]


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


def _feature_row(seg: Any, change: dict[str, Any], metric: str) -> dict[str, Any]:
    """Mix / performance / interaction of one feature and its most responsible segment."""
    row: dict[str, Any] = {"section": "causes", "feature": seg.feature, "kind": seg.kind,
                           "segments": len(seg.predicates), "explained": None}
    measured = bool(change.get("measured"))
    direction = change.get("direction") or (1.0 if metric in LOWER_IS_BETTER else -1.0)
    if measured:
        dec = decompose(seg.n0, seg.sum0, seg.n1, seg.sum1)
        row |= {k: v for k, v in dec.sums().items() if k != "change"}
        for part in ("mix", "performance", "interaction"):
            row[f"{part}_share"] = row[part] / dec.change if dec.change else None
        row["explained"] = row["mix_share"]
        if change["mode"] == "drop":
            worst = int(np.argmax(dec.performance * direction))
            row["worst_inside"] = segment_view(seg, np.array([worst]), True)
    elif seg.n0.sum() > 0:
        row["estimated_mix"] = shifted_mix(seg.rows0, seg.rows1, seg.n0, seg.sum0)
    chosen = top_mix_segment(seg, direction, measured)
    row["top"] = None if chosen is None else segment_view(seg, chosen, measured)
    row["top_segment"] = row["top"]["segment"] if row["top"] else None
    return row


def _drift_fields(column: str, drifted: list[dict[str, Any]],
                  skewed: list[list[dict[str, Any]]]) -> dict[str, Any]:
    """The column's drift between the windows and its skew in each against the reference."""
    d = next((r for r in drifted if r["feature"] == column), {})
    out = {"drift_method": d.get("method"), "drift_score": d.get("score"),
           "drift_threshold": d.get("threshold"), "drift_status": d.get("status"),
           "drift_summary": d.get("summary")}
    for name, side in zip(("baseline", "current"), skewed, strict=False):
        s = next((r for r in side if r["feature"] == column), {})
        out[f"skew_{name}_score"], out[f"skew_{name}_status"] = s.get("score"), s.get("status")
    return out


def _output_row(column: str, drifted: list[dict[str, Any]],
                skewed: list[list[dict[str, Any]]]) -> dict[str, Any]:
    row = {"section": "outputs", "feature": column, "kind": "output",
           **_drift_fields(column, drifted, skewed)}
    moved = row["drift_status"] in ("warn", "fail")
    row["status"] = "warn" if moved else ("error" if row["drift_status"] == "error" else "pass")
    row["mode"] = "output_shift" if moved else "none"
    row["finding"] = (f"the model's {column} moved between the windows ({row['drift_method']} "
                      f"{row['drift_score']:.3g}): a symptom of the causes above" if moved
                      else "no material change")
    return row


def _check_co_shift(rows: list[dict[str, Any]], store: Store, model: ModelConfig,
                    windows: list[Selection], binning: Binning, drift: DriftSettings) -> None:
    """Columns that drifted without effect while a population shift was found: if they do not
    drift outside the responsible segment (on samples), they moved with the shift."""
    cause = next((r for r in rows if r.get("mode") == "population_shift" and r.get("top")), None)
    suspects = {r["feature"]: r for r in rows if r.get("mode") == "drift_without_effect"}
    if cause is None or not suspects:
        return
    kinds = {f: binning.kinds[f] for f in suspects}
    subset = Binning(kinds, {f: b for f, b in binning.numeric.items() if f in kinds},
                     {f: b for f, b in binning.categorical.items() if f in kinds})
    outside = ~slice_expr(Predicate.from_dict(p) for p in cause["top"]["predicates"])
    sides = [summarize(_sample(store.scan(model, s.selector, with_actuals=False, selection=s),
                               s.rows).filter(outside), subset)[None] for s in windows]
    for result in judge_features(kinds, sides[0], sides[1], drift, None):
        if result["status"] == "pass":
            suspects[result["feature"]] |= {
                "mode": "co_shift", "status": "pass", "moved_with": cause["top"]["segment"],
                "drift_outside_score": result["score"]}


def _report(model: ModelConfig, inputs: dict[str, Any], results: list[dict[str, Any]],
            change: dict[str, Any], rows: list[dict[str, Any]], settings: RcaSettings
            ) -> Report:
    metric = change["metric"]
    harm = 1.0 if metric in LOWER_IS_BETTER else -1.0
    causes = sorted(rows, key=lambda r: -(r["explained"] if r.get("explained") is not None
                                         else (r.get("estimated_mix") or 0.0) * harm))
    mode = _failure_mode(change, causes)
    for row in causes:
        row["finding"] = _feature_finding(row, change)
    segments = _segment_rows(causes, change, mode, settings.top)
    for row in causes:
        row.pop("worst_inside", None)
    ordered = [change, *causes, *segments, *(r for r in results if r["section"] == "outputs")]
    results = sort_worst_first(ordered, key="__order__")  # by status, our order within one
    top = next((r for r in causes if r["mode"] == "population_shift"), None)
    summary = {"metric": metric, "baseline": change["baseline"], "current": change["current"],
               "change": change["change"], "failure_mode": mode,
               "top_cause": top["feature"] if top else None,
               "explained": top.get("explained") if top else None, **count_statuses(results)}
    context = {"model": model, "baseline": inputs["baseline"]["selector"],
               "current": inputs["current"]["selector"], "reference": inputs["reference"]}
    return Report(command="rca", model=model.name,
                  status=worst_status([r["status"] for r in results]), inputs=inputs,
                  results=results, summary=summary,
                  recommendations=recommendations(change, causes, segments, mode, context))


def _failure_mode(change: dict[str, Any], rows: list[dict[str, Any]]) -> str:
    modes = {r.get("mode") for r in rows}
    if change["mode"] == "within_noise":
        return "within_noise"
    if "population_shift" in modes:
        return "population_shift"
    if change["mode"] in ("performance_unknown", "gain"):
        return "performance_unknown" if change["mode"] != "gain" else "improved"
    return "data_quality" if "drift_without_effect" in modes else "concept_drift"


def _feature_finding(row: dict[str, Any], change: dict[str, Any]) -> str:
    mode, top = row["mode"], row.get("top")
    drift = (f"{row['drift_method']} {row['drift_score']:.3g}"
             if row.get("drift_score") is not None else "drift n/a")
    share = f"{row['explained']:.0%} of the change" if row.get("explained") is not None else ""
    if mode == "error":
        return str(row.get("reason"))
    if mode == "population_shift":
        return (f"the population moved between its segments: the mix effect explains {share}"
                if share else "its population shift alone moves the metric the harmful way") + (
            f"; mostly {top['segment']}" if top else "")
    if mode == "pipeline":
        return (f"differs from {row['reference']} in both windows ({row['skew_baseline_score']:.3g}"
                f" / {row['skew_current_score']:.3g}) but not between them: a data-quality or "
                "pipeline problem present before and after — not the cause of the change")
    if mode == "drift_without_effect":
        return (f"drifted between the windows ({drift}) but explains "
                f"{share or 'nothing measurable'}: likely a data-quality or pipeline problem")
    if mode == "co_shift":
        return f"drifted ({drift}) together with {row['moved_with']}: no drift outside it"
    return f"explains {share} ({drift})" if share else f"no material effect ({drift})"


def _segment_rows(causes: list[dict[str, Any]], change: dict[str, Any], mode: str, top: int
                  ) -> list[dict[str, Any]]:
    """The segments responsible: each cause's top segment (mix); for a drop no population shift
    explains, the segments where the metric fell most (performance)."""
    picked = [("mix", r["top"]) for r in causes if r["mode"] == "population_shift" and r["top"]]
    if mode in ("concept_drift", "data_quality"):
        inside = sorted((r["worst_inside"] for r in causes if r.get("worst_inside")),
                        key=lambda v: -abs(v["performance"]))
        picked += [("performance", v) for v in inside]
    rows, metric = [], change["metric"]
    for effect, view in picked[:top]:
        value, total = view.get(effect), change.get("change")
        explained = value / total if value is not None and total else None
        share = f"share {view['share_baseline']:.1%} → {view['share_current']:.1%}"
        text = (f"{view['segment']}: {metric} {_num(view['metric_baseline'])} → "
                f"{_num(view['metric_current'])} at a {share}" if effect == "performance" else
                f"{view['segment']}: {share}, {metric} there {_num(view['metric_baseline'])} vs "
                f"{_num(view['rest_baseline'])} elsewhere")
        text += (f": explains {explained:.0%} of the change" if explained is not None else
                 f": alone would move {metric} by {view['estimated_mix']:+.4f} (estimate)")
        rows.append({"section": "segments", "effect": effect, **view, "explained": explained,
                     "status": "warn", "finding": text})
    return rows


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def recommendations(change: dict[str, Any], causes: list[dict[str, Any]],
                    segments: list[dict[str, Any]], mode: str, ctx: dict[str, Any]) -> list[str]:
    """What to do, each naming the command that gives the evidence or the data."""
    import shlex

    name, cur, base = ctx["model"].name, ctx["current"], ctx["baseline"]
    recs = [change["finding"]]
    if mode == "within_noise":
        return recs
    for seg in (s for s in segments if s["effect"] == "mix"):
        flag = (f"--segment {shlex.quote(seg['id'])}" if seg["id"]
                else f"--where {shlex.quote(seg['where'])}")
        recs.append(f"{seg['finding']}. A population shift into a weak segment: augment the "
                    f"training data with it and retrain — examples: evalctl export --model "
                    f"{name} --selector {cur} {flag} --out {seg['feature']}-segment.parquet")
    join = f"--join-key {ctx['model'].id}"
    for row in causes:
        if row["mode"] == "pipeline":
            recs.append(f"{row['feature']}: {row['finding']}; check the feature's producer: "
                        f"evalctl skew --model {name} --reference {row['reference']} "
                        f"--current {cur} {join}")
        elif row["mode"] == "drift_without_effect":
            recs.append(f"{row['feature']}: {row['finding']}; see since when: evalctl drift "
                        f"--model {name} --reference {base} --current {cur} --window 1d; check "
                        f"the producer against a recomputation: evalctl skew --model {name} "
                        f"--reference training --current {cur} {join}")
    if mode in ("concept_drift", "data_quality"):
        recs.append(f"{change['metric']} fell inside segments and no population shift explains "
                    f"it: concept drift — retrain on recent data (evalctl export --model {name} "
                    f"--selector {cur} --out recent.parquet); evidence: evalctl slices --model "
                    f"{name} --selector {cur} --compare-to {base}")
        recs += [s["finding"] for s in segments if s["effect"] == "performance"][:3]
    moved = [r["feature"] for r in causes if r["mode"] == "co_shift"]
    if moved:
        recs.append(f"{', '.join(moved)}: drifted only together with the population shift (no "
                    f"drift outside its segment) — no separate action; evidence: evalctl drift "
                    f"--model {name} --reference {base} --current {cur}")
    if not change.get("measured"):
        recs.append(f"ingest the delayed labels (evalctl ingest-actuals FILE --model {name}) and "
                    f"rerun; meanwhile: evalctl estimate --model {name} --current {cur}")
    return recs
