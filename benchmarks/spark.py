"""Spark engine benchmark (issue #19): `profiles build` and `skew` on Spark at several sizes.

30 features (20 numeric, 10 categorical incl. one with 1,000 levels); N rows of training (the
monitoring reference) and N rows of production per size, each over 30 days (one data file per
day). The exports are written a day and at most `CHUNK_ROWS` rows at a time, and ingested at
most `INGEST_ROWS` rows per ingest, so no step of the benchmark holds a whole side: a 20M-row
size is never a 20M-row frame. Each step runs the CLI in a child process; it reports wall
time, seconds per million rows read (both sides), the CPU time of the whole process tree
(evalctl, the JVMs, Spark's Python workers; sampled from /proc), evalctl's Python driver peak
RSS (VmHWM), and the peaks of the summed RSS of the Java processes under it (the driver JVM;
under local-cluster also the two executor JVMs) and of Spark's Python workers.

- floor: a bare polars streaming scan summing every column of both sides;
- `profiles build` on the local engine, `--engine spark` on local[2] and on
  local-cluster[2,1,1024] (profiles and the reference are removed before each build, so each
  one fits the reference and profiles every file);
- `skew --engine scan` (local), `--engine spark` on local[2] and on local-cluster[2,1,1024].

The summary compares the sizes: time per million rows, the driver's peak against 600 MiB, and
the JVMs' peak (under local-cluster: the driver JVM and two executor JVMs; flat within ±20%
is the target).

Usage: python benchmarks/spark.py [--rows 1000000 5000000 20000000] [--work DIR] [--keep]
[--only TEXT]
(needs `pip install 'evalctl[spark]'` and Java 17+; a store is built per size in
DIR/rows-N, deleted after its size unless --keep.)
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
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).parent))
from _common import evalctl_timed, run_timed, synth_frame, write_config  # noqa: E402

DAYS = 30
CHUNK_ROWS = 500_000  # rows generated and written at a time
INGEST_ROWS = 1_000_000  # rows one `evalctl ingest` reads at most (whole days)
CLUSTER = "local-cluster[2,1,1024]"
DRIVER_LIMIT_MIB = 600
TICKS = os.sysconf("SC_CLK_TCK")
FLOOR = """
import polars as pl, sys
lf = pl.scan_parquet(sys.argv[1] + "/predictions/**/*.parquet", hive_partitioning=False)
names = lf.collect_schema().names()
lf.select([pl.col(c).cast(pl.String).str.len_bytes().sum() if c.startswith("cat") or
           c == "request_id" else pl.col(c).cast(pl.Float64).sum() for c in names]
          ).collect(engine="streaming")
"""


@dataclass(frozen=True)
class Measured:
    seconds: float
    cpu_seconds: float  # user + sys of the whole process tree (JVMs and workers included)
    driver_mib: float  # the evalctl (driver) Python process's peak RSS
    jvm_mib: float  # peak of the summed RSS of the Java processes under it
    workers_mib: float  # peak of the summed RSS of Spark's Python workers


def _status(pid: int, key: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith(key):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _cpu_ticks(pid: int) -> int:
    """utime + stime of a process (and of the children it has waited for)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return sum(int(v) for v in fields[11:15])  # utime stime cutime cstime


def _descendants(pid: int) -> list[int]:
    """Every process under `pid`. A process's children are listed per thread that started
    them (/proc/PID/task/TID/children): the executor JVMs under local-cluster and Spark's
    Python workers are started by threads of the driver JVM, not by its main thread."""
    found, stack = [], [pid]
    while stack:
        current = stack.pop()
        children: list[str] = []
        for thread in Path(f"/proc/{current}/task").glob("*"):
            try:
                children += (thread / "children").read_text().split()
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
    """Run `args` (evalctl's when they start with a subcommand); wall and CPU time, driver
    peak RSS, the JVMs' and the Python workers' peak RSS."""
    command = args if args[0] == sys.executable else [sys.executable, "-m", "evalctl", *args]
    start = time.perf_counter()
    proc = subprocess.Popen(command, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    driver = jvm = workers = 0
    ticks: dict[int, int] = {}
    while proc.poll() is None:
        driver = max(driver, _status(proc.pid, "VmHWM:"))
        tree = _descendants(proc.pid)
        for pid in [proc.pid, *tree]:
            ticks[pid] = max(ticks.get(pid, 0), _cpu_ticks(pid))
        java = [p for p in tree if _is_java(p)]
        jvm = max(jvm, sum(_status(p, "VmRSS:") for p in java))
        workers = max(workers, sum(_status(p, "VmRSS:") for p in tree
                                   if p not in java and _is_python_worker(p)))
        time.sleep(0.1)
    elapsed = time.perf_counter() - start
    stderr = proc.stderr.read().decode() if proc.stderr else ""
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(args)} failed:\n{stderr[-3000:]}")
    return Measured(elapsed, sum(ticks.values()) / TICKS, driver / 1024, jvm / 1024,
                    workers / 1024)


def _is_python_worker(pid: int) -> bool:
    try:
        return b"pyspark" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def write_day(path: Path, rows: int, seed: int, day: datetime, shift: float,
              id_offset: int) -> None:
    """One day's export of `rows` rows (`synth_frame`'s columns), written `CHUNK_ROWS` at a
    time (a row group each), timestamps spread over the day."""
    step = 86_400_000_000 // rows
    writer: pq.ParquetWriter | None = None
    try:
        for k, lo in enumerate(range(0, rows, CHUNK_ROWS)):
            n = min(CHUNK_ROWS, rows - lo)
            frame = synth_frame(n, seed=seed * 1_000 + k, start=day, days=1, shift=shift,
                                id_offset=id_offset + lo)
            table = frame.with_columns(ts=pl.Series(np.datetime64(day, "us") + (
                (lo + np.arange(n)) * step).astype("timedelta64[us]"))).to_arrow()
            if writer is None:
                writer = pq.ParquetWriter(path, table.schema, compression="zstd")
            writer.write_table(table)
    finally:
        if writer is not None:
            writer.close()


def setup(work: Path, rows: int) -> None:
    """The store: config (engine kind local, its master rewritten per step), both sides
    written day by day and ingested a few days at a time (a store kept there by an earlier
    run with --keep is used again as it is)."""
    if (work / "store").is_dir() and (work / "evalctl.yaml").is_file():
        return
    work.mkdir(parents=True, exist_ok=True)
    config = write_config(work)
    text = config.read_text().replace("    features:\n", "    reference: training\n"
                                      "    features:\n", 1)
    config.write_text("engine:\n  kind: local\n  master: local[2]\n  conf:\n"
                      "    spark.driver.memory: 1g\n" + text)
    evalctl_timed(["init", "store", "--no-config"], cwd=work)
    per_day = [rows // DAYS + (d < rows % DAYS) for d in range(DAYS)]
    for env, seed, shift, first, offset in (("training", 1, 0.0, datetime(2026, 9, 1), 0),
                                            ("production", 2, 0.2, datetime(2026, 11, 1),
                                             rows)):
        group: list[Path] = []
        for d, n in enumerate(per_day):
            path = work / f"{env}-{d:02d}.parquet"
            write_day(path, n, seed * 100 + d, first + timedelta(days=d), shift,
                      offset + sum(per_day[:d]))
            group.append(path)
            if d == DAYS - 1 or sum(per_day[d + 1 - len(group):d + 2]) > INGEST_ROWS:
                evalctl_timed(["ingest", *(p.name for p in group), "--model", "bench",
                               "--version", "v1", "--env", env], cwd=work)
                for done in group:
                    done.unlink()
                group = []


def with_master(work: Path, master: str) -> None:
    config = work / "evalctl.yaml"
    lines = config.read_text().splitlines()
    lines[2] = f"  master: {master}"
    config.write_text("\n".join(lines) + "\n")


def run_size(work: Path, rows: int, only: str = "") -> list[tuple[str, Measured]]:
    """Every step at one size (`only`: just the floor and the steps whose name holds it)."""
    setup(work, rows)
    out = ["--model", "bench", "--format", "json", "--output", "out.json"]
    floor = run_timed([sys.executable, "-c", FLOOR, str(work / "store")])  # warm the cache
    steps: list[tuple[str, Measured]] = [
        (f"floor (polars scan; first run {floor.seconds:.1f} s)",
         measured([sys.executable, "-c", FLOOR, str(work / "store")], cwd=work))]
    for name, master, engine in (("profiles build, local engine", "local[2]", "local"),
                                 ("profiles build --engine spark, local[2]", "local[2]",
                                  "spark"),
                                 (f"profiles build --engine spark, {CLUSTER}", CLUSTER,
                                  "spark")):
        if only not in name:
            continue
        shutil.rmtree(work / "store" / "profiles", ignore_errors=True)
        with_master(work, master)
        steps.append((name, measured(["profiles", "build", *out, "--engine", engine],
                                     cwd=work)))
    shutil.rmtree(work / "store" / "profiles", ignore_errors=True)  # skew scans
    sides = ["--reference", "training", "--current", "production"]
    for name, master, engine in (("skew --engine scan", "local[2]", "scan"),
                                 ("skew --engine spark, local[2]", "local[2]", "spark"),
                                 (f"skew --engine spark, {CLUSTER}", CLUSTER, "spark")):
        if only not in name:
            continue
        with_master(work, master)
        steps.append((name, measured(["skew", *out, *sides, "--engine", engine], cwd=work)))
    return steps


def print_size(rows: int, steps: list[tuple[str, Measured]]) -> None:
    millions = 2 * rows / 1e6  # both sides are read
    print(f"\nspark benchmark: {rows:,} rows per side, 30 features (+ score, prediction), "
          f"{DAYS} days; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"{'step':<52}{'seconds':>9}{'s/M rows':>10}{'CPU s':>8}{'driver MiB':>12}"
          f"{'JVMs MiB':>10}{'workers MiB':>13}")
    for name, m in steps:
        print(f"{name:<52}{m.seconds:>9.1f}{m.seconds / millions:>10.2f}{m.cpu_seconds:>8.1f}"
              f"{m.driver_mib:>12,.0f}{m.jvm_mib:>10,.0f}{m.workers_mib:>13,.0f}", flush=True)


def print_summary(results: dict[int, list[tuple[str, Measured]]]) -> None:
    sizes = sorted(results)
    print(f"\nacross sizes ({', '.join(f'{r:,}' for r in sizes)} rows per side): s/M rows | "
          "driver MiB | JVMs MiB")
    names = [name for name, _ in results[sizes[0]]]
    for i, name in enumerate(names):
        cells = [results[r][i][1] for r in sizes]
        print(f"{name[:52]:<52}" + "".join(
            f"  {m.seconds / (2 * r / 1e6):6.2f} {m.driver_mib:5,.0f} {m.jvm_mib:5,.0f}"
            for r, m in zip(sizes, cells, strict=True)))
    spark = [m for r in sizes for name, m in results[r] if "--engine spark" in name]
    worst = max(m.driver_mib for m in spark)
    print(f"driver peak on Spark, worst step and size: {worst:,.0f} MiB "
          f"({'within' if worst <= DRIVER_LIMIT_MIB else 'OVER'} {DRIVER_LIMIT_MIB} MiB)")
    for name in [n for n in names if CLUSTER in n]:
        jvms = [m.jvm_mib for r in sizes for n, m in results[r] if n == name]
        print(f"{name}: JVMs' peak {min(jvms):,.0f}..{max(jvms):,.0f} MiB across sizes "
              f"(max/min {max(jvms) / min(jvms):.2f}; target <= 1.20 when flat ±20%)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+",
                        default=[1_000_000, 5_000_000, 20_000_000],
                        help="rows per side (training and production), one run per size")
    parser.add_argument("--work", type=Path, default=None,
                        help="folder for the stores (default: a new temporary folder)")
    parser.add_argument("--keep", action="store_true",
                        help="keep each size's store (a later run with the same --work uses "
                             "it again)")
    parser.add_argument("--only", default="",
                        help="run only the steps whose name holds this text (and the floor), "
                             "e.g. 'spark'")
    args = parser.parse_args()
    base = args.work or Path(tempfile.mkdtemp(prefix="evalctl-bench-spark-"))
    results: dict[int, list[tuple[str, Measured]]] = {}
    for rows in args.rows:
        results[rows] = run_size(base / f"rows-{rows}", rows, args.only)
        print_size(rows, results[rows])
        if not args.keep:
            shutil.rmtree(base / f"rows-{rows}", ignore_errors=True)
    if len(results) > 1:
        print_summary(results)
    if not args.keep and args.work is None:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
