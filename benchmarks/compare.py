"""Compare benchmark (issue: evalctl compare).

3 models x 5M production rows each: champion v1 in production, challengers v2 and v3 in shadow
on the same request ids (30 features, 20 declared slices: 10 categorical incl. one with 1,000
levels, 5 numeric quantile bins, 5 crosses). Times `evalctl compare` end to end (process start
to JSON written: the join on id, every model's metric with its interval for every segment,
the paired tests, Holm, the verdict) with 200 bootstrap replicates, and in the same run the
floor: a bare polars join of the three prediction sets on id.
Targets (default metric, accuracy: McNemar plus a joint-cell bootstrap): <= 5x the floor,
peak RSS < 4 GiB. Also timed, without a target: brier (moment multiplier bootstrap) and
roc_auc (paired DeLong: a per-row rank count for every slice and model, plus the three
`compute_metrics` AUC passes).

Reuses the store of benchmarks/drift.py and slices.py when given the same --keep folder.
Usage: python benchmarks/compare.py [--rows 5000000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from datetime import datetime
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).parent))
from _common import (  # noqa: E402
    evalctl_timed,
    ingest_frame,
    python_timed,
    report,
    synth_frame,
    write_config,
)
from drift import build_store  # noqa: E402

FLOOR = """
import glob, polars as pl
def side(version, env, extra=()):
    files = sorted(glob.glob({root!r} + f"/version={{version}}/env={{env}}/**/*.parquet",
                             recursive=True))
    return pl.scan_parquet(files).select(
        "request_id", pl.col("score").alias("s_" + version),
        pl.col("predicted_label").alias("p_" + version), *extra)
(side("v1", "production", ["label"]).join(side("v2", "shadow"), on="request_id")
 .join(side("v3", "shadow"), on="request_id").collect())
"""


def add_shadow(work: Path, ref_rows: int, cur_rows: int) -> None:
    """v2 (sharper: part of the label leaks into its score) and v3 (v1 plus noise) in shadow,
    on the production rows of benchmarks/drift.py (same seed, so same ids and features)."""
    marker = work / "shadow.done"
    if marker.exists():
        return
    print("generating and ingesting the shadow challengers ...", file=sys.stderr)
    frame = synth_frame(cur_rows, seed=2, start=datetime(2026, 11, 1), days=30, shift=0.2,
                        id_offset=ref_rows)
    rng = np.random.default_rng(3)
    score, label = frame["score"].to_numpy(), frame["label"].to_numpy()
    scores = {"v2": 0.8 * score + 0.2 * label + rng.normal(0, 0.05, cur_rows),
              "v3": score + rng.normal(0, 0.1, cur_rows)}
    for version, s in scores.items():
        s = np.clip(s, 0.0, 1.0)
        ingest_frame(work, frame.with_columns(
            pl.Series("score", s), pl.Series("predicted_label", (s >= 0.5).astype(np.int8))),
            env="shadow", version=version)
    marker.touch()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--keep", type=Path, default=None)
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="evalctl-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    ref_rows = max(args.rows // 5, 1000)
    build_store(work, ref_rows, args.rows)
    add_shadow(work, ref_rows, args.rows)
    write_config(work, slices=True)
    floor = python_timed(FLOOR.format(root=str(work / "store" / "predictions" / "model=bench")))
    common = ["compare", "--model", "bench", "--champion", "v1", "--challenger", "v2",
              "--challenger", "v3", "--selector", "production", "--n-boot", "200",
              "--format", "json", "--output"]
    runs = [("evalctl compare (accuracy)", evalctl_timed([*common, "acc.json"], cwd=work)),
            ("evalctl compare --metric brier", evalctl_timed(
                [*common, "brier.json", "--metric", "brier"], cwd=work)),
            ("evalctl compare --metric roc_auc", evalctl_timed(
                [*common, "auc.json", "--metric", "roc_auc"], cwd=work))]
    print(f"compare benchmark: 3 models x {args.rows:,} rows joined on id, 20 declared "
          "slices, 200 bootstrap replicates")
    report(runs, floor, args.rows)
    default = runs[0][1]
    print(f"compare/floor {default.seconds / floor.seconds:.2f} (target <= 5); peak RSS "
          f"{max(t.peak_rss_mib for _, t in runs):,.0f} MiB (target < 4096)")
    if args.keep is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
