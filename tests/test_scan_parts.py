"""The scan path's parts (issue #16 item 6: memory bounded by a row group, not by the
selection): `file_scans` cuts a selection into parts of at most `PART_ROWS` rows — slices of a
larger file, small files grouped — that hold the scan's rows once each, in the scan's order,
wherever the part boundaries fall (inside a file, on a file's edge, between grouped files);
counted part by part they give the whole scan's summaries and fit. And the streamed fit's
collection buffer holds exactly the values its counts promised."""

from __future__ import annotations

import importlib
import weakref
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pyarrow.parquet as pq
import pytest
from polars.testing import assert_frame_equal
from tests.helpers import assert_same, make_frame, normal

from evalctl.analyses.common import open_side
from evalctl.analyses.drift import _window_key
from evalctl.lake.layout import ROW_GROUP_ROWS
from evalctl.lake.selectors import parse_selector
from evalctl.lake.store import Store
from evalctl.profiles import parts as parts_module
from evalctl.profiles.parts import PART_ROWS, file_scans
from evalctl.settings.load import load_config
from evalctl.stats import binning as binning_module
from evalctl.stats import fit_binning, summarize
from evalctl.stats import streamed as streamed_module
from evalctl.stats.streamed import StreamedRanks

# the module, not the function `evalctl.stats` exports under its name
summarize_module = importlib.import_module("evalctl.stats.summarize")

FILES = (300, 517, 800)  # rows of the three production batches (one file each, one day)
KINDS = {"age": "numeric", "minutes": "numeric", "country": "categorical"}


@pytest.fixture
def production(cli, workdir: Path, frame_file) -> tuple[Store, Any, Any, pl.LazyFrame]:
    """Three production batches of one day each (nulls in `age`), opened as the scan path
    opens a side."""
    for k, n in enumerate(FILES):
        frame = make_frame(n, seed=k, start=datetime(2026, 11, 1 + k), days=1, prefix=f"p{k}_")
        path = frame_file(frame, f"production{k}.parquet")
        assert cli("ingest", str(path), "--model", "churn", "--version", "v1",
                   "--env", "production").code == 0
    config = load_config(workdir / "evalctl.yaml")
    store = Store(workdir / "store")
    model = config.models["churn"]
    selection, lf = open_side(store, model, parse_selector("production"))
    assert sorted(e.rows for _, _, e in selection.files) == sorted(FILES)
    return store, model, selection, lf



def test_ingest_writes_row_groups_a_part_holds_whole(cli, workdir: Path, frame_file) -> None:
    """The files ingest writes hold row groups of `ROW_GROUP_ROWS` rows (what bounds ingest's
    memory: polars holds each date's open group), every row as the export has it, and a part
    is whole row groups: a slice never decodes a group twice."""
    assert PART_ROWS % ROW_GROUP_ROWS == 0
    frame = make_frame(2 * ROW_GROUP_ROWS + 5, seed=3, days=1)
    assert cli("ingest", str(frame_file(frame, "production.parquet")), "--model", "churn",
               "--version", "v1", "--env", "production").code == 0
    (written,) = (workdir / "store").rglob("date=*/*.parquet")
    metadata = pq.ParquetFile(written).metadata
    assert [metadata.row_group(g).num_rows for g in range(metadata.num_row_groups)] == \
        [ROW_GROUP_ROWS, ROW_GROUP_ROWS, 5]
    stored = pl.read_parquet(written)
    assert_frame_equal(stored.select(frame.columns), frame, check_dtypes=False)


@pytest.mark.parametrize("part_rows", [
    1,  # every row its own part
    97,  # boundaries inside every file
    300,  # a boundary on the first file's last row (its edge), then inside the others
    517,  # the second file whole, the first not grouped with it (300 + 517 > 517)
    817,  # the first two files grouped exactly to the bound, the third alone
    818,  # the same: 300 + 517 fit, + 800 does not
    1617,  # every file in one group, exactly the bound
    10**9,  # one part
])
def test_parts_hold_the_scan_rows_once_in_scan_order(
        production: tuple[Store, Any, Any, pl.LazyFrame], monkeypatch: pytest.MonkeyPatch,
        part_rows: int) -> None:
    store, model, selection, lf = production
    monkeypatch.setattr(parts_module, "PART_ROWS", part_rows)
    parts = file_scans(store, model, selection, lf.collect_schema())
    frames = [p.collect() for p in parts]
    whole = lf.collect()
    assert pl.concat(frames).equals(whole)  # every row once, in the scan's order
    assert all(0 < f.height <= part_rows for f in frames if part_rows > 1 or f.height)
    expected_parts = {1: sum(FILES), 97: 4 + 6 + 9, 300: 1 + 2 + 3, 517: 1 + 1 + 2,
                      817: 2, 818: 2, 1617: 1, 10**9: 1}[part_rows]
    assert len(parts) == expected_parts


@pytest.mark.parametrize("part_rows", [97, 300, 817, 10**9])
def test_counted_part_by_part_the_summaries_and_fit_are_the_whole_scans(
        production: tuple[Store, Any, Any, pl.LazyFrame], monkeypatch: pytest.MonkeyPatch,
        part_rows: int) -> None:
    """Counts bit for bit, floats to 1e-12 (only the order of additions differs); the fit
    (order statistics) exactly, in memory and in streamed passes."""
    store, model, selection, lf = production
    monkeypatch.setattr(parts_module, "PART_ROWS", part_rows)
    parts = file_scans(store, model, selection, lf.collect_schema())
    binning = fit_binning(lf, KINDS)
    assert fit_binning(lf, KINDS, parts=parts) == binning
    with monkeypatch.context() as streamed:  # the streamed passes, narrowing several times
        streamed.setattr("evalctl.stats.binning.IN_MEMORY_VALUES", 0)
        streamed.setattr(streamed_module, "COLLECT", 64)
        streamed.setattr(streamed_module, "CELLS", 64)
        assert fit_binning(lf, KINDS, parts=parts) == binning
    got = summarize(lf, binning, parts=parts)
    expected = summarize(lf, binning)
    assert got[None]["age"].nulls  # nulls counted
    assert_same(normal(got), normal(expected))
    by_day = pl.col("ts").dt.truncate("1d")
    assert_same(normal(summarize(lf, binning, by=by_day, parts=parts)),
                normal(summarize(lf, binning, by=by_day)))


def test_the_streamed_fit_collects_exactly_what_its_counts_promised(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Each pass over all of the rows collects into one buffer sized by the previous pass's
    counts (`_Column.room`): it is filled exactly, never grown — and when it must grow (rows
    that differ from the counted ones) the answer stays exact."""
    monkeypatch.setattr(streamed_module, "COLLECT", 500)
    monkeypatch.setattr(streamed_module, "CELLS", 256)
    rng = np.random.default_rng(7)
    x = np.concatenate([rng.normal(0, 1, 20_000), rng.integers(-3, 3, 5_000).astype(float),
                        [np.nan, np.inf, -np.inf, 0.0, -0.0]])
    finite = np.sort(x[np.isfinite(x)])
    ranks = np.unique(rng.integers(0, finite.size, 300))
    wanted = {"x": (ranks, finite.size, float(finite[0]), float(finite[-1]))}

    def batches(names: list[str]) -> Any:
        for start in range(0, x.size, 997):
            yield {name: x[start:start + 997] for name in names}

    filled: list[tuple[int, int]] = []
    real_finish = streamed_module._Column.finish

    def finish(column: Any) -> None:
        assert column._buffer is not None  # a pass over all of the rows: buffered
        filled.append((column._filled, column.room))
        real_finish(column)

    monkeypatch.setattr(streamed_module._Column, "finish", finish)
    engine = StreamedRanks(wanted)
    assert np.array_equal(engine.run(batches)["x"], finite[ranks])
    assert engine.passes >= 2 and all(f == room for f, room in filled)
    assert any(f > 0 for f, _ in filled)

    real_start = streamed_module._Column.start

    def start(column: Any, buffered: bool = False) -> None:  # promise one value too few
        column.room = max(column.room - 1, 0)
        real_start(column, buffered)

    monkeypatch.setattr(streamed_module._Column, "start", start)
    filled.clear()
    assert np.array_equal(StreamedRanks(wanted).run(batches)["x"], finite[ranks])
    assert any(f > room for f, room in filled)  # the buffer grew, the answer is exact


@pytest.mark.parametrize("window", ["1d", "6h", "7d"])
def test_drift_windows_counted_part_by_part_equal_the_whole_scans(
        production: tuple[Store, Any, Any, pl.LazyFrame], monkeypatch: pytest.MonkeyPatch,
        window: str) -> None:
    """`drift`'s calendar windows and their rows, counted part by part, are the whole
    scan's (windows across part and file boundaries)."""
    store, model, selection, lf = production
    monkeypatch.setattr(parts_module, "PART_ROWS", 97)
    parts = file_scans(store, model, selection, lf.collect_schema())
    _, by_part = _window_key(lf, model, window, selection, parts)
    _, whole = _window_key(lf, model, window, selection)
    assert by_part == whole and sum(rows for _, _, rows in whole.values()) == sum(FILES)
    assert len(whole) > 1 or window == "7d"


class _Watched:
    """A part whose read says, as it starts, how many batches of earlier reads are still
    alive (weak references: only what the reader holds keeps a batch)."""

    def __init__(self, lf: pl.LazyFrame, seen: list[weakref.ref[pl.DataFrame]],
                 alive: list[int]) -> None:
        self.lf, self.seen, self.alive = lf, seen, alive

    def select(self, *exprs: Any) -> _Watched:
        return _Watched(self.lf.select(*exprs), self.seen, self.alive)

    def collect_batches(self, chunk_size: int) -> Iterator[pl.DataFrame]:
        self.alive.append(sum(ref() is not None for ref in self.seen))
        for batch in self.lf.collect_batches(chunk_size=chunk_size):
            self.seen.append(weakref.ref(batch))
            yield batch


def test_no_batch_of_a_part_is_held_while_the_next_part_is_read(
        production: tuple[Store, Any, Any, pl.LazyFrame], monkeypatch: pytest.MonkeyPatch
        ) -> None:
    """Summarising and the fit's passes let go of a part's batches before the next part's
    read starts: a batch held into the next read (a loop variable) is one more part's rows in
    memory, which grew the scan path's peak with the number of whole-row-group parts."""
    store, model, selection, lf = production
    monkeypatch.setattr(parts_module, "PART_ROWS", 256)  # parts of 256 rows, several a file
    parts = file_scans(store, model, selection, lf.collect_schema())
    assert len(parts) > 3
    binning = fit_binning(lf, KINDS)
    whole = normal(summarize(lf, binning))
    seen: list[weakref.ref[pl.DataFrame]] = []
    alive: list[int] = []
    real_query = summarize_module.row_query
    monkeypatch.setattr(summarize_module, "row_query",
                        lambda source, *args: _Watched(real_query(source, *args), seen, alive))
    assert_same(normal(summarize(lf, binning, parts=parts)), whole)
    assert len(alive) == len(parts) and seen and not any(alive)
    seen.clear(), alive.clear()
    watched = [_Watched(part, seen, alive) for part in parts]
    batches = list(binning_module._numeric_batches(watched, ["age"]))  # type: ignore[arg-type]
    assert sum(b["age"].size for b in batches) == lf.select(pl.len()).collect().item()
    del batches
    assert len(alive) == len(parts) and not any(alive)


def test_the_streamed_passes_let_go_of_each_batch_before_reading_the_next() -> None:
    """`StreamedRanks.run` holds no batch while its source reads the next one (each batch of
    a part is the part's rows: held, they add a part to the read's peak)."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=5_000)
    seen: list[weakref.ref[np.ndarray]] = []
    alive: list[int] = []

    def batches(_: list[str]) -> Iterator[dict[str, np.ndarray]]:
        for start in range(0, x.size, 1_000):
            alive.append(sum(ref() is not None for ref in seen))
            batch = x[start:start + 1_000].copy()
            seen.append(weakref.ref(batch))
            yield {"x": batch}
            del batch

    ranks = np.array([0, 2_499, 4_999])
    found = StreamedRanks({"x": (ranks, x.size, x.min(), x.max())}).run(batches)
    assert found["x"].tolist() == np.sort(x)[ranks].tolist()
    assert len(alive) >= 5 and not any(alive)
