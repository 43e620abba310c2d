"""Ingest with profiles vs without (issue #16: at most 1.3x), timed alone, runs alternated.

`benchmarks/profiles.py` times one ingest of each kind among many other steps; this times only
the two ingests of the production export, several times, alternating the two (and, given
`--old SRC`, alternating this checkout's code with another checkout's `src`), so a loaded
shared host affects both alike; each round starts one place later, so every code and store
takes every place in a round in turn (the first run of a round was ~0.2 s slower at 5M).
Each run ingests into a fresh copy of a prepared store (the training batch ingested and, for
the store with a reference, profiled). CPU is the child's user + system time.

Usage: python benchmarks/ingest_profiles.py --rows 1000000 --runs 5 [--old /path/to/src]
       [--keep DIR]
"""

from __future__ import annotations

import argparse
import compileall
import shutil
import statistics
import sys
import tempfile
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import Timing, evalctl_timed, run_timed, write_config, write_synth_export  # noqa: E402

SRC = Path(__file__).resolve().parent.parent / "src"


def prepare(work: Path, rows: int) -> None:
    """The two stores (with and without a reference) holding the training batch, and the
    production export."""
    config = write_config(work)
    plain = work / "plain.yaml"
    plain.write_text(config.read_text().replace("store: store", "store: plain", 1))
    config.write_text(config.read_text().replace(
        "    features:\n", "    reference: training\n    features:\n", 1))
    for store in ("store", "plain"):
        evalctl_timed(["init", store, "--no-config"], cwd=work)
    training = work / "training.parquet"
    write_synth_export(training, rows, seed=1, start=datetime(2026, 9, 1), days=30)
    args = ["ingest", training.name, "--model", "bench", "--version", "v1", "--env", "training"]
    evalctl_timed(args, cwd=work)
    evalctl_timed(["--config", plain.name, *args], cwd=work)
    evalctl_timed(["profiles", "build", "--model", "bench"], cwd=work)
    training.unlink()
    write_synth_export(work / "production.parquet", rows, seed=2, start=datetime(2026, 11, 1),
                       days=30, shift=0.2, id_offset=rows)


def ingest_once(work: Path, store: str, src: Path) -> Timing:
    """One ingest of the production export into a fresh copy of `store`."""
    run = work / "run"
    shutil.rmtree(run, ignore_errors=True)
    shutil.copytree(work / store, run)
    config = work / "run.yaml"
    source = work / ("evalctl.yaml" if store == "store" else "plain.yaml")
    config.write_text(source.read_text().replace(f"store: {store}", "store: run", 1))
    timing = run_timed([sys.executable, "-m", "evalctl", "--config", config.name, "ingest",
                        "production.parquet", "--model", "bench", "--version", "v1",
                        "--env", "production"], cwd=work, env={"PYTHONPATH": str(src)})
    if store == "store" and not any((run / "profiles").rglob("*.parquet")):
        raise SystemExit("the ingest with a reference wrote no profiles")
    shutil.rmtree(run)
    return timing


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--old", type=Path, help="another checkout's src, alternated with ours")
    parser.add_argument("--keep", type=Path, help="prepare (or reuse) the stores here")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="evalctl-bench-ingest-"))
    work.mkdir(parents=True, exist_ok=True)
    if not (work / "production.parquet").exists():
        prepare(work, args.rows)
    codes = {"new": SRC} | ({"old": args.old.resolve()} if args.old else {})
    for src in codes.values():
        compileall.compile_dir(str(src), quiet=1)
    results: dict[tuple[str, str], list[Timing]] = {}
    # each round starts one step later in the list: a run costs more by its place in a round
    # (5M rows: the first ~0.2 s more), so every code and store takes every place in turn
    steps = [(code, store) for code in codes for store in ("plain", "store")]
    for n in range(args.runs):
        for code, store in steps[n % len(steps):] + steps[:n % len(steps)]:
            timing = ingest_once(work, store, codes[code])
            results.setdefault((code, store), []).append(timing)
            print(f"run {n} {code} {'profiles' if store == 'store' else 'plain':8} "
                  f"{timing.seconds:6.2f} s wall {timing.cpu_seconds:6.2f} s CPU "
                  f"{timing.peak_rss_mib:6.0f} MiB", file=sys.stderr, flush=True)
    for code in codes:
        plain, profiled = results[(code, "plain")], results[(code, "store")]
        wall = [p.seconds / q.seconds for p, q in zip(profiled, plain, strict=True)]
        cpu = [p.cpu_seconds / q.cpu_seconds for p, q in zip(profiled, plain, strict=True)]
        print(f"{code}: {args.rows:,} rows; without profiles median "
              f"{statistics.median(t.seconds for t in plain):.2f} s wall "
              f"{statistics.median(t.cpu_seconds for t in plain):.2f} s CPU; with profiles "
              f"{statistics.median(t.seconds for t in profiled):.2f} s wall "
              f"{statistics.median(t.cpu_seconds for t in profiled):.2f} s CPU; ratio (median "
              f"of paired runs) {statistics.median(wall):.2f}x wall, "
              f"{statistics.median(cpu):.2f}x CPU; peak "
              f"{max(t.peak_rss_mib for t in profiled):.0f} / "
              f"{max(t.peak_rss_mib for t in plain):.0f} MiB")
    if not args.keep:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
