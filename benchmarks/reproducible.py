"""Order-free sums at the command level (issue #14: reproducible to the bit, within 10%).

Runs the commands whose numbers come from order-free float sums (`evalctl.stats.exact`) —
`slices --metric brier`, `slices --metric log_loss`, `compare --metric brier` and
`rca --metric brier` — in this process, twice each round: as shipped, and with the order-free
sums swapped for plain polars float sums (`plain_sums`, a benchmark-only patch, never an
option of evalctl). Rounds alternate the two, so a shared host's noise hits both alike; the
best CPU time (user + system, all threads) of --repeat rounds is kept for each, and the
ratio printed (target: at most 1.10). Also checks that the shipped commands give one output
across the rounds, and how far the plain sums' numbers are from them.

The store is benchmarks/compare.py's (champion v1 in production, challengers v2 and v3 in
shadow on the same ids, 30 features, 20 declared slices); rca compares its first and second
production fortnights. Reuses the store of drift.py / slices.py / compare.py given the same
--keep folder (built at the same --rows).

Usage: python benchmarks/reproducible.py [--rows 1000000] [--keep DIR] [--repeat 3]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl

sys.path.insert(0, str(Path(__file__).parent))
from _common import write_config  # noqa: E402
from compare import add_shadow  # noqa: E402
from drift import build_store  # noqa: E402

from evalctl.cli.app import run  # noqa: E402
from evalctl.stats import exact  # noqa: E402

M = ["--model", "bench"]
COMMANDS = {
    "slices --metric brier": ["slices", *M, "--selector", "production", "--metric", "brier"],
    "slices --metric log_loss": ["slices", *M, "--selector", "production", "--metric",
                                 "log_loss"],
    "compare --metric brier": ["compare", *M, "--champion", "v1", "--challenger", "v2",
                               "--selector", "production", "--metric", "brier",
                               "--n-boot", "200"],
    "rca --metric brier": ["rca", *M, "--baseline", "production@2026-11-01..2026-11-14",
                           "--current", "production@2026-11-15..2026-11-30", "--metric",
                           "brier"],
}


def _plain_sum(x: pl.Expr, *_: Any) -> pl.Expr:
    return x.sum()


def _plain_sums(names: list[str]) -> list[pl.Expr]:
    return [pl.col(n).sum().alias(n) for n in names]


KEPT = {"scale_name", "bound_scale"}  # public functions of evalctl.stats.exact that sum nothing
# every other public function of evalctl.stats.exact, and its plain-float counterpart
PLAIN = {
    "grid_scale": lambda x: pl.lit(0.0),  # scale 0: callers sum as floats
    "bound_grid": lambda bound: pl.lit(0.0),
    "with_grids": lambda frame, names: frame,
    "exact_sum": _plain_sum,
    "exact_sums": _plain_sums,
    "exact_total": _plain_sum,
    "fixed_point": lambda x, scale: x,  # the float itself, summed as a float
    "from_fixed_point": lambda total, scale: total,
}


@contextlib.contextmanager
def plain_sums() -> Iterator[None]:
    """Plain polars float sums wherever evalctl sums order-free: the functions of
    `evalctl.stats.exact` replaced, in that module and in every evalctl module that imported
    them by name, and restored on exit."""
    public = {name for name, f in vars(exact).items() if callable(f) and not name.startswith(
        "_") and getattr(f, "__module__", "") == exact.__name__}
    if public - KEPT != set(PLAIN):
        raise SystemExit(f"plain_sums is out of date with evalctl.stats.exact: {sorted(public)}")
    saved = []
    for module in [m for name, m in sys.modules.items() if name.startswith("evalctl")]:
        for name in PLAIN:
            if getattr(module, name, None) is getattr(exact, name):
                saved.append((module, name, getattr(module, name)))
    try:
        for module, name, _ in saved:
            setattr(module, name, PLAIN[name])
        yield
    finally:
        for module, name, original in saved:
            setattr(module, name, original)


def run_once(args: list[str]) -> tuple[float, float, str]:
    """CPU and wall seconds of one in-process run of the CLI, and its JSON output."""
    out, err = io.StringIO(), io.StringIO()
    start, start_cpu = time.perf_counter(), time.process_time()
    code = run([*args, "--format", "json"], stdout=out, stderr=err)
    cpu, wall = time.process_time() - start_cpu, time.perf_counter() - start
    if code not in (0, 1):
        raise SystemExit(f"evalctl {' '.join(args)} failed ({code}): {err.getvalue()}")
    doc = json.loads(out.getvalue())
    doc.pop("generated_at", None)
    return cpu, wall, json.dumps(doc, sort_keys=True)


def largest_difference(a: Any, b: Any) -> float:
    """The largest relative difference between the numbers of two JSON documents of the same
    shape (0 when equal; inf when their shapes or other values differ)."""
    if isinstance(a, dict) and isinstance(b, dict) and a.keys() == b.keys():
        return max((largest_difference(a[k], b[k]) for k in a), default=0.0)
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return max((largest_difference(x, y) for x, y in zip(a, b, strict=True)), default=0.0)
    numbers = (int, float)
    if isinstance(a, numbers) and isinstance(b, numbers) and not isinstance(a, bool):
        if a == b:
            return 0.0
        return abs(a - b) / max(abs(a), abs(b)) if math.isfinite(a - b) else math.inf
    return 0.0 if a == b else math.inf


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--keep", type=Path, default=None)
    parser.add_argument("--repeat", type=int, default=3, help="rounds; best CPU time kept")
    parser.add_argument("--only", action="append", choices=list(COMMANDS),
                        help="time only these commands (repeatable)")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="evalctl-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    ref_rows = max(args.rows // 5, 1000)
    build_store(work, ref_rows, args.rows)
    add_shadow(work, ref_rows, args.rows)
    write_config(work, slices=True)
    os.chdir(work)
    names = args.only or list(COMMANDS)
    times: dict[tuple[str, bool], list[tuple[float, float]]] = {}
    outputs: dict[tuple[str, bool], set[str]] = {}
    for _ in range(args.repeat):
        for name in names:
            for plain in (False, True):
                with plain_sums() if plain else contextlib.nullcontext():
                    cpu, wall, output = run_once(COMMANDS[name])
                times.setdefault((name, plain), []).append((cpu, wall))
                outputs.setdefault((name, plain), set()).add(output)
    print(f"order-free vs plain float sums: {args.rows:,} production rows, 20 declared slices, "
          f"in one process, best of {args.repeat} alternating rounds (CPU = user + system)")
    print(f"{'command':<28}{'CPU s':>8}{'plain':>8}{'ratio':>8}{'wall s':>8}{'plain':>8}"
          f"{'outputs':>9}{'plain differs by':>18}")
    for name in names:
        cpu, wall = (min(t[i] for t in times[(name, False)]) for i in (0, 1))
        cpu_plain, wall_plain = (min(t[i] for t in times[(name, True)]) for i in (0, 1))
        shipped, plain_outputs = outputs[(name, False)], outputs[(name, True)]
        differ = max(largest_difference(json.loads(next(iter(shipped))), json.loads(o))
                     for o in plain_outputs)
        print(f"{name:<28}{cpu:>8.2f}{cpu_plain:>8.2f}{cpu / cpu_plain:>8.2f}{wall:>8.2f}"
              f"{wall_plain:>8.2f}{len(shipped):>9}{differ:>18.1e}")
    if args.keep is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
