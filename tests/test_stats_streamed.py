"""Issue #16 item 6: the reference fit streams its rows. Exact order statistics in bounded
memory (`evalctl.stats.streamed`) against a full sort, and `fit_binning` against a brute-force
fit (numpy sort, np.unique, collections.Counter) on several files read in small batches."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from evalctl.stats import binning, streamed
from evalctl.stats.binning import fine_levels, fit_binning
from evalctl.stats.streamed import StreamedRanks

RNG = np.random.default_rng(16)
N = 60_000


def columns() -> dict[str, np.ndarray]:
    """Ties, heavy tails, two neighbouring floats, signed zeros, NaN, inf and extremes."""
    mixed = np.concatenate([RNG.normal(size=N // 2), np.full(N // 2 - 9, 3.0),
                            [np.nan, np.inf, -np.inf, 1e308, -1e308, -0.0, 0.0, 5e-324, 3.0]])
    return {
        "normal": RNG.normal(size=N),
        "integers": RNG.integers(0, 40, N).astype(float),
        "pareto": RNG.pareto(0.5, N),
        "lognormal": RNG.lognormal(0, 6, N),
        "mixed": RNG.permutation(mixed),
        "neighbours": np.where(RNG.random(N) < 0.5, 1.0, np.nextafter(1.0, 2.0)),
        "mostly_zero": np.where(RNG.random(N) < 0.98, 0.0, RNG.normal(size=N)),
        "constant": np.full(N, -2.5),
    }


def batches_of(data: dict[str, np.ndarray], size: int):  # noqa: ANN201
    def batches(names: list[str]) -> Iterator[dict[str, np.ndarray]]:
        for start in range(0, N, size):
            yield {name: data[name][start:start + size] for name in names}
    return batches


def wanted(values: np.ndarray) -> tuple[np.ndarray, int, float, float]:
    finite = values[np.isfinite(values)]
    ranks = np.unique(np.r_[np.floor(fine_levels(1000) * (finite.size - 1)).astype(np.int64),
                            RNG.integers(0, finite.size, 50)])
    return ranks, finite.size, float(finite.min()), float(finite.max())


class Watched:
    """The largest collection and counter arrays any pass held (the memory bound)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.collected = self.counters = 0
        real_finish = streamed._Column.finish

        def finish(column: Any) -> None:
            state = column.state
            self.collected = max(self.collected, sum(v.size for _, v in state.collected))
            self.counters = max(self.counters, state.counts.size)
            real_finish(column)

        monkeypatch.setattr(streamed._Column, "finish", finish)


@pytest.mark.parametrize(("collect", "cells", "batch"), [
    (1 << 18, 1 << 18, 7_919),  # the defaults: small columns are collected in one pass
    (2_000, 4_096, 1_000),  # narrowing over several passes
    (64, 64, 997),  # tiny budgets: many passes, still exact
])
def test_order_statistics_equal_a_full_sort(monkeypatch: pytest.MonkeyPatch, collect: int,
                                            cells: int, batch: int) -> None:
    monkeypatch.setattr(streamed, "COLLECT", collect)
    monkeypatch.setattr(streamed, "CELLS", cells)
    watched = Watched(monkeypatch)
    data = columns()
    asked = {name: wanted(values) for name, values in data.items()}
    engine = StreamedRanks(asked)
    found = engine.run(batches_of(data, batch))
    for name, values in data.items():
        expected = np.sort(values[np.isfinite(values)])[asked[name][0]]
        assert np.array_equal(found[name], expected), name
    # Bounded: no pass collected more than the budget (the first grid excepted, its counters
    # are the fixed GRID) — however many rows.
    assert watched.collected <= collect
    assert watched.counters <= max(streamed.GRID, cells)
    if collect < N:
        assert engine.passes > 2


@pytest.mark.parametrize("budget", [0, 40_000, 400_000])
def test_a_pass_budget_across_columns_reads_fewer_columns_at_a_time_and_stays_exact(
        monkeypatch: pytest.MonkeyPatch, budget: int) -> None:
    """`PASS_BYTES` bounds what the columns read together hold: the columns whose passes do
    not fit wait for a later read (0: one column a read), with the same answers."""
    monkeypatch.setattr(streamed, "COLLECT", 2_000)
    monkeypatch.setattr(streamed, "CELLS", 1_024)
    monkeypatch.setattr(streamed, "PASS_BYTES", budget)
    data = columns()
    asked = {name: wanted(values) for name, values in data.items()}
    reads: list[tuple[list[str], int]] = []  # each read's columns, what their passes held
    real_run = streamed.StreamedRanks._within_budget

    def within(engine: StreamedRanks, active: list[str]) -> list[str]:
        chosen = real_run(engine, active)
        reads.append((chosen, sum(engine.columns[n].pass_bytes() for n in chosen)))
        return chosen

    monkeypatch.setattr(streamed.StreamedRanks, "_within_budget", within)
    real_finish = streamed._Column.finish

    def finish(column: Any) -> None:  # what a pass held is what its budget counted
        state, buffer = column.state, column._buffer
        held = state.counts.nbytes + state.mins.nbytes + state.maxs.nbytes
        assert held + sum(a.nbytes for a in buffer) == column.pass_bytes()
        real_finish(column)

    monkeypatch.setattr(streamed._Column, "finish", finish)
    engine = StreamedRanks(asked)
    found = engine.run(batches_of(data, 997))
    for name, values in data.items():
        expected = np.sort(values[np.isfinite(values)])[asked[name][0]]
        assert np.array_equal(found[name], expected), name
    assert engine.passes == len(reads)
    assert all(len(names) == 1 or held <= budget for names, held in reads)
    if budget == 0:
        assert all(len(names) == 1 for names, _ in reads)
    unbounded = StreamedRanks(asked)
    monkeypatch.setattr(streamed, "PASS_BYTES", 1 << 40)
    unbounded.run(batches_of(data, 997))
    assert engine.passes >= unbounded.passes
    if budget == 0:
        assert engine.passes > unbounded.passes


def test_each_read_returns_its_freed_buffers(monkeypatch: pytest.MonkeyPatch) -> None:
    """After each read over batches the pass's freed arrays go back to the system
    (`release_freed_memory`), not carried into the next read's peak."""
    monkeypatch.setattr(streamed, "COLLECT", 2_000)
    released: list[int] = []
    engine = StreamedRanks({name: wanted(values) for name, values in columns().items()})
    monkeypatch.setattr(streamed, "release_freed_memory", lambda: released.append(1) or True)
    engine.run(batches_of(columns(), 997))
    assert engine.passes > 2
    assert len(released) == engine.passes


def test_every_rank_of_a_column(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(streamed, "COLLECT", 300)
    monkeypatch.setattr(streamed, "CELLS", 256)
    values = RNG.integers(-5, 5, 5_000).astype(float) * RNG.choice([1.0, 1e-300, 1e300], 5_000)
    data = {"x": values}
    ranks = np.arange(values.size)
    found = StreamedRanks({"x": (ranks, values.size, values.min(), values.max())}).run(
        lambda names: iter([data]))
    assert np.array_equal(found["x"], np.sort(values))


def lower_quantiles(ordered: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """numpy's lower-interpolated quantiles of sorted values, by index."""
    return ordered[np.floor(levels * (ordered.size - 1)).astype(np.int64)]


def brute_force(frame: pl.DataFrame, kinds: dict[str, str], n_bins: int, top_k: int,
                fine_bins: int, max_levels: int) -> dict[str, Any]:
    """The fit by definition: full sorts and counts."""
    numeric, categorical, errors = {}, {}, {}
    for name, kind in kinds.items():
        column = frame.get_column(name)
        if kind == "numeric":
            values = column.cast(pl.Float64).to_numpy()
            finite = np.sort(values[np.isfinite(values)])
            if not finite.size:
                errors[name] = f"column {name!r}: the reference has no finite values"
                continue
            interior = np.unique(lower_quantiles(finite, np.linspace(0, 1, n_bins + 1))[1:-1])
            distinct = np.unique(finite)
            fine = distinct if distinct.size <= fine_bins else lower_quantiles(
                finite, fine_levels(fine_bins))
            numeric[name] = {"edges": np.union1d(fine, interior).tolist(),
                             "psi_edges": interior.tolist()}
        else:
            counts = Counter(v for v in column.cast(pl.String).to_list() if v is not None)
            ordered = sorted(counts, key=lambda level: (-counts[level], level))
            known = ordered[:max_levels]
            categorical[name] = {"vocabulary": known[:top_k], "known": sorted(known),
                                 "known_complete": len(ordered) <= max_levels}
    return {"kinds": kinds, "numeric": numeric, "categorical": categorical, "errors": errors}


@pytest.mark.parametrize("in_memory", [0, 1 << 20], ids=["streamed", "in-memory"])
def test_fit_binning_streams_several_files_and_equals_the_brute_force_fit(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, in_memory: int) -> None:
    """Both ways to the order statistics: streamed passes (a reference larger than
    `IN_MEMORY_VALUES`, forced here with 0) and the in-memory partial sorts."""
    monkeypatch.setattr(binning, "IN_MEMORY_VALUES", in_memory)
    monkeypatch.setattr(binning, "BATCH_ROWS", 1_013)
    monkeypatch.setattr(streamed, "COLLECT", 1_500)
    monkeypatch.setattr(streamed, "CELLS", 2_048)
    watched = Watched(monkeypatch)
    data = columns()
    levels = RNG.integers(0, 600, N)
    frame = pl.DataFrame({
        **data,
        "bools": RNG.random(N) < 0.3,
        "with_nulls": pl.Series(RNG.normal(size=N)).scatter(RNG.integers(0, N, N // 5), None),
        "all_null": pl.Series([None] * N, dtype=pl.Float64),
        "city": pl.Series([f"c{v:03d}" for v in levels]).scatter(RNG.integers(0, N, 500), None),
        "tied": pl.Series(RNG.choice(["a", "b", "c", "d"], N, p=[0.25, 0.25, 0.25, 0.25])),
    })
    for part in range(4):  # four files, as a selection of partitions
        frame.slice(part * N // 4, N // 4).write_parquet(tmp_path / f"part-{part}.parquet")
    kinds = {name: "numeric" for name in [*data, "bools", "with_nulls", "all_null"]}
    kinds |= {"city": "categorical", "tied": "categorical", "missing": "numeric"}
    lf = pl.scan_parquet(str(tmp_path / "*.parquet"))
    fitted = fit_binning(lf, kinds, n_bins=10, top_k=7, fine_bins=300, max_levels=450)
    expected = brute_force(frame, {k: v for k, v in kinds.items() if k != "missing"}, 10, 7,
                           300, 450)
    got = fitted.to_dict()
    assert got["errors"].pop("missing") == "column 'missing' is missing"
    got["kinds"].pop("missing")
    assert got == expected
    assert watched.collected <= 1_500 and watched.counters <= streamed.GRID
    assert (watched.collected > 0) == (in_memory == 0)  # the streamed passes ran, or not


def test_the_fit_never_collects_the_reference(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the streaming engine reads rows: an in-memory collect of the frame would fail."""
    pl.DataFrame({"x": RNG.normal(size=N), "c": RNG.choice(["a", "b"], N)}).write_parquet(
        tmp_path / "f.parquet")
    real = pl.LazyFrame.collect

    def streaming_only(self: pl.LazyFrame, *args: Any, **kwargs: Any) -> Any:
        assert kwargs.get("engine") == "streaming", "fit_binning collected in memory"
        return real(self, *args, **kwargs)

    monkeypatch.setattr(pl.LazyFrame, "collect", streaming_only)
    fitted = fit_binning(pl.scan_parquet(tmp_path / "f.parquet"),
                         {"x": "numeric", "c": "categorical"})
    assert len(fitted.numeric["x"].edges) > 1000 and fitted.categorical["c"].vocabulary
