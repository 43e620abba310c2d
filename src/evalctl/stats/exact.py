"""Float sums that do not depend on row order, so the same store gives the same bits.

Polars' parallel group-by adds each group's floats in whatever order its threads meet them,
so a grouped float `sum` can differ in the last bits from run to run. Integer sums are exact,
hence order-free: a float column is put on a fixed-point grid, its integers summed exactly, and
the total turned back into a float (one rounding: the float nearest the grid total).

The grid is one power of two per column, chosen over the whole frame before grouping
(`grid_scale`: the largest finite |x| maps below 2^61), carried as a column or passed as a
value, and applied inside the aggregation (`exact_sum`). A value's rounding error is below
2^-60 of the column's largest |x|, far below float64's own rounding error on a sum.

The grid integers are summed as Int64, which wraps: modular addition is exact and order-free,
so the wrapped sum is the exact total modulo 2^64. The plain float sum of the group, computed
alongside, locates the total within ±2^63 and so gives the number of wraps; only the per-group
results are combined in Int128. On the grid that float sum is off by at most n^2 * 2^8 + n for
n rows, below 2^63 for groups of up to 2^27 (134 million) rows: up to there the result is the
float nearest the exact grid total, whatever the order (the float sum is taken in units of
2^64, so it cannot overflow). Per row this costs two multiplies, one cast
and one Int64 sum more than a float sum (measured with benchmarks/exact_sums.py).
A column with an infinite or NaN value has no grid (scale 0) and is summed as floats: the
result is then inf or NaN whatever the order. So is a column whose largest |x| is below 2^-962
(about 1e-290; its grid would be past float64's largest power of two): such sums are right
but not order-free.

Cost (benchmarks/exact_sums.py, CPU time): about 3× a plain grouped float sum. Most of it is
the two sums a group needs (the wrapped Int64 sum alone is 1.5× the float sum, the locator
another 1×), not the grid. Tried and not taken, same bits each: the locator from the group's
plain float sum (7% faster, but not exact any more where a group's float sum overflows),
materialising the grid products or integers before grouping (no faster), Int128 sums (slower).
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
    use it in `select` / `with_columns`, before grouping. One pass over x: its largest |x|,
    NaN when some x is NaN (`nan_max`)."""
    return bound_grid(x.abs().nan_max())


def bound_grid(bound: pl.Expr) -> pl.Expr:
    """`grid_scale` of values whose |x| is at most `bound` (a whole-frame aggregate, e.g.
    the product of two columns' largest |x| bounds their product's): 0.0 where `bound` is
    NaN, infinite, 0, null or below 2^-962."""
    exponent = bound.log(2).ceil()  # -inf for 0, null for null
    fits = bound.is_finite() & (exponent >= -962.0)
    # |x| < 2^1024, so the scale is at least 2^-963 (a normal float) and x * scale < 2^61
    return pl.when(fits).then(pl.lit(2.0).pow(GRID_BITS - exponent)).otherwise(0.0)


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
    toward 0, as `exact_sum` does; null stays null). Every |x| must be within the bound `scale` was made for
    (`bound_scale`): a NaN, infinite or far larger value fails the cast instead of giving
    a wrong sum. Grouped sums of such a column are plain integer sums, exact whatever the
    row order and as cheap as a float sum once the column exists: compute it once, before
    the group-bys that share it, and sum it as an integer through every roll-up."""
    return (x * scale).cast(pl.Int128)


def from_fixed_point(total: pl.Expr, scale: float) -> pl.Expr:
    """A sum of `fixed_point` integers on the grid `scale` as a float: the float nearest the
    exact grid total (one rounding)."""
    return total.cast(pl.Float64) / scale
