"""Ingest benchmark (issue: foundation).

Generates a 5,000,000-row, 30-feature Parquet export, ingests it with `evalctl ingest`
(process start to ledger commit), and in the same run times the floor: a bare polars read of
that file plus a zstd write of the same rows. Prints rows/s, the ratio and peak RSS.
Target: ingest <= 2x the floor, peak RSS < 2 GiB.

Usage: python benchmarks/ingest.py [--rows 5000000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import evalctl_timed, python_timed, report, synth_frame, write_config  # noqa: E402

FLOOR = """
import polars as pl
df = pl.read_parquet({src!r})
df.write_parquet({dst!r}, compression="zstd")
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--keep", type=Path, default=None)
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="evalctl-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    export = work / "export.parquet"
    if not export.exists():
        print(f"generating {args.rows:,} rows x 30 features ...", file=sys.stderr)
        synth_frame(args.rows, seed=1, start=datetime(2026, 11, 1), days=30).write_parquet(
            export)
    write_config(work)
    floor = python_timed(FLOOR.format(src=str(export), dst=str(work / "floor.parquet")))
    shutil.rmtree(work / "store", ignore_errors=True)
    evalctl_timed(["init", "store", "--no-config"], cwd=work)
    ingest = evalctl_timed(["ingest", str(export), "--model", "bench", "--version", "v1",
                            "--env", "production"], cwd=work)
    print(f"ingest benchmark: {args.rows:,} rows, 30 features, "
          f"{export.stat().st_size / 2**20:,.0f} MiB export")
    report([("evalctl ingest (end to end)", ingest)], floor, args.rows)
    print(f"ratio ingest/floor: {ingest.seconds / floor.seconds:.2f} (target <= 2.0); "
          f"peak RSS {ingest.peak_rss_mib:,.0f} MiB (target < 2048)")
    if args.keep is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
