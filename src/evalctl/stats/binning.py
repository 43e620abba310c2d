"""Fit once on the reference: bin edges and vocabularies that every window is then summarised with.

NannyML's habit: the reference decides the bins, so every later window is comparable with it
and with every other window. `fit_binning` reads the reference once (one polars scan of the
feature columns); quantiles come from `evalctl.stats.grid.order_statistics`, exact without
sorting whole columns.

Numeric features get two sets of edges, both taken from reference quantiles with the *lower*
interpolation (every edge is a real reference value, so ties such as integer ages land exactly
on edges) and deduplicated:

- ``psi_edges``: the interior edges of `n_bins` quantile bins, right-closed:
  ``(-inf, q1], (q1, q2], ..., (qk, inf)``. PSI, Jensen-Shannon and Hellinger use these.
- ``edges``: about 1.4 x `fine_bins` quantile edges from the reference minimum to its maximum
  (see `fine_levels`), plus every ``psi_edges`` value. When the reference has at most
  `fine_bins` distinct values (integer ages, codes), every distinct value is an edge instead,
  which makes KS exact on such data. The summary counts values *at* each edge and strictly *between*
  neighbouring edges, with per-cell sums; KS and Wasserstein are computed from these cells
  with a proven error bound (see `evalctl.checks.ecdf`).

Categorical features get the reference's top-K vocabulary (by count, ties by name) and the set of
all reference levels (up to `max_levels`) so that truly unseen categories can be told apart from
reference categories outside the top K.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from evalctl.stats.grid import GRID, UniformGrid, order_statistics

KINDS = ("numeric", "categorical")


@dataclass(frozen=True)
class NumericBins:
    """Reference-quantile edges of one numeric feature (see the module docstring)."""

    edges: tuple[float, ...]
    psi_edges: tuple[float, ...]


@dataclass(frozen=True)
class CategoricalBins:
    """Reference vocabulary of one categorical feature."""

    vocabulary: tuple[str, ...]
    known: frozenset[str]
    known_complete: bool


@dataclass(frozen=True)
class Binning:
    """Everything fitted on the reference; `errors` names features that could not be fitted."""

    kinds: dict[str, str]
    numeric: dict[str, NumericBins] = field(default_factory=dict)
    categorical: dict[str, CategoricalBins] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kinds": dict(self.kinds),
            "numeric": {f: {"edges": list(b.edges), "psi_edges": list(b.psi_edges)}
                        for f, b in self.numeric.items()},
            "categorical": {f: {"vocabulary": list(b.vocabulary), "known": sorted(b.known),
                                "known_complete": b.known_complete}
                            for f, b in self.categorical.items()},
            "errors": dict(self.errors),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Binning:
        return cls(
            kinds=dict(data["kinds"]),
            numeric={f: NumericBins(tuple(map(float, b["edges"])),
                                    tuple(map(float, b["psi_edges"])))
                     for f, b in data["numeric"].items()},
            categorical={f: CategoricalBins(tuple(b["vocabulary"]), frozenset(b["known"]),
                                            bool(b["known_complete"]))
                         for f, b in data["categorical"].items()},
            errors=dict(data["errors"]),
        )


def column_problem(schema: pl.Schema, column: str, kind: str) -> str | None:
    """Why `column` cannot be summarised as `kind`, or None when it can."""
    if kind not in KINDS:
        return f"unknown feature kind {kind!r} (expected numeric or categorical)"
    if column not in schema:
        return f"column {column!r} is missing"
    dtype = schema[column]
    if kind == "numeric":
        if dtype.is_numeric() or dtype in (pl.Boolean, pl.Null):
            return None
        return f"column {column!r} is configured numeric but has type {dtype}"
    if dtype.is_nested():
        return f"column {column!r} is configured categorical but has nested type {dtype}"
    return None


def fit_binning(
    lf: pl.LazyFrame,
    features: dict[str, str],
    n_bins: int = 10,
    top_k: int = 50,
    fine_bins: int = 1000,
    max_levels: int = 10_000,
) -> Binning:
    """Fit bin edges (numeric) and vocabularies (categorical) on the reference, in one scan.

    A feature whose column is missing, has the wrong type or holds no usable value is listed in
    `Binning.errors` with the reason instead of raising, so one bad column never stops the rest.
    """
    if n_bins < 2 or fine_bins < n_bins or top_k < 1 or max_levels < top_k:
        raise ValueError("need n_bins >= 2, fine_bins >= n_bins, 1 <= top_k <= max_levels")
    schema = lf.collect_schema()
    errors = {f: p for f, k in features.items() if (p := column_problem(schema, f, k))}
    usable = {f: k for f, k in features.items() if f not in errors}
    columns = [pl.col(f).cast(pl.Float64 if k == "numeric" else pl.String) for f, k in
               usable.items()]
    frame = lf.select(columns).collect() if columns else pl.DataFrame()
    counted = [_level_counts(f) for f, k in usable.items() if k == "categorical"]
    level_counts = frame.select(counted).row(0, named=True) if counted else {}
    numeric: dict[str, NumericBins] = {}
    categorical: dict[str, CategoricalBins] = {}
    for name, kind in usable.items():
        try:
            if kind == "numeric":
                numeric[name] = _numeric_bins(frame.get_column(name).to_numpy(), n_bins,
                                              fine_bins)
            else:
                categorical[name] = _categorical_bins(name, level_counts[name], top_k,
                                                      max_levels)
        except ValueError as exc:
            errors[name] = f"column {name!r}: {exc}"
    return Binning(dict(features), numeric, categorical, errors)


def fine_levels(bins: int) -> np.ndarray:
    """Quantile levels of the fine edges: ``bins`` even steps, plus denser steps in the tails.

    The tail levels follow the arcsine scale ``(1 - cos(pi k / bins)) / 2`` (t-digest's idea),
    kept below 0.1 and above 0.9 where they are denser than the even steps. Narrow tail cells
    are what keep the Wasserstein bound tight on skewed, heavy-tailed data.
    """
    even = np.linspace(0.0, 1.0, bins + 1)
    arcsine = (1 - np.cos(np.pi * even)) / 2
    return np.union1d(even, arcsine[(arcsine < 0.1) | (arcsine > 0.9)])


def _numeric_bins(values: np.ndarray, n_bins: int, fine_bins: int) -> NumericBins:
    """Lower-interpolated quantiles of the finite values (see the module docstring)."""
    usable = np.isfinite(values)
    finite = values if usable.all() else values[usable]
    if not finite.size:
        raise ValueError("the reference has no finite values")
    fine_ranks = _ranks(fine_levels(fine_bins), finite.size)
    psi_ranks = _ranks(np.linspace(0, 1, n_bins + 1), finite.size)
    ranks = np.union1d(fine_ranks, psi_ranks)
    at = order_statistics(finite, ranks)
    fine_edges = at[np.searchsorted(ranks, fine_ranks)]
    distinct = _few_distinct(finite, fine_edges, fine_bins)
    if distinct is not None:
        fine_edges = distinct
    interior = np.unique(at[np.searchsorted(ranks, psi_ranks)][1:-1])
    edges = np.union1d(fine_edges, interior)
    return NumericBins(tuple(edges.tolist()), tuple(interior.tolist()))


def _ranks(levels: np.ndarray, n: int) -> np.ndarray:
    """0-based ranks of the lower-interpolated quantiles at `levels` of `n` sorted values."""
    return np.floor(levels * (n - 1)).astype(np.int64)


def _few_distinct(finite: np.ndarray, some: np.ndarray, fine_bins: int) -> np.ndarray | None:
    """The distinct values when there are at most `fine_bins` of them, else None.

    `some` are values of `finite` (its fine quantiles): when they alone hold more than
    `fine_bins` distinct values, as on continuous data, nothing else need be looked at.
    """
    if np.unique(some).size > fine_bins:
        return None
    if finite.size > GRID:  # a grid count rules most data out, or finds each value alone
        grid = UniformGrid(float(finite.min()), float(finite.max()))
        buckets = grid.bucket(finite)
        filled = np.bincount(buckets, minlength=grid.size) > 0
        if np.count_nonzero(filled) > fine_bins:
            return None
        lows, highs = np.full(grid.size, np.inf), np.full(grid.size, -np.inf)
        np.minimum.at(lows, buckets, finite)
        np.maximum.at(highs, buckets, finite)
        if np.array_equal(lows[filled], highs[filled]):
            return lows[filled]
    distinct = np.unique(finite)
    return distinct if distinct.size <= fine_bins else None


def _level_counts(name: str) -> pl.Expr:
    """Every non-null level with its count, most frequent first, as one list."""
    counts = pl.col(name).drop_nulls().value_counts(sort=True, name="__count")
    return counts.implode().alias(name)


def _categorical_bins(
    name: str, levels: list[dict[str, Any]], top_k: int, max_levels: int
) -> CategoricalBins:
    """The top-K vocabulary (by count, ties by name) and up to `max_levels` known levels."""
    if not levels:
        raise ValueError("the reference has no non-null values")
    ordered = sorted((-lv["__count"], str(lv[name])) for lv in levels[:max_levels])
    names = [level for _, level in ordered]
    return CategoricalBins(tuple(names[:top_k]), frozenset(names), len(names) == len(levels))
