"""Float sums that do not depend on row order, so the same store gives the same bits.

Polars' parallel group-by adds each group's floats in whatever order its threads meet them,
so a grouped float `sum` can differ in the last bits from run to run. Integer sums are exact,
hence order-free: a float column is put on a fixed-point grid, its integers summed exactly, and
the total turned back into a float (one rounding: the float nearest the grid total).

The grid is one power of two per column: the one that maps the column's largest |x| below
2^61, found over the whole frame before grouping (`grid_scale`, one pass) or, for a term
whose bound is known, without any pass (`bound_scale`: a probability or a squared error of
probabilities is at most 1, a clipped log loss at most -log(1e-15)). A value's rounding error
is below 2^-60 of the column's largest |x| (or of its bound), far below float64's own
rounding error on a sum.

Two ways to sum on the grid:

* Fixed-point columns (`fixed_point`, `from_fixed_point`), the engines' way: each row's term
  becomes an Int128 integer once, in a `with_columns` before the group-bys that share it; every
  group-by and roll-up sums it as an integer (exact: no overflow below 2^66 rows), and the
  per-segment totals become floats at the end. An Int128 column sums at about 1.2-1.5x the
  cost of a float column in polars' group-by (the benchmark below), and converting it costs
  one pass per term per command, not per group-by. Used by the binary score terms (log loss,
  Brier, ECE cells: constant grids), the paired moment sums of `compare` (grids from one
  `select` of each term's largest |value|) and the regression moment sums (grids from one
  pass for the largest |error|, |centred label| and percentage error, whose products bound
  every term). Integer totals also roll up exactly: a slice that another slice refines is
  summed from that slice's per-segment totals instead of over the rows (`compute_metrics`,
  `compare`).
* Inside an aggregation (`exact_sum`, `exact_sums` with `with_grids`, `exact_total`), for
  sums over small frames or frames built on the fly: the grid integers are summed as Int64,
  which wraps: modular addition is exact and order-free, so the wrapped sum is the exact total
  modulo 2^64. The plain float sum of the group, computed alongside, locates the total within
  ±2^63 and so gives the number of wraps; only the per-group results are combined in Int128.
  On the grid that float sum is off by at most n^2 * 2^8 + n for n rows, below 2^63 for groups
  of up to 2^27 (134 million) rows: up to there the result is the float nearest the exact grid
  total, whatever the order (the float sum is taken in units of 2^64, so it cannot overflow).
  Per row this costs two multiplies, one cast and one Int64 sum more than a float sum.

A column with an infinite or NaN value has no grid (scale 0) and is summed as floats: the
result is then inf or NaN whatever the order. So is a column whose largest |x| is below 2^-962
(about 1e-290; its grid would be past float64's largest power of two): such sums are right
but not order-free. `fixed_point` is only for terms that are finite by construction: a value
beyond its grid's bound fails the cast instead of giving a wrong sum.

Cost (benchmarks/exact_sums.py, CPU time, 5M rows, 1,000 groups, 2 float columns, loaded
host): the integer group-by sums of fixed-point columns 1.35-1.41x the plain float group-by
sum; making the two columns 0.10 s once (a float `with_columns` of them: 0.03 s); sums inside
the aggregation 3.3x (grids passed as values 2.4x); `exact_total` 0.10 s. At the command level
(benchmarks/reproducible.py, 1M rows: `slices`, `compare` with Brier or log loss) 1.11-1.20x
the CPU of the same commands with plain float sums; at 5M rows 1.03-1.06x the CPU of the
code before order-free sums (2026-11-26; README "Performance", fourth pass).
Tried and not taken: an Int64 column on a grid coarse enough for the frame's row count (as
cheap as a float sum, but at 5M rows a row's error is 2^-39 of the bound: up to ~1e-11
relative on a segment's mean; on `slices --metric brier` at 1M rows, grid 2^40: 1.04x the
plain sums' CPU instead of 1.2x, but 7.3e-13 relative from the exact result already, so
beyond 1e-12 at 5M); the wrapped Int64 sum and its float locator over a materialised column
(two sums per term: slower than one Int128 sum); two Int64 limbs per term (hi and lo words
of the grid integer, each summed without overflow: the same group-by cost as one Int128
column, 0.40 s vs 0.39 s CPU for compare's 5 moment columns over 21 group-bys of 1M rows,
plain floats 0.23 s); Decimal(38, 0) sums (the same cost as Int128).
"""

from __future__ import annotations

import math

import polars as pl

GRID_BITS = 61
WRAP = 2**64  # the modulus of a wrapped Int64 sum


def grid_scale(x: pl.Expr) -> pl.Expr:
    """The power of two that puts every |x| of the frame below 2^61; 0.0 (sum as floats)
    when some x is not finite, when every x is 0 or null, or when the largest |x| is below
    2^-962 (its grid would be past float64's largest power of two). A whole-frame aggregate:
    use it in `select` / `with_columns`, before grouping. Three quick passes over x (polars
    does not share the repeated subexpressions here): its largest |x| twice (`max` skips NaN)
    and whether some x is NaN."""
    return pl.when(x.is_nan().any()).then(0.0).otherwise(bound_grid(x.abs().max()))


def bound_grid(bound: pl.Expr) -> pl.Expr:
    """`grid_scale` of values whose |x| is at most `bound` (a whole-frame aggregate, e.g.
    the product of two columns' largest |x| bounds their product's): 0.0 where `bound` is
    NaN, infinite, 0, null or below 2^-962."""
    exponent = bound.log(2).ceil()  # -inf for 0, null for null, < 1024 when finite
    # so the scale is at least 2^-963 (a normal float) and every |x| * scale <= 2^61
    return pl.when(exponent.is_between(-962.0, 1024.0)).then(
        pl.lit(2.0).pow(GRID_BITS - exponent)).otherwise(0.0)


def _fixed_point_sum(x: pl.Expr, row_scale: pl.Expr, scale: pl.Expr) -> pl.Expr:
    """Sum of `x` on the grid `scale` (> 0; `row_scale` is the same value as a per-row
    operand), rounded once to float; the plain float sum where `scale` is 0."""
    wrapped = (x * row_scale).cast(pl.Int64, wrap_numerical=True).sum()  # exact mod 2^64
    # The float sum in units of 2^64 (cannot overflow), within 1/2 of the grid total's.
    approx = (x * (1.0 / WRAP)).sum()
    laps = (approx * scale - wrapped.cast(pl.Float64) * (1.0 / WRAP)).round()
    total = wrapped.cast(pl.Int128) + laps.cast(pl.Int128) * pl.lit(WRAP, dtype=pl.Int128)
    return pl.when(scale > 0).then(total.cast(pl.Float64) / scale).otherwise(approx * WRAP)


def exact_sum(x: pl.Expr, scale: str | float) -> pl.Expr:
    """Sum of `x` (nulls skipped, as `sum` does) independent of row order, in an aggregation
    context. `scale` is `grid_scale` of `x` (or of anything whose magnitude bounds it): the
    name of the column holding it, or its value (cheaper: no column to carry)."""
    if not isinstance(scale, str):
        if scale <= 0:
            return x.sum()
        return _fixed_point_sum(x, pl.lit(scale), pl.lit(scale))
    return _fixed_point_sum(x, pl.col(scale), pl.col(scale).first())


def scale_name(name: str) -> str:
    """The column that carries the grid of column `name`."""
    return f"{name}~grid"


def with_grids(frame: pl.LazyFrame, names: list[str]) -> pl.LazyFrame:
    """`frame` plus the grid column of each float column in `names`."""
    return frame.with_columns(grid_scale(pl.col(n)).alias(scale_name(n)) for n in names)


def exact_sums(names: list[str]) -> list[pl.Expr]:
    """Order-free sums of columns `names` (each needs its grid, see `with_grids`)."""
    return [exact_sum(pl.col(n), scale_name(n)).alias(n) for n in names]


def exact_total(x: pl.Expr) -> pl.Expr:
    """Order-free sum of `x` over the whole frame (`select` / `with_columns` context). Outside
    a group-by one Int128 sum is cheaper than the wrapped sum and its float locator."""
    k = grid_scale(x)
    fixed = (x * k).cast(pl.Int64, strict=False).cast(pl.Int128).sum().cast(pl.Float64)
    return pl.when(k > 0).then(fixed / k).otherwise(x.sum())


def bound_scale(bound: float) -> float:
    """The grid of a term known to lie within [-bound, bound] on every row, without a pass
    over the rows (probabilities, squared errors of probabilities, clipped log losses): what
    `bound_grid` gives for that bound, 0.0 included."""
    if not math.isfinite(bound) or bound <= 0.0 or math.ceil(math.log2(bound)) < -962:
        return 0.0
    return 2.0 ** (GRID_BITS - math.ceil(math.log2(bound)))


def fixed_point(x: pl.Expr, scale: float) -> pl.Expr:
    """Per row (`with_columns`): `x` on the grid `scale` as an Int128 integer (truncated
    toward 0, as `exact_sum` does; null stays null). Every |x| must be within the bound
    `scale` was made for (`bound_scale`): a NaN, infinite or far larger value fails the cast
    instead of giving a wrong sum. Grouped sums of such a column are plain integer sums,
    exact whatever the row order: compute the column once, before the group-bys that share
    it, and sum it as an integer through every roll-up."""
    return (x * scale).cast(pl.Int128)


def from_fixed_point(total: pl.Expr, scale: float) -> pl.Expr:
    """A sum of `fixed_point` integers on the grid `scale` as a float: the float nearest the
    exact grid total (one rounding)."""
    return total.cast(pl.Float64) / scale
