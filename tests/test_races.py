"""Races and crashes with real processes (issue #13 items 7, 8 and 11)."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import polars as pl
import pytest
from benchmarks.crash_campaign import COLUMNS, run_campaign
from tests.helpers import make_frame

from evalctl.lake import ingest
from evalctl.lake.results import publish_window, read_window

pytestmark = pytest.mark.races  # real processes racing: make test-races (CI runs it)

INGEST = ["ingest", "--model", "churn", "--version", "v1", "--env", "production"]
PAUSED_INGEST = """
import sys, time
from pathlib import Path
import evalctl.lake.ingest as ingest
signal, go = Path(sys.argv[1]), Path(sys.argv[2])
step = getattr(ingest, sys.argv[3])
def paused(*args, **kwargs):
    signal.touch()
    while not go.exists():
        time.sleep(0.02)
    return step(*args, **kwargs)
setattr(ingest, sys.argv[3], paused)
from evalctl.cli.app import run
sys.exit(run(sys.argv[4:]))
"""


def _spawn(workdir: Path, *args: str, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "evalctl", *args], cwd=workdir,
                            env={**os.environ, **env}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _wait_for(path: Path, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 120
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)


def _rows(cli) -> int:
    return cli("catalog", "--format", "json").json()["summary"]["rows"]


# -- item 7: repair never races an ingest ----------------------------------------------------

def test_a_repair_during_an_ingest_waits_and_takes_nothing_from_it(cli, workdir,
                                                                   frame_file) -> None:
    for step in ("_move_into_partitions", "commit_record"):  # paused while staged, then moved
        path = frame_file(make_frame(2000, prefix=step), f"{step}.parquet")
        staged, go = workdir / f"{step}.staged", workdir / f"{step}.go"
        ingesting = subprocess.Popen(
            [sys.executable, "-c", PAUSED_INGEST, str(staged), str(go), step, *INGEST,
             "--format", "json", str(path)],
            cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        _wait_for(staged, ingesting)
        refused = subprocess.run([sys.executable, "-m", "evalctl", "doctor", "--repair"],
                                 cwd=workdir, capture_output=True, text=True, timeout=120,
                                 env={**os.environ, "EVALCTL_GRACE": "0s",
                                      "EVALCTL_LOCK_WAIT": "0s"})
        assert refused.returncode == 3 and "a writer is active" in refused.stderr
        waiting = _spawn(workdir, "doctor", "--repair", EVALCTL_GRACE="0s")
        time.sleep(0.5)  # the repair is now waiting for the lock
        go.touch()
        out, err = ingesting.communicate(timeout=120)
        assert ingesting.returncode == 0, err
        assert json.loads(out)["results"][0]["already_ingested"] is False
        assert waiting.wait(timeout=120) == 0
    assert _rows(cli) == 4000
    doctor = cli("doctor", "--format", "json").json()
    assert doctor["status"] == "pass" and doctor["summary"]["files"] == 8


# -- item 8: duplicates under concurrency ----------------------------------------------------

def test_rows_committed_meanwhile_by_another_ingest_are_counted(cli, workdir, frame_file,
                                                                monkeypatch) -> None:
    frame = make_frame(600)
    first, second = frame_file(frame, "a.parquet"), frame_file(frame, "a.csv")
    move = ingest._move_into_partitions
    outputs = []

    def meanwhile(*args, **kwargs):  # after our duplicate check, another ingest commits
        if not outputs:
            outputs.append(subprocess.run(
                [sys.executable, "-m", "evalctl", *INGEST, "--format", "json", str(second)],
                cwd=workdir, capture_output=True, text=True, timeout=120))
        return move(*args, **kwargs)

    monkeypatch.setattr(ingest, "_move_into_partitions", meanwhile)
    result = cli(*INGEST, "--format", "json", str(first))
    other = json.loads(outputs[0].stdout)["results"][0]
    assert other["ids_in_store"] == 0  # it committed before us: nothing to see
    mine = result.json()["results"][0]
    assert result.code == 0 and mine["ids_in_store"] == 600 and mine["status"] == "warn"
    assert "600 row(s) have an id already stored" in result.stderr
    assert _rows(cli) == 1200  # both committed: evalctl never drops rows


def test_the_same_rows_from_two_files_at_once_warn(cli, workdir, frame_file) -> None:
    frame = make_frame(3000)
    paths = [frame_file(frame, "a.parquet"), frame_file(frame, "a.csv")]
    procs = [_spawn(workdir, *INGEST, "--format", "json", str(p)) for p in paths]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0]
    counts = sorted(json.loads(out)["results"][0]["ids_in_store"] for out, _ in outs)
    assert counts[-1] == 3000  # the one that committed second counted every repeated id
    assert any("3,000 row(s) have an id already stored" in err for _, err in outs)
    assert _rows(cli) == 6000


# -- item 11: monitor history and alerts, killed writers, fsync ------------------------------

def test_a_run_that_loses_the_race_for_a_window_raises_no_alert(tmp_path) -> None:
    day, raised = date(2026, 11, 5), []

    def alerts(before, run) -> list[str]:
        if run == "first" and not raised:  # another run publishes while we decide
            raised.append(publish_window(tmp_path, "m", "volume", day, {"run": "second"},
                                         lambda b: alerts(b, "second")))
        return [] if before else [f"{run}: volume failed"]

    mine = publish_window(tmp_path, "m", "volume", day, {"run": "first"},
                          lambda b: alerts(b, "first"))
    assert raised == [["second: volume failed"]] and mine == []
    assert read_window(tmp_path, "m", "volume", day) == {"run": "first"}  # the newest run
    folder = tmp_path / "results" / "model=m" / "check=volume" / "date=2026-11-05"
    assert [p.name for p in folder.iterdir()] == ["run-00000002.json"]


def test_concurrent_monitors_emit_each_alert_once(cli, workdir, frame_file) -> None:
    cli(*INGEST, str(frame_file(make_frame(400), "a.parquet")))
    runs = {"2026-11-05": ["a", "b"], "2026-11-06": ["c", "c"],  # own files, one file
            "2026-11-07": ["d", "e", "f", "f"]}  # empty days: the volume check fails
    for day, names in runs.items():
        procs = [_spawn(workdir, "monitor", "--model", "churn", "--date", day, "--alerts",
                        str(workdir / f"{day}-{name}.jsonl")) for name in names]
        assert all(p.wait(timeout=120) in (0, 1) for p in procs)
        alerts = [json.loads(line) for name in set(names)
                  for line in (workdir / f"{day}-{name}.jsonl").read_text().splitlines()]
        keys = [(a["check"], a["feature"], a["status"]) for a in alerts]
        stored = {(r["check"], r["feature"], r["status"])
                  for check in ("volume", "freshness", "retraining")
                  for r in (read_window(workdir / "store", "churn", check,
                                        date.fromisoformat(day)) or {"results": []})["results"]
                  if r["status"] in ("warn", "fail")}
        assert ("volume", None, "fail") in stored
        assert sorted(keys) == sorted(stored), (day, alerts)  # each exactly once, none lost
    folders = list((workdir / "store" / "results").rglob("date=*"))
    assert folders and all(len(list(f.glob("run-*.json"))) == 1 for f in folders)


def test_killed_monitors_and_exports_leave_nothing_a_later_run_trips_on(
        cli, workdir, frame_file, monkeypatch) -> None:
    cli(*INGEST, str(frame_file(make_frame(4000), "a.parquet")))
    out = workdir / "out" / "rows.parquet"
    rng = random.Random(13)
    for _ in range(3):
        for args in (["monitor", "--model", "churn", "--date", "2026-11-02"],
                     ["export", "--model", "churn", "--selector", "production", "--out",
                      str(out)]):
            proc = _spawn(workdir, *args)
            time.sleep(rng.uniform(0.2, 1.0))
            proc.kill()
            proc.wait()
    results = workdir / "store" / "results" / "model=churn" / "check=volume" / \
        "date=2026-11-02"
    results.mkdir(parents=True, exist_ok=True)
    leftover = results / ".run-00000009.json.deadbeef0000.tmp"  # as a kill mid-write leaves
    leftover.write_text('{"window": ')
    out.parent.mkdir(exist_ok=True)
    (out.parent / ".rows.parquet.deadbeef0000.tmp").write_bytes(b"PAR1")
    assert cli("monitor", "--model", "churn", "--date", "2026-11-02").code in (0, 1)
    assert cli("history", "--model", "churn", "--check", "volume").code == 0
    assert read_window(workdir / "store", "churn", "volume", date(2026, 11, 2)) is not None
    assert cli("export", "--model", "churn", "--selector", "production", "--out",
               str(out)).code == 0
    assert pl.read_parquet(out).height == 4000
    assert all(p.name.startswith(".") and p.name.endswith(".tmp")
               for p in out.parent.iterdir() if p != out)
    doctor = cli("doctor", "--format", "json").json()
    assert leftover.relative_to(workdir / "store").as_posix() in {
        r["path"] for r in doctor["results"]}
    monkeypatch.setenv("EVALCTL_GRACE", "0s")
    assert cli("doctor", "--repair").code == 0
    assert not leftover.exists()
    assert cli("doctor", "--format", "json").json()["status"] == "pass"


def test_partitions_results_and_exports_are_flushed_to_disk(cli, workdir, frame_file,
                                                            monkeypatch) -> None:
    flushed: list[str] = []
    fsync = os.fsync

    def recording(fd: int) -> None:
        flushed.append(os.readlink(f"/proc/self/fd/{fd}"))
        fsync(fd)

    monkeypatch.setattr(os, "fsync", recording)
    cli(*INGEST, str(frame_file(make_frame(400), "a.parquet")))
    store = (workdir / "store").resolve()
    for day in ("2026-11-01", "2026-11-04"):
        partition = store / f"predictions/model=churn/version=v1/env=production/date={day}"
        assert str(partition) in flushed
    assert str(store / "predictions/model=churn") in flushed  # a folder made for them
    cli("monitor", "--model", "churn", "--date", "2026-11-02")
    assert str(store / "results/model=churn/check=volume/date=2026-11-02") in flushed
    out = workdir / "rows.csv"
    cli("export", "--model", "churn", "--selector", "production", "--out", str(out))
    assert str(out.resolve().parent) in flushed


# -- the campaign, bounded ------------------------------------------------------------------

def test_a_bounded_crash_and_race_campaign_loses_and_duplicates_nothing(tmp_path) -> None:
    tallies = run_campaign(trials=20, rows=5000, seed=7, workdir=tmp_path)
    assert sum(t.trials for t in tallies.values()) == 20
    failures = {kind: {c: getattr(t, c) for c in COLUMNS[1:] if getattr(t, c)}
                for kind, t in tallies.items()}
    assert not any(failures.values()), failures
