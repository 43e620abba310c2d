"""Is a slice's error different from the rest of the data? One test per slice, BH across them.

- 0/1 errors: Fisher's exact test (two-sided) on the 2x2 table slice/rest x error/no error;
  the statistic is the sample odds ratio. Exact at any size and fast in scipy.
- any other errors (squared error, log loss...): Welch's t-test (two-sided, unequal variances).

Caveat: the same rows picked the slice *and* test it, so these p-values are optimistic; the
Benjamini-Hochberg adjustment covers the reported slices, not the whole search. Read them as
"is this more than noise", not as confirmatory evidence; confirm on fresh data.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

FISHER = "fisher_exact"
WELCH = "welch_t"


@dataclass(frozen=True)
class SliceTest:
    """Result of one slice-versus-rest test; None where a value is undefined."""

    test: str
    statistic: float | None
    p_value: float | None


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def compare_slice_errors(mask: np.ndarray, errors: np.ndarray, binary: bool) -> SliceTest:
    """Test the errors of the rows in `mask` against the errors of all other rows."""
    inside, outside = errors[mask], errors[~mask]
    if binary:
        return _fisher(inside, outside)
    return _welch(inside, outside)


def _fisher(inside: np.ndarray, outside: np.ndarray) -> SliceTest:
    # scipy is imported only when this is computed (start-up time)
    from scipy.stats import fisher_exact

    if inside.size == 0 or outside.size == 0:
        return SliceTest(FISHER, None, None)
    a, c = int(inside.sum()), int(outside.sum())
    table = [[a, inside.size - a], [c, outside.size - c]]
    result = fisher_exact(table, alternative="two-sided")
    return SliceTest(FISHER, _finite(result.statistic), _finite(result.pvalue))


def _welch(inside: np.ndarray, outside: np.ndarray) -> SliceTest:
    # scipy is imported only when this is computed (start-up time)
    from scipy.stats import ttest_ind_from_stats

    if inside.size < 2 or outside.size < 2:
        return SliceTest(WELCH, None, None)
    s1, s2 = inside.std(ddof=1), outside.std(ddof=1)
    if s1 == 0 and s2 == 0:
        return SliceTest(WELCH, None, None)
    result = ttest_ind_from_stats(inside.mean(), s1, inside.size, outside.mean(), s2,
                                  outside.size, equal_var=False)
    return SliceTest(WELCH, _finite(result.statistic), _finite(result.pvalue))


def adjust_p_values(p_values: list[float | None]) -> list[float | None]:
    """Benjamini-Hochberg adjusted p-values over the defined ones; None stays None."""
    # scipy is imported only when this is computed (start-up time)
    from scipy.stats import false_discovery_control

    defined = [i for i, p in enumerate(p_values) if p is not None]
    adjusted: list[float | None] = [None] * len(p_values)
    if defined:
        values = false_discovery_control(np.asarray([p_values[i] for i in defined]), method="bh")
        for i, value in zip(defined, values, strict=True):
            adjusted[i] = float(value)
    return adjusted
