"""Numeric-only drift measures computed from the fine reference-quantile cells."""

from __future__ import annotations

import math

from evalctl.checks.ecdf import (
    Bounded,
    ks_p_value,
    ks_statistic,
    wasserstein_and_ks,
    wasserstein_distance,
    wasserstein_distances,
)
from evalctl.checks.measure import Score
from evalctl.stats.summary import NumericSummary


def kolmogorov_smirnov(ref: NumericSummary, cur: NumericSummary) -> Score:
    """Two-sample KS statistic (largest CDF gap, in [0, 1]) with its asymptotic p-value.

    The score is the proven lower bound from the binned cells; the exact statistic exceeds it by
    at most `max_error`, which is below 1 / fine_bins (0.001 by default) on any data and 0 when
    the reference has at most fine_bins distinct values. 0.1 warns, 0.2 fails; the p-value is
    reported, not used to gate.
    """
    bounds = ks_statistic(ref, cur)
    return Score(bounds.value, {
        "p_value": ks_p_value(bounds.value, ref.count, cur.count),
        "statistic_upper_bound": bounds.upper,
        "max_error": bounds.max_error,
        "fine_edges": len(ref.edges),
    })


def wasserstein(ref: NumericSummary, cur: NumericSummary) -> Score:
    """Wasserstein-1 (earth mover's) distance divided by the reference standard deviation.

    Default for numeric features. In units of reference standard deviations, so 0.1 (warn)
    means the mass moved a tenth of a standard deviation on average, 0.2 fails: a mean shift of
    0.25 sd scores 0.25, a standard deviation x1.3 about 0.24 (0.8 x the change of sd), while
    unchanged columns score below 0.03 at 10k rows per side, below 0.004 at 1M
    (benchmarks/drift_defaults.py). The score comes from a per-cell model of the binned data
    (see `evalctl.checks.ecdf`); the exact value is proven to lie within `max_error` of it (and
    within 1% of it on the distributions tested). A constant reference (std 0) is an error
    unless the distance is 0, and so is a reference whose standard deviation overflows.
    """
    return _wasserstein_score(ref, wasserstein_distance(ref, cur))


def wasserstein_scores(ref: NumericSummary, curs: list[NumericSummary]) -> list[Score]:
    """`wasserstein` of `ref` against each of `curs`, computed side by side (the same bits:
    `evalctl.checks.ecdf.wasserstein_distances`)."""
    return [_wasserstein_score(ref, b) for b in wasserstein_distances(ref, curs)]


def wasserstein_scores_and_ks(ref: NumericSummary, curs: list[NumericSummary]
                              ) -> tuple[list[Score], list[float]]:
    """`wasserstein_scores` and each window's KS statistic, from one running sum
    (`evalctl.checks.ecdf.wasserstein_and_ks`: the bits of each computed alone)."""
    distances, statistics = wasserstein_and_ks(ref, curs)
    return [_wasserstein_score(ref, b) for b in distances], statistics


def _wasserstein_score(ref: NumericSummary, bounds: Bounded) -> Score:
    std = ref.std or 0.0
    details = {"distance": bounds.value, "distance_lower_bound": bounds.lower,
               "distance_upper_bound": bounds.upper,
               "reference_std": std, "fine_edges": len(ref.edges)}
    # values near the float maximum overflow the moments: a NaN std would read as a constant
    # reference below, an infinite one would divide every distance to 0 (a "pass")
    if not math.isfinite(std):
        return Score(None, details, "the reference's standard deviation overflows (values "
                     "near the float maximum): normalised distance undefined")
    if std > 0:
        return Score(bounds.value / std, details | {"max_error": bounds.max_error / std})
    if bounds.upper == 0:
        return Score(0.0, details | {"max_error": 0.0})
    return Score(None, details, "the reference is constant (std 0): normalised distance undefined")
