"""Skew and drift benchmark (issue: skew and drift).

30 features (20 numeric, 10 categorical incl. one with 1,000 levels); reference 1M rows and
current 5M rows (30 days, shifted) stored in the lake. Times `evalctl skew` end to end (process
start to JSON written) and `evalctl drift --window 1d` over the 30 days, and in the same run the
floor: a bare polars scan computing one aggregate per column of the same files.
Targets: skew <= 3x the floor, drift <= 5x the floor, peak RSS < 2 GiB.

Usage: python benchmarks/drift.py [--reference-rows 1000000] [--current-rows 5000000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import (  # noqa: E402
    build_shifted_store,
    evalctl_timed,
    feature_names,
    python_timed,
    report,
)

FLOOR = """
import glob, polars as pl
files = sorted(glob.glob({pattern!r}, recursive=True))
cols = {cols!r}
pl.scan_parquet(files).select(
    [pl.col(c).mean() if c.startswith("num") else pl.col(c).n_unique() for c in cols]
).collect()
"""


def build_store(work: Path, ref_rows: int, cur_rows: int) -> None:
    """This benchmark's store (30 days a side), which slices.py and compare.py reuse."""
    build_shifted_store(work, ref_rows, cur_rows, days=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference-rows", type=int, default=1_000_000)
    parser.add_argument("--current-rows", type=int, default=5_000_000)
    parser.add_argument("--keep", type=Path, default=None)
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="evalctl-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    build_store(work, args.reference_rows, args.current_rows)
    cols = list(feature_names())
    pattern = str(work / "store" / "predictions" / "**" / "*.parquet")
    floor = python_timed(FLOOR.format(pattern=pattern, cols=cols))
    common = ["--model", "bench", "--format", "json", "--output"]
    skew = evalctl_timed(["skew", *common, "skew.json", "--reference", "training",
                          "--current", "production"], cwd=work)
    drift = evalctl_timed(["drift", *common, "drift.json", "--reference", "training",
                           "--current", "production", "--window", "1d"], cwd=work)
    rows = args.reference_rows + args.current_rows
    print(f"skew/drift benchmark: reference {args.reference_rows:,} + current "
          f"{args.current_rows:,} rows, 30 features (+ score, prediction)")
    report([("evalctl skew (end to end)", skew), ("evalctl drift --window 1d (30 windows)",
                                                   drift)], floor, rows)
    print(f"skew/floor {skew.seconds / floor.seconds:.2f} (target <= 3); "
          f"drift/floor {drift.seconds / floor.seconds:.2f} (target <= 5); "
          f"peak RSS {max(skew.peak_rss_mib, drift.peak_rss_mib):,.0f} MiB (target < 2048)")
    if args.keep is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
