"""A selection file by file: what bounds the scan path's memory by the largest data file.

Polars' streaming engine reads ahead of a slow consumer (`collect_batches` buffers what it has
read), so a scan of a whole selection counted batch by batch can hold much of the selection.
Read one data file after another, in slices of `PART_ROWS` rows (polars pushes a slice into
the Parquet read, which then decodes only the row groups it needs), the read-ahead is bounded
by one slice, whatever the size of the selection or of its files.
"""

from __future__ import annotations

import polars as pl

from evalctl.config import ModelConfig
from evalctl.lake.store import Selection, Store

# rows a part holds at most: small files are read together up to it (fewer, larger queries),
# a larger file in slices of it (polars' Parquet row group is 122,880 rows: a slice decodes
# whole row groups, once)
PART_ROWS = 4 * 122_880


def file_scans(store: Store, model: ModelConfig, selection: Selection, schema: pl.Schema
               ) -> list[pl.LazyFrame]:
    """The selection's rows as lazy frames of at most `PART_ROWS` rows (slices of one large
    data file, or several small files read together), each
    with `schema` (the whole selection's scan: a column a file lacks is null, types are the
    whole scan's), read one after another by the scan path (`summarize(parts=...)`,
    `fit_binning(parts=...)`) so that its memory does not grow with the selection."""
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
        starts = range(0, entry.rows, PART_ROWS)
        parts += [lf.slice(start, None if start == starts[-1] else PART_ROWS)
                  for start in starts]
    if group:
        parts.append(pl.concat(group))
    return parts
