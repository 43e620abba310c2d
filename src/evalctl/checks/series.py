"""Pure helpers for window series: minimum rows, onset of drift, data-driven thresholds, FDR."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from evalctl.checks.adjust import adjust_pvalues

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


def chunk_band_thresholds(
    scores: Sequence[float | None], k: float, floor: tuple[float, float],
    higher_is_worse: bool = True
) -> tuple[float, float]:
    """Data-driven ``(warn, fail)``: the band of the reference chunks' scores -- fail at
    ``mean + k * std``, warn at ``mean + (k - 1) * std`` (`data_driven_threshold`) -- but never
    stricter than `floor`, the fixed ``(warn, fail)`` thresholds.

    The floor is what keeps the band from crying wolf: on a million rows the chunks of an
    unchanged column agree so closely that the band shrinks to ~0.01 and would flag changes of
    no practical size. With it, chunks can only loosen a threshold (a column that wanders a lot
    between reference chunks), never tighten it below the effect size the fixed thresholds
    call material. Fewer than two finite scores: the floor itself.
    """
    band = (data_driven_threshold(scores, k=max(k - 1.0, 0.0), higher_is_worse=higher_is_worse),
            data_driven_threshold(scores, k=k, higher_is_worse=higher_is_worse))
    looser = max if higher_is_worse else min
    warn, fail = (limit if value is None else looser(value, limit)
                  for value, limit in zip(band, floor, strict=True))
    return warn, fail


def adjust_pvalues_bh(p_values: Sequence[float | None]) -> list[float | None]:
    """Benjamini-Hochberg adjusted p-values (as ``scipy.stats.false_discovery_control``).

    Missing p-values stay None and do not count among the tests.
    """

    p = np.array([np.nan if v is None else v for v in p_values], dtype=float)
    return [float(v) if np.isfinite(v) else None for v in adjust_pvalues(p, "bh")]
