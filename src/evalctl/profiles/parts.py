"""A selection file by file: what bounds the scan path's memory by the largest data file.

Polars' streaming engine reads ahead of a slow consumer (`collect_batches` buffers what it has
read), so a scan of a whole selection counted batch by batch can hold much of the selection.
Read one data file after another, in slices of `PART_ROWS` rows (polars pushes a slice into
the Parquet read, which then decodes only the row groups it needs), the read-ahead is bounded
by one slice, whatever the size of the selection or of its files.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime

import numpy as np
import polars as pl

from evalctl.config import ModelConfig
from evalctl.lake import coerce
from evalctl.lake.layout import ROW_GROUP_ROWS
from evalctl.lake.ledger import FileEntry
from evalctl.lake.store import Selection, Store
from evalctl.stats.binning import BATCH_ROWS, IN_MEMORY_VALUES
from evalctl.stats.grid import order_statistics
from evalctl.stats.streamed import StreamedRanks

# rows a part holds at most: small files are read together up to it (fewer queries), a larger
# file in slices of it. Whole row groups of the lake's files (`ROW_GROUP_ROWS`, 4 of them): a
# slice then decodes each of its row groups once (a slice across a group boundary decodes that
# group twice: 131,072-row slices of 122,880-row groups cost 20% more CPU at 20M rows), and
# polars' read-ahead — what grows a query's memory — stays within the part whatever the size
# of the files. At 491,520 rows a part, a selection of larger files read larger parts: peak
# RSS grew 16-34% from 5M to 20M rows.
PART_ROWS = 4 * ROW_GROUP_ROWS


def file_scans(store: Store, model: ModelConfig, selection: Selection, schema: pl.Schema
               ) -> list[pl.LazyFrame]:
    """The selection's rows as lazy frames of at most `PART_ROWS` rows (slices of one large
    data file, or several small files read together), each
    with `schema` (the whole selection's scan: a column a file lacks is null, types are the
    whole scan's), read one after another by the scan path (`summarize(parts=...)`,
    `fit_binning(parts=...)`) so that its memory does not grow with the selection. The parts
    hold the selection's rows in the order the files are given (`chunked_scans` counts
    timestamp ties in that order)."""
    parts: list[pl.LazyFrame] = []
    group: list[pl.LazyFrame] = []  # small files read together, up to `PART_ROWS` rows
    grouped = 0
    for version, env, entry in selection.files:
        one = Selection(selection.selector, ((version, env, entry),))
        lf = store.scan(model, selection.selector, with_actuals=False, selection=one)
        have = lf.collect_schema()
        lf = lf.select([pl.col(c).cast(t) if c in have else pl.lit(None, t).alias(c)
                        for c, t in schema.items()])
        if entry.rows <= PART_ROWS:
            if grouped + entry.rows > PART_ROWS:
                parts.append(pl.concat(group))
                group, grouped = [], 0
            group.append(lf)
            grouped += entry.rows
            continue
        if group:  # the files before it first: parts keep the scan's row order
            parts.append(pl.concat(group))
            group, grouped = [], 0
        starts = range(0, entry.rows, PART_ROWS)
        parts += [lf.slice(start, None if start == starts[-1] else PART_ROWS)
                  for start in starts]
    if group:
        parts.append(pl.concat(group))
    return parts


# The column `chunked_scans` adds: each row's equal-row chunk in timestamp order.
CHUNK = "_chunk"


def scan_order(store: Store, model: ModelConfig, selection: Selection) -> Selection:
    """The selection with its files in the order `Store.scan` reads their rows: grouped by
    version, environment and the columns a file stores under another type than the config
    gives them (a scan reads each group as one), groups in order of first appearance."""
    stored = {f.path: r.schema for r in store.prediction_records(model.name) for f in r.files}
    expected = coerce.stored_types(
        coerce.prediction_columns(model, selection.selector.env, model.features), model.features)

    def group(item: tuple[str, str, FileEntry]) -> tuple[str, str, tuple[str, ...]]:
        version, env, entry = item
        changed = tuple(sorted(c for c, dtype in stored.get(entry.path, {}).items()
                               if c in expected and expected[c] != dtype))
        return version, env, changed

    first: dict[tuple[str, str, tuple[str, ...]], int] = {}
    for item in selection.files:
        first.setdefault(group(item), len(first))
    files = sorted(selection.files, key=lambda item: first[group(item)])  # stable
    return replace(selection, files=tuple(files))


def chunked_scans(store: Store, model: ModelConfig, selection: Selection, schema: pl.Schema,
                  chunks: int) -> list[pl.LazyFrame]:
    """`file_scans` of the selection, each part with a column `CHUNK`: the row's equal-row
    chunk in timestamp order, exactly `analyses.common.chunk_index(timestamp, chunks)` over
    the whole scan (the row of 0-based rank r among the timestamps — ties in scan order — is
    in chunk ``r * chunks // rows``) without ranking every row at once.

    Chunk ``c`` starts at rank ``b = ceil(c * rows / chunks)``. The timestamp at each such
    rank is an exact order statistic found in streamed passes over the timestamp column;
    one more pass counts, per part, the rows before and at it. A row is then at or past
    boundary ``c`` when its timestamp is later than the boundary's, or equal to it and the
    row is at least the ``b - (rows earlier)``-th of those ties in scan order (the ties
    before its part, plus its position among its part's). Memory: the parts' read-ahead and
    a few numbers per part and boundary, whatever the rows."""
    ordered = scan_order(store, model, selection)
    parts = file_scans(store, model, ordered, schema)
    rows = ordered.rows
    epoch = pl.col(model.timestamp).dt.epoch("us")
    starts = [-(-c * rows // chunks) for c in range(1, chunks)]
    starts = [b for b in starts if b < rows]  # a chunk past the last row is empty
    if not starts:
        return [p.with_columns(pl.lit(0, pl.Int32).alias(CHUNK)) for p in parts]
    values = _timestamps_at(parts, epoch, np.unique(starts), rows)
    at = dict(zip(np.unique(starts).tolist(), values, strict=True))
    ties = sorted(set(at.values()))
    query = [*((epoch < t).sum().alias(f"lt{i}") for i, t in enumerate(ties)),
             *((epoch == t).sum().alias(f"eq{i}") for i, t in enumerate(ties))]
    counts = [p.select(query).collect(engine="streaming").row(0) for p in parts]
    earlier = {t: sum(c[i] for c in counts) for i, t in enumerate(ties)}
    equal = np.array([c[len(ties):] for c in counts], dtype=np.int64)  # part x tie
    before = np.cumsum(equal, axis=0) - equal  # ties in the parts before each part
    out = []
    for k, part in enumerate(parts):
        terms = []
        for b in starts:
            t = at[b]
            i = ties.index(t)
            need = b - earlier[t]  # the first tie (0-based, in scan order) in the chunk
            if before[k, i] >= need:
                terms.append(epoch >= t)
            elif before[k, i] + equal[k, i] <= need:
                terms.append(epoch > t)
            else:
                tie = epoch == t
                terms.append((epoch > t) | (tie & (tie.cum_sum() + int(before[k, i]) > need)))
        chunk = pl.sum_horizontal([term.cast(pl.Int32) for term in terms]).cast(pl.Int32)
        out.append(part.with_columns(chunk.alias(CHUNK)))
    return out


def _timestamps_at(parts: list[pl.LazyFrame], epoch: pl.Expr, ranks: np.ndarray, rows: int
                   ) -> list[int]:
    """The timestamps (microseconds since the epoch) at 0-based `ranks` of the sorted
    timestamps of `parts`: read whole when there are at most `IN_MEMORY_VALUES` of them,
    else found in streamed passes (`StreamedRanks`). Exact: microseconds within ±2^53
    (years 1685–2255, inside the lake's plausible range) are exact as float64."""
    column = epoch.cast(pl.Float64).alias("t")
    if rows <= IN_MEMORY_VALUES:
        x = np.concatenate([p.select(column).collect(engine="streaming").get_column("t")
                            .to_numpy() for p in parts])
        found = order_statistics(x, ranks)
    else:
        extremes = [p.select(column.min().alias("lo"), column.max().alias("hi"))
                    .collect(engine="streaming").row(0) for p in parts]
        lo = min(e[0] for e in extremes if e[0] is not None)
        hi = max(e[1] for e in extremes if e[1] is not None)

        def batches(_: list[str]) -> Iterator[dict[str, np.ndarray]]:
            for part in parts:
                for batch in part.select(column).collect_batches(chunk_size=BATCH_ROWS):
                    yield {"t": batch.get_column("t").to_numpy()}

        found = StreamedRanks({"t": (ranks, rows, lo, hi)}).run(batches)["t"]
    return [int(v) for v in found]


def chunk_bounds(parts: list[pl.LazyFrame], timestamp: str
                 ) -> dict[int, tuple[datetime, datetime, int]]:
    """Each chunk's first and last timestamp and rows, merged part by part from
    `chunked_scans` (memory: the chunks, not the rows)."""
    ts = pl.col(timestamp)
    frames = [p.group_by(CHUNK).agg(ts.min().alias("lo"), ts.max().alias("hi"),
                                    pl.len().alias("rows")).collect(engine="streaming")
              for p in parts]
    merged = (pl.concat(frames).group_by(CHUNK)
              .agg(pl.col("lo").min(), pl.col("hi").max(), pl.col("rows").sum()).sort(CHUNK))
    return {row[0]: (row[1], row[2], row[3]) for row in merged.iter_rows()}
