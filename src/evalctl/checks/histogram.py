"""Distances between two count vectors over the same buckets (pure numpy, no summaries).

Numeric features use the reference-decile bins (``NumericSummary.psi_counts``), categorical ones
the top-K vocabulary plus ``other`` and ``unseen`` buckets. Every function expects two vectors
of equal length with positive totals; callers check emptiness first.
"""

from __future__ import annotations

import numpy as np

PSI_EPSILON = 1e-4
"""Proportion given to an empty bucket in PSI so ln(q/p) stays finite (Evidently's choice).

It applies per side: a bucket empty in one sample only contributes about
``(q - 1e-4) * ln(q / 1e-4)``, e.g. 0.46 for q = 5%, so an emptied or new bucket still counts;
a bucket empty in both contributes 0. No renormalisation follows.
"""


def proportions(counts: np.ndarray) -> np.ndarray:
    counts = np.asarray(counts, dtype=float)
    return counts / counts.sum()


def psi(ref_counts: np.ndarray, cur_counts: np.ndarray) -> float:
    """Population stability index, natural log: ``sum((q - p) * ln(q / p))``."""
    p = np.maximum(proportions(ref_counts), PSI_EPSILON)
    q = np.maximum(proportions(cur_counts), PSI_EPSILON)
    return float(np.sum((q - p) * np.log(q / p)))


def jensen_shannon(ref_counts: np.ndarray, cur_counts: np.ndarray) -> float:
    """Jensen-Shannon *distance* (square root of the divergence), log base 2, in [0, 1]."""
    p, q = proportions(ref_counts), proportions(cur_counts)
    m = (p + q) / 2
    divergence = (_kl_terms(p, m) + _kl_terms(q, m)) / 2
    return float(np.sqrt(max(divergence, 0.0)))


def _kl_terms(p: np.ndarray, m: np.ndarray) -> float:
    mask = p > 0
    return float(np.sum(p[mask] * np.log2(p[mask] / m[mask])))


def hellinger(ref_counts: np.ndarray, cur_counts: np.ndarray) -> float:
    """Hellinger distance ``sqrt(1 - sum(sqrt(p * q)))``, in [0, 1]."""
    p, q = proportions(ref_counts), proportions(cur_counts)
    return float(np.sqrt(max(1.0 - np.sum(np.sqrt(p * q)), 0.0)))


def l_infinity(ref_counts: np.ndarray, cur_counts: np.ndarray) -> float:
    """Largest absolute difference between bucket frequencies (TFDV's categorical default)."""
    return float(np.max(np.abs(proportions(ref_counts) - proportions(cur_counts))))


def chi_square(ref_counts: np.ndarray, cur_counts: np.ndarray) -> tuple[float, float, int]:
    """Pearson chi-square test of homogeneity on the 2 x k table (statistic, p-value, dof).

    Buckets empty in both samples are dropped first (they carry no information and would
    divide by zero). No Yates continuity correction, so it equals
    ``scipy.stats.chi2_contingency(table, correction=False)``; with one bucket left the
    statistic is 0 and the p-value 1.
    """
    # scipy.special, not scipy.stats: `chi2.sf(x, dof)` is `chdtrc(dof, x)`, and importing
    # scipy.stats costs ~0.45 s (its docstring parsing); imported only when this is computed
    # (start-up time)
    from scipy.special import chdtrc

    table = np.vstack([ref_counts, cur_counts]).astype(float)
    table = table[:, table.sum(axis=0) > 0]
    expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / table.sum()
    statistic = float(np.sum((table - expected) ** 2 / expected))
    dof = table.shape[1] - 1
    p_value = float(chdtrc(dof, statistic)) if dof > 0 else 1.0
    return statistic, p_value, dof
