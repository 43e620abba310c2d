"""Interrupted means failed: a real subprocess, a real signal (issue: CLI trust, item 2)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from tests.helpers import CONFIG

ROWS = 2_000_000


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with a config, a store holding one large batch, and that batch's export."""
    folder = tmp_path_factory.mktemp("signals")
    rng = np.random.default_rng(0)
    score = rng.random(ROWS)
    start = datetime(2026, 11, 1)
    pl.DataFrame({
        "request_id": np.arange(ROWS).astype(str),
        "ts": pl.datetime_range(start, start + timedelta(seconds=ROWS - 1), "1s", eager=True),
        "age": rng.integers(16, 80, ROWS).astype(float),
        "country": rng.choice(["US", "BR", "DE"], ROWS),
        "minutes": rng.gamma(2.0, 30.0, ROWS),
        "score": score,
        "predicted_label": (score >= 0.5).astype(int),
        "label": (rng.random(ROWS) < score).astype(int),
        "clicked": rng.integers(0, 2, ROWS),
    }).write_parquet(folder / "big.parquet")
    (folder / "evalctl.yaml").write_text(CONFIG)
    assert _evalctl(folder, "init", "store", "--no-config").returncode == 0
    done = _evalctl(folder, "ingest", "big.parquet", "-m", "churn", "-v", "v1", "-e",
                    "production")
    assert done.returncode == 0, done.stderr
    return folder


def _evalctl(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "evalctl", *args], cwd=cwd, text=True,
                          capture_output=True, timeout=300, env=_env())


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVALCTL_")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _interrupt(cwd: Path, signum: int, *args: str) -> tuple[int, str, str]:
    """Start evalctl with --verbose, send ``signum`` once its work has begun (its first
    phase line), and return (exit code, stdout, stderr)."""
    proc = subprocess.Popen([sys.executable, "-m", "evalctl", "--verbose", *args], cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=_env())
    assert proc.stderr is not None
    first = proc.stderr.readline()
    assert " evalctl " in first, first
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=120)
    return proc.returncode, out, first + err


def _interrupt_at(cwd: Path, signum: int, phase: str, *args: str) -> tuple[int, str, str]:
    """As `_interrupt`, the signal sent once a phase line holding `phase` is printed."""
    proc = subprocess.Popen([sys.executable, "-m", "evalctl", "--verbose", *args], cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=_env())
    assert proc.stderr is not None
    seen = []
    while not seen or phase not in seen[-1]:
        seen.append(proc.stderr.readline())
        assert seen[-1], "".join(seen)  # ended before that phase
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=120)
    return proc.returncode, out, "".join(seen) + err


def _data_files(store: Path) -> set[str]:
    return {p.relative_to(store).as_posix() for p in store.rglob("*.parquet")
            if not p.relative_to(store).as_posix().startswith("_staging")}


def _records(store: Path) -> int:
    return len(list((store / "_ledger").glob("*.json")))


def test_sigint_during_ingest_exits_130_and_commits_nothing(big: Path) -> None:
    before = _records(big / "store")
    code, out, err = _interrupt(big, signal.SIGINT, "ingest", "big.parquet", "-m", "churn",
                                "-v", "v2", "-e", "production", "-f", "json")
    assert code == 130, err
    assert out == ""
    assert err.splitlines()[-1] == "evalctl: interrupted"
    assert "Traceback" not in err and "finished" not in err
    assert _records(big / "store") == before
    listed = _evalctl(big, "batches", "-f", "json")
    assert [r["version"] for r in json.loads(listed.stdout)["results"]] == ["v1"]


def test_sigint_after_the_files_are_moved_into_partitions_leaves_none_behind(big: Path
                                                                           ) -> None:
    """Cut once the batch's files are in their partitions but not committed (its id check):
    exit 130, and the moved files are removed on the way out, not left for `doctor
    --repair` as orphans."""
    store = big / "store"
    before, records = _data_files(store), _records(store)
    code, out, err = _interrupt_at(big, signal.SIGINT, "checking ids", "ingest", "big.parquet",
                                   "-m", "churn", "-v", "v3", "-e", "production")
    assert code == 130, err
    assert "moving files into partitions" in err and err.splitlines()[-1] == \
        "evalctl: interrupted"
    assert _records(store) == records and _data_files(store) == before
    doctor = _evalctl(big, "doctor", "-f", "json")
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    summary = json.loads(doctor.stdout)["summary"]
    assert summary["orphans"] == 0 and summary["warn"] == 0 and summary["stray"] == 0


_COMMIT_RACE = """
import os, sys, threading, time
from pathlib import Path
from evalctl import temporaries

folder = Path(sys.argv[1])
for name in ("committed", "cut", "staged"):
    (folder / f"{name}.tmp").write_text(name)
temporaries.rename(folder / "committed.tmp", folder / "committed")
temporaries.rename(folder / "cut.tmp", folder / "cut")
inside = threading.Event()

def commit():
    with temporaries.committing():
        inside.set()
        time.sleep(0.5)  # the signal comes now: its removal waits for the commit
        (folder / "record").write_text("committed")
        temporaries.release([folder / "committed"])

threading.Thread(target=commit).start()
inside.wait()
held = temporaries.temporary(folder / "staged.tmp")
held.__enter__()  # not left: the process ends
temporaries.remove_all()  # as the signal watchdog does, then the process ends
print(sorted(p.name for p in folder.iterdir()))
os._exit(0)
"""


def test_a_signal_during_a_commit_waits_for_it_and_spares_what_it_committed(
        tmp_path: Path) -> None:
    """Files renamed into the store are removed by a signal unless committed: a commit under
    way is waited for, and the files it released stay (nothing committed is ever lost)."""
    done = subprocess.run([sys.executable, "-c", _COMMIT_RACE, str(tmp_path)], text=True,
                          capture_output=True, timeout=60, env=_env())
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['committed', 'record']"


def test_sigterm_during_skew_exits_143_and_leaves_no_output_file(big: Path) -> None:
    out_file = big / "gate.json"
    code, out, err = _interrupt(big, signal.SIGTERM, "skew", "-m", "churn", "-r", "production",
                                "-C", "production", "-o", str(out_file))
    assert code == 143, err
    assert out == "" and err.splitlines()[-1] == "evalctl: interrupted"
    assert "Traceback" not in err
    assert not out_file.exists()
    assert not [p.name for p in big.iterdir() if p.name.endswith(".tmp")]


def test_an_uninterrupted_run_writes_its_output(big: Path) -> None:
    """The same command left alone writes the whole report (so the tests above are not
    passing because the command never writes)."""
    out_file = big / "whole.json"
    done = _evalctl(big, "skew", "-m", "churn", "-r", "production", "-C", "production",
                    "-o", str(out_file))
    assert done.returncode == 0, done.stderr
    assert json.loads(out_file.read_text())["command"] == "skew"
