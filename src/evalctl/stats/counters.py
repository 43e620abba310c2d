"""Running per-window counters that `summarize` feeds batch by batch and turns into summaries.

Each counter takes one column of one batch (the rows of one window) and folds it into fixed
arrays with numpy's O(n) primitives: `bincount` for counts and per-cell sums, `minimum.at` /
`maximum.at` for per-cell extremes, and a two-pass mean and sum of squared deviations per batch,
merged across batches with Chan's formula (`merge_moments`), which is as stable as a two-pass
over the whole window. Memory is a few arrays of cell length per (window, feature), whatever the
number of rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import polars as pl

from evalctl.stats.binning import CategoricalBins, NumericBins
from evalctl.stats.grid import CellLocator
from evalctl.stats.summary import (
    UNSEEN_NAME_CAP,
    CategoricalSummary,
    NumericSummary,
    merge_moments,
)

# Unseen names are kept as deduplicated Series per batch, merged once this many pile up.
_COMPACT_NAMES = 1_000_000


class NumericCounter:
    """Cells, extremes and moments of one numeric feature in one window (`NumericSummary`)."""

    def __init__(self, feature: str, bins: NumericBins, locator: CellLocator) -> None:
        self.feature, self.bins, self.locator = feature, bins, locator
        cells = locator.n_cells
        self.rows = self.nulls = self.nonfinite = 0
        self.counts = np.zeros(cells, dtype=np.int64)
        self.sums = np.zeros(cells)
        self.lows = np.full(cells, np.inf)
        self.highs = np.full(cells, -np.inf)
        self.n, self.mean, self.m2 = 0, 0.0, 0.0

    def add(self, column: pl.Series) -> None:
        """Fold one batch of the (Float64) column in."""
        nulls = column.null_count()
        x = column.to_numpy()  # nulls come out as NaN
        finite = np.isfinite(x)
        if not finite.all():
            x = x[finite]
        self.rows += len(column)
        self.nulls += nulls
        self.nonfinite += len(column) - nulls - x.size
        if not x.size:
            return
        cells = self.locator.cells(x)
        self.counts += np.bincount(cells, minlength=self.counts.size)
        np.minimum.at(self.lows, cells, x)
        np.maximum.at(self.highs, cells, x)
        # Finite values near the float maximum (1e308) overflow their sums and squares: a
        # cell's sum and the moments are then inf, or NaN where +inf meets -inf, which is what
        # float arithmetic gives for them and what profiles hold and merge alike (sums are
        # stored as the float maximum: `summary`). Numpy would print a RuntimeWarning for each
        # on a CLI user's terminal; the reports say null where a value is not finite.
        with np.errstate(over="ignore", invalid="ignore"):
            sums = np.bincount(cells, weights=x, minlength=self.sums.size)
            self.sums += sums
            mean = float(sums.sum() / x.size)
            deviations = x - mean
            m2 = float(np.square(deviations, out=deviations).sum())  # not `@`: BLAS spins
        self.mean, self.m2 = merge_moments(self.n, self.mean, self.m2, x.size, mean, m2)
        self.n += x.size

    def summary(self) -> NumericSummary:
        counts = self.counts
        seen = counts > 0
        # + 0.0 turns -0.0 into 0.0: a value equal to 0.0 is reported as 0.0 whatever its sign
        lows, highs = self.lows + 0.0, self.highs + 0.0
        open_seen = seen[0::2]
        sums = np.where(open_seen, np.nan_to_num(self.sums[0::2]), 0.0) + 0.0
        return NumericSummary(
            self.feature, self.bins.edges, self.bins.psi_edges,
            rows=self.rows, nulls=self.nulls, nonfinite=self.nonfinite,
            minimum=float(lows[seen].min()) if seen.any() else None,
            maximum=float(highs[seen].max()) if seen.any() else None,
            mean=self.mean if self.n else 0.0, m2=self.m2 if self.n else 0.0,
            counts=counts.copy(), sums=sums,
            lows=np.where(open_seen, lows[0::2], np.nan),
            highs=np.where(open_seen, highs[0::2], np.nan),
        )


class CategoricalCounter:
    """Bucket counts and unseen levels of one categorical feature in one window.

    It is fed each row's index among the reference's known levels (`level_index`: the
    unknown and null rows share the index past the last level; the nulls are taken out again by
    the column's null count) and the raw String column, from which only the unseen rows' names
    are kept. Counting levels, then folding the per-level counts into buckets, keeps the per-row
    work to one `bincount`.
    """

    def __init__(self, feature: str, bins: CategoricalBins) -> None:
        self.feature, self.bins = feature, bins
        k = len(bins.vocabulary)
        self.bucket_of_level = _buckets_of_levels(bins)
        self.unknown = self.bucket_of_level.size - 1  # the level index of unknown (and null) rows
        self.rows = self.nulls = 0
        self.counts = np.zeros(k + 2, dtype=np.int64)
        self.names: list[pl.Series] = []
        self._held = self._distinct = 0  # names held; distinct ones at the last compaction

    def add(self, levels: pl.Series, raw: pl.Series) -> None:
        per_level = np.bincount(levels.to_numpy(), minlength=self.unknown + 1)
        nulls = raw.null_count()
        unseen = None
        if per_level[self.unknown] > nulls:
            unseen = raw.filter(levels == self.unknown).drop_nulls().unique()
        self._fold(per_level, len(raw), nulls, unseen)

    def add_entries(self, pieces: Sequence[np.ndarray], table: np.ndarray,
                    names: list[str]) -> None:
        """Fold one batch in, given as entries (in pieces: `evalctl.stats.levels.Entries`)
        whose codes `table` holds (``K`` a null, ``K + 1 + j`` the unseen level
        ``names[j]``) instead of `level_index` and the String column: the same counts and
        names."""
        per_entry = np.zeros(table.size, dtype=np.int64)
        for entries in pieces:
            per_entry += np.bincount(entries, minlength=table.size)
        per_code = np.bincount(table, weights=per_entry,
                               minlength=self.unknown + 1).astype(np.int64)
        per_level = per_code[:self.unknown + 1]
        nulls = int(per_level[self.unknown])
        met = np.flatnonzero(per_code[self.unknown + 1:])
        per_level[self.unknown] += per_code[self.unknown + 1:].sum()
        unseen = pl.Series([names[j] for j in met.tolist()], dtype=pl.String) \
            if met.size else None
        self._fold(per_level, sum(entries.size for entries in pieces), nulls, unseen)

    def _fold(self, per_level: np.ndarray, rows: int, nulls: int,
              unseen: pl.Series | None) -> None:
        """Add a batch's rows per level (unknown and null rows in the last), its rows, nulls
        and distinct unseen names."""
        self.rows += rows
        self.nulls += nulls
        self.counts += np.bincount(self.bucket_of_level, weights=per_level,
                                   minlength=self.counts.size).astype(np.int64)
        self.counts[-1] -= nulls
        if unseen is not None:
            self.names.append(unseen)
            self._held += len(unseen)
            if self._held > max(_COMPACT_NAMES, 2 * self._distinct):
                self.names = [self._distinct_names()]
                self._held = self._distinct = len(self.names[0])

    def _distinct_names(self) -> pl.Series:
        return pl.concat(self.names).unique() if self.names else pl.Series([], dtype=pl.String)

    def summary(self, name_cap: int = UNSEEN_NAME_CAP) -> CategoricalSummary:
        """The summary, with the alphabetically first `name_cap` unseen names."""
        names = self._distinct_names()
        return CategoricalSummary(
            self.feature, self.bins.vocabulary,
            rows=self.rows, nulls=self.nulls, counts=tuple(self.counts.tolist()),
            unseen_levels=len(names),
            unseen_names=tuple(names.sort().head(name_cap).to_list()),
            known_complete=self.bins.known_complete,
        )


@lru_cache(maxsize=256)
def _buckets_of_levels(bins: CategoricalBins) -> np.ndarray:
    """Each sorted known level's bucket, then the unknown rows' (read only: shared by every
    counter of the feature). Once per set of bins for the process, not per counter: a
    counter is made per (window, feature), and sorting a thousand known levels for each was
    ~0.1 ms a data file."""
    slots = {level: slot for slot, level in enumerate(bins.vocabulary)}
    k = len(bins.vocabulary)
    buckets = np.array([slots.get(level, k) for level in sorted(bins.known)] + [k + 1])
    buckets.flags.writeable = False
    return buckets


def level_index(column: str, bins: CategoricalBins) -> pl.Expr:
    """Each row's index among the sorted known levels; unknown and null rows get their count."""
    known = sorted(bins.known)
    return (pl.col(column).cast(pl.String).cast(pl.Enum(known), strict=False)
            .to_physical().fill_null(len(known)))
