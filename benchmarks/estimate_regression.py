"""Estimate benchmark, regression case (issue #21): direct loss estimation beside binary CBPE.

One store, two models with the same 30 features (20 numeric, 10 categorical incl. one with
1,000 levels), reference 1M rows (validation) and current 1M rows (production, 10 days) each:
`bench` (binary: CBPE) and `rides` (regression: heteroscedastic noise, its sd grows with num_00
and with cat_01). Times `evalctl estimate --windows 10` end to end for each in the same run,
then the regression case again for each reference sample budget of --budgets (the loss models
are fitted on at most that many labelled reference rows), with the back-test against the
realised MAE (every current row is labelled): mean / max absolute error of the estimate and
band coverage, which is what the budget costs in accuracy.
Target: regression <= 15 s on 2 cores.

Usage: python benchmarks/estimate_regression.py [--reference-rows 1000000]
       [--current-rows 1000000] [--budgets 20000,50000,200000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import sys
import tempfile
from datetime import datetime
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).parent))
from _common import (  # noqa: E402
    Timing,
    evalctl_timed,
    feature_names,
    ingest_frame,
    synth_frame,
    write_config,
)

DEFAULT_BUDGET = 50_000  # evalctl's default `estimate.regression.reference_rows`


def regression_frame(n: int, seed: int, start: datetime, shift: float, offset: int
                     ) -> pl.DataFrame:
    """The synthetic features plus a prediction `eta` and a label `actual` whose noise sd is
    0.3 + |num_00| (x 2 where cat_01 is "0")."""
    frame = synth_frame(n, seed, start, days=10, shift=shift, id_offset=offset)
    rng = np.random.default_rng(seed + 100)
    x0, x1 = frame["num_00"].to_numpy(), frame["num_01"].to_numpy()
    wide = (frame["cat_01"] == "0").to_numpy()
    eta = 10 + 2 * x0 + x1
    sd = (0.3 + np.abs(x0)) * np.where(wide, 2.0, 1.0)
    return frame.drop("score", "predicted_label", "label").with_columns(
        pl.Series("eta", eta), pl.Series("actual", eta + rng.normal(size=n) * sd))


def write_configs(work: Path, budget: int) -> None:
    write_config(work)
    lines = ["  rides:", "    task: regression", "    id: request_id", "    timestamp: ts",
             "    score: eta", "    label: actual", "    features:"]
    lines += [f"      {name}: {kind}" for name, kind in feature_names().items()]
    lines += ["    checks:", f"      estimate: {{regression: {{reference_rows: {budget}}}}}"]
    with (work / "evalctl.yaml").open("a") as handle:
        handle.write("\n".join(lines) + "\n")


def build_store(work: Path, ref_rows: int, cur_rows: int) -> None:
    write_configs(work, DEFAULT_BUDGET)
    if (work / "store" / "_ledger").is_dir() and any((work / "store" / "_ledger").iterdir()):
        return
    print("generating and ingesting the store ...", file=sys.stderr)
    evalctl_timed(["init", "store", "--no-config"], cwd=work)
    ref_start, cur_start = datetime(2026, 9, 1), datetime(2026, 11, 1)
    ingest_frame(work, synth_frame(ref_rows, seed=1, start=ref_start, days=10),
                 env="validation")
    ingest_frame(work, synth_frame(cur_rows, seed=2, start=cur_start, days=10, shift=0.2,
                                   id_offset=ref_rows), env="production")
    ingest_frame(work, regression_frame(ref_rows, 3, ref_start, 0.0, 0), env="validation",
                 model="rides")
    ingest_frame(work, regression_frame(cur_rows, 4, cur_start, 0.2, ref_rows),
                 env="production", model="rides")


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def estimate(work: Path, model: str, out: str) -> tuple[Timing, float, dict]:
    """Wall time and peak RSS, CPU seconds (user + system: what the run costs whatever else
    the host is doing) and the report."""
    cpu = children_cpu()
    timing = evalctl_timed(["estimate", "--model", model, "--reference", "validation",
                            "--current", "production", "--windows", "10", "--format", "json",
                            "--output", out], cwd=work)
    return timing, children_cpu() - cpu, json.loads((work / out).read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference-rows", type=int, default=1_000_000)
    parser.add_argument("--current-rows", type=int, default=1_000_000)
    parser.add_argument("--budgets", default="20000,50000,200000",
                        help="reference sample budgets of the regression case, comma-separated")
    parser.add_argument("--keep", type=Path, default=None)
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="evalctl-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    build_store(work, args.reference_rows, args.current_rows)
    binary, binary_cpu, _ = estimate(work, "bench", "binary.json")
    rows = [("binary CBPE (bench)", binary, binary_cpu, None)]
    for budget in [int(b) for b in args.budgets.split(",")]:
        write_configs(work, budget)
        timing, cpu, doc = estimate(work, "rides", f"regression-{budget}.json")
        rows.append((f"regression DLE, {budget:,} ref rows", timing, cpu, doc))
    write_configs(work, DEFAULT_BUDGET)
    print(f"estimate benchmark: reference {args.reference_rows:,} + current "
          f"{args.current_rows:,} rows per model, 30 features, 10 windows")
    print(f"{'case':<36}{'seconds':>9}{'CPU s':>8}{'x binary':>10}{'peak RSS MiB':>14}"
          f"{'mean|err|':>11}{'max|err|':>10}{'coverage':>10}{'MAE':>8}")
    for name, t, cpu, doc in rows:
        line = (f"{name:<36}{t.seconds:>9.2f}{cpu:>8.2f}{t.seconds / binary.seconds:>10.2f}"
                f"{t.peak_rss_mib:>14,.0f}")
        if doc is not None:
            s = doc["summary"]
            line += (f"{s['mean_abs_error']:>11.4f}{s['max_abs_error']:>10.4f}"
                     f"{s['band_coverage']:>10.2f}"
                     f"{doc['inputs']['reference_realized']['mae']:>8.3f}")
        print(line)
    if args.keep is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
