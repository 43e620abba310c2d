"""`evalctl slices`: where does the model perform worst? Declared and discovered slices."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from evalctl.analyses.common import side_inputs
from evalctl.analyses.performance import (
    LOWER_IS_BETTER,
    default_metric,
    evaluated_selection,
    finite,
    gap_text,
    metrics_frame,
    moved_text,
    signed_gap,
    slice_keys,
    too_large_for_memory,
)
from evalctl.config import ModelConfig
from evalctl.errors import InputError
from evalctl.lake.selectors import Selector
from evalctl.lake.store import Store
from evalctl.metrics import PROPORTION_METRICS, compare_to_overall, two_proportion_pvalues
from evalctl.metrics.binary import RANK_METRICS
from evalctl.metrics.catalogue import correct_term, log_loss_term, squared_error
from evalctl.metrics.intervals import z_value
from evalctl.metrics.significance import adjust_pvalues, normal_pvalues
from evalctl.reports import Report
from evalctl.reports.model import worst_status
from evalctl.settings.sections import ERROR_KINDS, SlicesSettings
from evalctl.slicing import discover_slices


@dataclass(frozen=True)
class SliceOptions(SlicesSettings):
    """What the leaderboard shows and how discovery runs: `checks.slices` (defaults declared
    there) plus the run's own options."""

    top: int = 10
    discover: bool = False


def slices_report(store: Store, model: ModelConfig, selector: Selector, *,
                  options: SliceOptions, compare_to: Selector | None = None) -> Report:
    """The leaderboard of declared slices (worst first), optionally discovered slices and the
    change of every slice against another selection."""

    metric = default_metric(model, options.metric)
    selection = store.select(model.name, selector)
    lf = store.scan(model, selector, selection=selection)
    evaluated = evaluated_selection(lf, model, hold=metric not in RANK_METRICS)
    coverage = evaluated.coverage
    if coverage["labelled"] == 0:
        raise InputError(f"selector {selector.text!r}: no row has ground truth yet "
                         "(ingest actuals, or see `evalctl estimate`)")
    keys = slice_keys(model, evaluated.lf, rows=coverage["rows"])
    frame = metrics_frame(model, evaluated.lf, [metric], keys, low_memory=evaluated.low_memory)
    del evaluated  # the rows held in memory, before discovery reads its own
    rows = leaderboard(frame, metric, options)
    inputs: dict[str, Any] = {"selection": {**side_inputs(selection), **coverage},
                              "metric": metric}
    if compare_to is not None:
        earlier = store.select(model.name, compare_to)
        other_lf = store.scan(model, compare_to, selection=earlier)
        large = too_large_for_memory(other_lf.select(pl.len()).collect().item())
        other = metrics_frame(model, other_lf, [metric], keys, low_memory=large)
        compare_windows(rows, other, metric, options)
        inputs["compare_to"] = side_inputs(earlier)
    overall = next(r for r in rows if r["slice"] == "overall")
    declared = [r for r in rows if r["slice"] != "overall"]
    results = declared[: options.top] if options.top > 0 else declared
    discovered: list[dict[str, Any]] = []
    if options.discover:
        discovered, info = discover(lf, model, options)
        inputs["discovery"] = info
    all_rows = [overall | {"section": "declared"}, *results, *discovered]
    summary: dict[str, Any] = {
        "metric": metric, "overall": overall["value"], "segments": len(declared),
        "significantly_worse": sum(r.get("significant_worse", False) for r in declared)}
    if compare_to is not None:  # counts only for what was computed
        summary["emerged"] = sum(r["emerged"] for r in declared)
        summary["worsened"] = sum(r["worsened"] for r in declared)
    if options.discover:
        summary["discovered"] = len(discovered)
    summary["rows_without_label"] = coverage["rows"] - coverage["labelled"]
    return Report(
        command="slices", model=model.name,
        status=worst_status([r["status"] for r in all_rows]), inputs=inputs, results=all_rows,
        summary=summary,
        recommendations=_recommendations(all_rows, model, (selector, compare_to), metric))


def leaderboard(frame: pl.DataFrame, metric: str, options: SliceOptions) -> list[dict[str, Any]]:
    """One row per segment for `metric`: value, CI, gap to overall, significance; worst first."""

    tested = compare_to_overall(frame.filter(pl.col("metric") == metric))
    overall_value = finite(tested.filter(pl.col("slice") == "overall")["value"][0])
    rows = []
    for r in tested.iter_rows(named=True):
        value = finite(r["value"])
        p_adj = finite(r.get("p_adjusted"))
        row = {"section": "declared", "slice": r["slice"], "segment": r["segment"],
               "metric": metric, "value": value, "ci_low": finite(r["ci_low"]),
               "ci_high": finite(r["ci_high"]), "ci_method": r["ci_method"], "n": r["n"],
               "support": r["support"],
               "n_missing_label": r["n_missing_label"],
               "gap_vs_overall": signed_gap(metric, value, overall_value),
               "rest_value": finite(r.get("rest_value")), "p_value": finite(r.get("p_value")),
               "p_adjusted": p_adj, "reason": r["reason"]}
        row["significant_worse"] = _significantly_worse(row, overall_value, metric, options)
        row["status"] = "warn" if row["significant_worse"] else "pass"
        if r["slice"] != "overall" and (r["n"] or 0) < options.min_size:
            row["status"], row["reason"] = "insufficient", row["reason"] or (
                f"fewer than {options.min_size} labelled rows: not judged")
            row["significant_worse"] = False
        rows.append(row)
    overall = [r for r in rows if r["slice"] == "overall"]
    # judged segments first (worst first), then those too small to judge, so that a handful
    # of rows never tops the leaderboard on noise
    rest = sorted((r for r in rows if r["slice"] != "overall"),
                  key=lambda r: (r["value"] is None, (r["n"] or 0) < options.min_size,
                                 _badness(r, metric)))
    return overall + rest


def _badness(row: dict[str, Any], metric: str) -> float:
    value = row["value"] if row["value"] is not None else 0.0
    return -value if metric in LOWER_IS_BETTER else value


def _significantly_worse(row: dict[str, Any], overall: float | None, metric: str,
                         options: SliceOptions) -> bool:
    """Proportions: BH-adjusted two-proportion test against the rest of the data. Other
    metrics: the segment's confidence interval lies entirely on the worse side of overall."""
    if row["slice"] == "overall" or row["value"] is None or overall is None:
        return False
    gap = row["gap_vs_overall"]
    if gap is None or gap >= 0:
        return False
    if row["p_adjusted"] is not None:
        return row["p_adjusted"] < options.fdr
    low, high = row["ci_low"], row["ci_high"]
    if low is None or high is None:
        return False
    return low > overall if metric in LOWER_IS_BETTER else high < overall


def compare_windows(rows: list[dict[str, Any]], other: pl.DataFrame, metric: str,
                    options: SliceOptions) -> None:
    """Add each segment's value in the other selection, its change, and two flags.

    `worsened`: the metric itself got significantly worse (BH over every row). `emerged`: the
    segment got significantly worse than the data as a whole did — its change minus the
    overall change, tested against the segment's own sampling noise in both windows (normal
    approximation, BH over the segments; ignoring the overall's own noise and its covariance
    with the segment makes the test conservative). When the whole model degrades every large
    segment worsens; the segments that emerged are the ones that fell beyond that trend.
    """

    before = {(r["slice"], r["segment"]): r for r in
              other.filter(pl.col("metric") == metric).iter_rows(named=True)}
    previous = [before.get((row["slice"], row["segment"])) for row in rows]
    for row, prev in zip(rows, previous, strict=True):
        row["compare_value"] = finite(prev["value"]) if prev else None
        row["change"] = signed_gap(metric, row["value"], row["compare_value"])
    overall = next(r for r in rows if r["slice"] == "overall")
    absolute, relative = [], []
    for row, prev in zip(rows, previous, strict=True):
        absolute.append(_change_pvalue(row, prev, metric) if prev else float("nan"))
        shift = None
        if row is not overall and row["change"] is not None and overall["change"] is not None:
            shift = row["change"] - overall["change"]
        row["relative_change"] = shift
        se = np.hypot(_standard_error(row, metric), _standard_error(prev, metric)) \
            if prev and shift is not None else float("nan")
        relative.append(float(normal_pvalues(shift / se)) if shift is not None and se > 0
                        else float("nan"))
    for row, p_abs, p_rel in zip(rows, adjust_pvalues(absolute, "bh"),
                                 adjust_pvalues(relative, "bh"), strict=True):
        row["change_p_adjusted"], row["relative_p_adjusted"] = finite(p_abs), finite(p_rel)
        judged = (row["n"] or 0) >= options.min_size
        row["worsened"] = bool(judged and (row["change"] or 0) < 0
                               and p_abs < options.fdr)
        row["emerged"] = bool(judged and (row["relative_change"] or 0) < 0
                              and p_rel < options.fdr)
        flagged = row["emerged"] or (row is overall and row["worsened"])
        if flagged and row["status"] == "pass":
            row["status"] = "warn"


def _change_pvalue(row: dict[str, Any], prev: dict[str, Any], metric: str) -> float:
    """Two-sided p of value now vs before: two-proportion test for proportions, else the
    normal approximation from both intervals."""

    now, then = row["value"], finite(prev["value"])
    if now is None or then is None:
        return float("nan")
    if metric in PROPORTION_METRICS:
        n1, n2 = row["support"] or 0, prev["support"] or 0  # trials, e.g. positives
        return float(two_proportion_pvalues(now * n1, n1, then * n2, n2)[0])
    se = np.hypot(_standard_error(row, metric), _standard_error(prev, metric))
    return float(normal_pvalues((now - then) / se)) if se > 0 else float("nan")


def _standard_error(row: dict[str, Any], metric: str) -> float:
    """Binomial standard error for proportions; else the interval's half-width / z (the
    intervals are compute_metrics' default 95%)."""

    value, n = finite(row.get("value")), row.get("support") or 0
    if metric in PROPORTION_METRICS and value is not None and n > 0:
        return float(np.sqrt(value * (1.0 - value) / n))
    low, high = finite(row.get("ci_low")), finite(row.get("ci_high"))
    return (high - low) / (2 * z_value(0.95)) if low is not None and high is not None \
        else float("nan")


def discover(lf: pl.LazyFrame, model: ModelConfig, options: SliceOptions
             ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """SliceLine over the features with a per-row error; rows as leaderboard entries (the
    `--top` best; `--top 0`, which shows every declared segment, keeps the default number)."""

    error, shift = error_expr(model, options.error), 0
    if model.task == "regression" or options.error == "squared":
        scale, shift = squared_error_scale(lf, model)
        error = error_expr(model, options.error, scale)
    # Not collected here: discovery reads a few columns per query and keeps only their small
    # integer codes (the lake scan keeps its row order across queries, actuals join included).
    data = lf.select(*model.features, error.alias("__error"))
    found = discover_slices(data, model.features, "__error", alpha=options.alpha,
                            max_level=options.max_level, min_support=options.min_support,
                            fdr=options.fdr, k=options.top or SliceOptions.top)
    rows = []
    for s in found.slices:
        d = s.to_dict()
        rows.append({"section": "discovered", "slice": f"level {s.level}", "segment": s.label,
                     "id": s.id, "metric": f"error ({options.error or 'default'})",
                     "value": unscaled(s.error_mean, shift), "n": d.get("size"),
                     "share": d.get("share"), "score": d.get("score"),
                     "gap_vs_overall": unscaled(s.error_mean - found.mean_error, shift),
                     "p_value": d.get("p_value"), "p_adjusted": d.get("p_adjusted"),
                     "significant_worse": bool(d.get("significant")),
                     "predicates": d.get("predicates"),
                     "status": "warn" if d.get("significant") else "pass"})
    info = {k: v for k, v in found.to_dict().items() if k != "slices"}
    info["mean_error"] = unscaled(found.mean_error, shift)
    return rows, info


def squared_error_scale(lf: pl.LazyFrame, model: ModelConfig) -> tuple[float, int]:
    """A power of two that brings the largest finite |label| or |prediction| into [0.5, 1),
    and the power of two (`unscaled`'s shift) that turns squared errors of values so scaled
    back into the data's unit.

    Squares of values beyond ~1.3e154 are inf (discovery refused them) and below ~1.5e-154
    0 (every slice looked perfect); scaled, they are neither. SliceLine's score and Welch's
    test are the same in any unit, and scaling by a power of two is exact, so the slices
    found are those of the unscaled errors wherever those exist."""
    values = [pl.col(c).cast(pl.Float64) for c in (model.label or "",
                                                   model.score or model.prediction or "")]
    largest = lf.select(pl.max_horizontal(
        [v.filter(v.is_finite()).abs().max() for v in values])).collect().item()
    if not largest:
        return 1.0, 0
    exponent = math.frexp(largest)[1]
    return math.ldexp(1.0, -exponent), 2 * exponent


def unscaled(value: float, shift: int) -> float | None:
    """`value` times 2**shift, None when that passes the float range."""
    with np.errstate(over="ignore"):
        return finite(float(np.ldexp(value, shift)))


def error_expr(model: ModelConfig, kind: str | None, scale: float = 1.0) -> pl.Expr:
    """Per-row error: 0/1 misclassification (classification), squared error (regression;
    of the label and prediction times `scale`), or `log_loss` for binary models with a
    score."""
    label = pl.col(model.label or "")
    if kind == "log_loss":
        if model.task != "binary_classification" or not model.score:
            raise InputError("--error log_loss needs a binary model with a score")
        return log_loss_term(label, pl.col(model.score))
    if kind is not None and kind not in ERROR_KINDS:
        raise InputError(f"--error: expected one of {', '.join(ERROR_KINDS)}, got {kind!r}")
    if model.task == "regression" or kind == "squared":
        pred = pl.col(model.score or model.prediction or "")
        return squared_error(label * scale, pred * scale)
    if model.task == "ranking":
        raise InputError("--discover is not available for ranking models")
    # a binary model without a prediction column predicts score >= threshold
    pred = pl.col(model.prediction) if model.prediction else \
        (pl.col(model.score or "") >= model.threshold).cast(pl.Int8)
    return 1.0 - correct_term(label, pred)


def _error_text(value: float | None) -> str:
    """A discovered slice's mean error in words: 3 decimals, 4 significant digits from a
    million on (squared errors of large values), or why there is none."""
    if value is None:
        return "beyond the float range"
    return f"{value:.3f}" if abs(value) < 1e6 else f"{value:.4g}"


def _recommendations(rows: list[dict[str, Any]], model: ModelConfig,
                     sides: tuple[Selector, Selector | None], metric: str) -> list[str]:
    """Findings in words; `sides` is the selection and the one it was compared to."""
    selector, compare_to = sides
    recs, found = [], 0
    for r in rows:
        if r["section"] == "declared" and r.get("significant_worse"):
            recs.append(f"{r['slice']} = {r['segment']}: {metric} {r['value']:.3f} "
                        f"({gap_text(r['gap_vs_overall'])} than overall, n={r['n']:,}) — "
                        "significantly worse than the rest")
        if r.get("worsened") and r["slice"] == "overall":
            recs.append(f"overall {metric} is significantly worse than in the comparison "
                        f"window ({moved_text(metric, r['compare_value'], r['value'])}); "
                        + (f"for the causes: evalctl rca --model {model.name} --baseline "
                           f"{compare_to.text} --current {selector.text}" if compare_to
                           else "see rca for the causes"))
        elif r.get("emerged"):
            recs.append(f"{r['slice']} = {r['segment']}: "
                        f"{moved_text(metric, r['compare_value'], r['value'])} since the "
                        f"comparison window, {gap_text(r['relative_change'])} beyond the overall "
                        "change — a new weak slice emerged")
        if r["section"] == "discovered" and r.get("significant_worse"):
            found += 1  # one file per slice: running every hint keeps every slice's rows
            recs.append(f"discovered: {r['segment']} (share {r['share']:.1%}, error "
                        f"{_error_text(r['value'])}); examples: evalctl export --model "
                        f"{model.name} "
                        f"--selector {selector.text} --segment '{r['id']}' "
                        f"--out slice-{found}.parquet")
    return recs[:12]
