"""The profile format (version 2): one data file's summaries, per time bucket, as a table of one
row per (bucket, feature).

A profile is one snappy Parquet file (no column statistics) with the columns of
`PROFILE_SCHEMA`, one row per (``bucket``, ``feature``):

- ``kind`` (numeric | categorical), ``present`` (the column was in the data file), ``rows``,
  ``nulls`` (null when the column is missing), ``nonfinite`` (NaN / inf), ``minimum`` /
  ``maximum`` / ``mean`` / ``m2`` (numeric, over the finite values; ``m2`` is the sum of
  squared deviations), ``error`` (why the feature could not be summarised), and for a
  categorical feature ``unseen`` (its distinct unseen levels, sorted, at most `UNSEEN_KEPT`)
  and ``unseen_exact`` (all of them are listed);
- the non-empty cells as five lists of one length: ``cells`` (each cell's index, ascending),
  ``counts``, and ``sums``, ``lows``, ``highs``, null where the cell is not a numeric
  feature's open interval (an edge cell, a categorical cell). Numeric cells interleave the
  reference edges e0..em as ``(-inf, e0), {e0}, (e0, e1), ..., {em}, (em, inf)``; categorical
  cells are the reference vocabulary in order, then ``other``, then ``unseen``
  (`evalctl.stats.summary`). A feature that could not be summarised has empty lists.

Format 1 (profiles written before 2026-12-05) held the same values tidily: a *feature row*
per (bucket, feature) with ``cell`` null, then one *cell row* per non-empty cell with
``cell``, ``count``, ``sum``, ``low``, ``high`` (`FORMAT1_SCHEMA`). It is still read (a
merge may mix both: the ledger says which format each profile has); `tidy` turns a format-2
table into it. Format 2 writes each (bucket, feature)'s keys and head once instead of a row
per cell: ~30 rows instead of ~29k for a day of 33k rows, and a third of the CPU to lay out
and write.

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

from evalctl.errors import StoreError
from evalctl.profiles.cells import CellLayout, WindowCells
from evalctl.stats.binning import Binning, column_problem
from evalctl.stats.counters import CategoricalCounter, NumericCounter
from evalctl.stats.summarize import WindowCounters
from evalctl.stats.summary import UNSEEN_NAME_CAP, CategoricalSummary, NumericSummary, Summary

FORMAT = 2  # the layout of the profile tables written (`PROFILE_SCHEMA`); 1 is still read
UNSEEN_KEPT = 1000  # distinct unseen levels listed per (file, bucket, feature)
HEAD_SCHEMA = pl.Schema({  # type: ignore[arg-type]  # polars' stubs: dict of classes
    "bucket": pl.Datetime("us"), "feature": pl.String, "kind": pl.String,
    "present": pl.Boolean, "rows": pl.Int64, "nulls": pl.Int64, "nonfinite": pl.Int64,
    "minimum": pl.Float64, "maximum": pl.Float64, "mean": pl.Float64, "m2": pl.Float64,
    "error": pl.String, "unseen": pl.List(pl.String), "unseen_exact": pl.Boolean,
})
CELL_LISTS = {"cells": pl.Int32, "counts": pl.Int64, "sums": pl.Float64, "lows": pl.Float64,
              "highs": pl.Float64}
PROFILE_SCHEMA = pl.Schema({**HEAD_SCHEMA,
                            **{name: pl.List(dtype) for name, dtype in CELL_LISTS.items()}})
FORMAT1_SCHEMA = pl.Schema({  # type: ignore[arg-type]
    "bucket": pl.Datetime("us"), "feature": pl.String, "kind": pl.String, "cell": pl.Int32,
    "present": pl.Boolean, "rows": pl.Int64, "nulls": pl.Int64, "nonfinite": pl.Int64,
    "minimum": pl.Float64, "maximum": pl.Float64, "mean": pl.Float64, "m2": pl.Float64,
    "error": pl.String, "unseen": pl.List(pl.String), "unseen_exact": pl.Boolean,
    "count": pl.Int64, "sum": pl.Float64, "low": pl.Float64, "high": pl.Float64,
})
WINDOW = "__window"


def profile_table(by_bucket: dict[datetime, dict[str, Summary]],
                  present: Iterable[str]) -> pl.DataFrame:
    """Summaries per bucket (as `summarize(..., by=bucket)` returns them) as a profile table:
    the format's reference writer, cell by cell in Python lists (`counted_table`, which
    ingest and `profiles build` use, gives the same table from numpy arrays).

    `present` names the features whose column the data file holds."""
    held = set(present)
    columns: dict[str, list[Any]] = {name: [] for name in PROFILE_SCHEMA}
    for bucket, summaries in by_bucket.items():
        for feature, summary in summaries.items():
            _feature_row(columns, bucket, summary, feature in held)
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
    counts = np.asarray(s.counts if s.error is None else (), dtype=np.int64)
    cells = np.flatnonzero(counts)
    row.update(cells=cells.tolist(), counts=counts[cells].tolist())
    opened: dict[str, list[float]] = {"sums": [], "lows": [], "highs": []}
    if isinstance(s, NumericSummary) and s.error is None:
        opened = {"sums": s.sums.tolist(), "lows": s.lows.tolist(), "highs": s.highs.tolist()}
    for name, values in opened.items():
        row[name] = [values[c // 2] if values and c % 2 == 0 else None
                     for c in cells.tolist()]
    for name, value in row.items():
        columns[name].append(value)


def counted_table(windows: dict[datetime, WindowCounters], present: Iterable[str]
                  ) -> pl.DataFrame:
    """`profile_table` straight from `count_windows`' counters: the same table, bit for bit
    (tests/test_profiles_writer.py), without turning every cell into Python objects twice
    (summaries, then lists). The feature rows are a small frame of dicts; each cell list
    column is one numpy array of every row's cells, given to polars as an Arrow list array
    (offsets, values, and for sums, lows and highs a validity bitmap) without a copy."""
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
    frame = pl.DataFrame(heads, schema=HEAD_SCHEMA)
    offsets = np.zeros(len(cells) + 1, dtype=np.int32)
    np.cumsum([c["cell"].size for c in cells], out=offsets[1:])
    joined = {name: np.concatenate([c[name] for c in cells] or [_NO_CELLS[name]])
              for name in _CELL_COLUMNS}
    opened = joined[OPEN]
    joined["sum"] = np.nan_to_num(joined["sum"]) + 0.0  # once, not once per feature
    return frame.hstack([
        list_column("cells", joined["cell"].astype(np.int32), offsets),
        list_column("counts", joined["count"].astype(np.int64), offsets),
        *(list_column(name + "s", joined[name], offsets, opened) for name in _OPENED)])


def list_column(name: str, values: np.ndarray, offsets: np.ndarray,
                valid: np.ndarray | None = None) -> pl.Series:
    """A polars List column from its flat `values` and int32 `offsets` (row i holds
    ``values[offsets[i]:offsets[i + 1]]``), an entry null where `valid` is False: an Arrow
    list array over the numpy buffers (not `pa.array`, whose conversions import pandas where
    it is installed, ~0.18 s)."""
    import pyarrow as pa

    values = np.ascontiguousarray(values)
    kind = pa.from_numpy_dtype(values.dtype)
    validity = None
    if valid is not None and not bool(valid.all()):
        validity = pa.py_buffer(np.packbits(valid, bitorder="little"))
    child = pa.Array.from_buffers(kind, values.size, [validity, pa.py_buffer(values)])
    array = pa.ListArray.from_buffers(pa.list_(kind), offsets.size - 1,
                                      [None, pa.py_buffer(np.ascontiguousarray(offsets))],
                                      children=[child])
    column = pl.from_arrow(array)
    assert isinstance(column, pl.Series)
    return column.alias(name)


def tidy(table: pl.DataFrame) -> pl.DataFrame:
    """A profile table of format 2 in the tidy layout of format 1 (`FORMAT1_SCHEMA`): per
    (bucket, feature) its feature row (``cell`` null), then a row per cell. Readers take
    format 1 as it is; this gives tests and other tools that layout."""
    index = "__feature_row"
    numbered = table.with_row_index(index)
    heads = numbered.select(index, *HEAD_SCHEMA)
    cells = numbered.select(index, "bucket", "feature", "kind", *CELL_LISTS).explode(
        list(CELL_LISTS), empty_as_null=False, keep_nulls=False).rename(
        {"cells": "cell", "counts": "count", "sums": "sum", "lows": "low", "highs": "high"})
    both = pl.concat([heads, cells], how="diagonal_relaxed")
    return both.sort(index, pl.col("cell").is_not_null(), "cell", maintain_order=True).select(
        [pl.col(name).cast(dtype) for name, dtype in FORMAT1_SCHEMA.items()])


OPEN = "__open"  # whether a cell is an open interval (has sum, low, high)
_CELL_COLUMNS = ("cell", "count", OPEN, "sum", "low", "high")
_OPENED = ("sum", "low", "high")  # an open interval's cell columns
_NO_CELLS = {"cell": np.zeros(0, dtype=np.int64), "count": np.zeros(0, dtype=np.int64),
             OPEN: np.zeros(0, dtype=bool), "sum": np.zeros(0), "low": np.zeros(0),
             "high": np.zeros(0)}


def _numeric_counted(head: dict[str, Any], counter: NumericCounter) -> dict[str, np.ndarray]:
    """A numeric counter's head fields (into `head`) and cells, as `NumericCounter.summary`
    and `profile_table` make them (``+ 0.0`` turns -0.0 into 0.0)."""
    at = np.flatnonzero(counter.counts)
    lows, highs = counter.lows[at] + 0.0, counter.highs[at] + 0.0
    head.update(nulls=counter.nulls, nonfinite=counter.nonfinite,
                minimum=float(lows.min()) if at.size else None,
                maximum=float(highs.max()) if at.size else None,
                mean=counter.mean if counter.n else 0.0, m2=counter.m2 if counter.n else 0.0)
    return {"cell": at, "count": counter.counts[at], OPEN: at % 2 == 0,
            "sum": counter.sums[at], "low": lows, "high": highs}  # sum: see `counted_table`


def _categorical_counted(head: dict[str, Any], counter: CategoricalCounter
                         ) -> dict[str, np.ndarray]:
    """A categorical counter's head fields (into `head`) and cells, as `profile_table`
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


FILES_PER_READ = 8  # local profiles whose cells one query reads (~1.5 MB of cells each):
# a read's frames and `WindowCells.add`'s temporaries are fresh pages the process faults in,
# reused by the next read; 8 rather than 16 cost a 30-window drift ~10 ms less CPU and 17 MiB
# less peak RSS (README "Performance", 2026-12-05)
REMOTE_FILES_PER_READ = 16  # on object storage: each query waits for its files' round trips
CELL_COLUMNS = ("bucket", "feature", "cell", "count", "sum", "low", "high")  # format 1's
ROW = "__row"  # a feature row's position in the profiles read (fixes the order of float sums)
Source = str | pl.DataFrame  # a profile: its path (or URL), or its table


def merge_profiles(sources: Sequence[Source], binning: Binning,
                   window: pl.Expr | None = None,
                   storage_options: dict[str, str] | None = None,
                   formats: Sequence[int] | None = None) -> Merged:
    """Merge profiles (Parquet paths or tables, in this order) into the summaries of every
    feature of `binning`, per window (`window`: an expression of ``bucket``; None: one
    window, keyed None). Windows are sorted by key. `formats`: each profile's format (the
    ledger records it); None: read from each table's columns (from a file's schema, one
    footer read each: callers holding the ledger's entries pass them).

    Polars queries read the profiles, none per profile: one query reads every profile's
    feature rows and merges them in a group-by; the cells are read `FILES_PER_READ` profiles
    per query (`REMOTE_FILES_PER_READ` on object storage; multithreaded; memory: those
    profiles' cells plus the merged ones) and added into one array per cell measure and
    window in row order — the profiles' order — so floats add up to the same bits on every
    run (`evalctl.profiles.cells`)."""
    layout = CellLayout(binning)
    heads, windows, cells = _merged_cells(sources, layout, window, storage_options, formats)
    merged = heads.group_by(WINDOW, "feature").agg(*_head_aggregates()).sort(WINDOW)
    return _finish(merged, windows, cells, binning, windowed=window is not None)


def _merged_cells(sources: Sequence[Source], layout: CellLayout, window: pl.Expr | None,
                  storage_options: dict[str, str] | None, formats: Sequence[int] | None
                  ) -> tuple[pl.DataFrame, pl.Series, WindowCells]:
    """The profiles' feature rows (with their `WINDOW` and `ROW`, not yet merged), the
    sorted window keys, and every window's merged cells."""
    runs = _format_runs(sources, storage_options, formats)
    parts = [_heads_of(_scan(group, storage_options, version), version)
             for version, group in runs]
    heads = (pl.concat(parts) if parts else pl.LazyFrame(schema=HEAD_SCHEMA)).with_columns(
        (pl.lit(0) if window is None else window).alias(WINDOW)).collect()
    heads = heads.with_row_index(ROW).filter(_known(layout))
    windows = heads.get_column(WINDOW).unique().sort()
    slots = None  # one window: every bucket's cells go to the first (no bucket looked up)
    if window is not None:
        slot = dict(zip(windows.to_list(), range(len(windows)), strict=True))
        pairs = heads.select(pl.col("bucket").to_physical(), WINDOW).unique()
        slots = {bucket: slot[at] for bucket, at in pairs.iter_rows()}
    cells = WindowCells(layout, len(windows), slots)
    per_read = files_per_read(sources, storage_options)
    for version, group in runs:
        for first in range(0, len(group), per_read):
            read = _scan(group[first:first + per_read], storage_options, version)
            if version == 1:
                cells.add(_cell_rows_of(read).collect())
            else:
                cells.add_lists(_cell_lists_of(read).collect())
    return heads, windows, cells


def _format_runs(sources: Sequence[Source], storage_options: dict[str, str] | None,
                 formats: Sequence[int] | None) -> list[tuple[int, list[Source]]]:
    """The sources in runs of one format, in order (one run but for a store whose older
    profiles are of format 1)."""
    if formats is None:
        formats = [format_of(s, storage_options) for s in sources]
    elif len(formats) != len(sources):
        raise ValueError("one format per profile")
    runs: list[tuple[int, list[Source]]] = []
    for source, version in zip(sources, formats, strict=True):
        if version not in (1, FORMAT):
            raise StoreError(f"{_name(source)}: profile format {version} is not one this "
                             f"evalctl reads (1, {FORMAT}); upgrade evalctl")
        if runs and runs[-1][0] == version:
            runs[-1][1].append(source)
        else:
            runs.append((version, [source]))
    return runs


def format_of(source: Source, storage_options: dict[str, str] | None = None) -> int:
    """A profile's format, from its columns."""
    return _version(_scan([source], storage_options))


def _version(profiles: pl.LazyFrame) -> int:
    """The format of profiles read as one lazy frame, from its columns."""
    return FORMAT if "cells" in profiles.collect_schema() else 1


def _name(source: Source) -> str:
    return source if isinstance(source, str) else "a profile table"


def files_per_read(sources: Sequence[Source],
                   storage_options: dict[str, str] | None) -> int:
    """How many profiles one query of `_merged_cells` reads: `REMOTE_FILES_PER_READ` when
    they are on object storage (a URL, or storage options given), else `FILES_PER_READ`."""
    remote = bool(storage_options) or any(isinstance(s, str) and "://" in s for s in sources)
    return REMOTE_FILES_PER_READ if remote else FILES_PER_READ


def _finish(merged: pl.DataFrame, windows: pl.Series, cells: WindowCells, binning: Binning,
            windowed: bool) -> Merged:
    """Merged feature rows (one per `WINDOW` and feature) and their windows' cells as the
    summaries `merge_profiles` returns."""
    summaries: dict[Any, dict[str, Summary]] = {}
    rows: dict[Any, int] = {}
    slots = dict(zip(windows.to_list(), range(len(windows)), strict=True))
    opened = {f: cells.opened(f) for f in cells.layout.open_sizes}  # numeric features
    for head in merged.iter_rows(named=True):
        at = head[WINDOW] if windowed else None
        slot, feature = slots[head[WINDOW]], head["feature"]
        summaries.setdefault(at, {})[feature] = _summary(
            head, cells.counts_of(slot, feature),
            tuple(a[slot] for a in opened.get(feature, ())), binning)
        rows[at] = max(rows.get(at, 0), int(head["rows"]))
    if not windowed and not summaries:  # no rows at all: empty summaries, as `summarize`
        summaries[None] = {f: _empty(f, binning) for f in binning.kinds}
        rows[None] = 0
    ordered = {at: {f: summaries[at][f] for f in binning.kinds if f in summaries[at]}
               for at in sorted(summaries, key=lambda k: (k is None, k))}
    exact = bool(merged.get_column("unseen_exact").all()) if len(merged) else True
    return Merged(ordered, rows, exact)


def merged_table(sources: Sequence[Source], binning: Binning,
                 storage_options: dict[str, str] | None = None,
                 formats: Sequence[int] | None = None) -> pl.DataFrame:
    """The merge of profiles (in this order, as `merge_profiles` folds them into one window)
    as one profile table of the format: one bucket (the earliest), a row per feature (in the
    binning's order) holding the merged values and its non-empty cells' merged counts, sums,
    lows and highs. Reading it back with `read_merged_table` gives `merge_profiles`'
    summaries bit for bit (no value is folded again); merging it as a profile gives the same
    counts, sums, lows and highs and the moments to rounding (Chan's formula runs once
    more)."""
    layout = CellLayout(binning)
    heads, windows, cells = _merged_cells(sources, layout, None, storage_options, formats)
    order = pl.Enum(list(layout.offsets))
    merged = heads.group_by(WINDOW, "feature").agg(*_head_aggregates()).with_columns(
        pl.col("feature").cast(order).to_physical().cast(pl.Int64).alias("__code")
    ).sort("__code")
    first = heads.get_column("bucket").min() if len(heads) else None
    flat = np.flatnonzero(cells.counts[0]) if len(windows) else np.zeros(0, dtype=np.int64)
    code = np.searchsorted(layout.ends, flat, side="right")
    cell = flat - layout.starts[code]
    numeric = np.array([f in binning.numeric for f in layout.offsets], dtype=bool)
    opened = numeric[code] & (cell % 2 == 0) if flat.size else np.zeros(0, dtype=bool)
    values = cells.open_values(flat, code, cell, opened) if len(windows) else \
        dict.fromkeys(("sum", "low", "high"), np.zeros(0))
    # each feature row's cells: those of its code (flat cells are in layout order)
    codes = merged.get_column("__code").to_numpy()
    begin = np.searchsorted(code, codes, side="left")
    end = np.searchsorted(code, codes, side="right")
    taken = np.concatenate([np.arange(b, e) for b, e in zip(begin, end, strict=True)]
                           or [np.zeros(0, dtype=np.int64)]).astype(np.int64)
    offsets = np.zeros(len(codes) + 1, dtype=np.int32)
    np.cumsum(end - begin, out=offsets[1:])
    head_rows = merged.select(pl.lit(first, pl.Datetime("us")).alias("bucket"),
                              *(pl.col(n).cast(t) for n, t in HEAD_SCHEMA.items()
                                if n != "bucket"))
    counts = cells.counts[0][flat] if len(windows) else flat
    return head_rows.hstack([
        list_column("cells", cell[taken].astype(np.int32), offsets),
        list_column("counts", counts[taken].astype(np.int64), offsets),
        *(list_column(name + "s", values[name][taken], offsets, opened[taken])
          for name in _OPENED)])


def read_merged_table(source: Source, binning: Binning,
                      storage_options: dict[str, str] | None = None) -> Merged:
    """`merge_profiles`' one-window summaries from a `merged_table` (the very bits: its
    feature rows are taken as merged and its cells added once into empty arrays)."""
    layout = CellLayout(binning)
    frame = _scan([source], storage_options)  # one scan for its format and its rows
    version = _version(frame)
    heads, rows = pl.collect_all([  # one read of the file for both
        _heads_of(frame, version).drop("bucket").with_columns(pl.lit(0).alias(WINDOW)),
        _cell_rows_of(frame) if version == 1 else _cell_lists_of(frame)])
    heads = heads.filter(_known(layout))
    windows = heads.get_column(WINDOW).unique().sort()
    cells = WindowCells(layout, len(windows), None)
    if version == 1:
        cells.add(rows)
    else:
        cells.add_lists(rows)
    return _finish(heads, windows, cells, binning, windowed=False)


def _known(layout: CellLayout) -> pl.Expr:
    """Feature rows of the layout's features. Applied to the collected feature rows, not in
    the scan: there it would test the name of every format-1 cell row too (a third of the
    query)."""
    return pl.col("feature").is_in(list(layout.offsets))


def _scan(sources: Sequence[Source], storage_options: dict[str, str] | None,
          version: int = FORMAT) -> pl.LazyFrame:
    """Profiles of one format (paths or tables) as one lazy frame, in order."""
    if not sources:
        return pl.LazyFrame(schema=PROFILE_SCHEMA if version == FORMAT else FORMAT1_SCHEMA)
    if all(isinstance(s, str) for s in sources):  # the path's key=value parts are no columns
        return pl.scan_parquet(list(sources), storage_options=storage_options,  # type: ignore[arg-type]
                               hive_partitioning=False)
    return pl.concat([pl.scan_parquet(s, storage_options=storage_options,
                                      hive_partitioning=False)
                      if isinstance(s, str) else s.lazy() for s in sources])


def _heads_of(profiles: pl.LazyFrame, version: int) -> pl.LazyFrame:
    """The profiles' feature rows, in order, with the columns of `HEAD_SCHEMA`."""
    if version == 1:
        profiles = profiles.filter(pl.col("cell").is_null())
    return profiles.select(list(HEAD_SCHEMA))


def _cell_lists_of(profiles: pl.LazyFrame) -> pl.LazyFrame:
    """Format 2's cell lists with each row's bucket (in microseconds) and feature, in order
    (`WindowCells.add_lists`)."""
    return profiles.select(pl.col("bucket").to_physical(), "feature", *CELL_LISTS)


def _cell_rows_of(profiles: pl.LazyFrame) -> pl.LazyFrame:
    """Format 1's cell rows, in order: ``run`` (the row starts a run of rows of one
    bucket and feature), ``bucket`` (in microseconds), ``feature``, ``cell`` and the measures
    with nulls as the identity of their merge (0 sum, +inf low, -inf high: an edge cell has no
    sum, low or high). Nothing per row names a feature's or window's place: `WindowCells.add`
    looks that up once per run (a profile holds a run per bucket and feature)."""
    bucket, feature = pl.col("bucket").to_physical(), pl.col("feature")
    starts = ((feature != feature.shift()) | (bucket != bucket.shift())).fill_null(True)
    return (profiles.select(CELL_COLUMNS).filter(pl.col("cell").is_not_null())
            .select(starts.alias("run"), bucket, feature, "cell", "count",
                    pl.col("sum").fill_null(0.0), pl.col("low").fill_null(np.inf),
                    pl.col("high").fill_null(-np.inf)))


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
    ordered = [ROW]
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


def _summary(head: dict[str, Any], counts: np.ndarray, opened: tuple[np.ndarray, ...],
             binning: Binning) -> Summary:
    """One merged feature row and its cells' counts as the Summary `summarize` would have
    built (`opened`: a numeric feature's `WindowCells.opened` in this window)."""
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
        return _numeric(head, counts, opened, binning)
    return _categorical(head, counts, binning)


def _numeric(head: dict[str, Any], counts: np.ndarray, opened: tuple[np.ndarray, ...],
             binning: Binning) -> NumericSummary:
    bins = binning.numeric[head["feature"]]
    sums, lows, highs = opened
    return NumericSummary(
        head["feature"], bins.edges, bins.psi_edges, rows=head["rows"], nulls=head["nulls"],
        nonfinite=head["nonfinite"] or 0, minimum=head["minimum"], maximum=head["maximum"],
        mean=head["mean"], m2=head["m2"], counts=counts, sums=sums, lows=lows, highs=highs)


def _categorical(head: dict[str, Any], counts: np.ndarray,
                 binning: Binning) -> CategoricalSummary:
    bins = binning.categorical[head["feature"]]
    names = list(head["unseen"] or [])
    return CategoricalSummary(
        head["feature"], bins.vocabulary, rows=head["rows"], nulls=head["nulls"],
        counts=tuple(counts.tolist()), unseen_levels=len(names),
        unseen_names=tuple(names[:UNSEEN_NAME_CAP]),
        unseen_levels_exact=bool(head["unseen_exact"]), known_complete=bins.known_complete)
