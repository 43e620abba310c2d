"""Where merged profile cells are added up: one array per cell measure, a row per window.

`evalctl.profiles.format.merge_profiles` reads the profiles' cells and adds them here.
Counts are kept for every cell of every feature; sums, lows and highs only for a numeric
feature's open intervals (its even cells), the only cells that have them — half the cells of
a numeric feature, none of a categorical one. A 30-window drift of 21 numeric columns holds
~1.8M cells a measure: fresh memory the process faults in page by page (0.5–5 ms a MiB on
the 2-core benchmark host, by its load), so the measures no cell can hold are not allocated.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from evalctl.errors import StoreError
from evalctl.stats.binning import Binning


class CellLayout:
    """Where each feature's cells sit in a window's arrays: feature f owns
    ``offsets[f]:offsets[f] + sizes[f]`` of the counts, and a numeric feature
    ``open_offsets[f]:open_offsets[f] + open_sizes[f]`` of the sums, lows and highs (cell
    ``2 i`` is open slot ``i``)."""

    def __init__(self, binning: Binning) -> None:
        sizes = {f: _cell_count(f, binning) for f in binning.kinds}
        starts = np.concatenate([[0], np.cumsum(list(sizes.values()), dtype=np.int64)])
        self.offsets = dict(zip(sizes, starts.tolist(), strict=False))
        self.starts, self.ends = starts[:-1], starts[1:]
        self.sizes, self.total = sizes, int(starts[-1])
        self.open_sizes = {f: len(binning.numeric[f].edges) + 1 for f in sizes
                           if f in binning.numeric}
        opens = np.concatenate([[0], np.cumsum(list(self.open_sizes.values()), dtype=np.int64)])
        self.open_offsets = dict(zip(self.open_sizes, opens.tolist(), strict=False))
        self.open_total = int(opens[-1])
        # each open slot's cell in a window's counts (cell 2 i of its feature)
        self.open_cells = np.concatenate(
            [np.arange(self.offsets[f], self.offsets[f] + 2 * n, 2, dtype=np.int64)
             for f, n in self.open_sizes.items()] or [np.zeros(0, dtype=np.int64)])


def _cell_count(feature: str, binning: Binning) -> int:
    if feature in binning.numeric:
        return 2 * len(binning.numeric[feature].edges) + 1
    if feature in binning.categorical:
        return len(binning.categorical[feature].vocabulary) + 2
    return 0


class WindowCells:
    """Every window's merged cells: counts of every cell, sums, lows and highs of the open
    ones (`CellLayout`), one row per window. `slots`: each bucket's window (by the bucket's
    microseconds); None: one window."""

    def __init__(self, layout: CellLayout, windows: int, slots: dict[int, int] | None) -> None:
        self.layout, self.slots = layout, slots
        self.counts = np.zeros((windows, layout.total), dtype=np.int64)
        shape, size = (windows, layout.open_total), windows * layout.open_total + 1
        # flat, with a scratch cell at the end for the rows that hold no open cell (`add`)
        self._flat = (np.zeros(size), np.full(size, np.inf), np.full(size, -np.inf))
        self.sums, self.lows, self.highs = (a[:-1].reshape(shape) for a in self._flat)
        self._cleaned = False

    def add(self, cells: pl.DataFrame) -> None:
        """Add format 1's cell rows (`evalctl.profiles.format`'s ``_cell_rows_of``), in their
        order (`_add_runs`). A row of a feature the layout lacks is skipped; a bucket without
        feature rows, or a cell outside its feature's, is a damaged store."""
        if not len(cells):
            return
        starts = np.flatnonzero(cells.get_column("run").to_numpy())
        # a list, not an array, for polars: its numpy path imports numpy.ma (~13 ms); a
        # gather, not the whole column as an array (a copy out of the frame's chunks)
        first = starts.tolist()
        self._add_runs(cells.get_column("bucket").gather(first).to_list(),
                       cells.get_column("feature").gather(first).to_list(),
                       np.diff(starts, append=len(cells)),
                       cells.get_column("cell").to_numpy(),
                       *(cells.get_column(name).to_numpy() for name in ("count",) + _MEASURES))

    def add_lists(self, rows: pl.DataFrame) -> None:
        """Add format 2's cells (`evalctl.profiles.format`'s ``_cell_lists_of``: per row its
        bucket in microseconds, its feature and its cell lists), in their order: each row's
        cells are a run (`_add_runs`). Null list entries (a cell with no sum, low or high)
        are the identity of their merge: 0 sum, +inf low, -inf high."""
        if not len(rows):
            return
        names = ("cells", "counts", "sums", "lows", "highs")
        sizes = rows.select(pl.col(name).list.len().fill_null(0) for name in names
                            ).to_numpy()
        if bool((sizes != sizes[:, :1]).any()):  # each row's lists: one length
            raise StoreError("a profile's cell lists differ in length; run `evalctl doctor`")
        lengths = sizes[:, 0]
        filled = lengths > 0
        if not bool(filled.all()):  # a feature without cells (an error, no values)
            rows, lengths = rows.filter(pl.Series(filled)), lengths[filled]
            if not len(rows):
                return
        flat = {name: rows.get_column(name).explode(empty_as_null=False, keep_nulls=False)
                for name in names}
        self._add_runs(rows.get_column("bucket").to_list(),
                       rows.get_column("feature").to_list(), lengths,
                       flat["cells"].to_numpy(), flat["counts"].to_numpy(),
                       flat["sums"].fill_null(0.0).to_numpy(),
                       flat["lows"].fill_null(np.inf).to_numpy(),
                       flat["highs"].fill_null(-np.inf).to_numpy())

    def _add_runs(self, buckets: list[int], features: list[str], lengths: np.ndarray,
                  cell: np.ndarray, count: np.ndarray, sums: np.ndarray, lows: np.ndarray,
                  highs: np.ndarray) -> None:
        """Add runs of cells (run i: `lengths[i]` > 0 cells of feature `features[i]` in the
        bucket `buckets[i]`), each at its window's offset plus its feature's start plus its
        cell. A run of a feature the layout lacks is skipped; a bucket without feature rows,
        or a cell outside its feature's, is a damaged store. ``np.add.at`` /
        ``np.minimum.at`` / ``np.maximum.at`` go in order, so floats add up to the same bits
        on every run."""
        starts = np.zeros(len(lengths), dtype=np.int64)
        np.cumsum(lengths[:-1], out=starts[1:])
        base, size, opened = self._runs(buckets, features)
        known = size >= 0
        outside = (np.minimum.reduceat(cell, starts) < 0) | (
            np.maximum.reduceat(cell, starts) >= size)
        if bool(np.any(known & outside)) or (not self.counts.shape[0] and bool(known.any())):
            raise StoreError("a profile has cells outside its feature rows or its reference's "
                             "cells; run `evalctl doctor`")
        kept = None if bool(known.all()) else np.repeat(known, lengths)
        index = np.repeat(base, lengths)  # in place from here: fewer arrays to fault in
        index += cell
        np.add.at(self.counts.reshape(-1), index if kept is None else index[kept],
                  count if kept is None else count[kept])
        # the open cells: a numeric feature's even cells, `cell // 2` in its open slots; the
        # other rows' measures go to the scratch cell, not dropped (~3 ms less for 0.5M rows:
        # no copy of four arrays without them; a scratch cell is never read)
        at = np.repeat(opened, lengths)
        at += cell >> 1
        closed = np.repeat(opened < 0, lengths)  # a feature without open cells, or unknown
        closed |= cell & 1 == 1
        at[closed] = self._flat[0].size - 1
        # Sums near the float maximum (a profile stores an overflowed sum as the maximum)
        # overflow again when added: to inf, or NaN where +inf meets -inf (`_clean` makes
        # them what the scan's summaries hold). Expected, so no RuntimeWarning from numpy
        # on a CLI user's terminal.
        with np.errstate(over="ignore", invalid="ignore"):
            for add, flat, values in zip((np.add, np.minimum, np.maximum), self._flat,
                                         (sums, lows, highs), strict=True):
                add.at(flat, at, values)

    def _runs(self, buckets: list[int], features: list[str]
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Each run's first cell in the flat counts, its feature's cell count (-1: not a
        feature of the layout, skipped; 0: a bucket without feature rows, no cell fits) and
        its first open slot in the flat sums, lows and highs (-1: no open cells)."""
        layout = self.layout
        base = np.zeros(len(buckets), dtype=np.int64)
        size = np.zeros(len(buckets), dtype=np.int64)
        opened = np.full(len(buckets), -1, dtype=np.int64)
        for run, (bucket, feature) in enumerate(zip(buckets, features, strict=True)):
            start = layout.offsets.get(feature)
            slot = 0 if self.slots is None else self.slots.get(bucket)
            if start is None:
                size[run] = -1
            elif slot is not None:
                base[run] = slot * layout.total + start
                size[run] = layout.sizes[feature]
                if feature in layout.open_offsets:
                    opened[run] = slot * layout.open_total + layout.open_offsets[feature]
        return base, size, opened

    def counts_of(self, slot: int, feature: str) -> np.ndarray:
        """A feature's cell counts in one window (its open cells' sums, lows and highs:
        `opened`)."""
        start = self.layout.offsets[feature]
        return self.counts[slot, start:start + self.layout.sizes[feature]]

    def opened(self, feature: str) -> tuple[np.ndarray, ...]:
        """A numeric feature's open cells' sums, lows and highs in every window (one row
        each) as `summarize` leaves them: 0 sum and NaN low and high where the cell is
        empty, -0.0 as 0.0 (``+ 0.0``, as the scan does: `evalctl.stats.counters`), a sum
        of ±inf as ±float max and of NaN as 0. Views of the merged arrays, cleaned in place
        at the first call (`_clean`): nothing is added after it."""
        if not self._cleaned:
            self._clean()
        begin = self.layout.open_offsets[feature]
        at = slice(begin, begin + self.layout.open_sizes[feature])
        return self.sums[:, at], self.lows[:, at], self.highs[:, at]

    def _clean(self) -> None:
        """Every numeric feature's open cells in every window as `opened` gives them, a few
        numpy calls in all and in place: per feature into six new arrays they cost ~15 ms
        of a fresh process's 30-window drift, against ~5 ms (2026-12-04, 1M benchmark)."""
        empty = self.counts[:, self.layout.open_cells] == 0
        # a sum that overflowed (values near the float maximum) as the scan's summaries hold
        # it: ±inf as ±float max, NaN (+inf met -inf) as 0; kept as inf, it gave other
        # measures than the scan on the same rows (tests/test_no_warnings.py). Checked
        # first: 0.15 ms for 0.9M sums, against 4 ms for `nan_to_num` itself.
        if not np.isfinite(self.sums).all():
            np.nan_to_num(self.sums, copy=False)
        for values, blank in ((self.sums, 0.0), (self.lows, np.nan), (self.highs, np.nan)):
            np.copyto(values, blank, where=empty)
            values += 0.0
        self._cleaned = True

    def open_values(self, flat: np.ndarray, code: np.ndarray, cell: np.ndarray,
                    opened: np.ndarray) -> dict[str, np.ndarray]:
        """Window 0's sums, lows and highs of the counts' flat cells `flat` (feature `code`
        in layout order, `cell` within it), 0 where a cell is not `opened`."""
        slots = np.zeros(len(self.layout.sizes), dtype=np.int64)
        for position, feature in enumerate(self.layout.sizes):
            slots[position] = self.layout.open_offsets.get(feature, 0)
        at = (slots[code] + (cell >> 1))[opened]
        found = {}
        for name, values in (("sum", self.sums), ("low", self.lows), ("high", self.highs)):
            column = np.zeros(flat.size)
            column[opened] = values[0][at]
            found[name] = column
        return found


_MEASURES = ("sum", "low", "high")
