"""Mergeable per-feature summaries (TFDV's verbs: empty, add a batch with `summarize`, merge).

A summary holds only counts, sums and moments over cells fixed by the reference `Binning`, so
summaries of windows, partitions or engines merge exactly (moments with Chan's formula), and
serialise with `to_dict` / `summary_from_dict` so profiles can be stored and merged later.

A summary with `error` set could not be computed (missing column, wrong type, no binning); it
still counts rows, and `nulls` when the column exists (None when it is missing). An all-null
window is *not* an error: its summary is simply empty and the measures say so.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields, replace
from functools import cached_property
from typing import Any

import numpy as np

from evalctl.stats.binning import CategoricalBins, NumericBins

UNSEEN_NAME_CAP = 20


@dataclass(frozen=True)
class CellArrays:
    """A numeric summary's cells as arrays (see `NumericSummary.cells`)."""

    counts: np.ndarray  # every cell, interleaved (float)
    sums: np.ndarray  # the open cells
    lows: np.ndarray
    highs: np.ndarray


def _integers() -> np.ndarray:
    return np.zeros(0, dtype=np.int64)


def _floats() -> np.ndarray:
    return np.zeros(0)


CELL_TYPES = {"counts": np.int64, "sums": np.float64, "lows": np.float64,
              "highs": np.float64}


@dataclass(frozen=True, eq=False)
class NumericSummary:
    """One numeric feature in one window.

    `counts` has ``2 * len(edges) + 1`` cells, interleaving the open intervals and the edges:
    ``(-inf, e0), {e0}, (e0, e1), {e1}, ..., {em}, (em, inf)``. `sums`, `lows` and `highs`
    hold the sum, smallest and largest value in each open interval (``len(edges) + 1`` of
    them; NaN low and high when the interval is empty). The four are numpy arrays (int64
    counts, float64 others; sequences given to the constructor are converted, None to NaN):
    a drift over 30 windows of 30 features holds millions of cells, which as Python objects
    cost more to build than the measures computed on them. `mean` and `m2` (sum of squared
    deviations) are over the finite values; nulls and NaN/inf are counted apart.
    """

    feature: str
    edges: tuple[float, ...]
    psi_edges: tuple[float, ...]
    rows: int = 0
    nulls: int | None = 0
    nonfinite: int = 0
    minimum: float | None = None
    maximum: float | None = None
    mean: float = 0.0
    m2: float = 0.0
    counts: np.ndarray = field(default_factory=_integers)
    sums: np.ndarray = field(default_factory=_floats)
    lows: np.ndarray = field(default_factory=_floats)
    highs: np.ndarray = field(default_factory=_floats)
    error: str | None = None
    kind: str = "numeric"

    def __post_init__(self) -> None:
        for name, dtype in CELL_TYPES.items():
            value = getattr(self, name)
            if not (isinstance(value, np.ndarray) and value.dtype == dtype):
                object.__setattr__(self, name, np.asarray(value, dtype=dtype))

    def __eq__(self, other: object) -> bool:
        """Field by field; cells equal when their arrays are (NaN equal to NaN)."""
        if not isinstance(other, NumericSummary):
            return NotImplemented
        return all(np.array_equal(getattr(self, f.name), getattr(other, f.name), equal_nan=True)
                   if f.name in CELL_TYPES else getattr(self, f.name) == getattr(other, f.name)
                   for f in fields(self))

    __hash__ = None  # type: ignore[assignment]  # mutable arrays inside: not hashable

    @classmethod
    def empty(cls, feature: str, bins: NumericBins) -> NumericSummary:
        cells = len(bins.edges)
        return cls(feature, bins.edges, bins.psi_edges,
                   counts=np.zeros(2 * cells + 1, dtype=np.int64), sums=np.zeros(cells + 1),
                   lows=np.full(cells + 1, math.nan), highs=np.full(cells + 1, math.nan))

    @cached_property  # read once per measure and window: summed once (the fields are frozen)
    def count(self) -> int:
        """Finite values (rows minus nulls minus NaN/inf)."""
        return int(self.counts.sum())

    @cached_property  # the reference's, read by every window's measures
    def edge_array(self) -> np.ndarray:
        """`edges` as an array."""
        return np.asarray(self.edges, dtype=float)

    @cached_property
    def cells(self) -> CellArrays:
        """`counts` as floats beside `sums`, `lows` and `highs`, for the measures."""
        return CellArrays(self.counts.astype(float), self.sums, self.lows, self.highs)

    @property
    def variance(self) -> float | None:
        """Population variance (ddof 0, like ``np.std``) of the finite values."""
        return self.m2 / self.count if self.count else None

    @property
    def std(self) -> float | None:
        variance = self.variance
        return math.sqrt(max(variance, 0.0)) if variance is not None else None

    @property
    def below(self) -> int:
        """Finite values below the reference minimum."""
        return int(self.counts[0]) if self.counts.size else 0

    @property
    def above(self) -> int:
        """Finite values above the reference maximum."""
        return int(self.counts[-1]) if self.counts.size else 0

    def psi_counts(self) -> np.ndarray:
        """Counts in the right-closed bins ``(-inf, q1], ..., (qk, inf)`` of `psi_edges`."""
        edges = self.edge_array
        q = np.asarray(self.psi_edges)
        open_left = np.concatenate([[0], np.searchsorted(q, edges, side="right")])
        at_edge = np.searchsorted(q, edges, side="left")
        target = np.empty(2 * len(edges) + 1, dtype=np.int64)
        target[0::2] = open_left
        target[1::2] = at_edge
        return np.bincount(target, weights=self.cells.counts,
                           minlength=len(q) + 1).astype(np.int64)

    def to_dict(self) -> dict[str, Any]:
        """Plain Python values (lists; None for an empty cell's low and high)."""
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["edges"], data["psi_edges"] = list(self.edges), list(self.psi_edges)
        data["counts"], data["sums"] = self.counts.tolist(), self.sums.tolist()
        for name in ("lows", "highs"):
            data[name] = [None if math.isnan(v) else v for v in getattr(self, name).tolist()]
        return data


@dataclass(frozen=True)
class CategoricalSummary:
    """One categorical feature in one window.

    `counts` has ``len(vocabulary) + 2`` buckets: the reference top-K categories in order, then
    ``other`` (seen in the reference but outside the top K), then ``unseen`` (never seen in the
    reference). `unseen_names` are the alphabetically first `UNSEEN_NAME_CAP` unseen levels;
    `unseen_levels` counts distinct unseen levels and is exact while `unseen_levels_exact`.
    """

    feature: str
    vocabulary: tuple[str, ...]
    rows: int = 0
    nulls: int | None = 0
    counts: tuple[int, ...] = ()
    unseen_levels: int = 0
    unseen_names: tuple[str, ...] = ()
    unseen_levels_exact: bool = True
    known_complete: bool = True
    error: str | None = None
    kind: str = "categorical"

    @classmethod
    def empty(cls, feature: str, bins: CategoricalBins) -> CategoricalSummary:
        return cls(feature, bins.vocabulary, counts=(0,) * (len(bins.vocabulary) + 2),
                   known_complete=bins.known_complete)

    @cached_property  # read once per measure and window: summed once (the fields are frozen)
    def count(self) -> int:
        """Non-null values."""
        return sum(self.counts)

    @property
    def other(self) -> int:
        return self.counts[-2] if self.counts else 0

    @property
    def unseen(self) -> int:
        return self.counts[-1] if self.counts else 0

    @property
    def labels(self) -> tuple[str, ...]:
        """Bucket names, aligned with `counts`."""
        return (*self.vocabulary, "__other__", "__unseen__")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["vocabulary"], data["counts"] = list(self.vocabulary), list(self.counts)
        data["unseen_names"] = list(self.unseen_names)
        return data


Summary = NumericSummary | CategoricalSummary


def summary_from_dict(data: dict[str, Any]) -> Summary:
    """Inverse of ``Summary.to_dict``."""
    values = dict(data)
    if values.get("kind") == "numeric":
        for key in ("edges", "psi_edges"):
            values[key] = tuple(float(v) for v in values[key])
        return NumericSummary(**values)  # cells: lists to arrays, None to NaN
    if values.get("kind") == "categorical":
        values["vocabulary"] = tuple(values["vocabulary"])
        values["counts"] = tuple(int(v) for v in values["counts"])
        values["unseen_names"] = tuple(values["unseen_names"])
        return CategoricalSummary(**values)
    raise ValueError(f"unknown summary kind {values.get('kind')!r}")


def merge(a: Summary, b: Summary) -> Summary:
    """Combine two summaries of the same feature and binning (associative and commutative)."""
    if a.kind != b.kind or a.feature != b.feature:
        raise ValueError(f"cannot merge {a.kind} {a.feature!r} with {b.kind} {b.feature!r}")
    if isinstance(a, NumericSummary) and isinstance(b, NumericSummary):
        return _merge_numeric(a, b)
    if isinstance(a, CategoricalSummary) and isinstance(b, CategoricalSummary):
        return _merge_categorical(a, b)
    raise TypeError(f"not summaries: {type(a).__name__}, {type(b).__name__}")


def _add_nulls(a: Summary, b: Summary) -> int | None:
    return None if a.nulls is None or b.nulls is None else a.nulls + b.nulls


def _merged_error(a: Summary, b: Summary) -> str | None:
    errors = sorted(e for e in (a.error, b.error) if e)
    return errors[0] if errors else None


def _merge_numeric(a: NumericSummary, b: NumericSummary) -> NumericSummary:
    error = _merged_error(a, b)
    if error:
        return NumericSummary(a.feature, (), (), a.rows + b.rows, _add_nulls(a, b), error=error)
    if a.edges != b.edges or a.psi_edges != b.psi_edges:
        raise ValueError(f"cannot merge {a.feature!r}: summaries use different bin edges")
    n_a, n_b = a.count, b.count
    mean, m2 = merge_moments(n_a, a.mean, a.m2, n_b, b.mean, b.m2)
    return replace(
        a,
        rows=a.rows + b.rows,
        nulls=_add_nulls(a, b),
        nonfinite=a.nonfinite + b.nonfinite,
        minimum=_pick(min, a.minimum, b.minimum),
        maximum=_pick(max, a.maximum, b.maximum),
        mean=mean,
        m2=m2,
        counts=_add(a.counts, b.counts), sums=_added_sums(a.sums, b.sums),
        lows=np.fmin(a.lows, b.lows), highs=np.fmax(a.highs, b.highs),  # NaN: empty, ignored
    )


def _added_sums(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cell sums added as a summary holds them (`evalctl.stats.counters`): sums near the
    float maximum overflow (to inf, or NaN where +inf meets -inf), kept as ±float max and 0,
    as summarising the union keeps them — an expected result, so no numpy RuntimeWarning on
    a CLI user's terminal."""
    with np.errstate(over="ignore", invalid="ignore"):
        return np.nan_to_num(_add(a, b))


def _add(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if a.shape != b.shape:
        raise ValueError(f"cannot merge cells of {a.size} and {b.size} values")
    return a + b


def merge_moments(
    n_a: int, mean_a: float, m2_a: float, n_b: int, mean_b: float, m2_b: float
) -> tuple[float, float]:
    """Chan et al.'s pairwise update: (mean, M2) of the union of two groups."""
    if n_b == 0:
        return (mean_a, m2_a) if n_a else (0.0, 0.0)
    if n_a == 0:
        return mean_b, m2_b
    n = n_a + n_b
    delta = mean_b - mean_a
    return mean_a + delta * n_b / n, m2_a + m2_b + delta * delta * n_a * n_b / n


def _pick(fn: Any, x: float | None, y: float | None) -> float | None:
    present = [v for v in (x, y) if v is not None]
    return fn(present) if present else None


def _merge_categorical(a: CategoricalSummary, b: CategoricalSummary) -> CategoricalSummary:
    error = _merged_error(a, b)
    if error:
        return CategoricalSummary(a.feature, (), a.rows + b.rows, _add_nulls(a, b), error=error)
    if a.vocabulary != b.vocabulary:
        raise ValueError(f"cannot merge {a.feature!r}: summaries use different vocabularies")
    names = sorted(set(a.unseen_names) | set(b.unseen_names))
    complete = all(s.unseen_levels_exact and s.unseen_levels == len(s.unseen_names)
                   for s in (a, b))
    levels = len(names) if complete else max(a.unseen_levels, b.unseen_levels, len(names))
    return replace(
        a,
        rows=a.rows + b.rows,
        nulls=_add_nulls(a, b),
        counts=tuple(x + y for x, y in zip(a.counts, b.counts, strict=True)),
        unseen_levels=levels,
        unseen_names=tuple(names[:UNSEEN_NAME_CAP]),
        unseen_levels_exact=complete,
        known_complete=a.known_complete and b.known_complete,
    )
