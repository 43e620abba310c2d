"""Exact order statistics of columns too large to hold: a few streamed passes, bounded memory.

`fit_binning` needs ~1,400 lower-interpolated quantiles of every numeric column of the whole
reference. Holding the columns (8 bytes a value) made the fit's memory grow with the
reference; here each column's wanted ranks are found by narrowing, pass by pass, over batches
streamed from the source (`StreamedRanks`):

1. the first pass counts every finite value on a uniform grid of `GRID` buckets over the
   column's [minimum, maximum] (`UniformGrid`: monotone, so a bucket holds one contiguous range
   of values and cumulative counts give each bucket's ranks);
2. each later pass looks only at the *nodes* (buckets, then parts of buckets) where a wanted
   rank falls: a node with few values is collected and sorted, and its ranks are read off
   exactly; a node with many is split by a finer uniform grid over its range, counting each
   part and keeping each part's minimum and maximum — a part whose minimum equals its maximum
   (ties) answers its ranks at once, without collecting.

Per column, memory is bounded by constants — `COLLECT` collected values and `CELLS` counters a
pass, plus the batch being read — not by the rows; skewed data only cost more passes (each
narrows a node's range by its grid size). Across columns, one read over batches counts only
the columns whose passes fit in `PASS_BYTES` together (the rest wait for a later read): what
the passes hold grows with neither the rows nor the columns. The answer equals
``np.sort(x)[ranks]`` over the finite values of ``x``.

Counted elsewhere (the Spark engine), a pass's partial states are merged where they were
counted (`merge_passes`), which also reads the collected nodes' ranks off there: what comes
back is the counters and the answers (`_Pass.settled`), never the collected values.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from copy import copy
from dataclasses import dataclass, field

import numpy as np

from evalctl.memory import release_freed_memory
from evalctl.stats.grid import GRID, UniformGrid

COLLECT = 1 << 18  # values a column may collect in one pass
CELLS = 1 << 16  # counters a column may split its heavy nodes into in one pass
# What the columns read together in one pass over batches may hold (`_Column.pass_bytes`):
# the columns whose passes do not fit wait for the next read. Bounded per column only, the
# benchmark's 21 numeric columns, each collecting `COLLECT` values and splitting into `CELLS`
# tracked counters, held ~95 MiB in one read at 20M rows per side where 5M rows (nodes a
# quarter the size) held ~60 MiB; with the budget 5M still takes one read, 20M two.
PASS_BYTES = 1 << 26

Batches = Callable[[list[str]], Iterable[dict[str, np.ndarray]]]
# A pass counted elsewhere (the Spark engine's executors): given the active columns' plans, the
# partial states of every part of the rows (`count_pass`'s), each part once
Partials = Callable[[dict[str, "_Column"]], Iterable[dict[str, "_Pass"]]]


@dataclass
class _Level:
    """One split: node ids at this depth -> a slot with its own grid (-1: not split).
    The children of slot ``s`` are the nodes ``s * size + bucket`` one level deeper."""

    slot_of: np.ndarray
    pre: np.ndarray  # 0.5 where the range is too wide to scale in one multiply, else 1.0
    scale: np.ndarray
    offset: np.ndarray
    lo: np.ndarray  # each slot's value range (for the children's grids)
    hi: np.ndarray
    size: int
    track: bool  # keep each child's minimum and maximum (not for the first, all-rows grid)

    def children(self, x: np.ndarray, slot: np.ndarray) -> np.ndarray:
        t = (x * self.pre[slot]) * self.scale[slot]
        t += self.offset[slot]
        np.clip(t, 0, self.size - 1, out=t)
        return slot * self.size + t.astype(np.intp)


@dataclass
class _Pass:
    """What one pass over a column accumulates."""

    counts: np.ndarray
    mins: np.ndarray
    maxs: np.ndarray
    collected: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)
    # the collected nodes' answers read off all of the pass's values (`merge_passes`): the
    # pending ranks' positions and their values, instead of the collected values
    settled: tuple[np.ndarray, np.ndarray] | None = None


class _Column:
    """The narrowing state of one column's wanted ranks."""

    def __init__(self, ranks: np.ndarray, n: int, lo: float, hi: float) -> None:
        self.ranks = ranks
        self.values = np.full(ranks.size, lo if lo == hi else np.nan)
        self.done = np.full(ranks.size, lo == hi)
        self.levels: list[_Level] = []
        # The frontier: the node of each pending rank, the values below it, and each node's
        # count and range (NaN when unknown), at the depth of len(self.levels).
        self.node = np.zeros(ranks.size, dtype=np.intp)
        self.below = np.zeros(ranks.size, dtype=np.int64)
        small = n <= COLLECT  # a small column is collected whole in one pass
        self.collect_of = np.full(1, 0 if small else -1, dtype=np.intp)
        self.room = n if small else 0  # the values the next pass collects (its counts say)
        # `start(buffered=True)`: the pass's collected node slots and values, filled in place
        self._buffer: tuple[np.ndarray, np.ndarray] | None = None
        self._filled = 0
        root = np.empty(0, np.intp) if small else np.array([0])
        self.split = _split_level(root, np.array([lo])[:root.size], np.array([hi])[:root.size],
                                  1, GRID, track=False)
        self.state: _Pass | None = None

    @property
    def finished(self) -> bool:
        return bool(self.done.all())

    def pass_bytes(self) -> int:
        """What this column's next pass over batches holds: its counters (each cell's
        minimum and maximum too when tracked) and the values it collects, with their slots."""
        cells = self.split.size * self.split.lo.size
        return cells * (24 if self.split.track else 8) + self.room * 12

    def start(self, buffered: bool = False) -> None:
        """A new pass. `buffered` (a pass over all of the rows): collect into one buffer of
        the `room` values the counts promise, not a list of each batch's arrays — the same
        values in two allocations instead of thousands, so freeing them returns the memory
        (a list interleaved with the batches' temporaries fragmented the heap: ~140 MiB kept
        after a fit of 20M rows)."""
        cells = self.split.size * self.split.lo.size
        self.state = _Pass(np.zeros(cells, dtype=np.int64),
                           np.full(cells if self.split.track else 0, np.inf),
                           np.full(cells if self.split.track else 0, -np.inf))
        self._buffer = (np.empty(self.room, np.int32), np.empty(self.room)) if buffered else None
        self._filled = 0

    def _collect(self, slots: np.ndarray, values: np.ndarray) -> None:
        """Keep one batch's values of the collected nodes (and each value's node slot)."""
        assert self.state is not None
        if self._buffer is None:
            self.state.collected.append((slots, values))
            return
        held, kept = self._buffer
        end = self._filled + values.size
        if end > kept.size:  # more than the counts promised (other rows?): grow, stay exact
            grown = max(end, 2 * kept.size)
            held = np.concatenate([held[:self._filled], np.empty(grown - self._filled, np.int32)])
            kept = np.concatenate([kept[:self._filled], np.empty(grown - self._filled)])
            self._buffer = (held, kept)
        held[self._filled:end] = slots
        kept[self._filled:end] = values
        self._filled = end
        self.state.collected = [(held[:end], kept[:end])]

    def absorb(self, part: _Pass) -> None:
        """Merge a partial state of this pass counted on other rows (`count_pass`)."""
        assert self.state is not None
        if self.state.settled is not None or (part.settled is not None and (
                self.state.collected or self.state.counts.any())):
            raise ValueError("a settled pass state holds all of the rows: it merges with none")
        self.state.counts += part.counts
        np.minimum(self.state.mins, part.mins, out=self.state.mins)
        np.maximum(self.state.maxs, part.maxs, out=self.state.maxs)
        self.state.collected += part.collected
        self.state.settled = part.settled

    def settle(self) -> None:
        """Read the collected nodes' ranks off this pass's values, then drop the values
        (the state must hold all of the rows: `merge_passes`)."""
        assert self.state is not None
        self.state.settled = self._collected_answers(np.flatnonzero(~self.done), self.state)
        self.state.collected = []

    def add(self, x: np.ndarray) -> None:
        """Count (or collect) one batch's values."""
        assert self.state is not None
        x = x[np.isfinite(x)]
        node = np.zeros(x.size, dtype=np.intp)
        for level in self.levels:  # down to the frontier, keeping only values inside it
            slot = level.slot_of[node]
            inside = slot >= 0
            if not inside.all():
                x, slot = x[inside], slot[inside]
            node = level.children(x, slot)
        collect = self.collect_of[node]
        kept = collect >= 0
        if kept.any():
            self._collect(collect[kept], x[kept])
        slot = self.split.slot_of[node]
        inside = slot >= 0
        if not inside.all():
            x, slot = x[inside], slot[inside]
        if not x.size:
            return
        child = self.split.children(x, slot)
        self.state.counts += np.bincount(child, minlength=self.state.counts.size)
        if self.split.track:
            np.minimum.at(self.state.mins, child, x)
            np.maximum.at(self.state.maxs, child, x)

    def plan(self) -> _Column:
        """A copy of this column's narrowing state without its pass state: what counting a
        pass on other rows needs (`count_pass`; pickled to Spark executors)."""
        plan = copy(self)
        plan.state, plan._buffer = None, None
        return plan

    def finish(self) -> None:
        """Answer the ranks this pass settles; plan the next pass for the rest."""
        assert self.state is not None
        state, split = self.state, self.split
        pending = np.flatnonzero(~self.done)
        self._answer_collected(pending, state)
        pending = pending[~self.done[pending]]
        # Every other pending rank sits in a split node: find its child by the counts.
        counts = state.counts
        ends = np.cumsum(counts)
        slot = split.slot_of[self.node[pending]]
        start = slot * split.size
        base = np.where(start > 0, ends[np.maximum(start - 1, 0)], 0)
        child = np.searchsorted(ends, base + self.ranks[pending] - self.below[pending],
                                side="right")
        self.below[pending] += np.where(child > start, ends[np.maximum(child - 1, 0)] - base, 0)
        self.node[pending] = child
        if split.track:
            lows, highs = state.mins[child], state.maxs[child]
            tied = lows == highs
            self.values[pending[tied]] = lows[tied]
            self.done[pending[tied]] = True
        self.levels.append(split)
        self._plan(counts, state.mins if split.track else None,
                   state.maxs if split.track else None, split)
        self.state, self._buffer = None, None

    def _answer_collected(self, pending: np.ndarray, state: _Pass) -> None:
        at, values = (state.settled if state.settled is not None
                      else self._collected_answers(pending, state))
        self.values[at] = values
        self.done[at] = True

    def _collected_answers(self, pending: np.ndarray, state: _Pass
                           ) -> tuple[np.ndarray, np.ndarray]:
        """The pending ranks that sit in collected nodes (positions) and their values."""
        collect = self.collect_of[self.node[pending]]
        chosen = collect >= 0
        if not chosen.any():
            return np.empty(0, np.intp), np.empty(0)
        slots = np.concatenate([s for s, _ in state.collected] or [np.empty(0, np.intp)])
        values = np.concatenate([v for _, v in state.collected] or [np.empty(0)])
        order = np.lexsort((values, slots))
        slots, values = slots[order], values[order]
        first = np.searchsorted(slots, collect[chosen], side="left")
        at = pending[chosen]
        return at, values[first + (self.ranks[at] - self.below[at])]

    def _plan(self, counts: np.ndarray, mins: np.ndarray | None, maxs: np.ndarray | None,
              parent: _Level) -> None:
        """The next frontier: collect the lightest nodes within `COLLECT`, split the rest."""
        nodes = np.unique(self.node[~self.done])
        space = parent.lo.size * parent.size
        self.collect_of = np.full(space, -1, dtype=np.intp)
        weight = counts[nodes]
        order = np.argsort(weight, kind="stable")
        fits = np.cumsum(weight[order]) <= COLLECT
        light, heavy = nodes[order[fits]], nodes[order[~fits]]
        if mins is not None and maxs is not None and heavy.size:
            # A node its parent's grid could not split (it kept every value and the same
            # range) would not split again: collect it whatever its size.
            slot = heavy // parent.size
            totals = counts.reshape(-1, parent.size).sum(axis=1)
            stuck = ((counts[heavy] == totals[slot]) & (mins[heavy] == parent.lo[slot])
                     & (maxs[heavy] == parent.hi[slot]))
            light, heavy = np.union1d(light, heavy[stuck]), heavy[~stuck]
        self.collect_of[light] = np.arange(light.size)
        self.room = int(counts[light].sum())
        lo, hi = _child_ranges(heavy, parent, mins, maxs)
        size = max(2, min(GRID, CELLS // max(heavy.size, 1)))
        self.split = _split_level(heavy, lo, hi, space, size, track=True)


def _child_ranges(heavy: np.ndarray, parent: _Level, mins: np.ndarray | None,
                  maxs: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Each heavy node's value range: its observed minimum and maximum when tracked, else
    the part of its parent's range its grid bucket covers (a grid clips what falls outside,
    so any range keeps it exact; a tight one only makes it faster)."""
    if mins is not None and maxs is not None:
        return mins[heavy], maxs[heavy]
    slot, bucket = heavy // parent.size, heavy % parent.size
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        step = 1.0 / (parent.scale[slot] * parent.pre[slot])
        origin = -parent.offset[slot] * step
        lo = origin + bucket * step
        hi = origin + (bucket + 1) * step
    lo = np.where(np.isfinite(lo), np.maximum(lo, parent.lo[slot]), parent.lo[slot])
    hi = np.where(np.isfinite(hi), np.minimum(hi, parent.hi[slot]), parent.hi[slot])
    return np.minimum(lo, hi), np.maximum(lo, hi)


def _split_level(nodes: np.ndarray, lo: np.ndarray, hi: np.ndarray, space: int, size: int, *,
                 track: bool) -> _Level:
    """Grids of `size` buckets over each node's [lo, hi]."""
    slot_of = np.full(space, -1, dtype=np.intp)
    slot_of[nodes] = np.arange(nodes.size)
    pre, scale, offset = np.ones(nodes.size), np.zeros(nodes.size), np.zeros(nodes.size)
    for i, (a, b) in enumerate(zip(lo.tolist(), hi.tolist(), strict=True)):
        for factor in (1.0, 0.5):  # halve both ends when the span overflows
            grid = UniformGrid(a * factor, b * factor, size)
            if grid.size == size or a == b:
                break
        pre[i], scale[i], offset[i] = factor, grid._scale, grid._offset  # noqa: SLF001
    return _Level(slot_of, pre, scale, offset, np.asarray(lo, float), np.asarray(hi, float),
                  size, track)


class StreamedRanks:
    """Exact ``np.sort(finite x)[ranks]`` of several columns, reading them in passes.

    `columns` maps a name to (its sorted distinct 0-based ranks among its finite values, the
    count of those values, their minimum and maximum). `batches(names)` yields dicts of
    float64 arrays for those columns, all rows once per call (nulls as NaN). `run` returns
    each column's values at its ranks; `passes` counts the passes it made."""

    def __init__(self, columns: dict[str, tuple[np.ndarray, int, float, float]]) -> None:
        self.columns = {name: _Column(np.asarray(ranks, dtype=np.int64), n, lo, hi)
                        for name, (ranks, n, lo, hi) in columns.items()}
        self.passes = 0

    def run(self, batches: Batches | None = None, partials: Partials | None = None
            ) -> dict[str, np.ndarray]:
        """Read every pass from `batches`, or (`partials`, instead) count each pass elsewhere
        on parts of the rows and merge the parts' states here (`count_pass` on each part:
        the same counting code)."""
        if (batches is None) == (partials is None):
            raise ValueError("StreamedRanks.run: give exactly one of batches and partials")
        while True:
            active = [n for n, c in self.columns.items() if not c.finished]
            if not active:
                return {n: c.values for n, c in self.columns.items()}
            if partials is None:
                active = self._within_budget(active)
            for name in active:
                self.columns[name].start(buffered=partials is None)
            if partials is not None:
                plans = {name: self.columns[name].plan() for name in active}
                for part in partials(plans):
                    for name in active:
                        self.columns[name].absorb(part[name])
            else:
                assert batches is not None
                for batch in batches(active):
                    for name in active:
                        self.columns[name].add(batch[name])
                    del batch  # not held while the next batch (the next part) is read
            for name in active:
                self.columns[name].finish()
            self.passes += 1
            if batches is not None:  # the pass's buffers, freed: not the next pass's peak
                release_freed_memory()

    def _within_budget(self, active: list[str]) -> list[str]:
        """The columns this read counts: in order, each whose pass still fits in
        `PASS_BYTES` with those before it (the first always); the others keep their plans
        for a later read. Reading fewer columns costs little more in all (a Parquet read
        decodes only the columns it selects), and only rows that need larger passes (20M
        rows per side, not 5M, on 30 columns) pay the extra reads."""
        chosen: list[str] = []
        held = 0
        for name in active:
            need = self.columns[name].pass_bytes()
            if not chosen or held + need <= PASS_BYTES:
                chosen.append(name)
                held += need
        return chosen


def count_pass(plans: dict[str, _Column], batches: Iterable[dict[str, np.ndarray]]
               ) -> dict[str, _Pass]:
    """One pass of `StreamedRanks.run` counted on some of the rows (`batches`, as `Batches`
    yields them) by each column's plan (`_Column.plan`): the partial states that
    `StreamedRanks.run(partials=...)` merges. Exact: merged, the parts' states equal one
    pass over all of the rows."""
    columns = {name: plan.plan() for name, plan in plans.items()}
    for column in columns.values():
        column.start()
    for batch in batches:
        for name, column in columns.items():
            column.add(batch[name])
    states = {}
    for name, column in columns.items():
        assert column.state is not None
        states[name] = column.state
    return states


def merge_passes(plans: dict[str, _Column], parts: Iterable[dict[str, _Pass]]
                 ) -> dict[str, _Pass]:
    """The partial states of one pass on *every* part of the rows (`count_pass`'s, read one
    at a time) merged into one, settled: its collected values replaced by the answers they
    give (`_Pass.settled`). Where the parts were counted (a Spark executor) this leaves a
    state of `CELLS` counters and the ranks' values a column to send on, however many rows
    and parts there were; merged in any order it is the same state."""
    columns = {name: plan.plan() for name, plan in plans.items()}
    for column in columns.values():
        column.start()
    for part in parts:
        for name, column in columns.items():
            column.absorb(part[name])
    states = {}
    for name, column in columns.items():
        column.settle()
        assert column.state is not None
        states[name] = column.state
    return states
