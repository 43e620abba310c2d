"""`evalctl slices`: where does the model perform worst? Declared and discovered slices."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from evalctl.analyses.performance import (
    LOWER_IS_BETTER,
    default_metric,
    evaluation_frame,
    finite,
    metrics_frame,
    signed_gap,
    slice_keys,
)
from evalctl.config import ModelConfig
from evalctl.errors import InputError
from evalctl.lake.selectors import Selector
from evalctl.lake.store import Store
from evalctl.reports import Report
from evalctl.reports.model import worst_status


@dataclass(frozen=True)
class SliceOptions:
    """What the leaderboard shows and how discovery runs."""

    metric: str | None = None
    top: int = 10
    min_size: int = 30
    fdr: float = 0.05
    discover: bool = False
    alpha: float = 0.95
    max_level: int = 3
    min_support: float | None = None
    error: str | None = None


def slices_report(store: Store, model: ModelConfig, selector: Selector, *,
                  options: SliceOptions, compare_to: Selector | None = None) -> Report:
    """The leaderboard of declared slices (worst first), optionally discovered slices and the
    change of every slice against another selection."""
    metric = default_metric(model, options.metric)
    lf = store.scan(model, selector)
    evaluated_rows, coverage = evaluation_frame(lf, model)
    evaluated = evaluated_rows.lazy()
    if coverage["labelled"] == 0:
        raise InputError(f"selector {selector.text!r}: no row has ground truth yet "
                         "(ingest actuals, or see `evalctl estimate`)")
    keys = slice_keys(model, evaluated)
    frame = metrics_frame(model, evaluated, [metric], keys)
    del evaluated, evaluated_rows
    rows = leaderboard(frame, metric, options)
    inputs: dict[str, Any] = {"selection": {"selector": selector.text, **coverage},
                              "metric": metric}
    if compare_to is not None:
        other = metrics_frame(model, store.scan(model, compare_to), [metric], keys)
        compare_windows(rows, other, metric, options)
        inputs["compare_to"] = {"selector": compare_to.text}
    overall = next(r for r in rows if r["slice"] == "overall")
    declared = [r for r in rows if r["slice"] != "overall"]
    results = declared[: options.top] if options.top > 0 else declared
    discovered: list[dict[str, Any]] = []
    if options.discover:
        discovered, info = discover(lf, model, options)
        inputs["discovery"] = info
    all_rows = [overall | {"section": "declared"}, *results, *discovered]
    return Report(
        command="slices", model=model.name,
        status=worst_status([r["status"] for r in all_rows]), inputs=inputs, results=all_rows,
        summary={"metric": metric, "overall": overall["value"], "segments": len(declared),
                 "significantly_worse": sum(r.get("significant_worse", False)
                                            for r in declared),
                 "emerged": sum(r.get("emerged", False) for r in declared),
                 "discovered": len(discovered),
                 "rows_without_label": coverage["rows"] - coverage["labelled"]},
        recommendations=_recommendations(all_rows, model, selector, metric))


def leaderboard(frame: pl.DataFrame, metric: str, options: SliceOptions) -> list[dict[str, Any]]:
    """One row per segment for `metric`: value, CI, gap to overall, significance; worst first."""
    from evalctl.metrics import compare_to_overall

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
            row["status"], row["reason"] = "pass", row["reason"] or (
                f"fewer than {options.min_size} labelled rows: not judged")
            row["significant_worse"] = False
        rows.append(row)
    overall = [r for r in rows if r["slice"] == "overall"]
    rest = sorted((r for r in rows if r["slice"] != "overall"),
                  key=lambda r: (r["value"] is None, _badness(r, metric)))
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
    """Add each segment's value in the other selection and flag significant worsening."""
    from evalctl.metrics import PROPORTION_METRICS, adjust_pvalues, two_proportion_pvalues

    before = {(r["slice"], r["segment"]): r for r in
              other.filter(pl.col("metric") == metric).iter_rows(named=True)}
    pvals = []
    for row in rows:
        prev = before.get((row["slice"], row["segment"]))
        prev_value = finite(prev["value"]) if prev else None
        row["compare_value"] = prev_value
        row["change"] = signed_gap(metric, row["value"], prev_value)
        p = float("nan")
        if prev and metric in PROPORTION_METRICS and prev_value is not None \
                and row["value"] is not None:
            n1, n2 = row["support"] or 0, prev["support"] or 0  # trials, e.g. positives
            p = float(two_proportion_pvalues(row["value"] * n1, n1, prev_value * n2, n2)[0])
        elif prev and row["ci_low"] is not None and prev["ci_low"] is not None:
            p = _ci_pvalue(row, prev)
        pvals.append(p)
    adjusted = adjust_pvalues(np.asarray(pvals, dtype=float), "bh")
    for row, p_raw, p_adj in zip(rows, pvals, adjusted, strict=True):
        row["change_p_adjusted"] = finite(p_adj) if np.isfinite(p_raw) else None
        emerged = (row["change"] is not None and row["change"] < 0
                   and row["change_p_adjusted"] is not None
                   and row["change_p_adjusted"] < options.fdr
                   and (row["n"] or 0) >= options.min_size)
        row["emerged"] = bool(emerged)
        if emerged and row["status"] == "pass":
            row["status"] = "warn"


def _ci_pvalue(row: dict[str, Any], prev: dict[str, Any]) -> float:
    """Two-sided p of a difference from two independent normal-ish intervals."""
    from scipy.special import ndtr

    se1 = (row["ci_high"] - row["ci_low"]) / (2 * 1.959964)
    se2 = (prev["ci_high"] - prev["ci_low"]) / (2 * 1.959964)
    se = float(np.hypot(se1, se2))
    if se <= 0 or row["value"] is None or prev["value"] is None:
        return float("nan")
    return float(2 * ndtr(-abs(row["value"] - prev["value"]) / se))


def discover(lf: pl.LazyFrame, model: ModelConfig, options: SliceOptions
             ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """SliceLine over the features with a per-row error; rows as leaderboard entries."""
    from evalctl.slicing import discover_slices

    error = error_expr(model, options.error)
    # Collected once: the lake scan joins actuals, whose row order is not stable across
    # separate collects, and discovery reads the rows more than once.
    data = lf.select(*model.features, error.alias("__error")).collect()
    found = discover_slices(data, model.features, "__error", alpha=options.alpha,
                            max_level=options.max_level, min_support=options.min_support,
                            fdr=options.fdr, k=options.top)
    rows = []
    for s in found.slices:
        d = s.to_dict()
        rows.append({"section": "discovered", "slice": f"level {s.level}", "segment": s.label,
                     "id": s.id, "metric": f"error ({options.error or 'default'})",
                     "value": d.get("error_mean"), "n": d.get("size"),
                     "share": d.get("share"), "score": d.get("score"),
                     "gap_vs_overall": (d.get("error_mean") or 0) - found.mean_error,
                     "p_value": d.get("p_value"), "p_adjusted": d.get("p_adjusted"),
                     "significant_worse": bool(d.get("significant")),
                     "predicates": d.get("predicates"),
                     "status": "warn" if d.get("significant") else "pass"})
    info = {k: v for k, v in found.to_dict().items() if k != "slices"}
    return rows, info


def error_expr(model: ModelConfig, kind: str | None) -> pl.Expr:
    """Per-row error: 0/1 misclassification (classification), squared error (regression),
    or `log_loss` for binary models with a score."""
    label = pl.col(model.label or "")
    if kind == "log_loss":
        if model.task != "binary_classification" or not model.score:
            raise InputError("--error log_loss needs a binary model with a score")
        p = pl.col(model.score).clip(1e-15, 1 - 1e-15)
        return -(label * p.log() + (1 - label) * (1 - p).log())
    if kind not in (None, "misclassification", "squared"):
        raise InputError(f"--error: expected misclassification, squared or log_loss, "
                         f"got {kind!r}")
    if model.task == "regression" or kind == "squared":
        pred = pl.col(model.score or model.prediction or "")
        return (pred - label) ** 2
    if model.task == "ranking":
        raise InputError("--discover is not available for ranking models")
    pred = pl.col(model.prediction or "")
    return pl.when(label.is_null() | pred.is_null()).then(None) \
        .otherwise((pred.cast(pl.String) != label.cast(pl.String)).cast(pl.Float64))


def _recommendations(rows: list[dict[str, Any]], model: ModelConfig, selector: Selector,
                     metric: str) -> list[str]:
    recs = []
    for r in rows:
        if r["section"] == "declared" and r.get("significant_worse"):
            recs.append(f"{r['slice']} = {r['segment']}: {metric} {r['value']:.3f} "
                        f"({r['gap_vs_overall']:+.3f} vs overall, n={r['n']:,}) — "
                        "significantly worse than the rest")
        if r.get("emerged") and r["slice"] == "overall":
            recs.append(f"overall {metric} is significantly worse than in the comparison "
                        f"window ({r['change']:+.3f}); see `evalctl rca` for the causes")
        elif r.get("emerged"):
            recs.append(f"{r['slice']} = {r['segment']}: worse than in the comparison window "
                        f"({r['change']:+.3f}) — a new weak slice emerged")
        if r["section"] == "discovered" and r.get("significant_worse"):
            recs.append(f"discovered: {r['segment']} (share {r['share']:.1%}, error "
                        f"{r['value']:.3f}); examples: evalctl export --model {model.name} "
                        f"--selector {selector.text} --segment '{r['id']}' --out slice.parquet")
    return recs[:12]
