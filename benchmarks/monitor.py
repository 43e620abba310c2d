"""Monitor benchmark (issue: labels late, monitor, history).

A store with 3 models, 60 days of production at 200k rows/day each (plus a 200k-row training
and a 100k-row validation set per model): one `evalctl monitor` run for the newest day and
`evalctl history` over the 60 days, with wall time and peak RSS, and the floor in the same run
(a bare polars scan of that day's partitions). Partition pruning must make monitor's cost grow
with the window, not with the store: the same monitor run on a store holding only the last
week (what the newest day's checks read: the day and its 7-day drift window) is timed too, and
the ratio must be within 3x.

With `--labels`, the label-index benchmark instead (issue #16: monitor's cost grows with the
window, not the store): one model, 20k rows a day, delayed actuals arriving over the whole
history in weekly batches (each ingested before the week's predictions, so many actuals precede
their predictions; some never arrive, some are corrected later). `monitor` of the newest day on
the 365-day store vs on a store holding only the last week, in the same run (target <= 1.2x),
plus the 365-day store read as an older evalctl wrote it (no label index: every actual joined).

Usage: python benchmarks/monitor.py [--rows-per-day 200000] [--days 60] [--keep DIR]
       python benchmarks/monitor.py --labels [--rows-per-day 20000] [--days 365] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

import evalctl

sys.path.insert(0, str(Path(__file__).parent))
from _common import (  # noqa: E402
    Timing,
    evalctl_timed,
    feature_names,
    ingest_frame,
    python_timed,
    report,
    synth_frame,
)
from _common import write_config as write_bench_config  # noqa: E402

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


# -- the label-index benchmark (--labels) ----------------------------------------------------
WEEK = 7


def _steps(days: int) -> list[tuple[int, int]]:
    """Weekly steps [first, last) counted back from the newest day, so the last week of the
    long store is exactly the short store's only week."""
    ends = list(range(days, 0, -WEEK))
    return [(max(end - WEEK, 0), end) for end in reversed(ends)]


def _week(rows_per_day: int, first: int, last: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """One week's predictions (no inline label) and the actuals they will get: arrival after
    an exponential delay (mean 3 days, all through the history), 5% never, 2% corrected 10
    days after their first label."""
    frame = synth_frame(rows_per_day * (last - first), seed=first, start=START +
                        timedelta(days=first), days=last - first,
                        id_offset=first * rows_per_day)
    rng = np.random.default_rng(10_000 + first)
    n = frame.height
    delay = (rng.exponential(72.0, n) * 3_600_000_000).astype("timedelta64[us]")
    arrived = frame.select("request_id", "label", "ts").with_columns(
        (pl.col("ts") + pl.Series(delay)).alias("ts")).filter(pl.Series(rng.random(n) >= 0.05))
    fixes = arrived.filter(pl.Series(rng.random(arrived.height) < 0.02)).with_columns(
        (1 - pl.col("label")).cast(pl.Int8).alias("label"), pl.col("ts") + timedelta(days=10))
    return frame.drop("label"), pl.concat([arrived, fixes])


def build_labelled(folder: Path, rows_per_day: int, days: int, first_day: int
                   ) -> tuple[float, float]:
    """A store of days [first_day, days): a training reference, then week by week the actuals
    that arrived during the week (ingested first) and the week's predictions. Returns the
    wall seconds of the last week's two ingests (actuals, predictions)."""
    folder.mkdir(parents=True, exist_ok=True)
    write_bench_config(folder)
    evalctl_timed(["init", "store", "--no-config"], cwd=folder)
    work = evalctl.open(folder / "evalctl.yaml")
    training = synth_frame(100_000, seed=1, start=START - timedelta(days=30), days=5,
                           id_offset=10**10)
    _ingest(work, folder, training, env="training")
    validation = synth_frame(50_000, seed=2, start=START - timedelta(days=5), days=5,
                             id_offset=2 * 10**10)  # monitor's performance reference
    _ingest(work, folder, validation, env="validation")
    pending = pl.DataFrame(schema={"request_id": pl.String, "label": pl.Int8,
                                   "ts": pl.Datetime("us")})
    for first, last in _steps(days):
        predictions, actuals = _week(rows_per_day, first, last)
        pending = pl.concat([pending, actuals.cast(pending.schema)])
        end = START + timedelta(days=last)
        now = pending.filter(pl.col("ts") < end)
        pending = pending.filter(pl.col("ts") >= end)
        seconds = [0.0, 0.0]
        if last > first_day and now.height:
            path = folder / "actuals.parquet"
            now.write_parquet(path)
            started = time.perf_counter()
            work.ingest_actuals("bench", [path])
            seconds[0] = time.perf_counter() - started
            path.unlink()
        if last > first_day:
            started = time.perf_counter()
            _ingest(work, folder, predictions, env="production")
            seconds[1] = time.perf_counter() - started
    return seconds[0], seconds[1]


def _ingest(work: Any, folder: Path, frame: pl.DataFrame, env: str) -> None:
    path = folder / "export.parquet"
    frame.write_parquet(path)
    work.ingest("bench", [path], version="v1", env=env)
    path.unlink()


def _cpu_timed(args: list[str], cwd: Path) -> tuple[Timing, float]:
    """An evalctl run's wall time and peak RSS, and its CPU seconds (user + sys)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    timing = evalctl_timed(args, cwd=cwd)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return timing, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _without_index(store: Path) -> dict[Path, str]:
    """Strip the label index from every ledger record (as an older evalctl wrote them);
    returns the original texts to put back."""
    saved = {}
    for path in sorted((store / "_ledger").glob("*.json")):
        text = path.read_text()
        raw = json.loads(text)
        if "labels" in raw.get("extra", {}):
            saved[path] = text
            raw["extra"].pop("labels")
            path.write_text(json.dumps(raw))
    return saved


def labels_main(args: argparse.Namespace) -> None:
    rows_per_day = args.rows_per_day or 20_000
    days = args.days or 365
    work = args.keep or Path(tempfile.mkdtemp(prefix="evalctl-bench-labels-"))
    full, small = work / "labels-full", work / "labels-last-week"
    for folder, first in ((full, 0), (small, days - WEEK)):
        if not (folder / "store" / "_ledger").is_dir():
            print(f"building {folder.name} ...", file=sys.stderr)
            started = time.perf_counter()
            last = build_labelled(folder, rows_per_day, days, first)
            print(f"  built in {time.perf_counter() - started:.0f} s; the last week's ingests: "
                  f"actuals {last[0]:.2f} s, predictions {last[1]:.2f} s", file=sys.stderr)
    newest = (START + timedelta(days=days - 1)).date()
    pattern = str(full / "store" / "predictions" / "model=bench" / "version=*" /
                  "env=production" / f"date={newest}" / "*.parquet")
    floor = python_timed(FLOOR.format(pattern=pattern))
    monitor = ["monitor", "--date", newest.isoformat(), "--format", "json", "--output",
               "monitor.json"]
    runs = {}
    long = f"{days}-day store"
    for name, folder in (("7-day store", small), (long, full),
                         ("7-day store, again", small), (f"{long}, again", full)):
        runs[name] = _cpu_timed(monitor, folder)
    saved = _without_index(full / "store")
    try:
        runs[f"{long}, no label index"] = _cpu_timed(monitor, full)
    finally:
        for path, text in saved.items():
            path.write_text(text)
    actuals = sum(1 for _ in (full / "store" / "actuals").rglob("*.parquet"))
    print(f"label-index benchmark: 1 model x {days} days x {rows_per_day:,} rows/day, "
          f"{actuals} actuals files; monitor of {newest}; load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"{'run':<34}{'wall s':>9}{'CPU s':>9}{'peak RSS MiB':>15}")
    print(f"{'floor (scan of the day)':<34}{floor.seconds:>9.2f}{'':>9}"
          f"{floor.peak_rss_mib:>15,.0f}")
    for name, (timing, cpu) in runs.items():
        print(f"{name:<34}{timing.seconds:>9.2f}{cpu:>9.2f}{timing.peak_rss_mib:>15,.0f}")
    best_small = min(runs["7-day store"][1], runs["7-day store, again"][1])
    best_full = min(runs[long][1], runs[f"{long}, again"][1])
    wall_small = min(runs["7-day store"][0].seconds, runs["7-day store, again"][0].seconds)
    wall_full = min(runs[long][0].seconds, runs[f"{long}, again"][0].seconds)
    print(f"monitor {long} / 7-day store: CPU {best_full / best_small:.2f}x, wall "
          f"{wall_full / wall_small:.2f}x (best of 2 each; target <= 1.2); without the label "
          f"index: CPU {runs[f'{long}, no label index'][1] / best_small:.2f}x")
    if args.keep is None:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows-per-day", type=int, default=None)
    parser.add_argument("--days", type=int, default=None)
    parser.add_argument("--keep", type=Path, default=None)
    parser.add_argument("--labels", action="store_true",
                        help="the label-index benchmark (365-day store with delayed actuals)")
    args = parser.parse_args()
    if args.labels:
        labels_main(args)
        return
    args.rows_per_day = args.rows_per_day or 200_000
    args.days = args.days or 60
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
