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
