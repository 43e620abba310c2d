"""Multivariate drift benchmark (issue #15 item 3).

Reference 1M rows and current 1M rows (10 days, shifted), 30 features (20 numeric, 10
categorical incl. one with 1,000 levels), stored in the lake. Times `evalctl drift --windows 10`
and `evalctl drift --windows 10 --multivariate` end to end in the same run; plain drift is the
floor. The classifier test samples at most the row budget (inputs.multivariate.row_budget) of
the reference and of each window.
Targets: multivariate <= 3x plain drift, peak RSS <= 1.5 GiB.

Usage: python benchmarks/multivariate.py [--reference-rows 1000000] [--current-rows 1000000]
       [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import evalctl_timed, ingest_frame, synth_frame, write_config  # noqa: E402


def build_store(work: Path, ref_rows: int, cur_rows: int) -> None:
    if (work / "store" / "_ledger").is_dir() and any((work / "store" / "_ledger").iterdir()):
        return
    print("generating and ingesting the store ...", file=sys.stderr)
    write_config(work)
    evalctl_timed(["init", "store", "--no-config"], cwd=work)
    ingest_frame(work, synth_frame(ref_rows, seed=1, start=datetime(2026, 9, 1), days=10),
                 env="training")
    ingest_frame(work, synth_frame(cur_rows, seed=2, start=datetime(2026, 11, 1), days=10,
                                   shift=0.2, id_offset=ref_rows), env="production")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference-rows", type=int, default=1_000_000)
    parser.add_argument("--current-rows", type=int, default=1_000_000)
    parser.add_argument("--keep", type=Path, default=None)
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="evalctl-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    build_store(work, args.reference_rows, args.current_rows)
    common = ["drift", "--model", "bench", "--format", "json", "--reference", "training",
              "--current", "production", "--windows", "10", "--output"]
    plain = evalctl_timed([*common, "plain.json"], cwd=work)
    joint = evalctl_timed([*common, "multivariate.json", "--multivariate"], cwd=work)
    doc = json.loads((work / "multivariate.json").read_text())
    budget = doc["inputs"]["multivariate"]["row_budget"]
    aurocs = [r["auroc"] for r in doc["results"] if r.get("section") == "multivariate"]
    print(f"multivariate drift benchmark: reference {args.reference_rows:,} + current "
          f"{args.current_rows:,} rows, 30 features, 10 windows, row budget {budget:,} per side "
          f"per window")
    print(f"{'step':<40}{'seconds':>10}{'x plain':>10}{'peak RSS MiB':>15}")
    for name, t in [("evalctl drift --windows 10", plain),
                    ("evalctl drift --windows 10 --multivariate", joint)]:
        print(f"{name:<40}{t.seconds:>10.2f}{t.seconds / plain.seconds:>10.2f}"
              f"{t.peak_rss_mib:>15,.0f}")
    print(f"AUROC per window {min(aurocs):.3f}..{max(aurocs):.3f}; ratio "
          f"{joint.seconds / plain.seconds:.2f} (target <= 3); peak RSS "
          f"{joint.peak_rss_mib:,.0f} MiB (target <= 1536)")
    if args.keep is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
