"""Adjusted p-values over a family of tests: Benjamini-Hochberg (false discovery rate) or Holm
(family-wise error). Here rather than beside the proportion tests (`evalctl.metrics.
significance`, which re-exports it) so that drift and skew, which adjust their columns'
p-values, do not import the metrics package (start-up time).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from evalctl.errors import InputError

ADJUSTMENTS = ("bh", "holm")


def adjust_pvalues(pvalues: Iterable[float], method: str = "bh") -> np.ndarray:
    """Benjamini-Hochberg ("bh") or Holm ("holm") adjusted p-values; NaN entries stay NaN and
    do not count as tests."""
    if method not in ADJUSTMENTS:
        raise InputError(f"unknown p-value adjustment {method!r} (valid: {', '.join(ADJUSTMENTS)})")
    p = np.asarray(list(pvalues), dtype=float)
    out = np.full(p.shape, np.nan)
    tested = np.isfinite(p)
    if not tested.any():
        return out
    out[tested] = _bh(p[tested]) if method == "bh" else _holm(p[tested])
    return out


def _bh(p: np.ndarray) -> np.ndarray:
    """Step-up BH, as scipy.stats.false_discovery_control (tested against it), without paying
    scipy.stats' import time on every report."""
    order = np.argsort(p, kind="stable")
    m = len(p)
    scaled = p[order] * m / np.arange(1, m + 1)
    out = np.empty(m)
    out[order] = np.clip(np.minimum.accumulate(scaled[::-1])[::-1], 0.0, 1.0)
    return out


def _holm(p: np.ndarray) -> np.ndarray:
    order = np.argsort(p, kind="stable")
    m = len(p)
    stepped = np.maximum.accumulate(np.minimum(1.0, (m - np.arange(m)) * p[order]))
    out = np.empty(m)
    out[order] = stepped
    return out
