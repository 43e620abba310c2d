"""Pure helpers for window series: minimum rows, onset of drift, data-driven thresholds, FDR."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from evalctl.metrics.significance import adjust_pvalues

INSUFFICIENT = "insufficient"
JUDGED = ("pass", "warn", "fail")
_CROSSED = {"warn": ("warn", "fail"), "fail": ("fail",)}


def mark_insufficient(statuses: Sequence[str], rows: Sequence[int], min_rows: int) -> list[str]:
    """Statuses with every window of fewer than `min_rows` rows replaced by ``insufficient``.

    A window with a handful of rows gives a noisy score; judging it would flap the series.
    """
    if len(statuses) != len(rows):
        raise ValueError("statuses and rows must have the same length")
    return [INSUFFICIENT if n < min_rows else s for s, n in zip(statuses, rows, strict=True)]


def find_onset(statuses: Sequence[str], level: str = "warn") -> int | None:
    """Index of the first window of the final sustained crossing, or None.

    A window *crosses* when its status reaches `level` (``warn`` counts warn and fail; ``fail``
    only fail). Windows that are not judged (``insufficient``, ``error``) are skipped: they
    neither start nor break a run. The onset is the first crossing window of the last run of
    crossing windows that reaches the end of the series. If the last judged window does not
    cross (or no window is judged) there is no sustained crossing and the result is None.

    >>> find_onset(["pass", "warn", "pass", "warn", "insufficient", "fail", "warn"])
    3
    """
    if level not in _CROSSED:
        raise ValueError(f"level must be warn or fail, got {level!r}")
    crossed = _CROSSED[level]
    onset = None
    for index in range(len(statuses) - 1, -1, -1):
        status = statuses[index]
        if status not in JUDGED:
            continue
        if status not in crossed:
            break
        onset = index
    return onset


def data_driven_threshold(
    scores: Sequence[float | None], k: float = 3.0, higher_is_worse: bool = True
) -> float | None:
    """``mean + k * std`` of the scores seen on reference chunks (``mean - k * std`` when lower
    is worse), or None with fewer than two finite scores.

    It answers "how far does the measure wander when nothing changed?" -- NannyML's
    standard-deviation threshold, with its population std (ddof 0). Missing / non-finite
    scores are ignored.
    """
    values = np.asarray([s for s in scores if s is not None and math.isfinite(s)], dtype=float)
    if len(values) < 2:
        return None
    spread = k * float(values.std())
    return float(values.mean()) + (spread if higher_is_worse else -spread)


def adjust_pvalues_bh(p_values: Sequence[float | None]) -> list[float | None]:
    """Benjamini-Hochberg adjusted p-values (as ``scipy.stats.false_discovery_control``).

    Missing p-values stay None and do not count among the tests.
    """

    p = np.array([np.nan if v is None else v for v in p_values], dtype=float)
    return [float(v) if np.isfinite(v) else None for v in adjust_pvalues(p, "bh")]
