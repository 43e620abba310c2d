"""Crash and race campaign (issue #13 items 7, 8 and 11): real processes, killed and raced.

Each trial runs in a fresh store holding one committed base batch. Its processes are real
`evalctl` runs started behind one start gate (each imports everything, then waits for the
gate), so they meet in their work, not in interpreter start-up; each then waits a random
offset, and kills land at a random moment of an ingest's measured work time. A trial is one of:

- ``kill-ingest``: an ingest is SIGKILLed at a random moment of its run; then `doctor --repair`
  (grace 0s) and the same ingest again. Must leave either the whole batch or nothing, a store
  the repair cleans completely (the killed process's lock released), and in the end exactly
  the base and the batch.
- ``repair-during-ingest``: `doctor --repair` with grace 0s (the most aggressive setting)
  starts at a random moment of an ingest. The ingest commits the whole batch (exit 0) or
  nothing (exit 3, "a repair is running"); the repair removes nothing committed.
- ``same-file``: three ingests of one file at once: exactly one commits, the rows land once.
- ``same-rows``: the same rows from two different files at once: both
  commit (evalctl never drops rows) and at least one of them warns about every repeated id.
- ``monitors``: two `monitor` runs of one window at once, each with its own `--alerts` file:
  every alert of the window is emitted exactly once, and the window has one history entry.

After each trial the store is checked in-process: `doctor` (every committed file present with
its checksum and row count), every ledger record's rows against the rows of its input, and
the committed rows against what the trial must leave. Figures: partial commits (a record
whose rows differ from its input's, or whose files are damaged), rows lost, rows duplicated
without a warning, duplicate alerts, lost alerts, leftovers a repair could not remove, and
unexpected exit codes.

Usage: python benchmarks/crash_campaign.py [--trials 100] [--rows 1000000] [--seed 0]
       [--kind KIND ...] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl

KINDS = ("kill-ingest", "repair-during-ingest", "same-file", "same-rows", "monitors")
CONFIG = """\
store: store
models:
  churn:
    task: binary_classification
    id: request_id
    timestamp: ts
    prediction: predicted_label
    score: score
    label: label
    features:
      age: numeric
      country: categorical
      minutes: numeric
"""
INGEST = ("ingest", "--model", "churn", "--version", "v1", "--env", "production",
          "--format", "json")
START = datetime(2026, 11, 1)
DAYS = 4
EMPTY_DAY = "2026-11-05"  # the day after the data: its volume check fails, an alert
BASE_ROWS = 1000
TIMEOUT = 300
# A raced process imports everything first, says it is ready, waits for the start gate, waits
# its own random offset, then runs exactly what `python -m evalctl` runs: the processes of a
# trial meet in their real work instead of in interpreter start-up (~0.5 s, which would hide
# every race behind its jitter).
GATED = """
import sys, time
from pathlib import Path
import pyarrow.parquet
import evalctl.analyses.monitor, evalctl.lake.doctor, evalctl.lake.ingest
from evalctl.cli.app import run
ready, gate, delay = Path(sys.argv[1]), Path(sys.argv[2]), float(sys.argv[3])
ready.touch()
while not gate.exists():
    time.sleep(0.001)
time.sleep(delay)
sys.exit(run(sys.argv[4:]))
"""


@dataclass
class Tally:
    """One kind's figures over its trials."""

    trials: int = 0
    partial_commits: int = 0
    rows_lost: int = 0
    rows_duplicated: int = 0  # committed twice without any warning
    duplicate_alerts: int = 0
    lost_alerts: int = 0
    leftovers: int = 0  # orphans a repair with grace 0s left, or a lock a killed process kept
    unexpected_exits: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)  # what the trials saw (context)

    def add(self, other: Tally) -> None:
        for name in ("trials", "partial_commits", "rows_lost", "rows_duplicated",
                     "duplicate_alerts", "lost_alerts", "leftovers", "unexpected_exits"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.outcomes.update(other.outcomes)

    @property
    def failures(self) -> int:
        return (self.partial_commits + self.rows_lost + self.rows_duplicated
                + self.duplicate_alerts + self.lost_alerts + self.leftovers
                + self.unexpected_exits)


@dataclass(frozen=True)
class Inputs:
    """The campaign's input files and the rows each holds (by content hash)."""

    base: Path
    parquet: Path
    copy: Path  # the same rows as `parquet`, in another file
    rows: int
    rows_by_sha: dict[str, int]


@dataclass
class Trial:
    """One trial's folder, store and random source."""

    folder: Path
    inputs: Inputs
    rng: random.Random
    ingest_seconds: float  # an uncontended ingest's work, from the start gate to its exit
    races: int = 0

    @property
    def store(self) -> Path:
        return self.folder / "store"

    def race(self, *commands: tuple[float, list[str]], **env: str
             ) -> list[subprocess.Popen[str]]:
        """Start one process per (offset in seconds, evalctl arguments), all released by one
        start gate once every one of them is ready; returns when the gate opens."""
        self.races += 1
        gate = self.folder / f"gate-{self.races}"
        procs, ready = [], []
        for n, (delay, args) in enumerate(commands):
            ready.append(self.folder / f"ready-{self.races}-{n}")
            procs.append(subprocess.Popen(
                [sys.executable, "-c", GATED, str(ready[-1]), str(gate), str(delay), *args],
                cwd=self.folder, env={**os.environ, **env}, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, text=True))
        deadline = time.monotonic() + TIMEOUT
        while not all(path.exists() for path in ready):
            if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                raise SystemExit(f"a raced process did not start: {procs[0].communicate()}")
            time.sleep(0.005)
        gate.touch()
        return procs

    def run(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        """One evalctl process, not raced."""
        return subprocess.run([sys.executable, "-m", "evalctl", *args], cwd=self.folder,
                              env={**os.environ, **env}, capture_output=True, text=True,
                              timeout=TIMEOUT)


def run_campaign(trials: int, rows: int = 1_000_000, seed: int = 0, workdir: Path | None = None,
                 progress: Callable[[str], None] | None = None,
                 kinds: tuple[str, ...] = KINDS) -> dict[str, Tally]:
    """Run ``trials`` trials, ``kinds`` in turn; figures per kind."""
    root = Path(tempfile.mkdtemp(prefix="crash-campaign-")) if workdir is None else workdir
    root.mkdir(parents=True, exist_ok=True)
    try:
        inputs = _write_inputs(root / "inputs", rows, seed)
        ingest_seconds = _calibrate(root, inputs)
        rng = random.Random(seed)
        tallies = {kind: Tally() for kind in kinds}
        for n in range(trials):
            kind = kinds[n % len(kinds)]
            trial = Trial(root / f"trial-{n:04d}-{kind}", inputs,
                          random.Random(rng.random()), ingest_seconds)
            _new_store(trial)
            tally = TRIALS[kind](trial)
            tally.trials = 1
            tallies[kind].add(tally)
            if progress:
                progress(f"{n + 1}/{trials} {kind}: {tally.failures} failure(s)")
            if workdir is None:
                shutil.rmtree(trial.folder, ignore_errors=True)
        return tallies
    finally:
        if workdir is None:
            shutil.rmtree(root, ignore_errors=True)


# -- trials -------------------------------------------------------------------------------

def kill_ingest(trial: Trial) -> Tally:
    tally = Tally()
    [proc] = trial.race((0.0, [*INGEST, str(trial.inputs.parquet)]))
    time.sleep(trial.rng.uniform(0.0, 1.1 * trial.ingest_seconds))
    finished = proc.poll() is not None
    proc.kill()
    proc.communicate(timeout=TIMEOUT)
    committed = _records(trial, tally)
    tally.outcomes["finished before the kill" if finished else
                   "killed after its commit" if len(committed) == 2 else
                   "killed before its commit"] += 1
    repair = trial.run("doctor", "--repair", EVALCTL_GRACE="0s", EVALCTL_LOCK_WAIT="10s")
    if repair.returncode != 0:  # 3 would be a lock the killed ingest still held
        tally.unexpected_exits += 1
        tally.outcomes[f"repair after the kill: exit {repair.returncode}"] += 1
    tally.leftovers += _orphans(trial)
    tally.unexpected_exits += trial.run(*INGEST, str(trial.inputs.parquet)).returncode != 0
    _count_rows(trial, tally, expected=BASE_ROWS + trial.inputs.rows)
    return tally


def repair_during_ingest(trial: Trial) -> Tally:
    tally = Tally()
    ingest, repair = trial.race(
        (0.0, [*INGEST, str(trial.inputs.parquet)]),
        (trial.rng.uniform(0.0, trial.ingest_seconds), ["doctor", "--repair"]),
        EVALCTL_GRACE="0s")
    out, _ = ingest.communicate(timeout=TIMEOUT)
    repair.communicate(timeout=TIMEOUT)
    tally.outcomes[f"ingest exit {ingest.returncode}, repair exit {repair.returncode}"] += 1
    tally.unexpected_exits += ingest.returncode not in (0, 3) or repair.returncode not in (0, 3)
    committed = len(_records(trial, tally)) == 2
    if ingest.returncode == 0:
        said_already = json.loads(out)["results"][0]["already_ingested"]
        if said_already or not committed:  # reported success, but the rows are not there
            tally.rows_lost += trial.inputs.rows
    elif committed:  # refused, yet a record was committed
        tally.partial_commits += 1
    _count_rows(trial, tally, expected=BASE_ROWS + (trial.inputs.rows if committed else 0))
    return tally


def same_file(trial: Trial) -> Tally:
    tally = Tally()
    procs = trial.race(*[(trial.rng.uniform(0.0, 0.05), [*INGEST, str(trial.inputs.parquet)])
                         for _ in range(3)])
    outs = [p.communicate(timeout=TIMEOUT)[0] for p in procs]
    tally.unexpected_exits += sum(p.returncode != 0 for p in procs)
    fresh = [not json.loads(o)["results"][0]["already_ingested"] for o in outs if o]
    tally.outcomes[f"{sum(fresh)} of 3 committed"] += 1
    _records(trial, tally)
    _count_rows(trial, tally, expected=BASE_ROWS + trial.inputs.rows)
    return tally


def same_rows(trial: Trial) -> Tally:
    tally = Tally()
    procs = trial.race(*[(trial.rng.uniform(0.0, 0.05), [*INGEST, str(path)])
                         for path in (trial.inputs.parquet, trial.inputs.copy)])
    outs = [p.communicate(timeout=TIMEOUT)[0] for p in procs]
    tally.unexpected_exits += sum(p.returncode != 0 for p in procs)
    warned = [json.loads(o)["results"][0]["ids_in_store"] for o in outs if o]
    tally.outcomes[f"{sum(w == trial.inputs.rows for w in warned)} of 2 warned"] += 1
    _records(trial, tally)
    expected = BASE_ROWS + 2 * trial.inputs.rows  # both commit: evalctl never drops rows
    _count_rows(trial, tally, expected=expected)
    if max(warned, default=0) < trial.inputs.rows:  # nobody counted every repeated id
        tally.rows_duplicated += trial.inputs.rows - max(warned, default=0)
    return tally


def monitors(trial: Trial) -> Tally:
    tally = Tally()
    alerts = [trial.folder / f"alerts-{n}.jsonl" for n in range(2)]
    procs = trial.race(*[(trial.rng.uniform(0.0, 0.002),
                          ["monitor", "--model", "churn", "--date", EMPTY_DAY, "--alerts",
                           str(path), "--format", "json"]) for path in alerts])
    for proc in procs:
        proc.communicate(timeout=TIMEOUT)
        tally.unexpected_exits += proc.returncode not in (0, 1)
    lines = [json.loads(line) for path in alerts if path.exists()
             for line in path.read_text().splitlines()]
    keys = [(a["check"], a["feature"], a["status"]) for a in lines]
    tally.duplicate_alerts += len(keys) - len(set(keys))
    stored = set()
    for folder in (trial.store / "results" / "model=churn").glob(f"check=*/date={EMPTY_DAY}"):
        runs = sorted(folder.glob("run-*.json"))
        tally.leftovers += len(runs) - 1  # one history entry per window
        stored |= {(r["check"], r["feature"], r["status"])
                   for r in json.loads(runs[-1].read_text())["results"]
                   if r["status"] in ("warn", "fail")}
    tally.lost_alerts += len(stored - set(keys))
    tally.outcomes[f"{len(keys)} alert line(s) for {len(stored)} alert(s)"] += 1
    return tally


TRIALS: dict[str, Callable[[Trial], Tally]] = {
    "kill-ingest": kill_ingest, "repair-during-ingest": repair_during_ingest,
    "same-file": same_file, "same-rows": same_rows, "monitors": monitors}


# -- checks -------------------------------------------------------------------------------

def _records(trial: Trial, tally: Tally) -> list[str]:
    """The committed batches; a record whose rows differ from its input's, or whose files
    `doctor` finds damaged, is a partial commit."""
    from evalctl.lake.doctor import examine_store
    from evalctl.lake.ledger import read_records

    records = read_records(trial.store)
    for record in records:
        expected = sum(trial.inputs.rows_by_sha.get(s["sha256"], -1) for s in record.sources)
        tally.partial_commits += record.rows != expected
    damaged = {d["batch"] for d in examine_store(trial.store).damaged}
    tally.partial_commits += len(damaged)
    return [r.batch for r in records]


def _count_rows(trial: Trial, tally: Tally, expected: int) -> None:
    """Committed rows (read from the files the ledger names) against what must be there."""
    from evalctl.lake.ledger import read_records

    paths = [str(trial.store / f.path) for r in read_records(trial.store) for f in r.files
             if (trial.store / f.path).is_file()]
    found = pl.scan_parquet(paths).select(pl.len()).collect().item() if paths else 0
    tally.rows_lost += max(0, expected - found)
    tally.rows_duplicated += max(0, found - expected)


def _orphans(trial: Trial) -> int:
    from evalctl.lake.doctor import examine_store

    return len(examine_store(trial.store).orphans)


# -- set-up -------------------------------------------------------------------------------

def _frame(n: int, seed: int, prefix: str) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    score = rng.random(n)
    step = timedelta(days=DAYS) / n
    return pl.DataFrame({
        "request_id": [f"{prefix}{i:07d}" for i in range(n)],
        "ts": [START + i * step for i in range(n)],
        "age": rng.integers(16, 80, n).astype(float),
        "country": rng.choice(["US", "BR", "DE"], n),
        "minutes": rng.gamma(2.0, 30.0, n),
        "score": score,
        "predicted_label": (score >= 0.5).astype(int),
        "label": (rng.random(n) < score).astype(int),
    })


def _write_inputs(folder: Path, rows: int, seed: int) -> Inputs:
    from evalctl.lake.readers import file_sha256

    folder.mkdir(parents=True, exist_ok=True)
    base, parquet, copy = (folder / name for name in ("base.parquet", "rows.parquet",
                                                        "rows-copy.parquet"))
    _frame(BASE_ROWS, seed + 1, "base").write_parquet(base)
    frame = _frame(rows, seed, "r")
    frame.write_parquet(parquet)
    frame.write_parquet(copy, compression="snappy")  # other bytes, same rows, same speed
    counts = {file_sha256(p): n for p, n in ((base, BASE_ROWS), (parquet, rows), (copy, rows))}
    return Inputs(base, parquet, copy, rows, counts)


def _new_store(trial: Trial) -> None:
    """A store holding one committed base batch (written in-process: fast)."""
    from evalctl import api
    from evalctl.lake import Store
    from evalctl.settings.load import load_config

    trial.folder.mkdir(parents=True)
    (trial.folder / "evalctl.yaml").write_text(CONFIG)
    store = Store.init(trial.store)
    model = load_config(trial.folder / "evalctl.yaml").model("churn")
    api.ingest(store, model, [trial.inputs.base], version="v1", env="production")


def _calibrate(root: Path, inputs: Inputs) -> float:
    """An uncontended ingest's work (start gate to exit): kills and repairs land within it."""
    trial = Trial(root / "calibration", inputs, random.Random(0), 0.0)
    _new_store(trial)
    [proc] = trial.race((0.0, [*INGEST, str(inputs.parquet)]))
    start = time.perf_counter()
    proc.communicate(timeout=TIMEOUT)
    seconds = time.perf_counter() - start
    shutil.rmtree(trial.folder, ignore_errors=True)
    return seconds


# -- report -------------------------------------------------------------------------------

COLUMNS = ("trials", "partial_commits", "rows_lost", "rows_duplicated", "duplicate_alerts",
           "lost_alerts", "leftovers", "unexpected_exits")


def render(tallies: dict[str, Tally]) -> str:
    total = Tally()
    for tally in tallies.values():
        total.add(tally)
    head = ["kind", *COLUMNS]
    body = [[kind, *(str(getattr(t, c)) for c in COLUMNS)] for kind, t in tallies.items()]
    body.append(["all", *(str(getattr(total, c)) for c in COLUMNS)])
    widths = [max(len(row[i]) for row in [head, *body]) for i in range(len(head))]
    lines = ["  ".join(cell.rjust(w) if i else cell.ljust(w)
                       for i, (cell, w) in enumerate(zip(row, widths, strict=True)))
             for row in [head, *body]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.append("")
    for kind, tally in tallies.items():
        seen = "; ".join(f"{what}: {n}" for what, n in sorted(tally.outcomes.items()))
        lines.append(f"{kind}: {seen}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows per raced ingest")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", type=Path, default=None,
                        help="run in this folder and keep every trial's store")
    parser.add_argument("--kind", action="append", choices=KINDS,
                        help="only these kinds of trial (repeatable; default: all)")
    args = parser.parse_args()
    start = time.perf_counter()
    tallies = run_campaign(args.trials, args.rows, args.seed, args.keep,
                           progress=lambda line: print(line, file=sys.stderr),
                           kinds=tuple(args.kind or KINDS))
    print(render(tallies))
    print(f"\n{args.trials} trials, {args.rows:,} rows per raced ingest, seed {args.seed}, "
          f"{time.perf_counter() - start:.0f}s")
    return 1 if any(t.failures for t in tallies.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
