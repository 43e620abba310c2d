"""Multivariate drift benchmark (issue #15 item 3).

Reference 1M rows and current 1M rows (10 days, shifted), 30 features (20 numeric, 10
categorical incl. one with 1,000 levels), stored in the lake. Times `evalctl drift --windows 10`
and `evalctl drift --windows 10 --multivariate` end to end in the same run (wall time, and CPU
time: user + system, steadier on a shared host); plain drift is the floor. The classifier test
samples at most the row budget (inputs.multivariate.row_budget) of the reference and of each
window.
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
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import build_shifted_store, children_cpu_seconds, evalctl_timed  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference-rows", type=int, default=1_000_000)
    parser.add_argument("--current-rows", type=int, default=1_000_000)
    parser.add_argument("--keep", type=Path, default=None)
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="evalctl-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    build_shifted_store(work, args.reference_rows, args.current_rows, days=10)
    common = ["drift", "--model", "bench", "--format", "json", "--reference", "training",
              "--current", "production", "--windows", "10", "--output"]
    cpu = [children_cpu_seconds()]
    plain = evalctl_timed([*common, "plain.json"], cwd=work)
    cpu.append(children_cpu_seconds())
    joint = evalctl_timed([*common, "multivariate.json", "--multivariate"], cwd=work)
    cpu.append(children_cpu_seconds())
    plain_cpu, joint_cpu = cpu[1] - cpu[0], cpu[2] - cpu[1]
    doc = json.loads((work / "multivariate.json").read_text())
    budget = doc["inputs"]["multivariate"]["row_budget"]
    aurocs = [r["auroc"] for r in doc["results"] if r.get("section") == "multivariate"]
    print(f"multivariate drift benchmark: reference {args.reference_rows:,} + current "
          f"{args.current_rows:,} rows, 30 features, 10 windows, row budget {budget:,} per side "
          f"per window")
    print(f"{'step':<44}{'wall s':>9}{'x plain':>9}{'CPU s':>9}{'x plain':>9}"
          f"{'peak RSS MiB':>14}")
    for name, t, t_cpu in [("evalctl drift --windows 10", plain, plain_cpu),
                           ("evalctl drift --windows 10 --multivariate", joint, joint_cpu)]:
        print(f"{name:<44}{t.seconds:>9.2f}{t.seconds / plain.seconds:>9.2f}{t_cpu:>9.2f}"
              f"{t_cpu / plain_cpu:>9.2f}{t.peak_rss_mib:>14,.0f}")
    print(f"AUROC per window {min(aurocs):.3f}..{max(aurocs):.3f}; ratio "
          f"{joint.seconds / plain.seconds:.2f} wall, {joint_cpu / plain_cpu:.2f} CPU "
          f"(target <= 3); peak RSS {joint.peak_rss_mib:,.0f} MiB (target <= 1536)")
    if args.keep is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
