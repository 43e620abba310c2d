"""`evalctl drift --multivariate`: a classifier two-sample test per window.

Rows are sampled through the store's scans with a fixed seed: at most `ROW_BUDGET` rows of the
reference (drawn once, reused for every window, so windows stay comparable) and at most
`ROW_BUDGET` rows of each window, so the cost does not grow with the selection. Each window's
pair of samples is encoded with `encode_pair` (the whole reference's vocabulary for "seen",
the pair's pooled counts for the codes). The test itself is `evalctl.checks.multivariate`.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

import numpy as np
import polars as pl

from evalctl import progress
from evalctl.checks.multivariate import (
    ClassifierTestOptions,
    Encoding,
    category_counts,
    encode_pair,
    encoded_two_sample_test,
    require_sklearn,
)
from evalctl.config import ModelConfig
from evalctl.settings.sections import DriftSettings

ROW_BUDGET = 5_000  # rows per side per window
MIN_AUROC = 0.55  # ... and fails when its AUROC also reaches this (below it: warn)
MIN_ROWS_PER_SIDE = 50  # fewer rows on either side: insufficient, whatever min_rows says
TOP_FEATURES = 3
METHOD = "classifier two-sample test (histogram gradient boosting, cross-fitted AUROC)"
W, R = "_w", "_r"


def multivariate_features(model: ModelConfig, settings: DriftSettings) -> dict[str, str]:
    """The model's features (not its outputs), minus ignored ones."""
    return {c: k for c, k in model.features.items() if not settings.rule(c).ignore}


def multivariate_inputs(kinds: dict[str, str], options: ClassifierTestOptions) -> dict[str, Any]:
    """What the test ran with, for the report's inputs."""
    return {"method": METHOD, "features": list(kinds), "row_budget": ROW_BUDGET,
            "min_auroc": MIN_AUROC, **asdict(options)}


def multivariate_results(ref_lf: pl.LazyFrame, cur_lf: pl.LazyFrame, key: pl.Expr,
                         bounds: dict[Any, tuple[datetime, datetime, int]],
                         kinds: dict[str, str], settings: DriftSettings,
                         options: ClassifierTestOptions) -> list[dict[str, Any]]:
    """One `section: "multivariate"` result per window (in window order)."""
    require_sklearn()
    columns = list(kinds)
    counts = dict(zip([c for c, k in kinds.items() if k == "categorical"], pl.collect_all(
        [category_counts(ref_lf, c) for c, k in kinds.items() if k == "categorical"]),
        strict=True))
    reference = sample_rows(ref_lf, columns, pl.lit(0), options.seed).drop(W)
    samples = sample_rows(cur_lf, columns, key, options.seed + 1)
    by_window = samples.partition_by(W, as_dict=True, include_key=False)
    results = []
    for i, (start, (lo, hi, rows)) in enumerate(bounds.items()):
        progress.phase(f"multivariate: window {i + 1} of {len(bounds)}")
        window = by_window.get((start,), samples.clear().drop(W))
        results.append(_window_result(*encode_pair(reference, window, kinds, counts),
                                      (lo, hi, rows), settings, options))
    return results


def one_window_test(ref_lf: pl.LazyFrame, cur_lf: pl.LazyFrame, kinds: dict[str, str],
                    bounds: tuple[datetime, datetime, int], settings: DriftSettings,
                    options: ClassifierTestOptions) -> dict[str, Any]:
    """The test of one window (all of `cur_lf`) against the reference: monitor's window,
    rca's current against its baseline. The same sampling, budget and verdict as drift's."""
    return multivariate_results(ref_lf, cur_lf, pl.lit(0, dtype=pl.Int32), {0: bounds}, kinds,
                                settings, options)[0]


def multivariate_recommendations(results: list[dict[str, Any]]) -> list[str]:
    """One line when windows were told apart from the reference: how many, since when, and the
    features the latest such window's classifier relied on."""
    flagged = [r for r in results if r["status"] in ("warn", "fail")]
    if not flagged:
        return []
    latest = flagged[-1]
    since = latest["window_start"] if len(flagged) == 1 else flagged[0]["window_start"]
    text = (f"multivariate: {len(flagged)} of {len(results)} windows told apart from the "
            f"reference (first {_stamp(since)}; latest AUROC {latest['auroc']:.3f}, "
            f"p {latest['p_value']:.2g})")
    if latest["top_features"]:
        text += f", driven most by {latest['top_features']} (AUROC drop when shuffled)"
    return [text]


def _stamp(value: Any) -> str:
    return value.isoformat(sep=" ") if isinstance(value, datetime) else str(value)


def sample_rows(lf: pl.LazyFrame, columns: list[str], key: pl.Expr, seed: int) -> pl.DataFrame:
    """At most ROW_BUDGET rows of each window (`key`), drawn uniformly with `seed`."""
    priority = pl.int_range(pl.len()).shuffle(seed=seed)
    return (lf.select(key.alias(W), *columns, priority.alias(R))
            .filter(pl.col(R).rank("ordinal").over(W) <= ROW_BUDGET)
            .sort(W, R).drop(R).collect())


def _window_result(reference: np.ndarray, window: np.ndarray, encoding: Encoding,
                   bounds: tuple[datetime, datetime, int], settings: DriftSettings,
                   options: ClassifierTestOptions) -> dict[str, Any]:
    lo, hi, rows = bounds
    result: dict[str, Any] = {
        "section": "multivariate", "status": "insufficient", "window_start": lo,
        "window_end": hi, "rows": rows, "rows_reference": len(reference),
        "rows_window": len(window), "auroc": None, "ci_low": None, "ci_high": None,
        "p_value": None, "threshold": MIN_AUROC, "top_features": None, "importance": [],
        "reason": None}
    smallest = min(len(reference), len(window))
    if rows < settings.min_rows or smallest < MIN_ROWS_PER_SIDE:
        result["reason"] = (f"{min(rows, smallest)} rows: fewer than min_rows "
                            f"{max(settings.min_rows, MIN_ROWS_PER_SIDE)}")
        return result
    test = encoded_two_sample_test(reference, window, encoding, options)
    significant = test["p_value"] < options.alpha
    status = ("fail" if test["auroc"] >= MIN_AUROC else "warn") if significant else "pass"
    top = ", ".join(f"{f['feature']} {f['importance']:.3f}"
                    for f in test["importance"][:TOP_FEATURES] if f["importance"] > 0)
    result |= {k: test[k] for k in ("auroc", "ci_low", "ci_high", "p_value", "rows_reference",
                                    "rows_window", "importance")}
    result |= {"status": status, "top_features": top or None}
    return result
