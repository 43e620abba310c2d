"""Distribution measures over reference-fixed buckets, for numeric and categorical summaries.

Numeric features are compared over the reference-decile bins (``psi_edges``), categorical ones
over the top-K vocabulary plus ``__other__`` (reference levels outside the top K) and
``__unseen__`` (levels the reference never had).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from evalctl.checks import histogram
from evalctl.checks.measure import Score
from evalctl.stats.summary import NumericSummary, Summary


def bucket_counts(summary: Summary) -> tuple[np.ndarray, dict[str, Any]]:
    """The bucket counts a distance is computed on, and how to reproduce the buckets."""
    if isinstance(summary, NumericSummary):
        return summary.psi_counts(), {"bins": len(summary.psi_edges) + 1,
                                      "bin_edges": list(summary.psi_edges)}
    return np.asarray(summary.counts), {"categories": len(summary.vocabulary),
                                        "buckets": len(summary.counts)}


def psi(ref: Summary, cur: Summary) -> Score:
    """Population stability index over reference-quantile bins (natural log).

    Rule of thumb: < 0.1 stable, 0.1-0.25 moderate shift, > 0.25 major shift; those are the
    warn / fail defaults. Not the numeric default: reference-decile bins hide shifts inside a
    bin, so a 0.25-sd mean shift scores ~0.06 (pass) at any sample size. Empty buckets get
    proportion `histogram.PSI_EPSILON` (1e-4).
    """
    r, details = bucket_counts(ref)
    c, _ = bucket_counts(cur)
    details |= {"log_base": "e", "epsilon": histogram.PSI_EPSILON}
    return Score(histogram.psi(r, c), details)


def jensen_shannon(ref: Summary, cur: Summary) -> Score:
    """Jensen-Shannon distance (base 2, in [0, 1]) between bucket frequencies.

    Default for categorical features: bounded, symmetric, defined when a bucket is empty on one
    side and barely moved by sample size. 0.1 warns, 0.2 fails.
    """
    r, details = bucket_counts(ref)
    c, _ = bucket_counts(cur)
    return Score(histogram.jensen_shannon(r, c), details | {"log_base": 2})


def hellinger(ref: Summary, cur: Summary) -> Score:
    """Hellinger distance (in [0, 1]) between bucket frequencies; 0.1 warns, 0.2 fails."""
    r, details = bucket_counts(ref)
    c, _ = bucket_counts(cur)
    return Score(histogram.hellinger(r, c), details)


def l_infinity(ref: Summary, cur: Summary) -> Score:
    """Largest change of any category's share (TFDV's categorical default); 0.1 / 0.2."""
    r, details = bucket_counts(ref)
    c, _ = bucket_counts(cur)
    return Score(histogram.l_infinity(r, c), details)


def chi_square(ref: Summary, cur: Summary) -> Score:
    """Chi-square test of homogeneity; the score is the p-value (lower is worse).

    Opt-in only: on millions of rows any negligible change gives p ~ 0, so it is a test of
    sample size more than of drift. Warns below 0.05, fails below 0.01.
    """
    r, details = bucket_counts(ref)
    c, _ = bucket_counts(cur)
    statistic, p_value, dof = histogram.chi_square(r, c)
    return Score(p_value, details | {"statistic": statistic, "dof": dof, "p_value": p_value})
