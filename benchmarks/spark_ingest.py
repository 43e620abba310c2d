"""Spark ingest benchmark (issue #19): `ingest` on the local engine against `ingest --engine
spark` on local[2], of the same export, at several sizes.

The export: N rows of `synth_frame`'s columns (30 features, score, prediction, label) over 30
days in one Parquet file, written `CHUNK_ROWS` rows (one row group) at a time, so no step of
the benchmark holds the whole export; a Spark ingest cuts it into tasks of about 1M rows
(whole row groups). Each ingest goes into a fresh store (no reference: no profiles) and runs
the CLI in a child process: wall time, seconds per million rows, the CPU time of the whole
process tree (evalctl, the JVM, Spark's Python workers), evalctl's driver peak RSS (VmHWM)
and the JVM's peak RSS (in local[2] the executors live in the driver JVM), sampled from /proc
as in `benchmarks/spark.py`.

- floor: bare polars, in the same run: a streaming read of the export written back as
  zstd Parquet partitioned by date (what an ingest must at least do);
- `ingest` (local engine);
- `ingest --engine spark` on local[2].

Ratios to the floor and Spark to local are printed per size.

Usage: python benchmarks/spark_ingest.py [--rows 1000000 5000000] [--work DIR]
(needs `pip install 'evalctl[spark]'` and Java 17+.)
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import evalctl_timed, write_config, write_synth_export  # noqa: E402
from spark import Measured, measured  # noqa: E402

DAYS = 30
CHUNK_ROWS = 250_000  # rows generated and written at a time (one row group)
START = datetime(2026, 11, 1)
FLOOR = """
import polars as pl, sys
lf = pl.scan_parquet(sys.argv[1]).with_columns(pl.col("ts").dt.date().alias("_date"))
lf.sink_parquet(pl.PartitionBy(sys.argv[2], key="_date", include_key=False),
                compression="zstd", mkdir=True)
"""


def write_export(path: Path, rows: int) -> None:
    """`rows` rows over `DAYS` days in time order, a row group per `CHUNK_ROWS`."""
    write_synth_export(path, rows, seed=0, start=START, days=DAYS, chunk_rows=CHUNK_ROWS)


def fresh_store(work: Path) -> None:
    """An empty store and a config whose Spark master is local[2]."""
    shutil.rmtree(work / "store", ignore_errors=True)
    config = write_config(work)
    config.write_text("engine:\n  kind: local\n  master: local[2]\n  conf:\n"
                      "    spark.driver.memory: 1g\n" + config.read_text())
    evalctl_timed(["init", "store", "--no-config"], cwd=work)


def run_size(work: Path, rows: int) -> list[tuple[str, Measured]]:
    work.mkdir(parents=True, exist_ok=True)
    export = work / "export.parquet"
    write_export(export, rows)
    floor_args = [sys.executable, "-c", FLOOR, str(export), str(work / "floor")]
    steps = [("floor (polars read + partitioned write)", measured(floor_args, cwd=work))]
    shutil.rmtree(work / "floor", ignore_errors=True)
    ingest = ["ingest", export.name, "--model", "bench", "--version", "v1", "--env",
              "production"]
    for name, engine in (("ingest (local engine)", "local"),
                         ("ingest --engine spark, local[2]", "spark")):
        fresh_store(work)
        steps.append((name, measured([*ingest, "--engine", engine], cwd=work)))
    shutil.rmtree(work / "store", ignore_errors=True)
    return steps


def print_size(rows: int, steps: list[tuple[str, Measured]]) -> None:
    millions = rows / 1e6
    print(f"\nspark ingest benchmark: {rows:,} rows, 30 features (+ score, prediction, label), "
          f"{DAYS} days; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"{'step':<42}{'seconds':>9}{'s/M rows':>10}{'CPU s':>8}{'driver MiB':>12}"
          f"{'JVM MiB':>9}")
    for name, m in steps:
        print(f"{name:<42}{m.seconds:>9.1f}{m.seconds / millions:>10.2f}{m.cpu_seconds:>8.1f}"
              f"{m.driver_mib:>12,.0f}{m.jvm_mib:>9,.0f}", flush=True)
    floor, local, spark = (m for _, m in steps)
    print(f"ratios (wall / CPU): local/floor {local.seconds / floor.seconds:.2f} / "
          f"{local.cpu_seconds / floor.cpu_seconds:.2f}; spark/floor "
          f"{spark.seconds / floor.seconds:.2f} / {spark.cpu_seconds / floor.cpu_seconds:.2f}; "
          f"spark/local {spark.seconds / local.seconds:.2f} / "
          f"{spark.cpu_seconds / local.cpu_seconds:.2f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 5_000_000],
                        help="rows of the export, one run per size")
    parser.add_argument("--work", type=Path, default=None,
                        help="folder for the export and stores (default: a temporary one)")
    args = parser.parse_args()
    base = args.work or Path(tempfile.mkdtemp(prefix="evalctl-bench-spark-ingest-"))
    try:
        for rows in args.rows:
            print_size(rows, run_size(base / f"rows-{rows}", rows))
            shutil.rmtree(base / f"rows-{rows}", ignore_errors=True)
    finally:
        if args.work is None:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
