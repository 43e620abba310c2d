"""`summary_query`: the summaries of `summarize` as a single polars lazy query.

Each feature maps to a cell code (a fixed reference bin, a vocabulary slot, or a null / NaN
marker); the query aggregates ``(window, cell)`` groups per feature and stacks the results into
one tidy ``(window, feature, cell, n, sum, ...)`` table. The per-feature branches share their
input through polars' common-subplan elimination, so the source is scanned once (a test checks
the plan). It is the engine-neutral description of the computation; `summarize` runs a cheaper
equivalent (one select of the cell inputs, counted batch by batch with numpy).
"""

from __future__ import annotations

import polars as pl

from evalctl.errors import InputError
from evalctl.stats.binning import Binning, CategoricalBins, NumericBins, column_problem
from evalctl.stats.summary import UNSEEN_NAME_CAP

WINDOW = "__window"
_ROWS = "__rows__"
NULL_CELL, NONFINITE_CELL, UNBINNED_CELL = -1, -2, -3


def summary_query(
    lf: pl.LazyFrame, binning: Binning, by: str | pl.Expr | None = None
) -> pl.LazyFrame:
    """`summarize`'s summaries as one polars lazy query: one row per (window, feature), with
    list columns ``cell``, ``n`` and the per-cell aggregates (``sum``, ``m2``, ``lo``, ``hi``
    for numeric features; ``names``, ``levels`` for categorical ones).

    For engines or tools that want to run or inspect the computation as a plan. `summarize`
    itself counts the same cells from a cheaper streamed select (see `evalctl.stats.summarize`),
    and a test holds the two to the same numbers."""
    schema = lf.collect_schema()
    problems = feature_problems(schema, binning)
    present = [f for f in binning.kinds if f in schema]
    cells = {f: _cell_struct(f, binning, problems) for f in present}
    if len(cells) < len(binning.kinds) or not cells:
        cells[_ROWS] = pl.struct(cell=pl.lit(0, pl.Int32), x=pl.lit(None, pl.Float64),
                                 s=pl.lit(None, pl.String))
    if isinstance(by, str) and by not in schema:
        raise InputError(f"window column {by!r} is missing")
    window = pl.repeat(0, pl.len()) if by is None else (pl.col(by) if isinstance(by, str) else by)
    base = lf.select(window.alias(WINDOW), *present)
    branches = [
        base.select(WINDOW, cell.alias("value")).unnest("value")
        .group_by(WINDOW, "cell").agg(_cell_aggregates(binning, problems, feature))
        .with_columns(feature=pl.lit(feature, pl.String))
        for feature, cell in cells.items()
    ]
    return pl.concat(branches, how="diagonal").group_by(WINDOW, "feature").agg(pl.all())


def feature_problems(schema: pl.Schema, binning: Binning) -> dict[str, str]:
    """Why each feature that cannot be summarised from `schema` cannot (missing column, wrong
    type, no reference binning); such features get an error summary."""
    problems = {}
    for feature, kind in binning.kinds.items():
        problem = column_problem(schema, feature, kind) or binning.errors.get(feature)
        if problem is None and feature not in binning.numeric | binning.categorical:
            problem = f"column {feature!r} has no reference binning"
        if problem:
            problems[feature] = problem
    return problems


def _cell_struct(feature: str, binning: Binning, problems: dict[str, str]) -> pl.Expr:
    if feature in problems:
        column = pl.col(feature)
        cell = pl.when(column.is_null()).then(NULL_CELL).otherwise(UNBINNED_CELL)
        return pl.struct(cell=cell.cast(pl.Int32), x=pl.lit(None, pl.Float64),
                         s=pl.lit(None, pl.String))
    if feature in binning.numeric:
        return _numeric_cells(feature, binning.numeric[feature])
    return _categorical_cells(feature, binning.categorical[feature])


def _numeric_cells(feature: str, bins: NumericBins) -> pl.Expr:
    """Cell ``2i`` is the open interval below edge i, cell ``2i + 1`` the edge itself."""
    x = pl.col(feature).cast(pl.Float64) + 0.0  # + 0.0 turns -0.0 into 0.0 for is_in
    edges = pl.lit(pl.Series(bins.edges, dtype=pl.Float64))
    position = 2 * edges.search_sorted(x, side="left") + x.is_in(edges.implode()).cast(pl.UInt32)
    cell = (pl.when(x.is_null()).then(NULL_CELL)
            .when(~x.is_finite()).then(NONFINITE_CELL)
            .otherwise(position))
    finite = pl.when(x.is_finite()).then(x)
    return pl.struct(cell=cell.cast(pl.Int32), x=finite, s=pl.lit(None, pl.String))


def _categorical_cells(feature: str, bins: CategoricalBins) -> pl.Expr:
    """Cells ``0..K-1`` are the vocabulary, K the other known levels, K + 1 the unseen ones."""
    s = pl.col(feature).cast(pl.String)
    k = len(bins.vocabulary)
    known = pl.Series(sorted(bins.known), dtype=pl.String)
    outside = pl.when(s.is_in(pl.lit(known).implode())).then(k).otherwise(k + 1)
    slot = s.replace_strict(list(bins.vocabulary), list(range(k)), default=outside,
                            return_dtype=pl.Int32)
    cell = pl.when(s.is_null()).then(NULL_CELL).otherwise(slot).cast(pl.Int32)
    return pl.struct(cell=cell, x=pl.lit(None, pl.Float64),
                     s=pl.when(cell == k + 1).then(s))


def _cell_aggregates(binning: Binning, problems: dict[str, str], feature: str) -> list[pl.Expr]:
    """What each (window, cell) group keeps: moments for numeric, unseen names for categorical."""
    count = pl.len().alias("n")
    if feature in problems or feature not in binning.kinds:
        return [count]
    if feature in binning.numeric:
        x = pl.col("x")
        return [count, x.sum().alias("sum"), (x.var(ddof=0) * pl.len()).alias("m2"),
                x.min().alias("lo"), x.max().alias("hi")]
    names = pl.col("s").drop_nulls()
    return [count, names.unique().sort().head(UNSEEN_NAME_CAP).alias("names"),
            names.n_unique().alias("levels")]
