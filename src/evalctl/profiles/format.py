"""The profile format (version 1): one data file's summaries, per time bucket, as a tidy table.

A profile is one zstd Parquet file with the columns of `PROFILE_SCHEMA`. Each
(``bucket``, ``feature``) has one *feature row* (``cell`` null) and one *cell row* per
non-empty cell (``cell`` = the cell's index):

- feature row: ``kind`` (numeric | categorical), ``present`` (the column was in the data
  file), ``rows``, ``nulls`` (null when the column is missing), ``nonfinite`` (NaN / inf),
  ``minimum`` / ``maximum`` / ``mean`` / ``m2`` (numeric, over the finite values; ``m2`` is
  the sum of squared deviations), ``error`` (why the feature could not be summarised), and for
  a categorical feature ``unseen`` (its distinct unseen levels, sorted, at most `UNSEEN_KEPT`)
  and ``unseen_exact`` (all of them are listed).
- cell row: ``count``; for a numeric feature's open intervals (even cells) also ``sum``,
  ``low`` and ``high``. Numeric cells interleave the reference edges e0..em as
  ``(-inf, e0), {e0}, (e0, e1), ..., {em}, (em, inf)``; categorical cells are the reference
  vocabulary in order, then ``other``, then ``unseen`` (`evalctl.stats.summary`).

Nothing here is evalctl-specific beyond the reference it names: any engine that counts the
same cells on the same reference writes the same table, and merging is a group-by (sums of
counts, sums, rows; min of lows; max of highs; moments with Chan's formula; union of names).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import polars as pl

from evalctl.stats.binning import Binning, column_problem
from evalctl.stats.counters import CategoricalCounter, NumericCounter
from evalctl.stats.summarize import WindowCounters
from evalctl.stats.summary import UNSEEN_NAME_CAP, CategoricalSummary, NumericSummary, Summary

FORMAT = 1
UNSEEN_KEPT = 1000  # distinct unseen levels listed per (file, bucket, feature)
PROFILE_SCHEMA = pl.Schema({  # type: ignore[arg-type]  # polars' stubs: dict of classes
    "bucket": pl.Datetime("us"), "feature": pl.String, "kind": pl.String, "cell": pl.Int32,
    "present": pl.Boolean, "rows": pl.Int64, "nulls": pl.Int64, "nonfinite": pl.Int64,
    "minimum": pl.Float64, "maximum": pl.Float64, "mean": pl.Float64, "m2": pl.Float64,
    "error": pl.String, "unseen": pl.List(pl.String), "unseen_exact": pl.Boolean,
    "count": pl.Int64, "sum": pl.Float64, "low": pl.Float64, "high": pl.Float64,
})
PART = "__part"  # the profile's position in a merge (fixes the order of float sums)
WINDOW = "__window"


def profile_table(by_bucket: dict[datetime, dict[str, Summary]],
                  present: Iterable[str]) -> pl.DataFrame:
    """Summaries per bucket (as `summarize(..., by=bucket)` returns them) as a profile table:
    the format's reference writer, cell by cell (merged summaries are written back with it;
    `counted_table`, which ingest and `profiles build` use, gives its bytes).

    `present` names the features whose column the data file holds."""
    held = set(present)
    columns: dict[str, list[Any]] = {name: [] for name in PROFILE_SCHEMA}
    for bucket, summaries in by_bucket.items():
        for feature, summary in summaries.items():
            _feature_row(columns, bucket, summary, feature in held)
            _cell_rows(columns, bucket, summary)
    return pl.DataFrame(columns, schema=PROFILE_SCHEMA)


def _feature_row(columns: dict[str, list[Any]], bucket: datetime, s: Summary,
                 present: bool) -> None:
    row: dict[str, Any] = dict.fromkeys(PROFILE_SCHEMA)
    row.update(bucket=bucket, feature=s.feature, kind=s.kind, present=present, rows=s.rows,
               nulls=s.nulls, error=s.error)
    if isinstance(s, NumericSummary) and s.error is None:
        row.update(nonfinite=s.nonfinite, minimum=s.minimum, maximum=s.maximum, mean=s.mean,
                   m2=s.m2)
    if isinstance(s, CategoricalSummary) and s.error is None:
        names = list(s.unseen_names[:UNSEEN_KEPT])
        row.update(unseen=names, unseen_exact=len(names) == s.unseen_levels)
    for name, value in row.items():
        columns[name].append(value)


def _cell_rows(columns: dict[str, list[Any]], bucket: datetime, s: Summary) -> None:
    if s.error is not None:
        return
    counts = np.asarray(s.counts, dtype=np.int64)
    cells = np.flatnonzero(counts)
    n = len(cells)
    fill: dict[str, list[Any]] = {name: [None] * n for name in PROFILE_SCHEMA}
    fill.update(bucket=[bucket] * n, feature=[s.feature] * n, kind=[s.kind] * n,
                cell=cells.tolist(), count=counts[cells].tolist())
    if isinstance(s, NumericSummary):
        opened: dict[str, tuple[float | None, ...]] = {"sum": s.sums, "low": s.lows,
                                                       "high": s.highs}
        for name, values in opened.items():
            fill[name] = [values[c // 2] if c % 2 == 0 else None for c in cells.tolist()]
    for name, column in fill.items():
        columns[name].extend(column)


def counted_table(windows: dict[datetime, WindowCounters], present: Iterable[str]
                  ) -> pl.DataFrame:
    """`profile_table` straight from `count_windows`' counters: the same table, bit for bit
    (tests/test_profiles_writer.py), without turning every cell into Python objects twice
    (summaries, then lists). The feature rows are a small frame, the cell rows numpy arrays
    concatenated once; one gather lays both out in `profile_table`'s order."""
    held = set(present)
    heads: list[dict[str, Any]] = []
    cells: list[dict[str, np.ndarray]] = []
    for bucket, window in windows.items():
        for feature, kind in window.layout.binning.kinds.items():
            head: dict[str, Any] = {"bucket": bucket, "feature": feature, "kind": kind,
                                    "present": feature in held, "rows": window.rows}
            if feature in window.numeric:
                cells.append(_numeric_counted(head, window.numeric[feature]))
            elif feature in window.categorical:
                cells.append(_categorical_counted(head, window.categorical[feature]))
            else:
                error = window.error_summary(feature, kind)
                head.update(kind=error.kind, nulls=error.nulls, error=error.error)
                cells.append(_NO_CELLS)
            heads.append(head)
    head_frame = pl.DataFrame(heads, schema=PROFILE_SCHEMA)
    if not heads:
        return head_frame
    sizes = np.array([c["cell"].size for c in cells], dtype=np.int64)
    starts = np.arange(sizes.size) + np.concatenate([[0], np.cumsum(sizes)[:-1]])
    is_head = np.zeros(sizes.size + int(sizes.sum()), dtype=bool)
    is_head[starts] = True
    joined = {name: np.concatenate([c[name] for c in cells]) for name in _CELL_COLUMNS}
    opened = pl.Series(joined[OPEN])
    keys = head_frame.select("bucket", "feature", "kind")[np.repeat(np.arange(sizes.size),
                                                                     sizes)]
    cell_frame = keys.with_columns(
        pl.Series("cell", joined["cell"], dtype=pl.Int32),
        pl.Series("count", joined["count"], dtype=pl.Int64),
        *(pl.Series(n, joined[n]).set(~opened, None) for n in ("sum", "low", "high")))
    order = np.empty(is_head.size, dtype=np.int64)  # heads first, then cells: to their rows
    order[is_head] = np.arange(sizes.size)
    order[~is_head] = sizes.size + np.arange(order.size - sizes.size)
    return pl.concat([head_frame, cell_frame], how="diagonal")[order]


OPEN = "__open"  # whether a cell row is an open interval (has sum, low, high)
_CELL_COLUMNS = ("cell", "count", OPEN, "sum", "low", "high")
_NO_CELLS = {"cell": np.zeros(0, dtype=np.int64), "count": np.zeros(0, dtype=np.int64),
             OPEN: np.zeros(0, dtype=bool), "sum": np.zeros(0), "low": np.zeros(0),
             "high": np.zeros(0)}


def _numeric_counted(head: dict[str, Any], counter: NumericCounter) -> dict[str, np.ndarray]:
    """A numeric counter's head fields (into `head`) and cell rows, as `NumericCounter.summary`
    and `_cell_rows` make them (``+ 0.0`` turns -0.0 into 0.0)."""
    seen = counter.counts > 0
    lows, highs = counter.lows + 0.0, counter.highs + 0.0
    head.update(nulls=counter.nulls, nonfinite=counter.nonfinite,
                minimum=float(lows[seen].min()) if seen.any() else None,
                maximum=float(highs[seen].max()) if seen.any() else None,
                mean=counter.mean if counter.n else 0.0, m2=counter.m2 if counter.n else 0.0)
    at = np.flatnonzero(seen)
    return {"cell": at, "count": counter.counts[at], OPEN: at % 2 == 0,
            "sum": np.nan_to_num(counter.sums[at]) + 0.0, "low": lows[at], "high": highs[at]}


def _categorical_counted(head: dict[str, Any], counter: CategoricalCounter
                         ) -> dict[str, np.ndarray]:
    """A categorical counter's head fields (into `head`) and cell rows, as `profile_table`
    makes them from its summary (a few hundred cells at most: the summary is cheap)."""
    summary = counter.summary(UNSEEN_KEPT)
    names = list(summary.unseen_names[:UNSEEN_KEPT])
    head.update(nulls=summary.nulls, unseen=names,
                unseen_exact=len(names) == summary.unseen_levels)
    at = np.flatnonzero(counter.counts)
    empty = np.zeros(at.size)
    return {"cell": at, "count": counter.counts[at], OPEN: np.zeros(at.size, dtype=bool),
            "sum": empty, "low": empty, "high": empty}


@dataclass(frozen=True)
class Merged:
    """Summaries merged from profiles, per window (None for a single window) and feature,
    with each window's rows and whether every unseen-level count is exact."""

    summaries: dict[Any, dict[str, Summary]]
    rows: dict[Any, int]
    unseen_exact: bool


def merge_profiles(sources: Sequence[str | pl.DataFrame], binning: Binning,
                   window: pl.Expr | None = None,
                   storage_options: dict[str, str] | None = None) -> Merged:
    """Merge profiles (Parquet paths or tables, in this order) into the summaries of every
    feature of `binning`, per window (`window`: an expression of ``bucket``; None: one
    window, keyed None). Windows are sorted by key.

    Profiles are read one at a time, whole and eagerly (memory: one profile plus the merged
    cells; a lazy scan pushing the feature filter into the Parquet reader took three times
    as long, and one query over every profile twice the memory for no gain). Feature rows
    merge in one polars group-by at the end, cells in numpy as each profile is read (a
    profile's windows at once); floats are added in the profiles' order (`np.add.at` is
    sequential), so the result is the same bits on every run."""
    layout = _Layout(binning)
    wanted = pl.col("feature").is_in(list(binning.kinds))
    key = pl.lit(0) if window is None else window
    heads: list[pl.DataFrame] = []
    for part, source in enumerate(sources):
        table = pl.read_parquet(source, storage_options=storage_options) \
            if isinstance(source, str) else source
        keyed = table.with_columns(key.alias(WINDOW), pl.lit(part, pl.Int32).alias(PART)
                                   ).filter(wanted)
        cell = keyed.get_column("cell").is_not_null()
        heads.append(keyed.filter(~cell).drop("count", "sum", "low", "high"))
        layout.add(keyed.filter(cell))
    merged = (pl.concat(heads).group_by(WINDOW, "feature").agg(*_head_aggregates())
              .sort(WINDOW) if heads else pl.DataFrame())
    summaries: dict[Any, dict[str, Summary]] = {}
    rows: dict[Any, int] = {}
    exact = True
    previous: Any = object()
    for head in merged.iter_rows(named=True):  # sorted by window: one window after the other
        if head[WINDOW] != previous:  # the previous window's summaries are built: free its cells
            layout.windows.pop(previous, None)
            previous = head[WINDOW]
        at = None if window is None else head[WINDOW]
        summaries.setdefault(at, {})[head["feature"]] = _summary(
            head, layout.cells(head[WINDOW], head["feature"]), binning)
        rows[at] = max(rows.get(at, 0), int(head["rows"]))
        exact = exact and bool(head["unseen_exact"] is not False)
    if window is None and not summaries:  # no rows at all: empty summaries, as `summarize`
        summaries[None] = {f: _empty(f, binning) for f in binning.kinds}
        rows[None] = 0
    ordered = {at: {f: summaries[at][f] for f in binning.kinds if f in summaries[at]}
               for at in sorted(summaries, key=lambda k: (k is None, k))}
    return Merged(ordered, rows, exact)


class _Layout:
    """Every window's merged cells, each feature's laid end to end (feature f owns
    ``offsets[f]:offsets[f] + size``), filled profile by profile."""

    def __init__(self, binning: Binning) -> None:
        sizes = {f: _cell_count(f, binning) for f in binning.kinds}
        starts = np.concatenate([[0], np.cumsum(list(sizes.values()), dtype=np.int64)])
        self.offsets = dict(zip(sizes, starts.tolist(), strict=False))
        self.features = pl.Enum(list(sizes))
        self.starts = starts[:-1]
        self.sizes, self.total = sizes, int(starts[-1])
        self.windows: dict[Any, tuple[np.ndarray, ...]] = {}

    def add(self, cells: pl.DataFrame) -> None:
        """Add one profile's cell rows, window by window (a profile spans few windows)."""
        if not len(cells):
            return
        parts = (cells.partition_by(WINDOW, as_dict=True, maintain_order=True)
                 if cells.get_column(WINDOW).n_unique() > 1
                 else {(cells.item(0, WINDOW),): cells})
        for (key,), part in parts.items():
            counts, sums, lows, highs = self.windows.get(key) or self._new(key)
            feature = part.get_column("feature").cast(self.features).to_physical().to_numpy()
            index = self.starts[feature] + part.get_column("cell").to_numpy().astype(np.int64)
            np.add.at(counts, index, part.get_column("count").to_numpy())
            np.add.at(sums, index, part.get_column("sum").fill_null(0.0).to_numpy())
            opened = part.get_column("low").is_not_null().to_numpy()
            np.minimum.at(lows, index[opened], part.get_column("low").to_numpy()[opened])
            np.maximum.at(highs, index[opened], part.get_column("high").to_numpy()[opened])

    def _new(self, key: Any) -> tuple[np.ndarray, ...]:
        arrays = (np.zeros(self.total, dtype=np.int64), np.zeros(self.total),
                  np.full(self.total, np.inf), np.full(self.total, -np.inf))
        self.windows[key] = arrays
        return arrays

    def cells(self, key: Any, feature: str) -> tuple[np.ndarray, ...]:
        arrays = self.windows.get(key) or self._new(key)  # a window no profile has cells of
        cut = slice(self.offsets[feature], self.offsets[feature] + self.sizes[feature])
        return tuple(a[cut] for a in arrays)


def _cell_count(feature: str, binning: Binning) -> int:
    if feature in binning.numeric:
        return 2 * len(binning.numeric[feature].edges) + 1
    if feature in binning.categorical:
        return len(binning.categorical[feature].vocabulary) + 2
    return 0


def _empty(feature: str, binning: Binning) -> Summary:
    if feature in binning.numeric and feature not in binning.errors:
        return NumericSummary.empty(feature, binning.numeric[feature])
    if feature in binning.categorical and feature not in binning.errors:
        return CategoricalSummary.empty(feature, binning.categorical[feature])
    error = binning.errors.get(feature, f"column {feature!r} has no reference binning")
    if binning.kinds[feature] == "categorical":
        return CategoricalSummary(feature, (), nulls=None, error=error)
    return NumericSummary(feature, (), (), nulls=None, error=error)


def _head_aggregates() -> list[pl.Expr]:
    n = (pl.col("rows") - pl.col("nulls") - pl.col("nonfinite")).cast(pl.Float64)
    ordered = [PART, "bucket"]
    total = n.sort_by(*ordered).sum()
    mean = (n * pl.col("mean")).sort_by(*ordered).sum() / total
    spread = (pl.col("m2") + n * (pl.col("mean") - mean) ** 2).sort_by(*ordered).sum()
    return [
        pl.col("kind").first(),
        pl.col("present").any(),
        pl.col("rows").sum(),
        pl.when(pl.col("nulls").is_null().any()).then(None)
        .otherwise(pl.col("nulls").sum()).alias("nulls"),
        pl.col("nonfinite").sum(),
        pl.col("minimum").min(), pl.col("maximum").max(),
        pl.when(total > 0).then(mean).otherwise(0.0).alias("mean"),
        pl.when(total > 0).then(spread).otherwise(0.0).alias("m2"),
        pl.col("error").drop_nulls().min().alias("error"),
        pl.col("unseen").list.explode(keep_nulls=False, empty_as_null=False)
        .drop_nulls().unique().sort().alias("unseen"),
        pl.col("unseen_exact").fill_null(True).all().alias("unseen_exact"),
    ]


def _summary(head: dict[str, Any], cells: tuple[np.ndarray, ...], binning: Binning
             ) -> Summary:
    """One merged feature row and its cells as the Summary `summarize` would have built."""
    feature, kind = head["feature"], binning.kinds[head["feature"]]
    error = head["error"]
    if not head["present"]:
        error = column_problem(pl.Schema(), feature, kind)
    if error is not None:
        nulls = head["nulls"] if head["present"] and head["rows"] else None
        if kind == "categorical":
            return CategoricalSummary(feature, (), rows=head["rows"], nulls=nulls, error=error)
        return NumericSummary(feature, (), (), rows=head["rows"], nulls=nulls, error=error)
    if kind == "numeric":
        return _numeric(head, cells, binning)
    return _categorical(head, cells[0], binning)


def _numeric(head: dict[str, Any], cells: tuple[np.ndarray, ...],
             binning: Binning) -> NumericSummary:
    bins = binning.numeric[head["feature"]]
    counts, sums, lows, highs = (c[0::2] if i else c for i, c in enumerate(cells))
    seen = counts[0::2] > 0
    return NumericSummary(
        head["feature"], bins.edges, bins.psi_edges, rows=head["rows"], nulls=head["nulls"],
        nonfinite=head["nonfinite"] or 0, minimum=head["minimum"], maximum=head["maximum"],
        mean=head["mean"], m2=head["m2"], counts=tuple(counts.tolist()),
        sums=tuple((np.where(seen, sums, 0.0) + 0.0).tolist()),
        lows=_present(lows, seen), highs=_present(highs, seen))


def _present(values: np.ndarray, seen: np.ndarray) -> tuple[float | None, ...]:
    out: list[float | None] = (values + 0.0).tolist()
    for empty in np.flatnonzero(~seen).tolist():
        out[empty] = None
    return tuple(out)


def _categorical(head: dict[str, Any], counts: np.ndarray,
                 binning: Binning) -> CategoricalSummary:
    bins = binning.categorical[head["feature"]]
    names = list(head["unseen"] or [])
    return CategoricalSummary(
        head["feature"], bins.vocabulary, rows=head["rows"], nulls=head["nulls"],
        counts=tuple(counts.tolist()), unseen_levels=len(names),
        unseen_names=tuple(names[:UNSEEN_NAME_CAP]),
        unseen_levels_exact=bool(head["unseen_exact"]), known_complete=bins.known_complete)
