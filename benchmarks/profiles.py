"""Profiles benchmark (issue #16): skew, drift and monitor from profiles vs from a scan.

30 features (20 numeric, 10 categorical incl. one with 1,000 levels); N rows of training
(the monitoring reference) and N rows of production, each over 30 days, per size. For each
size it times, end to end in a child process with its peak RSS:

- the floor: a bare polars scan computing one aggregate per column of both sides' files;
- ingest of the production export with its profiles, the same export into a store whose
  model has no `reference:` (no profiles: the ingest target is at most 1.3x this), and
  `profiles build` (the one-time fit and profiling of the training batch; target: at most
  1.5x the scan-path skew);
- `skew` and `drift --window 1d` with `--engine profiles` and `--engine scan`;
- `monitor` for the last day (drift over 7 days) with profiles, and with a config without
  `reference:` (every check scans).

Targets (issue #16): skew and drift from profiles at most 0.6 s and 300 MB at every size,
flat in the row count. After the per-size tables, one table puts the sizes side by side.
evalctl's modules are byte-compiled first (as pip does at install), so no run pays for it.

Usage: python benchmarks/profiles.py [--rows 1000000 5000000 20000000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import compileall
import shutil
import sys
import tempfile
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import (  # noqa: E402
    Timing,
    evalctl_timed,
    feature_names,
    python_timed,
    synth_frame,
    write_config,
)

FLOOR = """
import glob, polars as pl
files = sorted(glob.glob({pattern!r}, recursive=True))
cols = {cols!r}
pl.scan_parquet(files).select(
    [pl.col(c).mean() if c.startswith("num") else pl.col(c).n_unique() for c in cols]
).collect()
"""


def ingest(work: Path, frame_rows: int, seed: int, env: str, shift: float,
           start: datetime, offset: int, plain: Path | None = None,
           mirror: Path | None = None) -> tuple[Timing, Timing]:
    """Ingest one export into the store (with profiles when the model has a reference), and,
    given `plain` (a config whose model has no reference, on its own store), the same export
    there first: (with, without). `mirror`: ingest it there too, untimed (so the store
    without profiles holds the same training batch, and the ratio measures profiles alone)."""
    path = work / f"{env}.parquet"
    synth_frame(frame_rows, seed=seed, start=start, days=30, shift=shift,
                id_offset=offset).write_parquet(path)
    args = ["ingest", path.name, "--model", "bench", "--version", "v1", "--env", env]
    if mirror is not None:
        evalctl_timed(["--config", mirror.name, *args], cwd=work)
    without = evalctl_timed(["--config", plain.name, *args], cwd=work) if plain else None
    timing = evalctl_timed(args, cwd=work)
    path.unlink()
    return timing, without or timing


def run_size(work: Path, rows: int) -> list[tuple[str, Timing]]:
    work.mkdir(parents=True, exist_ok=True)
    config = write_config(work)
    scan_config = work / "scan.yaml"
    scan_config.write_text(config.read_text())  # the same model without a reference
    text = config.read_text().replace("    features:\n", "    reference: training\n"
                                      "    features:\n", 1)
    config.write_text(text)
    plain = work / "plain.yaml"  # the model without a reference, on a store of its own
    plain.write_text(scan_config.read_text().replace("store: store", "store: plain", 1))
    evalctl_timed(["init", "store", "--no-config"], cwd=work)
    evalctl_timed(["init", "plain", "--no-config"], cwd=work)
    ingest(work, rows, 1, "training", 0.0, datetime(2026, 9, 1), 0, mirror=plain)
    build = evalctl_timed(["profiles", "build", "--model", "bench"], cwd=work)
    production, without = ingest(work, rows, 2, "production", 0.2, datetime(2026, 11, 1), rows,
                                 plain)
    shutil.rmtree(work / "plain", ignore_errors=True)
    cols = list(feature_names())
    floor = python_timed(FLOOR.format(
        pattern=str(work / "store" / "predictions" / "**" / "*.parquet"), cols=cols))
    out = ["--model", "bench", "--format", "json", "--output", "out.json"]
    sides = ["--reference", "training", "--current", "production"]
    timings = [("bare polars scan (floor)", floor), ("profiles build (training)", build),
               ("ingest production + profiles", production),
               ("ingest production, no profiles", without)]
    for engine in ("profiles", "scan"):
        timings.append((f"skew --engine {engine}",
                        evalctl_timed(["skew", *out, *sides, "--engine", engine], cwd=work)))
        timings.append((f"drift 1d --engine {engine}",
                        evalctl_timed(["drift", *out, *sides, "--window", "1d", "--engine",
                                       engine], cwd=work)))
    monitor = ["monitor", "--model", "bench", "--date", "2026-11-30", "--format", "json",
               "--output", "out.json"]
    timings.append(("monitor (profiles)", evalctl_timed(monitor, cwd=work)))
    timings.append(("monitor (scan)", evalctl_timed(["--config", "scan.yaml", *monitor],
                                                     cwd=work)))
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 5_000_000],
                        help="rows per side (training and production), one run per size; "
                        "the issue's sizes are 1000000 5000000 20000000")
    parser.add_argument("--keep", type=Path, default=None)
    args = parser.parse_args()
    # byte-compile evalctl as an install does (PYTHONDONTWRITEBYTECODE would otherwise make
    # every timed run compile ~100 modules, ~0.1-0.4 s that no installed evalctl pays)
    compileall.compile_dir(str(Path(__file__).parents[1] / "src" / "evalctl"), quiet=1)
    base = args.keep or Path(tempfile.mkdtemp(prefix="evalctl-bench-profiles-"))
    sizes: dict[int, dict[str, Timing]] = {}
    for rows in args.rows:
        timings = run_size(base / f"rows-{rows}", rows)
        sizes[rows] = dict(timings)
        floor = timings[0][1]
        print(f"\nprofiles benchmark: {rows:,} rows per side, 30 features (+ score, "
              "prediction), 30 days")
        print(f"{'step':<34}{'seconds':>10}{'x floor':>10}{'peak RSS MiB':>15}")
        for name, t in timings:
            print(f"{name:<34}{t.seconds:>10.2f}{t.seconds / floor.seconds:>10.2f}"
                  f"{t.peak_rss_mib:>15,.0f}", flush=True)
        print(ratios(sizes[rows]))
        if args.keep is None:
            shutil.rmtree(base / f"rows-{rows}", ignore_errors=True)
    print(side_by_side(sizes))
    if args.keep is None:
        shutil.rmtree(base, ignore_errors=True)


def ratios(t: dict[str, Timing]) -> str:
    """The two same-run ratios the issue sets targets for."""
    ingest = (t["ingest production + profiles"].seconds
              / t["ingest production, no profiles"].seconds)
    build = t["profiles build (training)"].seconds / t["skew --engine scan"].seconds
    return (f"ingest with / without profiles: {ingest:.2f}x (target <= 1.3x); profiles build / "
            f"scan skew: {build:.2f}x (target <= 1.5x)")


def side_by_side(sizes: dict[int, dict[str, Timing]]) -> str:
    """Every step's seconds and peak RSS (MiB), one column pair per size."""
    head = f"\n{'step (seconds / peak RSS MiB)':<34}" + "".join(
        f"{f'{rows:,} rows':>22}" for rows in sizes)
    lines = [head]
    for name in next(iter(sizes.values()), {}):
        cells = "".join(f"{f'{t[name].seconds:.2f} / {t[name].peak_rss_mib:,.0f}':>22}"
                        for t in sizes.values())
        lines.append(f"{name:<34}{cells}")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
