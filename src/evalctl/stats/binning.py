"""Fit once on the reference: bin edges and vocabularies that every window is then summarised with.

NannyML's habit: the reference decides the bins, so every later window is comparable with it
and with every other window. `fit_binning` streams the reference in batches and never holds
its columns: its memory does not grow with the reference's rows. Quantiles are exact order
statistics found in a few passes (`evalctl.stats.streamed`).

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

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
import polars as pl

from evalctl.stats.grid import order_statistics
from evalctl.stats.streamed import StreamedRanks, count_pass, merge_passes

BATCH_ROWS = 250_000  # rows a streamed pass holds at a time
# A reference whose numeric columns hold at most this many values each is fitted in memory (one
# read of the columns, partial sorts): the same order statistics as the streamed passes, in a
# fraction of their time, for a bounded cost (8 MiB a column); larger ones stream.
IN_MEMORY_VALUES = 1 << 20

KINDS = ("numeric", "categorical")

# `fit_binning(on_parts=...)`: runs a function of some parts of the rows (`count`) on every
# part once, elsewhere (the Spark engine: on executors, each task on the data files dealt to
# it), and yields either its results, for the fit to merge, or — merged where they were
# counted — the one result of `merge` (a function of an iterable of all of the parts' results,
# read one at a time, in any order) called once on all of them (the Spark engine: on an
# executor, so the driver receives one bounded state whatever the rows, files and tasks)
OnParts = Callable[[Callable[[Sequence[pl.LazyFrame]], Any],
                    Callable[[Iterable[Any]], Any]], Iterable[Any]]


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
    parts: Sequence[pl.LazyFrame] = (),
    on_parts: OnParts | None = None,
) -> Binning:
    """Fit bin edges (numeric) and vocabularies (categorical) on the reference, in a few
    streamed passes whose memory does not grow with the reference's rows (`parts`: the rows
    of `lf` split, read one after another, as in `evalctl.stats.summarize.summarize`).

    A first pass (one query per data file) counts each numeric column's finite values with
    their range and each categorical column's levels; the numeric quantiles are then exact
    order statistics found by `StreamedRanks` (a pass or a few over batches), and a
    column whose quantiles take few distinct values gets one more pass listing its distinct
    values (stopped as soon as there are more than `fine_bins`).

    A feature whose column is missing, has the wrong type or holds no usable value is listed in
    `Binning.errors` with the reason instead of raising, so one bad column never stops the rest.

    `on_parts` (the Spark engine): every read above runs there, the same per-part functions
    on parts of the rows, and only their small partial states come back to be merged here
    (the quantiles always by streamed passes): the same `Binning`, and no row is read here.
    """
    if n_bins < 2 or fine_bins < n_bins or top_k < 1 or max_levels < top_k:
        raise ValueError("need n_bins >= 2, fine_bins >= n_bins, 1 <= top_k <= max_levels")
    schema = lf.collect_schema()
    errors = {f: p for f, k in features.items() if (p := column_problem(schema, f, k))}
    usable = {f: k for f, k in features.items() if f not in errors}
    numeric_names = [f for f, k in usable.items() if k == "numeric"]
    sources = list(parts) or [lf]
    categorical_names = [f for f, k in usable.items() if k == "categorical"]
    if on_parts is None:
        extents, level_counts = _first_pass(sources, numeric_names, categorical_names)
    else:
        extents, level_counts = _merged_first(on_parts(
            partial(_first_pass, numeric=numeric_names, categorical=categorical_names),
            partial(_merged_first, numeric=numeric_names, categorical=categorical_names,
                    keep=max_levels + 1)), numeric_names, categorical_names)
    categorical: dict[str, CategoricalBins] = {}
    for name, levels in level_counts.items():
        try:
            categorical[name] = _categorical_bins(levels, top_k, max_levels)
        except ValueError as exc:
            errors[name] = f"column {name!r}: {exc}"
    wanted: dict[str, tuple[np.ndarray, int, float, float]] = {}
    for name in numeric_names:
        n, lo, hi = extents[name]
        if not n:
            errors[name] = f"column {name!r}: the reference has no finite values"
        else:
            wanted[name] = (_BinRanks(n, n_bins, fine_bins).ranks, n, lo, hi)
    if on_parts is not None:
        found = StreamedRanks(wanted).run(
            partials=lambda plans: on_parts(partial(_counted_pass, plans=plans),
                                            partial(merge_passes, plans)))
    elif all(n <= IN_MEMORY_VALUES for _, n, _, _ in wanted.values()):
        found = _in_memory_ranks(sources, wanted)
    else:
        found = StreamedRanks(wanted).run(lambda names: _numeric_batches(sources, names))
    edges = {f: _BinRanks(wanted[f][1], n_bins, fine_bins).edges(at) for f, at in found.items()}
    few = [f for f, (fine, _) in edges.items() if np.unique(fine).size <= fine_bins]
    if on_parts is not None and few:
        distinct = _merged_distinct(on_parts(
            partial(_distinct_values, names=few, limit=fine_bins),
            partial(_merged_distinct, names=few, limit=fine_bins)), few, fine_bins)
    else:
        distinct = _distinct_values(sources, few, fine_bins) if few else {}
    numeric = {f: _numeric_bins(fine, interior, distinct.get(f))
               for f, (fine, interior) in edges.items()}
    return Binning(dict(features), {f: numeric[f] for f in numeric_names if f in numeric},
                   {f: categorical[f] for f in usable if f in categorical}, errors)


def _first_pass(sources: list[pl.LazyFrame], numeric: list[str], categorical: list[str]
                ) -> tuple[dict[str, tuple[int, float, float]], dict[str, pl.DataFrame]]:
    """Each numeric column's finite count, minimum and maximum, and each categorical column's
    level counts: one query per source (data file), merged (memory: one file, the levels)."""
    count = np.zeros(len(numeric), dtype=np.int64)
    low, high = np.full(len(numeric), np.inf), np.full(len(numeric), -np.inf)
    levels: dict[str, list[pl.DataFrame]] = {name: [] for name in categorical}
    values = [pl.col(f).cast(pl.Float64) for f in numeric]
    finite = [pl.when(x.is_finite()).then(x) for x in values]
    query = [*(x.is_finite().sum().alias(f"n{i}") for i, x in enumerate(values)),
             *(x.min().alias(f"lo{i}") for i, x in enumerate(finite)),
             *(x.max().alias(f"hi{i}") for i, x in enumerate(finite)),
             *(pl.col(c).cast(pl.String).drop_nulls().value_counts(name="count")
               .implode().alias(f"c{i}") for i, c in enumerate(categorical))]
    for source in sources if query else []:
        row = source.select(query).collect(engine="streaming").row(0, named=True)
        for i in range(len(numeric)):
            if row[f"n{i}"]:
                count[i] += row[f"n{i}"]
                low[i], high[i] = min(low[i], row[f"lo{i}"]), max(high[i], row[f"hi{i}"])
        for i, name in enumerate(categorical):
            found = pl.DataFrame(row[f"c{i}"], schema={name: pl.String, "count": pl.UInt32},
                                 orient="row") if row[f"c{i}"] else None
            if found is not None:
                levels[name].append(found.rename({name: "level"}).cast({"count": pl.Int64}))
    extents = {f: (int(count[i]), float(low[i]), float(high[i])) for i, f in enumerate(numeric)}
    merged = {name: pl.concat(parts).group_by("level").agg(pl.col("count").sum())
              if parts else pl.DataFrame(schema={"level": pl.String, "count": pl.Int64})
              for name, parts in levels.items()}
    return extents, merged


def _merged_first(parts: Iterable[tuple[dict[str, tuple[int, float, float]],
                                          dict[str, pl.DataFrame]]],
                  numeric: list[str], categorical: list[str], keep: int | None = None
                  ) -> tuple[dict[str, tuple[int, float, float]], dict[str, pl.DataFrame]]:
    """`_first_pass`'s results on parts of the rows merged (in any order): its result on all
    of them. `keep` (parts that are all of the rows): each column's `keep` most frequent
    levels only (ties by name) — what `_categorical_bins` reads when ``keep = max_levels + 1``
    — so a column of millions of distinct values is not sent on whole."""
    extents = {name: (0, np.inf, -np.inf) for name in numeric}
    levels: dict[str, list[pl.DataFrame]] = {name: [] for name in categorical}
    for part_extents, part_levels in parts:
        for name, (n, lo, hi) in part_extents.items():
            total, low, high = extents[name]
            if n:
                extents[name] = (total + n, min(low, lo), max(high, hi))
        for name, counts in part_levels.items():
            levels[name].append(counts)
    empty = pl.DataFrame(schema={"level": pl.String, "count": pl.Int64})
    merged = {name: pl.concat([empty, *found]).group_by("level").agg(pl.col("count").sum())
              for name, found in levels.items()}
    if keep is not None:
        merged = {name: counts.sort(["count", "level"], descending=[True, False]).head(keep)
                  for name, counts in merged.items()}
    return extents, merged


def _counted_pass(sources: Sequence[pl.LazyFrame], plans: dict[str, Any]) -> dict[str, Any]:
    """One streamed pass of the quantile fit counted on some parts of the rows (the partial
    states `StreamedRanks.run(partials=...)` merges)."""
    return count_pass(plans, _numeric_batches(list(sources), list(plans)))


def _merged_distinct(parts: Iterable[dict[str, np.ndarray]], names: list[str], limit: int
                     ) -> dict[str, np.ndarray]:
    """`_distinct_values`' results on parts of the rows merged: a column one part found to
    have more than `limit` distinct values (absent from its result) has more in all."""
    seen: dict[str, np.ndarray] = {f: np.empty(0) for f in names}
    for found in parts:
        for name in [f for f in names if f in seen]:
            if name not in found:
                del seen[name]
                continue
            seen[name] = np.union1d(seen[name], found[name])
            if seen[name].size > limit:
                del seen[name]
    return seen


def _in_memory_ranks(sources: list[pl.LazyFrame],
                     wanted: dict[str, tuple[np.ndarray, int, float, float]]
                     ) -> dict[str, np.ndarray]:
    """``np.sort(finite x)[ranks]`` of each wanted column, its values read into memory once
    (the columns are at most `IN_MEMORY_VALUES` values each)."""
    names = list(wanted)
    if not names:
        return {}
    columns: dict[str, list[np.ndarray]] = {name: [] for name in names}
    for batch in _numeric_batches(sources, names):
        for name in names:
            columns[name].append(batch[name])
    found = {}
    for name in names:
        x = np.concatenate(columns.pop(name))
        finite = x[np.isfinite(x)]
        found[name] = order_statistics(finite, wanted[name][0])
    return found


def _numeric_batches(sources: list[pl.LazyFrame], names: list[str]
                     ) -> Iterator[dict[str, np.ndarray]]:
    """The numeric columns `names` as float64 arrays (nulls as NaN), batch by batch. A
    source's batches come from a generator of their own (`_source_batches`), freed with its
    last batch when the source ends: a batch held into the next source's read is one more
    part in memory (a consumer should let go of each batch too: `StreamedRanks.run`)."""
    for source in sources:
        yield from _source_batches(source, names)


def _source_batches(source: pl.LazyFrame, names: list[str]) -> Iterator[dict[str, np.ndarray]]:
    query = source.select(pl.col(f).cast(pl.Float64) for f in names)
    for batch in query.collect_batches(chunk_size=BATCH_ROWS):
        yield {f: batch.get_column(f).to_numpy() for f in names}


def _distinct_values(sources: list[pl.LazyFrame], names: list[str], limit: int
                     ) -> dict[str, np.ndarray]:
    """The distinct finite values of each of `names` that has at most `limit` of them."""
    seen: dict[str, np.ndarray] = {f: np.empty(0) for f in names}
    for batch in _numeric_batches(sources, names):
        for name in [f for f in names if f in seen]:
            values = batch[name]
            seen[name] = np.union1d(seen[name], np.unique(values[np.isfinite(values)]))
            if seen[name].size > limit:
                del seen[name]
    return seen


class _BinRanks:
    """The ranks among `n` sorted finite values whose values make the edges: the fine
    levels' and the `n_bins` PSI quantiles' (lower interpolation)."""

    def __init__(self, n: int, n_bins: int, fine_bins: int) -> None:
        self.fine = _ranks(fine_levels(fine_bins), n)
        self.psi = _ranks(np.linspace(0, 1, n_bins + 1), n)
        self.ranks = np.union1d(self.fine, self.psi)

    def edges(self, at: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(fine edges, interior PSI edges) from the values `at` the ranks."""
        fine = at[np.searchsorted(self.ranks, self.fine)]
        interior = np.unique(at[np.searchsorted(self.ranks, self.psi)][1:-1])
        return fine, interior


def fine_levels(bins: int) -> np.ndarray:
    """Quantile levels of the fine edges: ``bins`` even steps, plus denser steps in the tails.

    The tail levels follow the arcsine scale ``(1 - cos(pi k / bins)) / 2`` (t-digest's idea),
    kept below 0.1 and above 0.9 where they are denser than the even steps. Narrow tail cells
    are what keep the Wasserstein bound tight on skewed, heavy-tailed data.
    """
    even = np.linspace(0.0, 1.0, bins + 1)
    arcsine = (1 - np.cos(np.pi * even)) / 2
    return np.union1d(even, arcsine[(arcsine < 0.1) | (arcsine > 0.9)])


def _numeric_bins(fine: np.ndarray, interior: np.ndarray, distinct: np.ndarray | None
                  ) -> NumericBins:
    """The edges from the reference quantiles (see the module docstring): every distinct value
    instead of the fine quantiles when there are at most `fine_bins` of them."""
    edges = np.union1d(fine if distinct is None else distinct, interior)
    # + 0.0 turns -0.0 into 0.0: which zero sits at a rank depends on the rows' order (the
    # files', Spark's tasks'), and both bin alike; one spelling keeps the fit's hash stable
    return NumericBins(tuple((edges + 0.0).tolist()), tuple((interior + 0.0).tolist()))


def _ranks(levels: np.ndarray, n: int) -> np.ndarray:
    """0-based ranks of the lower-interpolated quantiles at `levels` of `n` sorted values."""
    return np.floor(levels * (n - 1)).astype(np.int64)


def _categorical_bins(levels: pl.DataFrame, top_k: int, max_levels: int) -> CategoricalBins:
    """The top-K vocabulary and up to `max_levels` known levels, both by count, ties by name."""
    if not levels.height:
        raise ValueError("the reference has no non-null values")
    ordered = levels.sort(["count", "level"], descending=[True, False]).get_column("level")
    names = ordered.head(max_levels).to_list()
    return CategoricalBins(tuple(names[:top_k]), frozenset(names), levels.height <= max_levels)
