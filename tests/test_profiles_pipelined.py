"""Issue #16 (ingest with profiles at most 1.3x ingest without): ingest writes each file's
profile as soon as the profiling thread has it (`BatchProfiles.start`, `Computing`), checksums
the bytes it wrote instead of reading the file back, and writes profiles without column
statistics. The ledger still names exactly the bytes on disk; a profile that fails to compute
fails the ingest and leaves the store as it was; on failure the files not yet profiled are
not profiled (`_background`)."""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import threading
import time
from concurrent.futures import Future
from dataclasses import replace
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow.parquet as pq
import pytest
from tests.helpers import fitted_store, make_frame, store_snapshot

import evalctl.profiles.compute as compute
from evalctl.errors import StoreError
from evalctl.lake import ingest as ingest_module
from evalctl.lake.store import Store

M = ["--model", "churn"]


@pytest.fixture
def fitted(cli, workdir: Path, frame_file) -> Path:
    """A store whose model has a fitted reference (daily profiles); returns its root."""
    return fitted_store(cli, workdir, frame_file)


def production(frame_file) -> str:
    return str(frame_file(make_frame(2500, seed=4, prefix="p", days=5), "p.parquet"))


def test_the_ledger_names_the_bytes_on_disk(cli, fitted: Path, frame_file) -> None:
    assert cli("ingest", production(frame_file), *M, "--version", "v1",
               "--env", "production").code == 0
    store = Store.open(fitted)
    record = next(r for r in store.prediction_records("churn") if r.env == "production")
    files = record.extra["profiles"]["files"]
    assert len(files) == len(record.files) >= 5
    for named in files:
        data = (fitted / named["path"]).read_bytes()
        assert named["bytes"] == len(data)
        assert named["sha256"] == hashlib.sha256(data).hexdigest()
        meta = pq.ParquetFile(fitted / named["path"]).metadata
        for at in range(meta.num_columns):
            column = meta.row_group(0).column(at)
            assert column.compression == "SNAPPY" and column.statistics is None
    assert cli("doctor").code == 0


def test_a_profile_that_fails_midway_fails_the_ingest_and_changes_nothing(
        cli, fitted: Path, frame_file, monkeypatch: pytest.MonkeyPatch) -> None:
    before = store_snapshot(fitted)
    real, calls = compute.BatchProfiles.count, []
    monkeypatch.setattr(compute, "GROUP_FILES", 1)  # a group a file: the third one fails

    def third_fails(self: compute.BatchProfiles, entries: Any) -> list[compute.Counted]:
        calls.append(entries)
        if len(calls) == 3:
            raise pl.exceptions.ComputeError("disk on fire")
        return real(self, entries)

    monkeypatch.setattr(compute.BatchProfiles, "count", third_fails)
    result = cli("ingest", production(frame_file), *M, "--version", "v1",
                 "--env", "production")
    # the failure itself, not the moved files it deleted reported as committed damage
    assert result.code == 4 and "disk on fire" in result.stderr
    assert "damaged" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    after = store_snapshot(fitted)
    assert {p: s for p, s in after.items() if not p.startswith("_staging")} == before
    assert len(calls) >= 3


def test_profiles_put_in_place_before_a_failure_are_taken_back(
        cli, fitted: Path, frame_file, monkeypatch: pytest.MonkeyPatch) -> None:
    """Profiles renamed into place, then the flush of their folders fails: the ingest fails,
    and neither its data files nor the profiles it had put in place are left behind."""
    before = store_snapshot(fitted)

    def flush_fails(root: Path, paths: list[Path]) -> None:
        if any("profiles" in p.parts for p in paths):
            raise OSError(5, "Input/output error")

    monkeypatch.setattr(compute, "fsync_tree", flush_fails)
    result = cli("ingest", production(frame_file), *M, "--version", "v1",
                 "--env", "production")
    assert result.code == 3 and "Input/output error" in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    after = store_snapshot(fitted)
    assert {p: s for p, s in after.items() if not p.startswith("_staging")} == before


def _counted(data: bytes) -> compute.Counted:
    counted = compute.Counted({}, [])
    counted._data = data
    return counted


def test_computing_looks_up_without_waiting_and_raises_what_the_thread_raised() -> None:
    pending: Future[list[compute.Counted]] = Future()
    failed: Future[list[compute.Counted]] = Future()
    failed.set_exception(ValueError("boom"))
    done: Future[list[compute.Counted]] = Future()
    done.set_result([_counted(b"first"), _counted(b"profile")])
    computing = compute.Computing({"a": (pending, 0), "b": (failed, 0), "c": (done, 1),
                                   "d": (done, 0)})
    assert "a" in computing and "z" not in computing  # no wait for `a`
    assert list(computing) == ["a", "b", "c", "d"] and len(computing) == 4
    assert computing["c"] == b"profile" and computing["d"] == b"first"
    assert computing.taken == 2
    with pytest.raises(ValueError, match="boom"):
        computing["b"]


def test_counters_become_bytes_once_in_whichever_thread_asks_first() -> None:
    made: list[int] = []
    counted = compute.Counted({}, ["x"])
    real = compute.profile_bytes
    try:
        compute.profile_bytes = lambda table: made.append(1) or real(table)  # type: ignore[assignment]
        first = counted.data()
        assert counted.windows is None and counted.data() is first and made == [1]
    finally:
        compute.profile_bytes = real  # type: ignore[assignment]
    with pytest.raises(AssertionError):
        counted.table()  # the counters are gone once they are bytes


def ingested_production(cli, fitted: Path, frame_file  # noqa: ANN001
                        ) -> tuple[Any, compute.BatchProfiles]:
    """The production batch ingested into `fitted`: its ledger record, and how ingest
    profiles it."""
    assert cli("ingest", production(frame_file), *M, "--version", "v1",
               "--env", "production").code == 0
    store = Store.open(fitted)
    record = next(r for r in store.prediction_records("churn") if r.env == "production")
    settings = __import__("evalctl").load_config(fitted.parent / "evalctl.yaml")
    batch = compute.batch_profiles(store, settings.models["churn"], "v1", "production")
    assert batch is not None
    return record, batch


def test_the_thread_makes_the_bytes_itself_only_when_far_ahead_of_the_writer(
        fitted: Path, frame_file, cli, monkeypatch: pytest.MonkeyPatch) -> None:
    """Counters are ~3x their bytes: the thread leaves the bytes to the writer while it is at
    most `AHEAD` files ahead, and makes them itself beyond that (memory holds a few files'
    counters, not the batch's)."""
    record, batch = ingested_production(cli, fitted, frame_file)
    assert len(record.files) >= 5
    monkeypatch.setattr(compute, "GROUP_FILES", 1)
    for ahead, expect_bytes in ((100, False), (0, True)):
        monkeypatch.setattr(compute, "AHEAD", ahead)
        with ingest_module._background() as pool:
            computing = batch.start(list(record.files), pool)
        groups = [computing._where[f.path][0].result() for f in record.files]
        assert all((c[0]._data is not None) == expect_bytes for c in groups)
        assert computing.counted == len(record.files) and computing.taken == 0
        data = [computing[f.path] for f in record.files]  # the same bytes either way
        for named, one in zip(record.extra["profiles"]["files"], data, strict=True):
            assert hashlib.sha256(one).hexdigest() == named["sha256"]


def test_on_failure_the_threads_drop_what_they_have_not_started_and_are_waited_for() -> None:
    threads = compute.COUNTING_THREADS
    started = threading.Semaphore(0)
    finished: list[int] = []

    def running(n: int) -> None:
        started.release()
        time.sleep(0.2)
        finished.append(n)

    with pytest.raises(RuntimeError), ingest_module._background() as pool:
        first = [pool.submit(running, n) for n in range(threads)]  # every thread busy
        queued = [pool.submit(lambda: None) for _ in range(3)]
        for _ in range(threads):
            assert started.acquire(timeout=5)
        raise RuntimeError("the id check failed")
    # waited for: they read the moved files
    assert sorted(finished) == list(range(threads)) and all(f.done() for f in first)
    assert all(q.cancelled() for q in queued)


@pytest.mark.parametrize(("cores", "threads"), [(1, 1), (2, 2), (8, 2)])
def test_two_counting_threads_where_two_cores_may_be_used(
        monkeypatch: pytest.MonkeyPatch, cores: int, threads: int) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(cores)))
    assert compute._counting_threads() == threads


def test_the_counted_tally_is_exact_with_threads_counting_at_once() -> None:
    computing = compute.Computing()
    barrier = threading.Barrier(4)

    def count() -> None:
        barrier.wait()
        for _ in range(5000):
            computing.note_counted(1)

    threads = [threading.Thread(target=count) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert computing.counted == 20000 and computing.note_counted(0) == 20000


def test_ingest_warms_the_counting_up_before_it_writes_the_batch(
        cli, fitted: Path, frame_file, monkeypatch: pytest.MonkeyPatch) -> None:
    """The profiling thread builds the cell locators while polars writes the batch, so the
    first count finds them built."""
    summarize = importlib.import_module("evalctl.stats.summarize")
    order: list[str] = []
    real_warm, real_sink = compute.BatchProfiles.warm, ingest_module._sink

    def warm(self: compute.BatchProfiles) -> None:
        summarize._locator.cache_clear()
        real_warm(self)
        edges = {bins.edges for bins in self.reference.binning.numeric.values()}
        assert edges and summarize._locator.cache_info().currsize == len(edges)
        order.append("warm")

    def sink(*args: Any) -> None:
        order.append("sink")
        real_sink(*args)

    monkeypatch.setattr(compute.BatchProfiles, "warm", warm)
    monkeypatch.setattr(ingest_module, "_sink", sink)
    assert cli("ingest", production(frame_file), *M, "--version", "v1",
               "--env", "production").code == 0
    assert sorted(order) == ["sink", "warm"]  # warmed once, beside the write


def test_without_failure_every_file_is_profiled() -> None:
    with ingest_module._background() as pool:
        futures = [pool.submit(pow, n, 2) for n in range(5)]
    assert [f.result() for f in futures] == [0, 1, 4, 9, 16]


def test_profiling_files_leaves_the_heap_to_the_next_file(cli, fitted: Path, frame_file,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Profiling a batch's files one after another never trims the heap between them (the
    next file's counting reuses it; a trim per file made it fault its pages in afresh),
    while a summary of the scan path still does."""
    # the module (`evalctl.stats.summarize` is the package's function of that name)
    summarize = importlib.import_module("evalctl.stats.summarize")
    trims: list[int] = []
    monkeypatch.setattr(summarize, "release_freed_memory", lambda: trims.append(1) or True)
    assert cli("ingest", production(frame_file), *M, "--version", "v1",
               "--env", "production").code == 0
    store = Store.open(fitted)
    record = next(r for r in store.prediction_records("churn") if r.env == "production")
    assert len(record.extra["profiles"]["files"]) >= 5 and trims == []
    assert cli("skew", *M, "--reference", "training", "--current", "production",
               "--engine", "scan").code in (0, 1)
    assert trims


def test_a_data_file_with_other_rows_than_recorded_is_named(cli, fitted: Path, frame_file
                                                          ) -> None:
    """Files counted together: one holding other rows than its ledger entry says is named
    (not its group's first file)."""
    record, batch = ingested_production(cli, fitted, frame_file)
    files = list(record.files)
    files[1] = replace(files[1], rows=files[1].rows + 1)  # the ledger says one row more
    with pytest.raises(StoreError, match=files[1].path.rsplit("/", 1)[-1]):
        batch.count(files[:3])


# Runs evalctl with an import hook that writes where pandas was imported from (argv[1]); a
# lookup of its spec alone (polars looks whether pandas is installed) is not an import.
_WATCH_PANDAS = """
import runpy, sys, traceback
report = sys.argv.pop(1)
class Watch:
    def find_spec(self, name, path=None, target=None):
        if name == "pandas" and sys._getframe(1).f_code.co_name == "_find_spec" and \\
                sys._getframe(2).f_code.co_name == "_find_and_load_unlocked":
            with open(report, "a") as out:
                traceback.print_stack(file=out)
        return None
sys.meta_path.insert(0, Watch())
sys.argv[0] = "evalctl"
runpy.run_module("evalctl", run_name="__main__", alter_sys=True)
"""


def test_ingest_and_reports_from_profiles_never_import_pandas(fitted: Path, frame_file,
                                                              tmp_path: Path) -> None:
    """pyarrow's conversions to and from numpy (`to_numpy`, `fill_null`, `pa.array` of a
    list) import pandas where it is installed — ~0.18 s of CPU, which was a fifth of what
    profiling added to a 1M-row ingest. The profiling path reads Arrow buffers itself
    (`levels.integers`) and asks polars for types; this holds it there, on a batch with
    unseen levels and nulls in its categorical feature (both code paths of the dictionary
    lookup)."""
    import importlib.util
    import subprocess
    import sys

    assert importlib.util.find_spec("pandas") is not None, \
        "pandas must be installed (the test extra) for this test to mean anything"
    frame = make_frame(2500, seed=4, prefix="p", days=5).with_columns(
        pl.when(pl.int_range(pl.len()) % 7 == 0).then(pl.lit("FR"))
        .when(pl.int_range(pl.len()) % 11 == 0).then(None)
        .otherwise(pl.col("country")).alias("country"))
    data = str(frame_file(frame, "p.parquet"))
    report = tmp_path / "pandas-imports.txt"
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVALCTL_")}
    for args in (["ingest", data, *M, "--version", "v1", "--env", "production"],
                 ["skew", *M, "--reference", "training", "--current", "production",
                  "--format", "json"],
                 ["drift", *M, "--reference", "training", "--current", "production",
                  "--window", "1d", "--format", "json"]):
        run = subprocess.run([sys.executable, "-c", _WATCH_PANDAS, str(report), *args],
                             cwd=fitted.parent, env=env, capture_output=True, text=True,
                             timeout=120)
        assert run.returncode in (0, 1), run.stderr
        if args[0] != "ingest":
            assert json.loads(run.stdout)["inputs"]["engine"] == "profiles"
        assert not report.exists(), f"{args[0]} imported pandas:\n{report.read_text()}"
    assert list((fitted / "profiles").rglob("*.parquet"))
