"""Is a segment's proportion different from the rest of the data (or from another window)?

* `two_proportion_pvalues`: two-sided test of p1 = p2. Pooled z-test; Fisher's exact test when
  an expected cell count is below 5 (small samples, rates near 0 or 1).
* `adjust_pvalues`: Benjamini-Hochberg (false discovery rate) or Holm (family-wise error).
* `compare_to_overall`: for the proportion metrics of a `compute_metrics` frame, each segment
  against the rest of the data (overall minus the segment, disjoint by construction), with
  adjusted p-values over every test in the frame.
* `compare_to_reference`: the same metrics against another frame (another window), row by row.

P-values accompany effect sizes; on millions of rows tiny differences are "significant", so
callers should gate on the difference first (docs/contract.md: effect sizes decide by default).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import polars as pl

from evalctl.checks.adjust import adjust_pvalues
from evalctl.metrics.catalogue import PROPORTION_METRICS
from evalctl.metrics.slices import OVERALL

# math.erfc over an array: scipy.special would cost ~0.15 s of import per report for a few
# thousand values.
_erfc = np.frompyfunc(math.erfc, 1, 1)


def normal_pvalues(z: Iterable[float] | float) -> np.ndarray:
    """Two-sided standard-normal p-values of z statistics (vectorised; NaN stays NaN)."""
    return np.asarray(_erfc(np.abs(np.asarray(z, dtype=float)) / math.sqrt(2.0)), dtype=float)


def two_proportion_pvalues(
    x1: Iterable[float] | float, n1: Iterable[float] | float,
    x2: Iterable[float] | float, n2: Iterable[float] | float,
    *, min_expected: float = 5.0,
) -> np.ndarray:
    """Two-sided p-values for successes x out of n trials in two independent groups.

    Vectorised over arrays (scalars work). NaN where either group has no trials.
    """
    x1, n1, x2, n2 = np.broadcast_arrays(*(np.asarray(a, dtype=float) for a in (x1, n1, x2, n2)))
    x1, n1, x2, n2 = (np.atleast_1d(a) for a in (x1, n1, x2, n2))
    with np.errstate(divide="ignore", invalid="ignore"):
        pooled = (x1 + x2) / (n1 + n2)
        se = np.sqrt(pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2))
        z = (x1 / n1 - x2 / n2) / se
        p = np.where(se > 0, normal_pvalues(z), 1.0)
        expected = np.minimum(np.minimum(n1, n2) * pooled, np.minimum(n1, n2) * (1.0 - pooled))
    small = (expected < min_expected) & (n1 > 0) & (n2 > 0)
    if small.any():  # scipy.stats takes ~0.4 s to import: only when a Fisher test is needed
        # scipy is imported only when this is computed (start-up time)
        from scipy.stats import fisher_exact
    for i in np.flatnonzero(small):
        table = [[x1[i], n1[i] - x1[i]], [x2[i], n2[i] - x2[i]]]
        p[i] = fisher_exact(np.rint(table).astype(np.int64)).pvalue
    return np.where((n1 > 0) & (n2 > 0), np.clip(p, 0.0, 1.0), np.nan)


def compare_to_overall(
    metrics: pl.DataFrame, *, method: str = "bh", tested: Iterable[str] = PROPORTION_METRICS
) -> pl.DataFrame:
    """Add `rest_value`, `p_value` and `p_adjusted` to a `compute_metrics` frame.

    Each segment's proportion (successes = value x support) is tested against the rest of the
    data; other metrics and the overall rows get nulls. Adjustment runs over all tests at once.
    """
    overall = metrics.filter(pl.col("slice") == OVERALL).select(
        "metric", _successes().alias("__x_all"), pl.col("support").alias("__n_all")
    )
    frame = metrics.join(overall, on="metric", how="left", maintain_order="left").with_columns(
        _successes().alias("__x1"), pl.col("support").alias("__n1"),
        (pl.col("__x_all") - _successes()).alias("__x2"),
        (pl.col("__n_all") - pl.col("support")).alias("__n2"),
    )
    use = (pl.col("slice") != OVERALL) & pl.col("__x_all").is_not_null()
    return _add_tests(frame, use, tested, method, "rest_value")


def compare_to_reference(
    current: pl.DataFrame, reference: pl.DataFrame, *, method: str = "bh",
    tested: Iterable[str] = PROPORTION_METRICS,
) -> pl.DataFrame:
    """Add `reference_value`, `p_value` and `p_adjusted` to `current`, matching rows of another
    `compute_metrics` frame on (slice, segment, metric).

    The test assumes independent samples (e.g. two time windows). Two models scored on the
    same rows are paired; this test is then conservative.
    """
    ref = reference.select(
        "slice", "segment", "metric", _successes().alias("__x2"),
        pl.col("support").alias("__n2"),
    )
    frame = current.join(ref, on=["slice", "segment", "metric"], how="left",
                         maintain_order="left").with_columns(
        _successes().alias("__x1"), pl.col("support").alias("__n1")
    )
    return _add_tests(frame, pl.col("__x2").is_not_null(), tested, method, "reference_value")


def _successes() -> pl.Expr:
    return (pl.col("value") * pl.col("support")).round()


def _add_tests(frame: pl.DataFrame, use: pl.Expr, tested: Iterable[str], method: str,
               other: str) -> pl.DataFrame:
    """Two-proportion tests on rows where `use` holds: (__x1, __n1) against (__x2, __n2)."""
    use = use & pl.col("metric").is_in(list(tested)) & pl.col("value").is_not_null()
    mask = frame.select(use.fill_null(False)).to_series().to_numpy()
    x1, n1, x2, n2 = (frame.get_column(c).cast(pl.Float64).fill_null(0).to_numpy()
                      for c in ("__x1", "__n1", "__x2", "__n2"))
    p = np.full(frame.height, np.nan)
    if mask.any():
        p[mask] = two_proportion_pvalues(x1[mask], n1[mask], x2[mask], n2[mask])
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(mask & (n2 > 0), x2 / n2, np.nan)
    return frame.select(pl.exclude("^__.*$")).with_columns(
        pl.Series(other, rate, nan_to_null=True),
        pl.Series("p_value", p, nan_to_null=True),
        pl.Series("p_adjusted", adjust_pvalues(p, method), nan_to_null=True),
    )
