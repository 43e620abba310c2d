"""HTML report benchmark (issue #17): what rendering a page adds, and how big it gets.

1. `evalctl skew` on a reference of 1M rows and a current of 1M rows (30 features + outputs,
   benchmarks/_common.py), whole-process wall time writing JSON (`-o skew.json`) and writing
   the page (`-o skew.html`), best of 3 each, interleaved. Target: HTML adds <= 10%. On a
   shared host the two wall times drift by more than the difference, so the same run also
   times, in one process, the skew report once and then rendering it as JSON and as HTML
   (best of 5 each): the page's extra cost as a share of the whole command.
2. The page's size for a 60-feature skew report (40 numeric, 20 categorical of 1,000 levels:
   the widest histograms the default top_k of 50 allows), 100,000 rows a side. Target <= 500 KB.

Usage: python benchmarks/html.py [--rows 1000000] [--repeat 3] [--keep DIR]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from datetime import datetime
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).parent))
from _common import (  # noqa: E402
    best,
    evalctl_timed,
    ingest_frame,
    synth_frame,
    write_config,
)


def build_store(work: Path, rows: int) -> None:
    if (work / "store" / "_ledger").is_dir() and any((work / "store" / "_ledger").iterdir()):
        return
    print("generating and ingesting the 1M-row store ...", file=sys.stderr)
    write_config(work)
    evalctl_timed(["init", "store", "--no-config"], cwd=work)
    ingest_frame(work, synth_frame(rows, seed=1, start=datetime(2026, 9, 1), days=30),
                 env="training")
    ingest_frame(work, synth_frame(rows, seed=2, start=datetime(2026, 11, 1), days=30,
                                   shift=0.2, id_offset=rows), env="production")


def wide_frame(n: int, seed: int, shift: float, offset: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    cols: dict[str, object] = {
        "request_id": pl.int_range(offset, offset + n, eager=True).cast(pl.String),
        "ts": pl.Series(np.datetime64(datetime(2026, 11, 1), "us")
                        + (np.arange(n) * (4 * 86_400_000_000 // n)).astype("timedelta64[us]"))}
    for i in range(40):
        cols[f"num_{i:02d}"] = rng.normal(shift * (i % 3), 1.0 + i / 10, n)
    for i in range(20):
        cols[f"cat_{i:02d}"] = pl.Series(
            rng.zipf(1.3 + shift, n) % 1000).cast(pl.String)
    score = rng.random(n)
    cols |= {"score": score, "predicted_label": (score >= 0.5).astype(np.int8),
             "label": (rng.random(n) < score).astype(np.int8)}
    return pl.DataFrame(cols)


def build_wide_store(work: Path) -> None:
    if (work / "store" / "_ledger").is_dir():
        return
    features = [f"      num_{i:02d}: numeric" for i in range(40)] + \
        [f"      cat_{i:02d}: categorical" for i in range(20)]
    (work / "evalctl.yaml").write_text(
        "store: store\nmodels:\n  bench:\n    task: binary_classification\n"
        "    id: request_id\n    timestamp: ts\n    prediction: predicted_label\n"
        "    score: score\n    label: label\n    features:\n" + "\n".join(features) + "\n")
    evalctl_timed(["init", "store", "--no-config"], cwd=work)
    ingest_frame(work, wide_frame(100_000, 1, 0.0, 0), env="training")
    ingest_frame(work, wide_frame(100_000, 2, 0.1, 100_000), env="production")


IN_PROCESS = """
import time
import evalctl
from evalctl.render import render_html, render_json
ws = evalctl.open("evalctl.yaml")
start = time.perf_counter()
report = ws.skew("bench", current="production", reference="training")
compute = time.perf_counter() - start
def best(render):
    times = []
    for _ in range(5):
        start = time.perf_counter()
        render(report)
        times.append(time.perf_counter() - start)
    return min(times)
as_json, as_html = best(render_json), best(render_html)
extra = (as_html - as_json) / (compute + as_json)
print(f"in one process: skew report {compute:.2f} s; rendering it as JSON "
      f"{as_json * 1000:.1f} ms, as HTML {as_html * 1000:.1f} ms; the page adds {extra:.2%} "
      "to the command (target <= 10%)")
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", type=Path, default=None)
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="evalctl-bench-html-"))
    (work / "speed").mkdir(parents=True, exist_ok=True)
    (work / "size").mkdir(parents=True, exist_ok=True)
    build_store(work / "speed", args.rows)
    skew = ["skew", "--model", "bench", "--reference", "training", "--current", "production"]
    json_runs, html_runs = [], []
    for _ in range(args.repeat):
        json_runs.append(evalctl_timed([*skew, "-o", "skew.json"], cwd=work / "speed"))
        html_runs.append(evalctl_timed([*skew, "-o", "skew.html"], cwd=work / "speed"))
    as_json, as_html = best(json_runs), best(html_runs)
    build_wide_store(work / "size")
    evalctl_timed([*skew, "-o", "skew.html"], cwd=work / "size")
    size = (work / "size" / "skew.html").stat().st_size
    print(f"html benchmark: skew, reference {args.rows:,} + current {args.rows:,} rows, "
          f"30 features (+ score, prediction); best of {args.repeat}")
    print(f"{'output':<10}{'seconds':>10}{'peak RSS MiB':>15}")
    for name, t in (("json", as_json), ("html", as_html)):
        print(f"{name:<10}{t.seconds:>10.2f}{t.peak_rss_mib:>15,.0f}")
    print(f"html/json {as_html.seconds / as_json.seconds:.3f} (target <= 1.10); "
          f"json runs {', '.join(f'{t.seconds:.2f}' for t in json_runs)} s, "
          f"html runs {', '.join(f'{t.seconds:.2f}' for t in html_runs)} s")
    print(f"60-feature skew page (40 numeric, 20 categorical of 1,000 levels): "
          f"{size:,} bytes = {size / 1000:.0f} KB (target <= 500 KB); "
          f"skew.json beside it: {(work / 'speed' / 'skew.json').stat().st_size:,} bytes "
          "(30 features)")
    in_process = subprocess.run([sys.executable, "-c", IN_PROCESS], cwd=work / "speed",
                                capture_output=True, text=True, check=True)
    print(in_process.stdout.strip())
    if args.keep is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
