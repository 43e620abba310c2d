"""Transformation skew: is a feature computed the same way on both sides of a join on the id?

Shaped after TFDV's skew detector: per feature, the rows compared, the rows with a null on
either side, the mismatch count and rate, and a few mismatched pairs. Numeric features also
report the median ratio and offset of current to reference, which name the usual bugs
directly (a ratio of 60 is minutes vs hours, an offset of 3600 a time-zone shift).

The input is one LazyFrame already joined on the id (see `join_on_id`): the reference value of
feature ``f`` is column ``f`` and the current value column ``f + CURRENT_SUFFIX``.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from evalctl.checks.evaluate import json_safe
from evalctl.stats.binning import column_problem

CURRENT_SUFFIX = "__cur"
SAMPLE_SIZE = 5


def join_on_id(
    reference: pl.LazyFrame, current: pl.LazyFrame, id_column: str, features: list[str]
) -> pl.LazyFrame:
    """Inner-join the two sides on `id_column`, current columns suffixed with CURRENT_SUFFIX."""
    wanted = [id_column, *features]
    ref_cols = [c for c in wanted if c in reference.collect_schema()]
    cur_cols = [c for c in wanted if c in current.collect_schema()]
    return reference.select(ref_cols).join(
        current.select(cur_cols), on=id_column, how="inner", suffix=CURRENT_SUFFIX)


def transform_skew(
    joined: pl.LazyFrame,
    features: dict[str, str],
    rtol: float = 1e-6,
    atol: float = 1e-9,
    id_column: str | None = None,
    warn: float = 0.0,
    fail: float = 0.01,
) -> list[dict[str, Any]]:
    """Per-feature skew results, computed in ONE query over the joined rows.

    Numeric values match when ``|cur - ref| <= atol + rtol * |ref|`` (or both are equal,
    including NaN = NaN and inf = inf); categorical values (compared as strings) must be equal.
    Only rows with both sides non-null are compared. ``status`` is ``fail`` when the mismatch
    rate exceeds `fail`, ``warn`` when it exceeds `warn` (any mismatch, by default), ``error``
    with a reason when a column is missing or mistyped. Samples are sorted by `id_column`
    when it is given, else taken in row order.
    """
    schema = joined.collect_schema()
    problems = {f: _problem(schema, f, kind) for f, kind in features.items()}
    exprs = [_skew_expr(f, kind, rtol, atol, id_column).alias(f)
             for f, kind in features.items() if problems[f] is None]
    row = joined.select(exprs).collect().row(0, named=True) if exprs else {}
    results = []
    for feature, kind in features.items():
        if problems[feature]:
            results.append({"feature": feature, "kind": kind, "status": "error",
                            "reason": problems[feature]})
        else:
            results.append(_result(feature, kind, row[feature], warn, fail))
    return json_safe(results)


def _problem(schema: pl.Schema, feature: str, kind: str) -> str | None:
    for column in (feature, feature + CURRENT_SUFFIX):
        problem = column_problem(schema, column, kind)
        if problem:
            return problem
    return None


def _skew_expr(
    feature: str, kind: str, rtol: float, atol: float, id_column: str | None
) -> pl.Expr:
    ref, cur = pl.col(feature), pl.col(feature + CURRENT_SUFFIX)
    both = ref.is_not_null() & cur.is_not_null()
    fields: dict[str, pl.Expr] = {}
    if kind == "numeric":
        r, c = ref.cast(pl.Float64), cur.cast(pl.Float64)
        equal = (r == c) | ((c - r).abs() <= atol + rtol * r.abs())
        finite = both & r.is_finite() & c.is_finite()
        fields["median_ratio"] = (c / r).filter(finite & (r != 0)).median()
        fields["median_offset"] = (c - r).filter(finite).median()
    else:
        equal = ref.cast(pl.String) == cur.cast(pl.String)
    mismatch = both & ~equal
    pair = [ref.alias("reference"), cur.alias("current")]
    sample = pl.struct(pair).filter(mismatch)
    if id_column:
        sample = pl.struct([pl.col(id_column).alias("id"), *pair]).filter(mismatch)
        sample = sample.sort_by(pl.col(id_column).filter(mismatch))
    fields |= {
        "rows": pl.len(),
        "either_null": (~both).sum(),
        "compared": both.sum(),
        "mismatches": mismatch.sum(),
        "samples": sample.head(SAMPLE_SIZE).implode(),
    }
    return pl.struct([expr.alias(name) for name, expr in fields.items()])


def _result(
    feature: str, kind: str, stats: dict[str, Any], warn: float, fail: float
) -> dict[str, Any]:
    compared = stats["compared"]
    rate = stats["mismatches"] / compared if compared else None
    result = {"feature": feature, "kind": kind, "rows": stats["rows"],
              "either_null": stats["either_null"], "compared": compared,
              "mismatches": stats["mismatches"], "mismatch_rate": rate,
              "median_ratio": stats.get("median_ratio"),
              "median_offset": stats.get("median_offset"),
              "samples": stats["samples"], "warn": warn, "threshold": fail}
    if rate is None:
        return result | {"status": "error", "reason": "no row has both sides non-null"}
    status = "fail" if rate > fail else ("warn" if rate > warn else "pass")
    return result | {"score": rate, "status": status}
