"""The profiling process beside the ingest (`evalctl.profiles.worker`): its profiles are the
very bytes of counting in process; the counting's errors come back as the same errors; a
worker that fails only makes the ingest count in process; a Ctrl-C leaves no worker behind;
and `EVALCTL_PROFILE_WORKER` decides when it starts."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from tests.helpers import PROFILED_CONFIG, fitted_store, make_frame, store_snapshot

import evalctl.profiles.compute as compute
from evalctl.errors import InputError, StoreError
from evalctl.lake.store import Store
from evalctl.profiles import worker
from evalctl.profiles.reference import current_reference

M = ["--model", "churn"]


def _wait_ready(one: worker.Worker, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not one.ready():
        assert time.monotonic() < deadline, "the worker never became ready"
        time.sleep(0.02)


def _job(root: Path) -> tuple[worker.Job, Store, Any]:
    store = Store.open(root)
    model = store.resolve_model(_model(root))
    reference = current_reference(store.storage, "churn")
    assert reference is not None
    record = next(r for r in store.prediction_records("churn") if r.env == "production")
    profiles = compute.BatchProfiles(store, model, reference, record.version or "",
                                     record.env or "")
    return worker.job_of(profiles), store, (profiles, record)


def _model(root: Path) -> Any:
    from evalctl.settings.load import load_config

    return load_config(root.parent / "evalctl.yaml").models["churn"]


@pytest.fixture
def production(cli, workdir: Path, frame_file) -> Path:
    """A fitted store with a production batch of 5 days (profiled in process)."""
    root = fitted_store(cli, workdir, frame_file)
    data = str(frame_file(make_frame(2500, seed=4, prefix="p", days=5), "p.parquet"))
    assert cli("ingest", data, *M, "--version", "v1", "--env", "production").code == 0
    return root


def test_the_workers_profiles_are_the_bytes_counted_in_process(production: Path) -> None:
    job, store, (profiles, record) = _job(production)
    one = worker.Worker(job)
    try:
        _wait_ready(one)
        files = list(record.files)
        with one.lock:
            remote = one.count(files[:3]) or []
            remote += one.count(files[3:]) or []
        assert one.groups == 2
    finally:
        one.close()
    local = [one_file.data() for one_file in profiles.count(files)]
    assert remote == local and len(local) == len(files) >= 5
    stored = profiles.count(files[:1])[0].data()
    assert stored == (production / profiles_of(store, record)[files[0].path]).read_bytes()


def profiles_of(store: Store, record: Any) -> dict[str, str]:
    from evalctl.lake.profiled import file_profiles

    reference = current_reference(store.storage, "churn")
    assert reference is not None
    return {d: e.path for d, e in file_profiles(store.storage, "churn", reference.hash,
                                                record).items()}


def test_a_counting_error_in_the_worker_is_the_same_store_error(production: Path) -> None:
    job, _, (_, record) = _job(production)
    wrong = replace(record.files[0], rows=record.files[0].rows + 1)  # not what it holds
    one = worker.Worker(job)
    try:
        _wait_ready(one)
        with one.lock, pytest.raises(StoreError, match="held fewer rows") as raised:
            one.count([wrong])
        assert raised.value.file is not None and wrong.path.split("/")[-1] in raised.value.file
        with one.lock:  # and it goes on counting
            assert one.count([record.files[0]]) is not None
    finally:
        one.close()


def test_a_dead_worker_makes_the_thread_count_in_process(production: Path) -> None:
    job, _, (profiles, record) = _job(production)
    one = worker.Worker(job)
    try:
        _wait_ready(one)
        os.kill(one.pid, signal.SIGKILL)
        time.sleep(0.2)
        with one.lock:
            assert one.count([record.files[0]]) is None  # broken: count here
        with_dead = replace(profiles, worker=one)
        computing = compute.Computing()
        counted = with_dead._count_ahead([record.files[0]], computing)
        assert counted[0].data() == profiles.count([record.files[0]])[0].data()
    finally:
        one.close()


def test_a_worker_still_loading_is_not_waited_for(production: Path) -> None:
    """The first group goes to the thread's own count while the worker imports; closing a
    worker that never became ready kills it at once."""
    job, _, (profiles, record) = _job(production)
    one = worker.Worker(job)
    started = time.monotonic()
    counted = replace(profiles, worker=one)._counted_by_worker([record.files[0]])
    assert counted is None or one.groups == 1  # None unless it was ready already
    one.close()
    assert time.monotonic() - started < 5


def test_ingest_hands_groups_to_the_worker_and_commits_the_same_profiles(
        cli, workdir: Path, frame_file, monkeypatch: pytest.MonkeyPatch) -> None:
    """An ingest with the worker (`on`; hourly profiles: a group per file) gives the profile
    files an ingest without it gives, byte for byte, and passes `doctor`."""
    counted: list[int] = []
    real_ready, real_close = worker.Worker.ready, worker.Worker.close

    def ready(self: worker.Worker) -> bool:  # wait for it, so that it surely counts
        _wait_ready_real(self, real_ready)
        return True

    def close(self: worker.Worker) -> None:
        counted.append(self.groups)
        real_close(self)

    monkeypatch.setattr(worker.Worker, "ready", ready)
    monkeypatch.setattr(worker.Worker, "close", close)
    data = frame_file(make_frame(3000, seed=4, prefix="p", days=3), "p.parquet")
    bytes_by_store = []
    for choice in ("on", "off"):
        folder = workdir / choice
        folder.mkdir()
        monkeypatch.chdir(folder)
        monkeypatch.setenv(worker.WORKER_ENV, choice)
        assert cli("init", "store", "--no-config").code == 0
        (folder / "evalctl.yaml").write_text(PROFILED_CONFIG.format(
            reference="training:v1", extra="    profiles:\n      granularity: 1h\n",
            checks=""))
        train = frame_file(make_frame(1500, seed=1, prefix="t"), "t.parquet")
        assert cli("ingest", str(train), *M, "--version", "v1", "--env", "training").code == 0
        assert cli("profiles", "build", *M).code == 0
        assert cli("ingest", str(data), *M, "--version", "v1", "--env", "production"
                   ).code == 0
        assert cli("doctor").code == 0
        bytes_by_store.append({_unattempted(p.relative_to(folder).as_posix()): p.read_bytes()
                               for p in (folder / "store" / "profiles").rglob("part-*.parquet")})
    assert counted and counted[0] >= 1  # the ingest with `on` handed it groups
    assert bytes_by_store[0] == bytes_by_store[1] and len(bytes_by_store[0]) > 3


def _unattempted(path: str) -> str:
    """A data or profile file's path without its ingest attempt's random part."""
    return re.sub(r"part-(\w+)-\w+-(\d+)", r"part-\1-\2", path)


def _wait_ready_real(one: worker.Worker, real_ready: Any) -> None:
    deadline = time.monotonic() + 60
    while not real_ready(one):
        assert time.monotonic() < deadline
        time.sleep(0.02)


@pytest.mark.parametrize(("choice", "rows", "cores", "started"), [
    ("auto", worker.WORKER_ROWS, 2, True), ("auto", worker.WORKER_ROWS - 1, 2, False),
    ("auto", 10**9, 1, False), ("on", 1, 2, True), ("on", 10**9, 1, False),
    ("off", 10**9, 2, False), (None, worker.WORKER_ROWS, 2, True)])
def test_when_a_worker_starts(choice: str | None, rows: int, cores: int, started: bool
                              ) -> None:
    environ = {} if choice is None else {worker.WORKER_ENV: choice}
    assert worker.wanted(rows, cores, environ) is started


def test_a_bad_worker_setting_is_exit_2_naming_the_variable(cli, production: Path,
                                                             frame_file, monkeypatch) -> None:
    monkeypatch.setenv(worker.WORKER_ENV, "sometimes")
    with pytest.raises(InputError, match="EVALCTL_PROFILE_WORKER"):
        worker.wanted(1, 2)
    before = store_snapshot(production)
    data = str(frame_file(make_frame(500, seed=9, prefix="q", days=2), "q.parquet"))
    result = cli("ingest", data, *M, "--version", "v2", "--env", "production")
    assert result.code == 2
    assert result.stderr.strip().splitlines() == [
        "evalctl: error: EVALCTL_PROFILE_WORKER: expected one of auto, on, off, got "
        "'sometimes'"]
    assert store_snapshot(production) == before


ROWS = 600_000


@pytest.fixture(scope="module")
def large(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fitted store (reference: training) and a production export of `ROWS` rows."""
    folder = tmp_path_factory.mktemp("worker")
    (folder / "evalctl.yaml").write_text(PROFILED_CONFIG.format(
        reference="training:v1", extra="", checks=""))
    make_frame(1500, seed=1, prefix="t").write_parquet(folder / "t.parquet")
    rng = np.random.default_rng(0)
    start = pl.datetime(2026, 11, 1)
    pl.DataFrame({
        "request_id": np.arange(ROWS).astype(str),
        "age": rng.integers(16, 80, ROWS).astype(float),
        "country": rng.choice(["US", "BR", "DE", "FR"], ROWS),
        "minutes": rng.gamma(2.0, 30.0, ROWS),
        "score": rng.random(ROWS), "predicted_label": rng.integers(0, 2, ROWS),
        "label": rng.integers(0, 2, ROWS), "clicked": rng.integers(0, 2, ROWS),
    }).with_columns(ts=start + pl.duration(seconds=pl.int_range(pl.len()) * 2)
                    ).write_parquet(folder / "big.parquet")
    for args in (["init", "store", "--no-config"],
                 ["ingest", "t.parquet", *M, "-v", "v1", "-e", "training"],
                 ["profiles", "build", *M]):
        done = _run(folder, *args)
        assert done.returncode == 0, done.stderr
    return folder


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVALCTL_")}
    return {**env, "PYTHONUNBUFFERED": "1", **extra}


def _run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "evalctl", *args], cwd=cwd, text=True,
                          capture_output=True, timeout=300, env=_env())


def _workers_of(pid: int) -> list[int]:
    """The profiling processes `pid` started (its children running the worker)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == pid and b"evalctl.profiles.worker" in cmdline:
            found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc to find the worker")
def test_sigint_during_a_profiled_ingest_leaves_no_worker_and_no_files(large: Path) -> None:
    store = large / "store"
    before = store_snapshot(store)
    proc = subprocess.Popen([sys.executable, "-m", "evalctl", "--verbose", "ingest",
                             "big.parquet", *M, "-v", "v1", "-e", "production"], cwd=large,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=_env(EVALCTL_PROFILE_WORKER="on"))
    assert proc.stderr is not None
    seen: list[str] = []
    while not seen or "checking ids" not in seen[-1]:
        seen.append(proc.stderr.readline())
        assert seen[-1], "".join(seen)
    workers = _workers_of(proc.pid)
    assert len(workers) == 1, workers  # started as the ingest started
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert err.splitlines()[-1] == "evalctl: interrupted" and "Traceback" not in err
    deadline = time.monotonic() + 10
    while _alive(workers[0]):
        assert time.monotonic() < deadline, "the worker outlived the ingest"
        time.sleep(0.05)
    assert store_snapshot(store) == before
    doctor = _run(large, "doctor")
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr


def test_an_ingest_whose_worker_cannot_start_counts_in_process(
        cli, workdir: Path, frame_file, monkeypatch: pytest.MonkeyPatch) -> None:
    """No process for the worker (the system refused one): the ingest profiles every file
    itself, and its profiles are those `profiles build` would write."""
    root = fitted_store(cli, workdir, frame_file)

    def refused(*args: Any, **kwargs: Any) -> Any:
        raise OSError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(worker.subprocess, "Popen", refused)
    monkeypatch.setenv(worker.WORKER_ENV, "on")
    assert worker.start(worker.Job(str(root), None, None, "1d", "v1", "production")) is None
    data = str(frame_file(make_frame(2500, seed=4, prefix="p", days=5), "p.parquet"))
    assert cli("ingest", data, *M, "--version", "v1", "--env", "production").code == 0
    assert cli("doctor").code == 0
    job, store, (profiles, record) = _job(root)
    stored = profiles_of(store, record)
    for entry, counted in zip(record.files, profiles.count(list(record.files)), strict=True):
        assert (root / stored[entry.path]).read_bytes() == counted.data()


def test_a_bad_worker_setting_stops_an_ingest_without_profiles_too(cli, workdir: Path,
                                                                   frame_file,
                                                                   monkeypatch) -> None:
    """The default config's model has no `reference:`: no profiles, no worker, and still
    exit 2 for a setting that means nothing (as a bad config key would)."""
    monkeypatch.setenv(worker.WORKER_ENV, "1")
    data = str(frame_file(make_frame(300, seed=9, prefix="q", days=2), "q.parquet"))
    before = store_snapshot(workdir / "store")
    result = cli("ingest", data, *M, "--version", "v1", "--env", "production")
    assert result.code == 2 and "EVALCTL_PROFILE_WORKER" in result.stderr
    assert store_snapshot(workdir / "store") == before
    monkeypatch.setenv(worker.WORKER_ENV, "off")
    assert cli("ingest", data, *M, "--version", "v1", "--env", "production").code == 0
