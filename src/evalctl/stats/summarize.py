"""Summarise every feature of a selection, per window, in ONE polars lazy query.

The query maps each feature to a cell code (a fixed reference bin, a vocabulary slot, or a
null / NaN marker), aggregates ``(window, cell)`` groups per feature and stacks the results
into one tidy ``(window, feature, cell, n, sum, ...)`` table. The per-feature branches share
their input through polars' common-subplan elimination, so the source is scanned once (a
test checks the plan). Per-cell counts, sums and moments are then folded into one `Summary`
per (window, feature) in Python: that step touches only aggregated rows (a few thousand per
feature and window at most), never the data rows.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from evalctl.errors import InputError
from evalctl.stats.binning import Binning, CategoricalBins, NumericBins, column_problem
from evalctl.stats.summary import (
    UNSEEN_NAME_CAP,
    CategoricalSummary,
    NumericSummary,
    Summary,
)

WINDOW = "__window"
_ROWS = "__rows__"
NULL_CELL, NONFINITE_CELL, UNBINNED_CELL = -1, -2, -3
# Polars errors that mean "this selection does not fit" (e.g. a window expression naming a
# missing column); anything else is a bug and propagates.
_INPUT_ERRORS = (pl.exceptions.ColumnNotFoundError, pl.exceptions.SchemaError,
                 pl.exceptions.InvalidOperationError)


def summarize(
    lf: pl.LazyFrame, binning: Binning, by: str | pl.Expr | None = None
) -> dict[Any, dict[str, Summary]]:
    """Summaries of every feature in `binning`, keyed by window then feature name.

    `by` is a column name or expression giving each row's window (e.g.
    ``pl.col("ts").dt.truncate("1d")`` or a chunk index). Without `by` the result has a single
    window keyed ``None`` (present even when `lf` has no rows). Windows are sorted by key.
    Features whose column is missing, mistyped or unbinned get a summary with `error` set.
    """
    try:
        frame = summary_query(lf, binning, by).collect()
    except _INPUT_ERRORS as exc:
        raise InputError(f"cannot summarise the selection: {exc}") from exc
    groups: dict[Any, dict[str, dict[str, Any]]] = {}
    for row in frame.iter_rows(named=True):
        key = None if by is None else row[WINDOW]
        groups.setdefault(key, {})[row["feature"]] = row
    if by is None and not groups:
        groups[None] = {}
    problems = _problems(lf.collect_schema(), binning)
    ordered = sorted(groups, key=lambda k: (k is None, k))
    return {key: _window_summaries(binning, problems, groups[key]) for key in ordered}


def summary_query(
    lf: pl.LazyFrame, binning: Binning, by: str | pl.Expr | None = None
) -> pl.LazyFrame:
    """The single lazy query behind `summarize`: one row per (window, feature), with list
    columns ``cell``, ``n`` and the per-cell aggregates. Exposed to inspect or stream it."""
    schema = lf.collect_schema()
    problems = _problems(schema, binning)
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


def _problems(schema: pl.Schema, binning: Binning) -> dict[str, str]:
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


def _window_summaries(
    binning: Binning, problems: dict[str, str], groups: dict[str, dict[str, Any]]
) -> dict[str, Summary]:
    rows = _rows_in_window(groups)
    out: dict[str, Summary] = {}
    for feature, kind in binning.kinds.items():
        group = groups.get(feature)
        if feature in problems:
            out[feature] = _error_summary(feature, kind, problems[feature], group, rows)
        elif kind == "numeric":
            out[feature] = _numeric_summary(feature, binning.numeric[feature], group)
        else:
            out[feature] = _categorical_summary(feature, binning.categorical[feature], group)
    return out


def _rows_in_window(groups: dict[str, dict[str, Any]]) -> int:
    return int(sum(next(iter(groups.values()))["n"])) if groups else 0


def _error_summary(
    feature: str, kind: str, error: str, group: dict[str, Any] | None, rows: int
) -> Summary:
    nulls = _cell_total(group, NULL_CELL) if group else None
    if kind == "categorical":
        return CategoricalSummary(feature, (), rows=rows, nulls=nulls, error=error)
    return NumericSummary(feature, (), (), rows=rows, nulls=nulls, error=error)


def _cell_total(group: dict[str, Any], cell: int) -> int:
    return int(sum(n for c, n in zip(group["cell"], group["n"], strict=True) if c == cell))


def _numeric_summary(
    feature: str, bins: NumericBins, group: dict[str, Any] | None
) -> NumericSummary:
    empty = NumericSummary.empty(feature, bins)
    if group is None:
        return empty
    cell = np.asarray(group["cell"], dtype=np.int64)
    n = np.asarray(group["n"], dtype=np.int64)
    sums = np.nan_to_num(np.asarray(group["sum"], dtype=float))
    m2 = np.nan_to_num(np.asarray(group["m2"], dtype=float))
    valued = cell >= 0
    counts = np.zeros(len(empty.counts), dtype=np.int64)
    counts[cell[valued]] = n[valued]
    open_sums = np.zeros(len(empty.sums))
    open_lows: list[float | None] = list(empty.lows)
    open_highs: list[float | None] = list(empty.highs)
    for c, total, low, high in zip(cell, sums, group["lo"], group["hi"], strict=True):
        if c >= 0 and c % 2 == 0:
            open_sums[c // 2], open_lows[c // 2], open_highs[c // 2] = total, low, high
    mean, total_m2 = _fold_cells(n[valued], sums[valued], m2[valued])
    lows = [v for v, ok in zip(group["lo"], valued, strict=True) if ok and v is not None]
    highs = [v for v, ok in zip(group["hi"], valued, strict=True) if ok and v is not None]
    return NumericSummary(
        feature, bins.edges, bins.psi_edges,
        rows=int(n.sum()),
        nulls=int(n[cell == NULL_CELL].sum()),
        nonfinite=int(n[cell == NONFINITE_CELL].sum()),
        minimum=min(lows) if lows else None,
        maximum=max(highs) if highs else None,
        mean=mean, m2=total_m2,
        counts=tuple(counts.tolist()), sums=tuple(open_sums.tolist()),
        lows=tuple(open_lows), highs=tuple(open_highs),
    )


def _fold_cells(n: np.ndarray, sums: np.ndarray, m2: np.ndarray) -> tuple[float, float]:
    """Mean and M2 of the union of cells: M2 = sum(M2_i) + sum(n_i * (mean_i - mean)^2)."""
    total = int(n.sum())
    if total == 0:
        return 0.0, 0.0
    mean = float(sums.sum() / total)
    cell_means = sums / np.maximum(n, 1)
    return mean, float(m2.sum() + (n * (cell_means - mean) ** 2).sum())


def _categorical_summary(
    feature: str, bins: CategoricalBins, group: dict[str, Any] | None
) -> CategoricalSummary:
    empty = CategoricalSummary.empty(feature, bins)
    if group is None:
        return empty
    counts = np.zeros(len(empty.counts), dtype=np.int64)
    names: list[str] = []
    levels = 0
    for cell, n, cell_names, cell_levels in zip(
        group["cell"], group["n"], group["names"], group["levels"], strict=True
    ):
        if cell >= 0:
            counts[cell] = n
        if cell == len(bins.vocabulary) + 1:
            names, levels = list(cell_names), int(cell_levels)
    return CategoricalSummary(
        feature, bins.vocabulary,
        rows=int(sum(group["n"])),
        nulls=_cell_total(group, NULL_CELL),
        counts=tuple(counts.tolist()),
        unseen_levels=levels,
        unseen_names=tuple(names),
        known_complete=bins.known_complete,
    )
