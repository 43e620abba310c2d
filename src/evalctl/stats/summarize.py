"""Summarise every feature of a selection, per window, in one streamed pass over its rows.

One polars select (`row_query`) reads each needed column once and computes, per row, the window
and each feature's counter input: the value as Float64 for a numeric feature, the String value
and its index among the known levels for a categorical one, a null flag for a feature that
cannot be summarised. It runs on polars' streaming engine and arrives in batches
(`collect_batches`); the engine may read ahead of the counting, so the scan path passes the
selection as one lazy frame per data file (`parts`) and memory stays bounded by the largest
file, whatever the size of the selection. Each
batch is split by window and folded into per-(window, feature) counters with numpy
(`evalctl.stats.counters`): summaries are mergeable, so counting batch by batch gives the
summaries of the whole.

Why not one polars group-by per feature (`summary_query`)? On 5M rows x 32 features that ran 32
hash group-bys with per-cell variances and a binary search per value, ~10x slower than this
(see benchmarks/drift.py); here the per-value work is a few vectorised passes.

`summary_query` (in `evalctl.stats.query`) describes the same summaries as a single polars
query; a test holds the two to the same numbers.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from functools import lru_cache
from typing import Any

import numpy as np
import polars as pl

from evalctl.errors import InputError, StoreError
from evalctl.memory import release_freed_memory
from evalctl.stats.binning import Binning
from evalctl.stats.counters import CategoricalCounter, NumericCounter, level_index
from evalctl.stats.grid import CellLocator
from evalctl.stats.levels import Entries, LevelCodes
from evalctl.stats.query import WINDOW, feature_problems, summary_query
from evalctl.stats.summary import UNSEEN_NAME_CAP, CategoricalSummary, NumericSummary, Summary

__all__ = ["WINDOW", "WindowCounters", "count_windows", "row_query", "summarize",
           "summary_query"]

BATCH_ROWS = 250_000
_ROWS = "__rows__"
_ROW = "__row__"  # a row's index in its batch, where a window's rows are gathered
_LEVEL = "__level__"  # prefix of a categorical feature's level-index column
# Polars errors that mean "this selection does not fit" (e.g. a window expression naming a
# missing column); anything else is a bug and propagates.
_INPUT_ERRORS = (pl.exceptions.ColumnNotFoundError, pl.exceptions.SchemaError,
                 pl.exceptions.InvalidOperationError)


def summarize(
    lf: pl.LazyFrame, binning: Binning, by: str | pl.Expr | None = None,
    unseen_names: int = UNSEEN_NAME_CAP, parts: Sequence[pl.LazyFrame] = (),
) -> dict[Any, dict[str, Summary]]:
    """Summaries of every feature in `binning`, keyed by window then feature name.

    `by` is a column name or expression giving each row's window (e.g.
    ``pl.col("ts").dt.truncate("1d")`` or a chunk index). Without `by` the result has a single
    window keyed ``None`` (present even when `lf` has no rows). Windows are sorted by key.
    Features whose column is missing, mistyped or unbinned get a summary with `error` set.
    `unseen_names` caps the unseen names kept per categorical summary (profiles keep more).

    `parts`, when given, are the rows of `lf` split (one lazy frame per data file, each with
    `lf`'s schema) and are read one after another instead of `lf`: polars' streaming engine
    may run ahead of the counting and buffer what it has read, and a part bounds how far.
    """
    windows = count_windows(lf, binning, by, parts)
    return {key: window.summaries(unseen_names) for key, window in windows.items()}


def count_windows(lf: pl.LazyFrame, binning: Binning, by: str | pl.Expr | None = None,
                  parts: Sequence[pl.LazyFrame] = (), codes: LevelCodes | None = None,
                  release: bool = True, files: Sequence[tuple[str, int]] = ()
                  ) -> dict[Any, WindowCounters]:
    """`summarize`'s counters, before they become summaries (profiles turn them into a
    profile table directly, `evalctl.profiles.format.counted_table`).

    `codes`: the level codes of some categorical features for the rows of `lf` (of `parts`,
    one after another), read from the file's dictionaries (`evalctl.stats.levels`); the
    select then leaves those columns out. `release`: return the freed heap to the system
    afterwards (`release_freed_memory`); a caller counting many small files one after
    another (profiles) does not: the next file's arrays reuse that heap, and trimming it
    after each file made the next one fault its pages in afresh (~0.1 s of CPU in a 1M-row,
    30-file ingest).

    `files`: the data files whose rows the parts hold, one after another, as (name, rows)
    (a scan of a list of Parquet files gives their rows in that order); each window is then
    keyed ``(i, key)``, ``i`` the index of its file, and a batch is split at the files'
    boundaries, so several small files counted in one read give each file's own counters
    (profiles: one query for a few files instead of one each). A stream holding other rows
    than the files recorded is a StoreError naming the file."""
    schema = lf.collect_schema()
    layout = _Layout(binning, feature_problems(schema, binning), schema, codes)
    windows: dict[Any, WindowCounters] = {}
    cursor = _FileCursor(files) if files else None
    try:
        for source in parts or [lf]:
            _count_source(source, binning, by, layout, windows, codes, cursor)
    except _INPUT_ERRORS as exc:
        raise InputError(f"cannot summarise the selection: {exc}") from exc
    if cursor is not None:
        cursor.finish()
    if codes is not None:
        codes.finish()
    if release:
        release_freed_memory()  # the batches' arrays, freed: not the next phase's peak
    if by is None and not windows:
        windows[None] = WindowCounters(layout)
    return {key: windows[key] for key in sorted(windows, key=lambda k: (k is None, k))}


def _count_source(source: pl.LazyFrame, binning: Binning, by: str | pl.Expr | None,
                  layout: _Layout, windows: dict[Any, WindowCounters],
                  codes: LevelCodes | None, cursor: _FileCursor | None = None) -> None:
    """Count one part's rows into `windows` (with their `codes`, when given). A function of
    its own so that its last batch (and the windows' slices of it) is freed when it returns,
    before the next part's read begins: held by a loop variable into that read, it was one
    more part's rows in memory — most parts are a whole row group at 20M rows per side, half
    of them at 5M, so the summarising peak grew ~40 MiB from 5M to 20M."""
    coded = codes.features if codes is not None else frozenset()
    for batch in row_query(source, binning, by, coded).collect_batches(chunk_size=BATCH_ROWS):
        entries = codes.take(batch.height) if codes is not None else None
        for file, start, rows in cursor.split(batch) if cursor is not None else \
                [(None, 0, batch)]:
            held = entries.slice(start, rows.height) if entries is not None else None
            for key, at, part in _window_parts(rows, by):
                if file is not None:
                    key = (file, key)
                window = windows.get(key)
                if window is None:
                    window = windows[key] = WindowCounters(layout)
                window.add(part, _entries_at(held, at, part.height))


def row_query(lf: pl.LazyFrame, binning: Binning, by: str | pl.Expr | None = None,
              coded: frozenset[str] = frozenset()) -> pl.LazyFrame:
    """The select that `summarize` streams: one row per input row, one scan of the source
    (without the `coded` categorical features: `count_windows` adds their codes)."""
    schema = lf.collect_schema()
    if isinstance(by, str) and by not in schema:
        raise InputError(f"window column {by!r} is missing")
    problems = feature_problems(schema, binning)
    columns: list[pl.Expr] = []
    for feature in binning.kinds:
        if feature not in schema or feature in coded:
            continue
        if feature in problems:
            columns.append(pl.col(feature).is_null().alias(feature))
        elif feature in binning.numeric:
            columns.append(pl.col(feature).cast(pl.Float64).alias(feature))
        else:
            columns.append(pl.col(feature).cast(pl.String).alias(feature))
            columns.append(level_index(feature, binning.categorical[feature])
                           .alias(_LEVEL + feature))
    if not columns and schema:  # no feature column to count rows by
        columns.append(pl.col(next(iter(schema))).is_null().alias(_ROWS))
    if by is not None:
        columns.append((pl.col(by) if isinstance(by, str) else by).alias(WINDOW))
    return lf.select(columns)


def _window_parts(batch: pl.DataFrame, by: str | pl.Expr | None
                  ) -> Iterator[tuple[Any, int | np.ndarray, pl.DataFrame]]:
    """The rows of each window in `batch`, and where they are in it: the first row's index
    for a slice, every row's for a gather (the coded features' entries are taken likewise).

    Rows usually arrive in runs of one window (files are per day, rows in time order): each run
    is then a zero-copy slice. Only when a window comes back in several runs is it gathered.
    """
    if by is None:
        yield None, 0, batch
        return
    runs = batch.get_column(WINDOW).rle().struct.unnest()
    keys = runs.get_column("value")
    if keys.n_unique() < len(keys):
        indexed = batch.with_row_index(_ROW)
        for (key,), part in indexed.partition_by(WINDOW, as_dict=True).items():
            yield key, part.get_column(_ROW).to_numpy(), part.drop(_ROW)
        return
    start = 0
    for length, key in runs.iter_rows():
        yield key, start, batch.slice(start, length)
        start += length


def _entries_at(entries: Entries | None, at: int | np.ndarray, rows: int) -> Entries | None:
    """The entries of a window's `rows` rows, where `_window_parts` says they are (`at`)."""
    if entries is None:
        return None
    return entries.slice(at, rows) if isinstance(at, int) else entries.gather(at)


class _FileCursor:
    """Where the files of a stream of batches begin and end (`count_windows`' `files`)."""

    def __init__(self, files: Sequence[tuple[str, int]]) -> None:
        self.names = [name for name, _ in files]
        self.ends = np.cumsum([rows for _, rows in files])
        self.at = 0  # rows of the stream split so far

    def split(self, batch: pl.DataFrame) -> list[tuple[int, int, pl.DataFrame]]:
        """The batch's rows of each file it holds (zero-copy slices), by file index, with
        the index of the slice's first row in the batch."""
        start, stop = self.at, self.at + batch.height
        if stop > self.ends[-1]:
            raise self._error(len(self.ends) - 1, "more")
        pieces = []
        file = int(np.searchsorted(self.ends, start, side="right"))
        while start < stop:
            end = min(int(self.ends[file]), stop)
            pieces.append((file, start - self.at, batch.slice(start - self.at, end - start)))
            start, file = end, file + 1
        self.at = stop
        return pieces

    def finish(self) -> None:
        """Check that the stream held every file's rows (else StoreError)."""
        if self.at < self.ends[-1]:
            raise self._error(int(np.searchsorted(self.ends, self.at, side="right")), "fewer")

    def _error(self, file: int, fewer_or_more: str) -> StoreError:
        name = self.names[file]
        return StoreError(f"{name}: the data files read held {fewer_or_more} rows than their "
                          "ledger records (changed while read?); run `evalctl doctor`",
                          file=name)


class _Layout:
    """Which counter each feature gets, and their cell locators."""

    def __init__(self, binning: Binning, problems: dict[str, str], schema: pl.Schema,
                 codes: LevelCodes | None = None) -> None:
        self.binning, self.problems = binning, problems
        self.present = {f for f in binning.kinds if f in schema}
        self.coded = codes.tables if codes is not None else {}
        self.locators = {f: _locator(b.edges) for f, b in binning.numeric.items()
                         if f not in problems}


def warm_locators(binning: Binning) -> None:
    """Build the cell locators of `binning`'s numeric features ahead of counting."""
    for bins in binning.numeric.values():
        _locator(bins.edges)


@lru_cache(maxsize=128)  # a locator holds ~0.5 MiB
def _locator(edges: tuple[float, ...]) -> CellLocator:
    """One locator per set of edges for the process (it is immutable): building one (~1.5 ms)
    per feature for every data file was a third of the cost of profiling an ingest."""
    return CellLocator(edges)


class WindowCounters:
    """Every feature's counter for one window."""

    def __init__(self, layout: _Layout) -> None:
        self.layout = layout
        self.rows = 0
        binning = layout.binning
        self.numeric = {f: NumericCounter(f, binning.numeric[f], locator)
                        for f, locator in layout.locators.items()}
        self.categorical = {f: CategoricalCounter(f, b) for f, b in binning.categorical.items()
                            if f not in layout.problems}
        self.nulls = {f: 0 for f in layout.problems if f in layout.present}

    def add(self, part: pl.DataFrame, entries: Entries | None = None) -> None:
        """Count the rows of `part` (and the `entries` of its coded features)."""
        self.rows += part.height
        for feature, numeric in self.numeric.items():
            numeric.add(part.get_column(feature))
        coded = self.layout.coded
        for feature, categorical in self.categorical.items():
            if feature in coded:
                assert entries is not None, "coded features come with their entries"
                coder = coded[feature]
                categorical.add_entries(entries.of(feature), coder.table, coder.names)
            else:
                categorical.add(part.get_column(_LEVEL + feature), part.get_column(feature))
        for feature in self.nulls:
            self.nulls[feature] += int(part.get_column(feature).sum())

    def summaries(self, unseen_names: int) -> dict[str, Summary]:
        out: dict[str, Summary] = {}
        for feature, kind in self.layout.binning.kinds.items():
            if feature in self.numeric:
                out[feature] = self.numeric[feature].summary()
            elif feature in self.categorical:
                out[feature] = self.categorical[feature].summary(unseen_names)
            else:
                out[feature] = self.error_summary(feature, kind)
        return out

    def error_summary(self, feature: str, kind: str) -> Summary:
        """The summary of a feature that cannot be counted (rows, nulls, why)."""
        error = self.layout.problems[feature]
        nulls = self.nulls[feature] if feature in self.nulls and self.rows else None
        if kind == "categorical":
            return CategoricalSummary(feature, (), rows=self.rows, nulls=nulls, error=error)
        return NumericSummary(feature, (), (), rows=self.rows, nulls=nulls, error=error)
