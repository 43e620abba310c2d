"""Shared benchmark helpers: synthetic wide data, timed child processes, peak RSS."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import polars as pl

N_NUMERIC = 20
N_CATEGORICAL = 10


@dataclass(frozen=True)
class Timing:
    seconds: float
    peak_rss_mib: float
    cpu_seconds: float = 0.0  # the child's user + system CPU time


def run_timed(args: list[str], cwd: Path | None = None, env: dict[str, str] | None = None
              ) -> Timing:
    """Run a child process; its wall time and peak RSS.

    Peak RSS is the child's own VmHWM (polled from /proc every 20 ms): unlike wait4's
    ru_maxrss it does not include the benchmark process's memory copied at fork time.
    """
    start = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.Popen(args, cwd=cwd, env={**os.environ, **(env or {})},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak_kib = 0
    while proc.poll() is None:
        peak_kib = max(peak_kib, _vm_hwm_kib(proc.pid))
        time.sleep(0.02)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)  # the child is reaped: counted
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    stderr = proc.stderr.read().decode() if proc.stderr else ""
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(args)} failed:\n{stderr}")
    return Timing(elapsed, peak_kib / 1024, cpu)


def best(timings: list[Timing]) -> Timing:
    """Best of repeated runs: the shortest wall time (the host may be shared; noise only ever
    adds time) with the largest peak RSS seen."""
    return Timing(min(t.seconds for t in timings), max(t.peak_rss_mib for t in timings))


def _vm_hwm_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def python_timed(code: str, cwd: Path | None = None) -> Timing:
    return run_timed([sys.executable, "-c", code], cwd=cwd)


def evalctl_timed(args: list[str], cwd: Path) -> Timing:
    return run_timed([sys.executable, "-m", "evalctl", *args], cwd=cwd)


def feature_names() -> dict[str, str]:
    names = {f"num_{i:02d}": "numeric" for i in range(N_NUMERIC)}
    names |= {f"cat_{i:02d}": "categorical" for i in range(N_CATEGORICAL)}
    return names


def synth_frame(n: int, seed: int, start: datetime, days: int, shift: float = 0.0,
                id_offset: int = 0) -> pl.DataFrame:
    """n rows over `days` days: 20 numeric, 10 categorical (cat_00 has 1,000 levels)."""
    rng = np.random.default_rng(seed)
    cols: dict[str, object] = {
        "request_id": pl.int_range(id_offset, id_offset + n, eager=True).cast(pl.String),
        "ts": pl.Series(np.datetime64(start, "us")
                        + (np.arange(n) * (days * 86_400_000_000 // n)).astype("timedelta64[us]")),
    }
    for i in range(N_NUMERIC):
        cols[f"num_{i:02d}"] = rng.normal(shift * (i % 3), 1.0 + i / 10, n)
    for i in range(N_CATEGORICAL):
        levels = 1000 if i == 0 else 5 + i
        cols[f"cat_{i:02d}"] = pl.Series(rng.integers(0, levels, n)).cast(pl.String)
    score = rng.random(n)
    cols["score"] = score
    cols["predicted_label"] = (score >= 0.5).astype(np.int8)
    cols["label"] = (rng.random(n) < score).astype(np.int8)
    return pl.DataFrame(cols)


def write_config(folder: Path, store: str = "store", model: str = "bench",
                 slices: bool = False) -> Path:
    lines = [f"store: {store}", "models:", f"  {model}:", "    task: binary_classification",
             "    id: request_id", "    timestamp: ts", "    prediction: predicted_label",
             "    score: score", "    label: label", "    features:"]
    lines += [f"      {name}: {kind}" for name, kind in feature_names().items()]
    if slices:  # 20 declared slices: 10 categorical, 5 numeric quantile bins, 5 crosses
        lines.append("    slices:")
        lines += [f"      - feature: cat_{i:02d}" for i in range(10)]
        lines += [f"      - feature: num_{i:02d}\n        quantiles: 5" for i in range(5)]
        lines += [f"      - features: [cat_{i:02d}, cat_{i + 1:02d}]" for i in range(1, 6)]
    path = folder / "evalctl.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def ingest_frame(folder: Path, frame: pl.DataFrame, *, env: str, model: str = "bench",
                 version: str = "v1", name: str | None = None) -> None:
    """Write `frame` as a Parquet export in `folder`, ingest it with evalctl, delete it."""
    path = folder / f"{name or f'{model}-{version}-{env}'}.parquet"
    frame.write_parquet(path)
    evalctl_timed(["ingest", path.name, "--model", model, "--version", version, "--env", env],
                  cwd=folder)
    path.unlink()


def rss_now_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def report(rows: list[tuple[str, Timing]], floor: Timing, n_rows: int) -> None:
    print(f"{'step':<34}{'seconds':>10}{'rows/s':>14}{'x floor':>10}{'peak RSS MiB':>15}")
    for name, t in [("floor", floor), *rows]:
        print(f"{name:<34}{t.seconds:>10.2f}{n_rows / t.seconds:>14,.0f}"
              f"{t.seconds / floor.seconds:>10.2f}{t.peak_rss_mib:>15,.0f}")


def build_shifted_store(work: Path, ref_rows: int, cur_rows: int, days: int) -> None:
    """The skew/drift benchmarks' store in `work` (unless it holds one already): config,
    `ref_rows` training rows from 2026-09-01 and `cur_rows` production rows from 2026-11-01
    (numeric features shifted by 0.2·(i mod 3)), each spread over `days` days."""
    if (work / "store" / "_ledger").is_dir() and any((work / "store" / "_ledger").iterdir()):
        return
    print("generating and ingesting the store ...", file=sys.stderr)
    write_config(work)
    evalctl_timed(["init", "store", "--no-config"], cwd=work)
    ingest_frame(work, synth_frame(ref_rows, seed=1, start=datetime(2026, 9, 1), days=days),
                 env="training")
    ingest_frame(work, synth_frame(cur_rows, seed=2, start=datetime(2026, 11, 1), days=days,
                                   shift=0.2, id_offset=ref_rows), env="production")


def children_cpu_seconds() -> float:
    """User + system CPU time of every child process waited for so far: the difference
    around a timed run is its CPU time (steadier than wall time on a shared host)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


EXPORT_CHUNK_ROWS = 1_000_000  # rows `write_synth_export` generates and writes at a time


def write_synth_export(path: Path, n: int, seed: int, start: datetime, days: int,
                       shift: float = 0.0, id_offset: int = 0,
                       chunk_rows: int = EXPORT_CHUNK_ROWS) -> None:
    """`synth_frame`'s data (n rows over `days` days, the same columns and time spacing) as one
    Parquet export written chunk by chunk (a row group or more per chunk), so the benchmark
    never holds more than `chunk_rows` rows: a 20M-row export is not a 20M-row frame.
    Each chunk draws from its own generator (seed, chunk), so its values differ from
    `synth_frame(n, seed, ...)` when there is more than one chunk."""
    import pyarrow.parquet as pq  # only the chunked writer needs pyarrow

    step = days * 86_400_000_000 // n
    writer: pq.ParquetWriter | None = None
    try:
        for k, lo in enumerate(range(0, n, chunk_rows)):
            rows = min(chunk_rows, n - lo)
            frame = synth_frame(rows, seed=seed if n <= chunk_rows else seed * 1_000 + k,
                                start=start, days=days, shift=shift, id_offset=id_offset + lo)
            frame = frame.with_columns(ts=pl.Series(
                np.datetime64(start, "us")
                + ((lo + np.arange(rows)) * step).astype("timedelta64[us]")))
            table = frame.to_arrow()
            if writer is None:
                writer = pq.ParquetWriter(path, table.schema, compression="zstd")
            writer.write_table(table, row_group_size=min(rows, 250_000))
    finally:
        if writer is not None:
            writer.close()
