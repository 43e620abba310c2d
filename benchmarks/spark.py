"""Spark engine benchmark (issue #19): `profiles build` and `skew` on Spark vs the local engine.

30 features (20 numeric, 10 categorical incl. one with 1,000 levels); N rows of training (the
monitoring reference) and N rows of production, each over 30 days (one file per day), per
size. Each step runs the CLI in a child process; it reports wall time, seconds per million
rows (both sides), the driver's Python peak RSS (VmHWM of the evalctl process) and the peak of
the summed RSS of its Java descendants (the driver JVM, and under local-cluster the executor
JVMs; their Python workers are counted with them).

- `profiles build --engine spark` on local[2] and on local-cluster[2,1,1024], and the local
  engine's `profiles build` (profiles are removed between the builds);
- `skew --engine spark` (local[2]) and `skew --engine scan`.

Usage: python benchmarks/spark.py [--rows 1000000 5000000 20000000] [--keep DIR]
(needs `pip install 'evalctl[spark]'` and Java 17+.)
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import evalctl_timed, synth_frame, write_config  # noqa: E402


@dataclass(frozen=True)
class Measured:
    seconds: float
    cpu_seconds: float  # user + sys of evalctl and the children it reaped (not the JVMs')
    driver_mib: float  # the evalctl (driver) Python process's peak RSS
    jvm_mib: float  # peak of the summed RSS of the Java processes under it


def _status(pid: int, key: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith(key):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _descendants(pid: int) -> list[int]:
    found, stack = [], [pid]
    while stack:
        current = stack.pop()
        try:
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        for child in map(int, children):
            found.append(child)
            stack.append(child)
    return found


def _is_java(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip() == "java"
    except OSError:
        return False


def measured(args: list[str], cwd: Path) -> Measured:
    """Run evalctl with `args`; wall and CPU time, driver peak RSS, JVMs' peak RSS."""
    before = os.times()
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "evalctl", *args], cwd=cwd,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    driver = jvm = 0
    while proc.poll() is None:
        driver = max(driver, _status(proc.pid, "VmHWM:"))
        tree = _descendants(proc.pid)
        java = [p for p in tree if _is_java(p)]
        jvm = max(jvm, sum(_status(p, "VmRSS:") for p in java + _descendants_of(java)))
        time.sleep(0.05)
    elapsed = time.perf_counter() - start
    after = os.times()
    stderr = proc.stderr.read().decode() if proc.stderr else ""
    if proc.returncode not in (0, 1):
        raise SystemExit(f"evalctl {' '.join(args)} failed:\n{stderr[-3000:]}")
    cpu = (after.children_user - before.children_user) + (after.children_system
                                                          - before.children_system)
    return Measured(elapsed, cpu, driver / 1024, jvm / 1024)


def _descendants_of(pids: list[int]) -> list[int]:
    """The Python workers (and executor JVMs) started by the Java processes."""
    return [d for p in pids for d in _descendants(p) if not _is_java(d)]


def setup(work: Path, rows: int) -> None:
    work.mkdir(parents=True, exist_ok=True)
    config = write_config(work)
    text = config.read_text().replace("    features:\n", "    reference: training\n"
                                      "    features:\n", 1)
    config.write_text("engine:\n  kind: local\n  master: local[2]\n  conf:\n"
                      "    spark.driver.memory: 1g\n" + text)
    evalctl_timed(["init", "store", "--no-config"], cwd=work)
    for env, seed, shift, start, offset in (("training", 1, 0.0, datetime(2026, 9, 1), 0),
                                            ("production", 2, 0.2, datetime(2026, 11, 1),
                                             rows)):
        path = work / f"{env}.parquet"
        synth_frame(rows, seed=seed, start=start, days=30, shift=shift,
                    id_offset=offset).write_parquet(path)
        evalctl_timed(["ingest", path.name, "--model", "bench", "--version", "v1", "--env",
                       env], cwd=work)
        path.unlink()


def with_master(work: Path, master: str) -> None:
    config = work / "evalctl.yaml"
    lines = config.read_text().splitlines()
    lines[2] = f"  master: {master}"
    config.write_text("\n".join(lines) + "\n")


def run_size(work: Path, rows: int) -> list[tuple[str, Measured]]:
    setup(work, rows)
    out = ["--model", "bench", "--format", "json", "--output", "out.json"]
    steps: list[tuple[str, Measured]] = []
    for name, master, engine in (("profiles build, local engine", "local[2]", "local"),
                                 ("profiles build --engine spark, local[2]", "local[2]",
                                  "spark"),
                                 ("profiles build --engine spark, local-cluster[2,1,1024]",
                                  "local-cluster[2,1,1024]", "spark")):
        shutil.rmtree(work / "store" / "profiles", ignore_errors=True)
        with_master(work, master)
        steps.append((name, measured(["profiles", "build", *out, "--engine", engine],
                                     cwd=work)))
    with_master(work, "local[2]")
    sides = ["--reference", "training", "--current", "production"]
    for engine in ("scan", "spark"):
        steps.append((f"skew --engine {engine}" + (", local[2]" if engine == "spark" else ""),
                      measured(["skew", *out, *sides, "--engine", engine], cwd=work)))
    return steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+",
                        default=[1_000_000, 5_000_000, 20_000_000],
                        help="rows per side (training and production), one run per size")
    parser.add_argument("--keep", type=Path, default=None)
    args = parser.parse_args()
    base = args.keep or Path(tempfile.mkdtemp(prefix="evalctl-bench-spark-"))
    for rows in args.rows:
        steps = run_size(base / f"rows-{rows}", rows)
        millions = 2 * rows / 1e6  # both sides are read
        print(f"\nspark benchmark: {rows:,} rows per side, 30 features (+ score, prediction), "
              "30 days")
        print(f"{'step':<56}{'seconds':>9}{'s/M rows':>10}{'CPU s*':>8}{'driver MiB':>12}"
              f"{'JVMs MiB':>10}")
        for name, m in steps:
            print(f"{name:<56}{m.seconds:>9.1f}{m.seconds / millions:>10.2f}"
                  f"{m.cpu_seconds:>8.1f}{m.driver_mib:>12,.0f}{m.jvm_mib:>10,.0f}", flush=True)
        print("* CPU s: the evalctl process and what it reaped; Spark JVMs and workers not "
              "counted")
        if args.keep is None:
            shutil.rmtree(base / f"rows-{rows}", ignore_errors=True)
    if args.keep is None:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
