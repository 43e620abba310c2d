"""Confidence intervals, vectorised over segments (numpy arrays in, arrays out).

Undefined inputs (no trials, fewer than two observations) give NaN, which the output layer turns
into null. Nothing here reads data: every function works on mergeable summaries (counts, sums,
sums of squares) already aggregated per segment.
"""

from __future__ import annotations

import zlib
from statistics import NormalDist

import numpy as np

FloatArray = np.ndarray


def z_value(confidence: float) -> float:
    """Two-sided standard-normal quantile for `confidence` (1.959963... for 0.95)."""
    return NormalDist().inv_cdf(0.5 + confidence / 2.0)


def wilson_interval(
    successes: FloatArray, trials: FloatArray, confidence: float
) -> tuple[FloatArray, FloatArray]:
    """Wilson score interval for a binomial proportion (no continuity correction)."""
    x = np.asarray(successes, dtype=float)
    n = np.asarray(trials, dtype=float)
    z2 = z_value(confidence) ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        p = x / n
        denom = 1.0 + z2 / n
        centre = (p + z2 / (2.0 * n)) / denom
        half = np.sqrt(p * (1.0 - p) / n + z2 / (4.0 * n * n)) * np.sqrt(z2) / denom
    bad = n <= 0
    low = np.where(bad, np.nan, np.clip(centre - half, 0.0, 1.0))
    high = np.where(bad, np.nan, np.clip(centre + half, 0.0, 1.0))
    return low, high


def sample_variance(total: FloatArray, total_sq: FloatArray, n: FloatArray) -> FloatArray:
    """Unbiased variance from a count, a sum and a sum of squares (NaN below two values)."""
    n = np.asarray(n, dtype=float)
    # over: a sum beyond ~1e154 squares to inf (RMSE's sum of squared errors once errors
    # pass ~1e77, when its sum of fourth powers is inf already): the variance is then NaN or
    # inf, float arithmetic's answer, not worth a RuntimeWarning on the user's terminal
    total, total_sq = np.asarray(total, float), np.asarray(total_sq, float)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        var = (total_sq - total**2 / n) / (n - 1.0)
    # squares of values below ~1e-154 underflow to 0: a sum of squares of 0 beside a sum that
    # is not 0 is no measurement of a zero variance (it would give a zero-width interval)
    underflowed = (total_sq == 0) & (total != 0)
    return np.where((n >= 2) & ~underflowed, np.maximum(var, 0.0), np.nan)


def normal_interval(
    value: FloatArray,
    std_error: FloatArray,
    confidence: float,
    lower: float = -np.inf,
    upper: float = np.inf,
) -> tuple[FloatArray, FloatArray]:
    """``value ± z * std_error`` clipped to the metric's range [lower, upper]."""
    z = z_value(confidence)
    value = np.asarray(value, dtype=float)
    std_error = np.asarray(std_error, dtype=float)
    with np.errstate(invalid="ignore"):
        low = np.clip(value - z * std_error, lower, upper)
        high = np.clip(value + z * std_error, lower, upper)
    return low, high


def mean_interval(
    total: FloatArray,
    total_sq: FloatArray,
    n: FloatArray,
    confidence: float,
    lower: float = -np.inf,
    upper: float = np.inf,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Mean and normal interval ``mean ± z * s / sqrt(n)`` from mergeable moments."""
    n = np.asarray(n, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.asarray(total, float) / n
        se = np.sqrt(sample_variance(total, total_sq, n) / n)
    low, high = normal_interval(mean, se, confidence, lower, upper)
    return mean, low, high


def logit_interval(
    value: FloatArray, n: FloatArray, confidence: float
) -> tuple[FloatArray, FloatArray]:
    """Interval on the logit scale with binomial variance ``1 / (n p (1 - p))``.

    Boyd, Eng & Page (2013) recommend it for average precision with n = number of positives;
    it is an approximation and is undefined (NaN) when the value is exactly 0 or 1.
    """
    p = np.asarray(value, dtype=float)
    n = np.asarray(n, dtype=float)
    z = z_value(confidence)
    with np.errstate(divide="ignore", invalid="ignore"):
        eta = np.log(p / (1.0 - p))
        tau = 1.0 / np.sqrt(n * p * (1.0 - p))
        low = 1.0 / (1.0 + np.exp(-(eta - z * tau)))
        high = 1.0 / (1.0 + np.exp(-(eta + z * tau)))
    bad = (p <= 0) | (p >= 1) | (n <= 0)
    return np.where(bad, np.nan, low), np.where(bad, np.nan, high)


def percentile_interval(draws: FloatArray, confidence: float) -> tuple[float, float]:
    """Percentile bootstrap interval from replicate values (NaN replicates are ignored)."""
    draws = np.asarray(draws, dtype=float)
    draws = draws[np.isfinite(draws)]
    if draws.size == 0:
        return float("nan"), float("nan")
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(draws, [alpha, 1.0 - alpha])
    return float(low), float(high)


def segment_rng(seed: int, *parts: str) -> np.random.Generator:
    """A generator seeded by `seed` and the segment's identity, so that a segment's bootstrap
    does not depend on which other slices were computed with it."""
    digest = zlib.crc32("\x1f".join(parts).encode("utf-8"))
    return np.random.default_rng([seed, digest])
