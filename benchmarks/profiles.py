"""Profiles benchmark (issue #16): skew, drift and monitor from profiles vs from a scan.

30 features (20 numeric, 10 categorical incl. one with 1,000 levels); N rows of training
(the monitoring reference) and N rows of production, each over 30 days, per size. For each
size it times, end to end in a child process with its peak RSS:

- the floor: a bare polars scan computing one aggregate per column of both sides' files;
- ingest of the production export with its profiles, the same export into a store whose
  model has no `reference:` (no profiles: the ingest target is at most 1.3x this), and
  `profiles build` (the one-time fit and profiling of the training batch; target: at most
  1.5x the scan-path skew);
- `skew` and `drift --window 1d` with `--engine profiles` (the median of `QUICK_RUNS` runs)
  and `--engine scan`;
- the scan-path questions that need rows: `skew` with `thresholds: reference_chunks`,
  `drift --windows 30`, and `skew --join-key` (training joined with itself);
- `monitor` for the last day (drift over 7 days) with profiles (median of `QUICK_RUNS`), and
  with a config without `reference:` (every check scans).

Targets (issue #16): skew and drift from profiles at most 0.6 s and 300 MB at every size,
flat in the row count; the scan path and `profiles build` at most 1.5 GiB at 20M rows and
within 20% of 5M. After the per-size tables, one table puts the sizes side by side, then the
scan path's memory at the largest size. The exports are written chunk by chunk, so the
benchmark itself never holds a size's rows.
evalctl's modules are byte-compiled first (as pip does at install), so no run pays for it.

Usage: python benchmarks/profiles.py [--rows 1000000 5000000 20000000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import compileall
import os
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
    write_config,
    write_synth_export,
)

# the profile-served questions (under a second each) run this many times; the median run is
# reported (the scan path and the ingests, seconds to minutes, run once)
QUICK_RUNS = 5

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
    # written chunk by chunk: the benchmark never holds a 20M-row frame
    write_synth_export(path, frame_rows, seed=seed, start=start, days=30, shift=shift,
                       id_offset=offset)
    step("exported", path.name)
    args = ["ingest", path.name, "--model", "bench", "--version", "v1", "--env", env]
    if mirror is not None:
        evalctl_timed(["--config", mirror.name, *args], cwd=work)
    without = evalctl_timed(["--config", plain.name, *args], cwd=work) if plain else None
    timing = evalctl_timed(args, cwd=work)
    path.unlink()
    return timing, without or timing


def step(name: str, what: str | Timing) -> None:
    """Each step as it ends, on stderr (a 20M-row run takes long on a loaded host)."""
    text = what if isinstance(what, str) else (
        f"{what.seconds:.2f} s, {what.cpu_seconds:.2f} s CPU, {what.peak_rss_mib:,.0f} MiB")
    print(f"  {datetime.now():%H:%M:%S} {name}: {text}", file=sys.stderr, flush=True)


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
    step("profiles build (training)", build)
    production, without = ingest(work, rows, 2, "production", 0.2, datetime(2026, 11, 1), rows,
                                 plain)
    step("ingest production + profiles", production)
    step("ingest production, no profiles", without)
    shutil.rmtree(work / "plain", ignore_errors=True)
    cols = list(feature_names())
    floor = python_timed(FLOOR.format(
        pattern=str(work / "store" / "predictions" / "**" / "*.parquet"), cols=cols))
    step("bare polars scan (floor)", floor)
    out = ["--model", "bench", "--format", "json", "--output", "out.json"]
    sides = ["--reference", "training", "--current", "production"]
    timings = [("bare polars scan (floor)", floor), ("profiles build (training)", build),
               ("ingest production + profiles", production),
               ("ingest production, no profiles", without)]

    def timed(name: str, args: list[str], runs: int = 1) -> None:
        timings.append((name, median_of([evalctl_timed(args, cwd=work) for _ in range(runs)])))
        step(*timings[-1])

    monitor = ["monitor", "--model", "bench", "--date", "2026-11-30", "--format", "json",
               "--output", "out.json"]
    # the profile-served questions first: quick, and what a partial run on a loaded host
    # should not miss
    for engine in ("profiles", "scan"):
        runs = QUICK_RUNS if engine == "profiles" else 1
        timed(f"skew --engine {engine}", ["skew", *out, *sides, "--engine", engine], runs)
        timed(f"drift 1d --engine {engine}",
              ["drift", *out, *sides, "--window", "1d", "--engine", engine], runs)
        if engine == "profiles":
            timed("monitor (profiles)", monitor, runs)
    timed("monitor (scan)", ["--config", "scan.yaml", *monitor])
    for name, args in bounded_reads(work, out, sides):
        timed(name, args)
    return timings


def median_of(runs: list[Timing]) -> Timing:
    """The run of median wall time (its CPU and peak RSS with it): a sub-second command's
    single run moves by ±20% on a shared host, most of it start-up that the host's other work
    delays; with several runs, one slow run does not decide the figure."""
    return sorted(runs, key=lambda t: t.seconds)[(len(runs) - 1) // 2]


def bounded_reads(work: Path, out: list[str], sides: list[str]) -> list[tuple[str, list[str]]]:
    """The scan-path questions that need rows (issue #16 item 6): equal-row chunks of the
    reference (`thresholds: reference_chunks`) and of the current (`drift --windows 30`), and
    `--join-key` (training joined with itself on the id: every row joins once)."""
    chunks = work / "chunks.yaml"
    chunks.write_text((work / "evalctl.yaml").read_text() + "    checks:\n      skew:\n"
                      "        thresholds: reference_chunks\n        chunks: 10\n")
    scan = ["--engine", "scan"]
    return [
        ("skew reference_chunks (scan)", ["--config", chunks.name, "skew", *out, *sides, *scan]),
        ("drift --windows 30 (scan)", ["drift", *out, *sides, "--windows", "30", *scan]),
        ("skew --join-key (self-join)", ["skew", *out, "--reference", "training", "--current",
                                         "training", "--join-key", "request_id", *scan]),
    ]


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
              f"prediction), 30 days; load average {os.getloadavg()[0]:.1f} at the end")
        print(f"{'step':<34}{'seconds':>10}{'x floor':>10}{'CPU s':>10}{'peak RSS MiB':>15}")
        for name, t in timings:
            print(f"{name:<34}{t.seconds:>10.2f}{t.seconds / floor.seconds:>10.2f}"
                  f"{t.cpu_seconds:>10.2f}{t.peak_rss_mib:>15,.0f}", flush=True)
        print(ratios(sizes[rows]))
        if args.keep is None:
            shutil.rmtree(base / f"rows-{rows}", ignore_errors=True)
    print(side_by_side(sizes))
    print(memory_targets(sizes))
    if args.keep is None:
        shutil.rmtree(base, ignore_errors=True)


def ratios(t: dict[str, Timing]) -> str:
    """The two same-run ratios the issue sets targets for."""
    with_, without = t["ingest production + profiles"], t["ingest production, no profiles"]
    ingest = with_.seconds / without.seconds
    cpu = with_.cpu_seconds / without.cpu_seconds if without.cpu_seconds else float("nan")
    build = t["profiles build (training)"].seconds / t["skew --engine scan"].seconds
    return (f"ingest with / without profiles: {ingest:.2f}x wall, {cpu:.2f}x CPU (target <= "
            f"1.3x); profiles build / scan skew: {build:.2f}x (target <= 1.5x)")


def side_by_side(sizes: dict[int, dict[str, Timing]]) -> str:
    """Every step's seconds and peak RSS (MiB), one column pair per size."""
    head = f"\n{'step (wall s / CPU s / peak RSS MiB)':<34}" + "".join(
        f"{f'{rows:,} rows':>28}" for rows in sizes)
    lines = [head]
    for name in next(iter(sizes.values()), {}):
        cells = "".join(f"{cell(t[name]):>28}" for t in sizes.values())
        lines.append(f"{name:<34}{cells}")
    return "\n".join(lines)


def cell(t: Timing) -> str:
    return f"{t.seconds:.2f} / {t.cpu_seconds:.1f} / {t.peak_rss_mib:,.0f}"


MEMORY_STEPS = ("skew --engine scan", "drift 1d --engine scan", "profiles build (training)",
                "skew reference_chunks (scan)", "drift --windows 30 (scan)",
                "skew --join-key (self-join)")


def memory_targets(sizes: dict[int, dict[str, Timing]]) -> str:
    """The scan path's memory targets (issue #16): at the largest size, peak RSS at most
    1.5 GiB, and within 20% of the next size down (memory bounded by a data file, not by the
    selection)."""
    if not sizes:
        return ""
    order = sorted(sizes)
    top = order[-1]
    lines = [f"\nscan-path memory at {top:,} rows (target <= 1,536 MiB"
             + (f", <= 1.2x {order[-2]:,} rows)" if len(order) > 1 else ")")]
    for name in MEMORY_STEPS:
        peak = sizes[top][name].peak_rss_mib
        text = f"{name:<38}{peak:>8,.0f} MiB"
        if len(order) > 1:
            text += f"  {peak / sizes[order[-2]][name].peak_rss_mib:.2f}x {order[-2]:,} rows"
        lines.append(text)
    return "\n".join(lines)


if __name__ == "__main__":
    main()
