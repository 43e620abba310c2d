"""The store lock, the repair grace period and the pre-commit check (issue #13 item 7)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tests.conftest import make_frame, store_snapshot

from evalctl.lake import ingest
from evalctl.lake.locking import StoreBusyError, exclusive_lock, shared_lock

INGEST = ["ingest", "--model", "churn", "--version", "v1", "--env", "production"]
HOLD_LOCK = """
import sys, time
from pathlib import Path
from evalctl.lake.locking import exclusive_lock
with exclusive_lock(Path(sys.argv[1])):
    print("locked", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def _hold_exclusive(root: Path, seconds: float) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(root), str(seconds)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
    return proc


def test_writers_share_the_lock_and_a_repair_excludes_them(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("EVALCTL_LOCK_WAIT", "0s")
    with shared_lock(tmp_path), shared_lock(tmp_path):
        with pytest.raises(StoreBusyError, match="a writer is active"), \
                exclusive_lock(tmp_path):
            pass
    with exclusive_lock(tmp_path):
        with pytest.raises(StoreBusyError, match="a `doctor --repair` is running"), \
                shared_lock(tmp_path):
            pass
    with exclusive_lock(tmp_path):  # released by the blocks above
        pass


def test_a_waiter_gets_the_lock_once_released_and_gives_up_after_the_wait(
        tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("EVALCTL_LOCK_WAIT", "30s")
    holder = _hold_exclusive(tmp_path, 0.5)
    with shared_lock(tmp_path):  # waits for the holder's half second
        assert holder.wait(timeout=30) == 0  # it has let go
    monkeypatch.setenv("EVALCTL_LOCK_WAIT", "1s")
    holder = _hold_exclusive(tmp_path, 60)
    try:
        with pytest.raises(StoreBusyError), shared_lock(tmp_path):
            pass
    finally:
        holder.kill()
        holder.wait()


def test_a_killed_holder_leaves_the_store_unlocked(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("EVALCTL_LOCK_WAIT", "0s")
    holder = _hold_exclusive(tmp_path, 60)
    with pytest.raises(StoreBusyError), shared_lock(tmp_path):
        pass
    holder.kill()
    holder.wait()
    with exclusive_lock(tmp_path):
        pass


def test_a_bad_lock_wait_is_exit_2(cli, workdir, frame_file, monkeypatch) -> None:
    path = frame_file(make_frame(100), "a.parquet")
    monkeypatch.setenv("EVALCTL_LOCK_WAIT", "soon")
    before = store_snapshot(workdir / "store")
    result = cli(*INGEST, str(path))
    assert result.code == 2 and "EVALCTL_LOCK_WAIT" in result.stderr
    assert store_snapshot(workdir / "store") == before


def test_an_ingest_during_a_repair_gives_up_with_exit_3_and_writes_nothing(
        cli, workdir, frame_file, monkeypatch) -> None:
    path = frame_file(make_frame(300), "a.parquet")
    monkeypatch.setenv("EVALCTL_LOCK_WAIT", "0s")
    before = store_snapshot(workdir / "store")
    with exclusive_lock(workdir / "store"):
        result = cli(*INGEST, str(path))
    assert result.code == 3, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "a `doctor --repair` is running" in lines[0]
    assert store_snapshot(workdir / "store") == before
    assert cli(*INGEST, str(path)).code == 0  # and it goes through afterwards


def test_a_repair_during_an_ingest_says_a_writer_is_active(cli, workdir, monkeypatch) -> None:
    monkeypatch.setenv("EVALCTL_LOCK_WAIT", "0s")
    monkeypatch.setenv("EVALCTL_GRACE", "0s")
    staged = workdir / "store" / "_staging" / "batch-attempt" / "date=2026-11-01"
    staged.mkdir(parents=True)
    (staged / "00000000.parquet").write_bytes(b"staged rows")
    with shared_lock(workdir / "store"):  # an ingest in flight
        result = cli("doctor", "--repair")
    assert result.code == 3 and "a writer is active" in result.stderr
    assert (staged / "00000000.parquet").is_file()
    assert cli("doctor", "--repair").code == 0
    assert not staged.exists()


def _age(path: Path, days: float) -> None:
    """Make a file, or a folder and everything in it, ``days`` old."""
    stamp = time.time() - days * 86400
    for item in [path, *(path.rglob("*") if path.is_dir() else [])]:
        os.utime(item, (stamp, stamp))


def test_repair_removes_only_leftovers_older_than_the_grace_period(cli, workdir,
                                                                   frame_file) -> None:
    cli(*INGEST, str(frame_file(make_frame(200), "a.parquet")))
    root = workdir / "store"
    committed = sorted((root / "predictions").rglob("*.parquet"))
    old_orphan = committed[0].with_name("part-old-orphan-0000.parquet")
    new_orphan = committed[0].with_name("part-new-orphan-0000.parquet")
    for orphan in (old_orphan, new_orphan):
        orphan.write_bytes(committed[0].read_bytes())
    old_staging, new_staging = root / "_staging" / "old-x", root / "_staging" / "new-y"
    for folder in (old_staging, new_staging):
        (folder / "date=2026-11-01").mkdir(parents=True)
        (folder / "date=2026-11-01" / "0.parquet").write_bytes(b"x")
    results = root / "results" / "model=churn" / "check=volume" / "date=2026-11-01"
    results.mkdir(parents=True)
    old_temp = results / ".run-00000001.json.0123456789ab.tmp"
    old_temp.write_text("{")
    _age(old_orphan, 8)
    _age(old_staging, 8)
    _age(old_temp, 8)
    (new_staging / "date=2026-11-01" / "1.parquet").write_bytes(b"y")
    _age(new_staging / "date=2026-11-01" / "0.parquet", 8)  # an old file, a fresh one beside

    doc = cli("doctor", "--repair", "--format", "json").json()
    problems = {r["path"]: r["problem"] for r in doc["results"]}
    name = lambda p: p.relative_to(root).as_posix()  # noqa: E731
    assert {name(old_orphan), name(old_staging), name(old_temp)} == {
        p for p, problem in problems.items() if problem == "orphan (removed)"}
    assert problems[name(new_orphan)] == "orphan (younger than the grace period: kept)"
    assert problems[name(new_staging)] == "orphan (younger than the grace period: kept)"
    assert not old_orphan.exists() and not old_staging.exists() and not old_temp.exists()
    assert new_orphan.exists() and new_staging.exists()
    assert all(p.exists() for p in committed) and doc["status"] == "warn"


@pytest.mark.parametrize("damage", ["remove", "truncate"])
def test_an_ingest_whose_files_change_before_its_commit_fails_with_exit_3(
        cli, workdir, frame_file, monkeypatch, damage) -> None:
    cli(*INGEST, str(frame_file(make_frame(100, prefix="x"), "x.parquet")))
    before = store_snapshot(workdir / "store")
    path = frame_file(make_frame(400), "a.parquet")
    build = ingest._record

    def sabotaged(*args, **kwargs):  # a lock-ignoring process strikes before the commit
        record = build(*args, **kwargs)
        victim = workdir / "store" / record.files[1].path
        if damage == "remove":
            victim.unlink()
        else:
            make_frame(10).write_parquet(victim)
        return record

    monkeypatch.setattr(ingest, "_record", sabotaged)
    result = cli(*INGEST, str(path))
    assert result.code == 3, result.stderr
    expected = "is gone" if damage == "remove" else "holds 10 rows, not the 100 written"
    assert expected in result.stderr and "nothing was committed" in result.stderr
    assert store_snapshot(workdir / "store") == before  # no record, no files left behind
    monkeypatch.setattr(ingest, "_record", build)
    assert cli(*INGEST, str(path)).code == 0
