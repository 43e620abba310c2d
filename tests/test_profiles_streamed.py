"""Issue #16 (ingest with profiles at most 1.3x ingest without): ingest counts each day's
profile from the rows it writes, while it writes them (`BatchProfiles.stream`,
`summarize.count_files`), and reads back only the files it could not count that way. The
profiles it commits are bit for bit those `profiles build` makes from the stored files, on
exports with nulls, NaN, inf, unseen categories, several exports in one ingest and a day split
across exports, daily and hourly; a day whose rows come back later, an export too interleaved
to hold, a text export and a failing count all fall back to (or fail like) reading back."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from tests.helpers import PROFILED_CONFIG, CliResult, make_frame, store_snapshot
from tests.test_profiles_ingest import messy

import evalctl.profiles.compute as compute
from evalctl.lake.store import Store
from evalctl.profiles.format import counted_table
from evalctl.profiles.reference import current_reference
from evalctl.settings.load import load_config
from evalctl.stats.binning import Binning, CategoricalBins, NumericBins

M = ["--model", "churn"]
# the module (`evalctl.stats.summarize` is also the name of its function, re-exported)
summarize = importlib.import_module("evalctl.stats.summarize")


def fit(cli: Callable[..., CliResult], workdir: Path, frame_file: Callable[..., Path],
        granularity: str = "1d") -> None:
    """A model whose reference is fitted on training (profiles at `granularity`)."""
    extra = f"    profiles: {{granularity: {granularity}}}\n"
    (workdir / "evalctl.yaml").write_text(PROFILED_CONFIG.format(
        reference="training:v1", extra=extra, checks=""))
    assert cli("ingest", str(frame_file(make_frame(2000, seed=1, prefix="t"), "t.parquet")),
               *M, "--version", "v1", "--env", "training").code == 0
    assert cli("profiles", "build", *M).code == 0


def export(workdir: Path, frame: pl.DataFrame, name: str) -> str:
    """`frame` as a Parquet export in row groups of 250 rows (each part a few groups)."""
    path = workdir / name
    frame.write_parquet(path, row_group_size=250)
    return str(path)


def read_back(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The files ingest profiles by reading them back (`compute_one`), as they are."""
    calls: list[str] = []
    real = compute.BatchProfiles.compute_one

    def spied(self: compute.BatchProfiles, entry: Any) -> bytes:
        calls.append(entry.date)
        return real(self, entry)

    monkeypatch.setattr(compute.BatchProfiles, "compute_one", spied)
    return calls


def ingest(cli: Callable[..., CliResult], *paths: str) -> None:
    result = cli("ingest", *paths, *M, "--version", "v1", "--env", "production")
    assert result.code == 0, result.stderr


def assert_built_bit_for_bit(workdir: Path) -> int:
    """Every production file's committed profile is what `profiles build` makes of the file;
    returns the number of files."""
    store = Store.open(workdir / "store")
    model = store.resolve_model(load_config(workdir / "evalctl.yaml").models["churn"])
    reference = current_reference(store.storage, "churn")
    assert reference is not None
    record = next(r for r in store.prediction_records("churn") if r.env == "production")
    named = {e["data"]: e["path"] for e in record.extra["profiles"]["files"]}
    assert set(named) == {f.path for f in record.files}
    for entry in record.files:
        built = compute.profile_file(store, model, reference, "v1", "production", entry)
        assert (workdir / "store" / named[entry.path]).read_bytes() == \
            compute.profile_bytes(built), entry.date
    return len(record.files)


@pytest.mark.parametrize("granularity", ["1d", "1h"])
def test_streamed_profiles_are_the_built_ones(cli, workdir: Path, frame_file, monkeypatch,
                                              granularity: str) -> None:
    fit(cli, workdir, frame_file, granularity)
    monkeypatch.setattr(compute, "PART_ROWS", 97)  # several parts a day, across batches
    monkeypatch.setattr(summarize, "FILE_BATCH_ROWS", 128)
    frame = messy(3000, 5, 6, shuffled=False)
    first, second = frame.head(1700), frame.slice(1700)  # day 4 is in both exports
    assert first["ts"].dt.date().max() == second["ts"].dt.date().min()
    calls = read_back(monkeypatch)
    ingest(cli, export(workdir, first, "p1.parquet"), export(workdir, second, "p2.parquet"))
    assert calls == []  # every day counted while written
    assert assert_built_bit_for_bit(workdir) >= 6


def test_a_day_whose_rows_come_back_is_read_back(cli, workdir: Path, frame_file,
                                                 monkeypatch) -> None:
    fit(cli, workdir, frame_file)
    monkeypatch.setattr(summarize, "FILE_BATCH_ROWS", 128)
    frame = messy(2000, 6, 4, shuffled=False)
    day = frame["ts"].dt.date()
    late = frame.filter(day == day.min()).tail(100)  # 100 rows of the first day, at the end
    calls = read_back(monkeypatch)
    ingest(cli, export(workdir, pl.concat([frame.filter(~pl.col("request_id").is_in(
        late["request_id"].implode())), late]), "p.parquet"))
    assert calls == [str(day.min())]
    assert assert_built_bit_for_bit(workdir) == 4


def test_an_export_too_interleaved_to_hold_is_read_back(cli, workdir: Path, frame_file,
                                                        monkeypatch) -> None:
    fit(cli, workdir, frame_file)
    monkeypatch.setattr(summarize, "FILE_BATCH_ROWS", 128)
    monkeypatch.setattr(compute, "STREAM_HOLD_ROWS", 300)
    calls = read_back(monkeypatch)
    ingest(cli, export(workdir, messy(2000, 7, 4, shuffled=True), "p.parquet"))
    assert sorted(calls) == sorted(set(calls)) and len(calls) == 4
    assert assert_built_bit_for_bit(workdir) == 4


def test_an_interleaved_export_that_fits_is_counted(cli, workdir: Path, frame_file,
                                                    monkeypatch) -> None:
    fit(cli, workdir, frame_file, "1h")
    monkeypatch.setattr(compute, "PART_ROWS", 97)
    calls = read_back(monkeypatch)
    ingest(cli, export(workdir, messy(2000, 8, 4, shuffled=True), "p.parquet"))
    assert calls == []
    assert assert_built_bit_for_bit(workdir) == 4


def test_a_text_export_is_read_back(cli, workdir: Path, frame_file, monkeypatch) -> None:
    fit(cli, workdir, frame_file)
    calls = read_back(monkeypatch)
    ingest(cli, str(frame_file(make_frame(1000, seed=3, prefix="p", days=3), "p.csv")))
    assert len(calls) == 3
    assert assert_built_bit_for_bit(workdir) == 3


def test_a_count_that_fails_fails_the_ingest_and_changes_nothing(
        cli, workdir: Path, frame_file, monkeypatch) -> None:
    fit(cli, workdir, frame_file)
    before = store_snapshot(workdir / "store")

    def fails(*args: Any) -> None:
        raise pl.exceptions.ComputeError("disk on fire")

    monkeypatch.setattr(compute.BatchProfiles, "stream", fails)
    result = cli("ingest", export(workdir, make_frame(1000, seed=3, prefix="p"), "p.parquet"),
                 *M, "--version", "v1", "--env", "production")
    assert result.code == 4 and "disk on fire" in result.stderr
    after = store_snapshot(workdir / "store")
    assert {p: s for p, s in after.items() if not p.startswith("_staging")} == before


BINNING = Binning(kinds={"x": "numeric", "c": "categorical", "bad": "numeric"},
                  numeric={"x": NumericBins((0.0, 0.25, 0.5, 1.0), (0.0, 0.5, 1.0))},
                  categorical={"c": CategoricalBins(("a", "b"), frozenset({"a", "b"}), True)},
                  errors={"bad": "could not be fitted"})


def rows(n: int, seed: int, keys: np.ndarray) -> pl.DataFrame:
    """`n` rows whose file key is `keys` and window the hour of `t`."""
    rng = np.random.default_rng(seed)
    x = rng.random(n)
    x[rng.random(n) < 0.1] = np.nan
    x[rng.random(n) < 0.05] = np.inf
    return pl.DataFrame({
        "key": keys, "t": pl.Series(rng.integers(0, 3, n) * 3_600_000_000).cast(
            pl.Datetime("us")),
        "x": pl.Series(x).fill_nan(None).fill_null(float("nan")).scatter(
            np.flatnonzero(rng.random(n) < 0.05), None),
        "c": pl.Series(rng.choice(["a", "b", "zz", "yy"], n)).scatter(
            np.flatnonzero(rng.random(n) < 0.1), None),
        "bad": rng.random(n),
    }).with_columns(pl.col("bad").cast(pl.String))


@pytest.mark.parametrize("order", ["runs", "interleaved", "returning"])
def test_count_files_counts_what_a_file_read_in_parts_counts(monkeypatch, order: str) -> None:
    monkeypatch.setattr(summarize, "FILE_BATCH_ROWS", 50)
    n = 1000
    keys = {"runs": np.repeat(np.arange(5), n // 5),
            "interleaved": np.arange(n) % 5,
            "returning": np.r_[np.repeat(np.arange(5), 180), np.full(100, 2)]}[order]
    frame = rows(n, 3, keys)
    by = pl.col("t").dt.truncate("1h")
    parts = [frame.lazy().slice(start, 230) for start in range(0, n, 230)]
    got: dict[Any, Any] = {}
    for key, windows in summarize.count_files(frame.lazy(), BINNING, by, pl.col("key"), 37,
                                              10_000, parts):
        assert windows is not None or key in got  # None: only for a key yielded before
        got[key] = windows
    assert set(got) == set(range(5))
    for key, windows in got.items():
        if order == "returning" and key == 2:
            assert windows is None
            continue
        assert windows is not None
        file = frame.filter(pl.col("key") == key).drop("key").lazy()
        whole = summarize.count_windows(file, BINNING, by,
                                        [file.slice(s, 37) for s in range(0, n, 37)])
        assert counted_table(windows, BINNING.kinds).equals(counted_table(whole, BINNING.kinds))
        assert compute.profile_bytes(counted_table(windows, BINNING.kinds)) == \
            compute.profile_bytes(counted_table(whole, BINNING.kinds))


def test_count_files_gives_up_when_it_holds_too_much_or_is_stopped(monkeypatch) -> None:
    monkeypatch.setattr(summarize, "FILE_BATCH_ROWS", 50)
    frame = rows(600, 4, np.arange(600) % 3)
    by = pl.col("t").dt.truncate("1h")
    held = list(summarize.count_files(frame.lazy(), BINNING, by, pl.col("key"), 1000, 120))
    assert sorted(k for k, w in held) == [0, 1, 2] and all(w is None for _, w in held)
    runs = rows(600, 4, np.repeat(np.arange(3), 200))
    stopped = list(summarize.count_files(runs.lazy(), BINNING, by, pl.col("key"), 1000,
                                         10_000, stop=lambda: True))
    assert stopped and all(w is None for _, w in stopped)
