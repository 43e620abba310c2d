"""Transformation skew: is a feature computed the same way on both sides of a join on the id?

Shaped after TFDV's skew detector: per feature, the rows compared, the rows with a null on
either side, the mismatch count and rate, and a few mismatched pairs. Numeric features also
report the median ratio and offset of current to reference, which name the usual bugs
directly (a ratio of 60 is minutes vs hours, an offset of 3600 a time-zone shift).

The input is one LazyFrame already joined on the id (see `join_on_id`): the reference value of
feature ``f`` is column ``f`` and the current value column ``f + CURRENT_SUFFIX``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import polars as pl

from evalctl.checks.evaluate import json_safe
from evalctl.stats.binning import BATCH_ROWS, column_problem
from evalctl.stats.streamed import StreamedRanks

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
    return _results(features, problems, row, warn, fail)


def _results(features: dict[str, str], problems: dict[str, str | None],
             values: dict[str, Any], warn: float, fail: float) -> list[dict[str, Any]]:
    """One result per feature: its error when it has a problem, else its verdict on its
    values (the one-query and the bucketed join give the same `values`)."""
    results = []
    for feature, kind in features.items():
        if problems[feature]:
            results.append({"feature": feature, "kind": kind, "status": "error",
                            "reason": problems[feature]})
        else:
            results.append(_result(feature, kind, values[feature], warn, fail))
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
    fields = _skew_fields(feature, kind, rtol, atol, id_column)
    return pl.struct([expr.alias(name) for name, expr in fields.items()])


def _skew_fields(
    feature: str, kind: str, rtol: float, atol: float, id_column: str | None,
    medians: bool = True,
) -> dict[str, pl.Expr]:
    """The per-feature aggregates over joined rows; without `medians`, the count, minimum
    and maximum of the values whose medians are reported (`ratio_offset`), which merge
    across parts of the join (`bucketed_transform_skew`)."""
    ref, cur = pl.col(feature), pl.col(feature + CURRENT_SUFFIX)
    both = ref.is_not_null() & cur.is_not_null()
    fields: dict[str, pl.Expr] = {}
    if kind == "numeric":
        r, c = ref.cast(pl.Float64), cur.cast(pl.Float64)
        equal = (r == c) | ((c - r).abs() <= atol + rtol * r.abs())
        if medians:
            finite = both & r.is_finite() & c.is_finite()
            fields["median_ratio"] = (c / r).filter(finite & (r != 0)).median()
            fields["median_offset"] = (c - r).filter(finite).median()
        else:
            for name, value in ratio_offset(feature).items():
                x = value.filter(value.is_not_null())
                fields |= {f"{name}_n": x.len(), f"{name}_lo": x.min(), f"{name}_hi": x.max()}
    else:
        equal = ref.cast(pl.String) == cur.cast(pl.String)
    mismatch = both & ~equal
    pair = [ref.alias("reference"), cur.alias("current")]
    sample = pl.struct(pair).filter(mismatch)
    if id_column:
        sample = pl.struct([pl.col(id_column).alias("id"), *pair]).filter(mismatch)
        sample = sample.sort_by(pl.col(id_column).filter(mismatch))
    return fields | {
        "rows": pl.len(),
        "either_null": (~both).sum(),
        "compared": both.sum(),
        "mismatches": mismatch.sum(),
        "samples": sample.head(SAMPLE_SIZE).implode(),
    }


def ratio_offset(feature: str) -> dict[str, pl.Expr]:
    """Per joined row, the values whose medians a numeric feature reports: current /
    reference (both finite, reference non-zero) and current - reference (both finite);
    null where a row does not count."""
    r = pl.col(feature).cast(pl.Float64)
    c = pl.col(feature + CURRENT_SUFFIX).cast(pl.Float64)
    finite = r.is_finite() & c.is_finite()  # null when either side is null
    return {"median_ratio": pl.when(finite & (r != 0)).then(c / r),
            "median_offset": pl.when(finite).then(c - r)}


def bucketed_transform_skew(
    joins: Callable[[], Iterator[pl.LazyFrame]],
    features: dict[str, str],
    id_column: str,
    rtol: float = 1e-6,
    atol: float = 1e-9,
    warn: float = 0.0,
    fail: float = 0.01,
) -> list[dict[str, Any]]:
    """`transform_skew` of a join read in parts — `joins()` yields the joined rows part by
    part (each id's rows in one part, as a hash partition of both sides by id gives) and is
    called once per pass — with the same results (medians to the last bits of the midpoint).

    Counts add up across parts; the mismatched samples are each part's first by id, merged;
    the median ratio and offset are exact order statistics of the merged parts, found in
    streamed passes (`StreamedRanks`): memory is one part's join, whatever the rows."""
    first = next(iter(joins()), None)  # no part: no id joined (every result says so)
    problems = {f: _problem(first.collect_schema(), f, kind) if first is not None else None
                for f, kind in features.items()}
    usable = {f: k for f, k in features.items() if problems[f] is None}
    totals = {f: _empty_partial(k) for f, k in usable.items()}
    for joined in joins() if usable else ():
        exprs = [pl.struct([e.alias(n) for n, e in
                            _skew_fields(f, k, rtol, atol, id_column, medians=False).items()])
                 .alias(f) for f, k in usable.items()]
        row = joined.select(exprs).collect(engine="streaming").row(0, named=True)
        for feature in usable:
            _add_partial(totals[feature], row[feature])
    _medians(joins, {f: t for f, t in totals.items() if usable[f] == "numeric"})
    return _results(features, problems, totals, warn, fail)


def _empty_partial(kind: str) -> dict[str, Any]:
    partial: dict[str, Any] = {"rows": 0, "either_null": 0, "compared": 0, "mismatches": 0,
                               "samples": []}
    if kind == "numeric":
        for name in ("median_ratio", "median_offset"):
            partial |= {f"{name}_n": 0, f"{name}_lo": np.inf, f"{name}_hi": -np.inf}
    return partial


def _add_partial(total: dict[str, Any], part: dict[str, Any]) -> None:
    for name in ("rows", "either_null", "compared", "mismatches"):
        total[name] += part[name]
    total["samples"] = sorted(total["samples"] + list(part["samples"] or []),
                              key=lambda s: s["id"])[:SAMPLE_SIZE]
    for name in ("median_ratio", "median_offset"):
        if f"{name}_n" in total and part[f"{name}_n"]:
            total[f"{name}_n"] += part[f"{name}_n"]
            total[f"{name}_lo"] = min(total[f"{name}_lo"], part[f"{name}_lo"])
            total[f"{name}_hi"] = max(total[f"{name}_hi"], part[f"{name}_hi"])


def _medians(joins: Callable[[], Iterator[pl.LazyFrame]],
             totals: dict[str, dict[str, Any]]) -> None:
    """Set each numeric total's median ratio and offset: the middle order statistics of
    the values over every part (the mean of the two middle ones for an even count, as
    polars' median), None when no row counts. Infinite values (an overflowing ratio) are
    ranked as polars ranks them: below or above every finite value."""
    wanted: dict[str, tuple[np.ndarray, int, float, float]] = {}
    shift: dict[str, int] = {}
    for feature, total in totals.items():
        for name in ("median_ratio", "median_offset"):
            n = total.pop(f"{name}_n")
            lo, hi = total.pop(f"{name}_lo"), total.pop(f"{name}_hi")
            total[name] = None
            if n:
                wanted[f"{feature}\0{name}"] = (np.unique([(n - 1) // 2, n // 2]), n,
                                                 float(lo), float(hi))
    if not wanted:
        return
    # infinite values are not ranked by StreamedRanks (finite values only): count them
    columns = {key: ratio_offset(key.split("\0")[0])[key.split("\0")[1]] for key in wanted}
    low = dict.fromkeys(wanted, 0)
    high = dict.fromkeys(wanted, 0)
    for joined in joins():
        row = joined.select(
            [*((e == -np.inf).sum().alias(f"{k}\0low") for k, e in columns.items()),
             *((e == np.inf).sum().alias(f"{k}\0high") for k, e in columns.items())]
        ).collect(engine="streaming").row(0, named=True)
        for key in wanted:
            low[key] += row[f"{key}\0low"]
            high[key] += row[f"{key}\0high"]
    finite: dict[str, tuple[np.ndarray, int, float, float]] = {}
    answers: dict[str, dict[int, float]] = {}
    for key, (ranks, n, lo, hi) in wanted.items():
        answers[key] = {}
        inner = []
        for rank in ranks.tolist():
            if rank < low[key]:
                answers[key][rank] = -np.inf
            elif rank >= n - high[key]:
                answers[key][rank] = np.inf
            else:
                inner.append(rank - low[key])
        shift[key] = low[key]
        if inner:
            finite[key] = (np.array(inner, dtype=np.int64), n - low[key] - high[key],
                           float(lo) if np.isfinite(lo) else _finite_bound(key, joins, min),
                           float(hi) if np.isfinite(hi) else _finite_bound(key, joins, max))

    def batches(names: list[str]) -> Iterator[dict[str, np.ndarray]]:
        for joined in joins():
            query = joined.select([columns[n].alias(n) for n in names])
            for batch in query.collect_batches(chunk_size=BATCH_ROWS):
                yield {n: batch.get_column(n).to_numpy() for n in names}

    found = StreamedRanks(finite).run(batches) if finite else {}
    for key, values in found.items():
        for rank, value in zip(finite[key][0].tolist(), values.tolist(), strict=True):
            answers[key][rank + shift[key]] = value
    for key, (_, n, _, _) in wanted.items():
        feature, name = key.split("\0")
        a, b = answers[key][(n - 1) // 2], answers[key][n // 2]
        totals[feature][name] = a if a == b else a + (b - a) / 2


def _finite_bound(key: str, joins: Callable[[], Iterator[pl.LazyFrame]],
                  pick: Callable[..., float]) -> float:
    """The smallest (`min`) or largest (`max`) finite value of a ratio/offset column."""
    feature, name = key.split("\0")
    value = ratio_offset(feature)[name]
    x = value.filter(value.is_finite())
    found = [joined.select(x.min().alias("lo"), x.max().alias("hi"))
             .collect(engine="streaming").row(0) for joined in joins()]
    values = [v for lo, hi in found for v in (lo, hi) if v is not None]
    return float(pick(values)) if values else 0.0


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
