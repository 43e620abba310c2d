"""Monitor benchmark (issue: labels late, monitor, history).

A store with 3 models, 60 days of production at 200k rows/day each (plus a 200k-row training
and a 100k-row validation set per model): one `evalctl monitor` run for the newest day and
`evalctl history` over the 60 days, with wall time and peak RSS, and the floor in the same run
(a bare polars scan of that day's partitions). Partition pruning must make monitor's cost grow
with the window, not with the store: the same monitor run on a store holding only the last
week (what the newest day's checks read: the day and its 7-day drift window) is timed too, and
the ratio must be within 3x.

Usage: python benchmarks/monitor.py [--rows-per-day 200000] [--days 60] [--keep DIR]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import (  # noqa: E402
    evalctl_timed,
    feature_names,
    ingest_frame,
    python_timed,
    report,
    synth_frame,
)

MODELS = ("alpha", "beta", "gamma")
START = datetime(2026, 9, 1)
FLOOR = """
import glob, polars as pl
files = sorted(glob.glob({pattern!r}))
pl.scan_parquet(files).select(pl.all().exclude("request_id", "ts").mean()).collect()
"""


def write_config(folder: Path) -> None:
    lines = ["store: store", "models:"]
    for name in MODELS:
        lines += [f"  {name}:", "    task: binary_classification", "    id: request_id",
                  "    timestamp: ts", "    prediction: predicted_label", "    score: score",
                  "    label: label", "    features:"]
        lines += [f"      {f}: {k}" for f, k in feature_names().items()]
    (folder / "evalctl.yaml").write_text("\n".join(lines) + "\n")


def build(folder: Path, rows_per_day: int, days: int, first_day: int) -> None:
    """Ingest days [first_day, days) of production, in 10-day batches, for every model."""
    folder.mkdir(parents=True, exist_ok=True)
    write_config(folder)
    evalctl_timed(["init", "store", "--no-config"], cwd=folder)
    for m, name in enumerate(MODELS):
        for e, (env, rows, start) in enumerate((
                ("training", 200_000, START - timedelta(days=30)),
                ("validation", 100_000, START - timedelta(days=5)))):
            frame = synth_frame(rows, seed=m * 7 + e, start=start, days=5,
                                id_offset=10**9 * (m + 1) + e * 10**6)
            ingest_frame(folder, frame, model=name, env=env)
        for chunk in range(first_day, days, 10):
            span = min(10, days - chunk)
            frame = synth_frame(rows_per_day * span, seed=m * 100 + chunk,
                                start=START + timedelta(days=chunk), days=span, shift=0.1,
                                id_offset=chunk * rows_per_day)
            ingest_frame(folder, frame, model=name, env="production")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows-per-day", type=int, default=200_000)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--keep", type=Path, default=None)
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="evalctl-bench-"))
    full, small = work / "full", work / "last-week"
    if not (full / "store" / "_ledger").is_dir():
        print("building the 60-day store ...", file=sys.stderr)
        build(full, args.rows_per_day, args.days, 0)
    if not (small / "store" / "_ledger").is_dir():
        build(small, args.rows_per_day, args.days, args.days - 7)
    newest = (START + timedelta(days=args.days - 1)).date()
    pattern = str(full / "store" / "predictions" / "model=*" / "version=*" / "env=production"
                  / f"date={newest}" / "*.parquet")
    floor = python_timed(FLOOR.format(pattern=pattern))
    monitor = ["monitor", "--date", newest.isoformat(), "--format", "json", "--output",
               "monitor.json"]
    full_run = evalctl_timed(monitor, cwd=full)
    small_run = evalctl_timed(monitor, cwd=small)
    history = evalctl_timed(["history", "--model", "alpha", "--format", "json", "--output",
                             "history.json"], cwd=full)
    rows = 3 * args.rows_per_day
    print(f"monitor benchmark: 3 models x {args.days} days x {args.rows_per_day:,} rows/day; "
          f"newest day {newest} ({rows:,} rows)")
    report([("evalctl monitor (60-day store)", full_run),
            ("evalctl monitor (last-week store)", small_run),
            ("evalctl history (alpha)", history)], floor, rows)
    print(f"monitor 60-day store / last-week store: {full_run.seconds / small_run.seconds:.2f} "
          f"(target <= 3); peak RSS {full_run.peak_rss_mib:,.0f} MiB")
    if args.keep is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
