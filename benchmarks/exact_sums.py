"""Order-free float sums micro-benchmark (issue #14: performance stays within 10%).

Times the grouped sums of `evalctl.stats.exact` the way the metric engines use them: fixed-point
columns (`fixed_point` on each column's grid, an Int128 column made once, then plain integer
group-by sums: the making and the group-by timed apart, since a command makes the columns once
and sums them in every slice's group-by), and the sums inside an aggregation (`with_grids`,
then `group_by(...).agg(exact_sums(...))`; and with the grids computed first and passed as
values, `exact_sum(x, value)`); in the same run, the floor: the plain polars float group-by
`sum` of the same columns. Also times the whole-frame `exact_total` against a plain `sum`.
Best of --repeat runs each (the host may be shared: noise only ever adds time). Checks that
the exact sums are one result across the runs.

Usage: python benchmarks/exact_sums.py [--rows 5000000] [--groups 1000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
import polars as pl

from evalctl.stats.exact import (
    exact_sum,
    exact_sums,
    exact_total,
    fixed_point,
    from_fixed_point,
    grid_scale,
    with_grids,
)

COLUMNS = ["x", "v"]


def synth(rows: int, groups: int) -> pl.DataFrame:
    """`g`: group id; `x`: normal (sums cancel); `v`: lognormal (wide magnitudes)."""
    rng = np.random.default_rng(14)
    return pl.DataFrame({"g": rng.integers(0, groups, rows), "x": rng.normal(0.0, 1.0, rows),
                         "v": rng.lognormal(3.0, 1.0, rows)})


def best_of(repeat: int, run: Callable[[], pl.DataFrame]
            ) -> tuple[float, float, set[str]]:
    """Shortest wall and CPU (all threads) times of `repeat` runs, and the distinct results
    (as JSON: every bit). CPU time is the steadier figure on a shared host."""
    seconds, cpu, results = [], [], set()
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        out = run()
        seconds.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
        results.add(out.sort(out.columns[0]).write_json() if "g" in out.columns
                    else out.write_json())
    return min(seconds), min(cpu), results


def exact_with_values(lazy: pl.LazyFrame, columns: list[str]) -> pl.DataFrame:
    """The same sums with each grid computed first (one `select`) and passed as a value
    (`exact_sum(x, scale)` with a float, as `stats.paired` does): no grid column to carry
    through the group-by, no per-row multiply by a column."""
    grids = lazy.select(grid_scale(pl.col(c)).alias(c) for c in columns).collect().row(
        0, named=True)
    return lazy.group_by("g").agg(exact_sum(pl.col(c), grids[c]).alias(c)
                                  for c in columns).collect()


def fixed_point_columns(lazy: pl.LazyFrame, grids: dict[str, float]) -> pl.DataFrame:
    """Each column on its grid as an Int128 column (what a command does once per term)."""
    return lazy.with_columns(fixed_point(pl.col(c), grids[c]) for c in COLUMNS).collect()


def fixed_point_sums(fixed: pl.LazyFrame, grids: dict[str, float]) -> pl.DataFrame:
    """The integer group-by sums of the fixed-point columns, back to floats."""
    return fixed.group_by("g").agg(from_fixed_point(pl.col(c).sum(), grids[c]).alias(c)
                                   for c in COLUMNS).collect()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--groups", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    frame = synth(args.rows, args.groups)
    lazy = frame.lazy()
    floor = best_of(args.repeat, lambda: lazy.group_by("g").agg(
        pl.col(c).sum() for c in COLUMNS).collect())
    exact = best_of(args.repeat, lambda: with_grids(lazy, COLUMNS).group_by("g").agg(
        exact_sums(COLUMNS)).collect())
    literal = best_of(args.repeat, lambda: exact_with_values(lazy, COLUMNS))
    grids = lazy.select(grid_scale(pl.col(c)).alias(c) for c in COLUMNS).collect().row(
        0, named=True)
    making = best_of(args.repeat, lambda: fixed_point_columns(lazy, grids))
    fixed = fixed_point_columns(lazy, grids).lazy()
    summing = best_of(args.repeat, lambda: fixed_point_sums(fixed, grids))
    float_columns = best_of(args.repeat, lambda: lazy.with_columns(
        pl.col(c) * grids[c] for c in COLUMNS).collect())  # the making's float part
    total_floor = best_of(args.repeat, lambda: lazy.select(
        pl.col(c).sum() for c in COLUMNS).collect())
    total = best_of(args.repeat, lambda: lazy.select(
        exact_total(pl.col(c)).alias(c) for c in COLUMNS).collect())
    print(f"order-free float sums: {args.rows:,} rows, {args.groups:,} groups, "
          f"{len(COLUMNS)} float columns, best of {args.repeat}")
    print(f"{'step':<32}{'wall s':>9}{'x floor':>9}{'CPU s':>9}{'x floor':>9}{'results':>9}")
    for name, (seconds, cpu, results), base in (
            ("floor: group_by sum", floor, floor),
            ("fixed-point: Int128 group_by sum", summing, floor),
            ("fixed-point: making the columns", making, floor),
            ("  (a float with_columns)", float_columns, floor),
            ("with_grids + exact_sums", exact, floor),
            ("grids as values + exact_sum", literal, floor),
            ("floor: whole-frame sum", total_floor, total_floor),
            ("exact_total", total, total_floor)):
        distinct = "" if name.startswith(("floor", " ")) or "making" in name else str(
            len(results))  # order-free: 1
        print(f"{name:<32}{seconds:>9.3f}{seconds / base[0]:>9.2f}{cpu:>9.3f}"
              f"{cpu / base[1]:>9.2f}{distinct:>9}")


if __name__ == "__main__":
    main()
