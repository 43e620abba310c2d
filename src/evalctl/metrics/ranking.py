"""Ranking: per-query NDCG@k, reciprocal rank and hit@k, averaged over queries per segment.

Rows are sorted once by (query, score descending). Every per-query quantity is then a column
operation over that order (no per-query Python, no windows):

* NDCG@k follows scikit-learn's ``ndcg_score``: linear gains, ``1 / log2(position + 2)``
  discounts, tied scores share the mean gain of their tie block, ideal DCG from the labels
  sorted descending, and a query whose labels are all 0 scores 0.
* Reciprocal rank and hit@k use the first relevant item (label > 0). Ties are broken against
  the model: the relevant item ranks after every non-relevant item with the same score.
  A query without a relevant item scores 0.

Slices describe queries: a slice expression must take one value per query (checked).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl

from evalctl.metrics.catalogue import METRIC_NAMES, RANKING, score_metrics
from evalctl.metrics.frame import MetricBlock, column
from evalctl.metrics.intervals import mean_interval, wilson_interval
from evalctl.metrics.slices import group_exprs
from evalctl.metrics.spec import (
    LABEL,
    QUERY,
    SCORE,
    VALID,
    Columns,
    Options,
    always_additive,
    no_fine_columns,
    unchanged,
)
from evalctl.stats.exact import exact_sum, exact_sums, grid_scale, scale_name, with_grids

METRICS = METRIC_NAMES[RANKING]
SCORE_METRICS = score_metrics(RANKING)


def select_columns(cols: Columns, schema: pl.Schema) -> list[pl.Expr]:
    """Query id, relevance label and score under internal names."""
    return [
        pl.col(str(cols.group)).alias(QUERY),
        pl.col(cols.label).cast(pl.Float64).alias(LABEL),
        pl.col(str(cols.score)).cast(pl.Float64).alias(SCORE),
    ]


def prepare(base: pl.LazyFrame, cols: Columns, metrics: frozenset[str], options: Options,
            keys: Sequence[str]) -> pl.LazyFrame:
    """One row per query: its metrics, row counts and slice keys."""
    y, s, q = pl.col(LABEL), pl.col(SCORE), pl.col(QUERY)
    missing = (y.is_null() | y.is_nan()).fill_null(True)
    valid = (~missing & s.is_finite() & q.is_not_null()).fill_null(False)
    rows = base.with_columns(
        valid.alias(VALID), missing.alias("__miss"), (~missing & ~valid).alias("__excl"),
        (~valid).alias("__inv"),
    ).sort([QUERY, "__inv", SCORE], descending=[False, False, True], nulls_last=True)
    rows = _row_terms(rows, options.k)
    key_aggs = [agg for k in keys for agg in (pl.col(k).min(), pl.col(k).max().alias(k + "__max"))]
    queries = with_grids(rows, ["__dcg"]).group_by(QUERY).agg(
        pl.col(VALID).sum().alias("__nv"), pl.col("__miss").sum().alias("n_missing_label"),
        pl.col("__excl").sum().alias("n_excluded"), *exact_sums(["__dcg"]),
        pl.col("__rr").max().fill_null(0.0).alias("rr"), pl.col("__rank").min().alias("rank"),
        (pl.col(VALID) & (y < 0)).any().alias("__negative"), *key_aggs,
    )
    varies = [pl.col(k).ne_missing(pl.col(k + "__max")) for k in keys]
    queries = queries.rename({"__dcg": "dcg"})
    return (
        queries.join(_ideal_dcg(rows, options.k), on=QUERY, how="left", nulls_equal=True)
        .with_columns(
            (pl.col("__nv") > 0).alias(VALID),
            pl.any_horizontal(varies or [pl.lit(False)]).alias("__varies"),
            pl.when(pl.col("idcg") > 0).then(pl.col("dcg") / pl.col("idcg")).otherwise(0.0)
            .alias("ndcg"),
            (pl.col("rank") <= options.k).fill_null(False).alias("hit"),
        )
    )


def _row_terms(rows: pl.LazyFrame, k: int) -> pl.LazyFrame:
    """Position in query, tie-block gain averages, DCG contribution and pessimistic rank."""
    idx, q, s, v = pl.int_range(pl.len()), pl.col(QUERY), pl.col(SCORE), pl.col(VALID)
    new_query = q.ne_missing(q.shift(1)).fill_null(True)
    new_block = (new_query | pl.col("__inv").ne_missing(pl.col("__inv").shift(1))
                 | s.ne_missing(s.shift(1))).fill_null(True)
    gain = pl.when(v).then(pl.col(LABEL)).otherwise(0.0)
    rows = rows.with_columns(
        idx.alias("__i"), new_query.alias("__nq"), new_block.alias("__nb"),
        gain.alias("__g"), (gain > 0).cast(pl.Float64).alias("__rel"),
    ).with_columns(
        pl.col("__nb").shift(-1).fill_null(True).alias("__eb"),
        pl.col("__g").cum_sum().alias("__cg"), pl.col("__rel").cum_sum().alias("__cr"),
    )
    i, start, end = pl.col("__i"), pl.col("__nb"), pl.col("__eb")
    rows = rows.with_columns(
        (i - pl.when(pl.col("__nq")).then(i).forward_fill()).alias("__pos"),
        (i - pl.when(start).then(i).forward_fill()).alias("__into"),
        (pl.when(end).then(i).backward_fill() - pl.when(start).then(i).forward_fill() + 1)
        .alias("__size"),
        *[(pl.when(end).then(pl.col(c)).backward_fill()
           - pl.when(start).then(pl.col(c) - pl.col(x)).forward_fill()).alias(out)
          for c, x, out in (("__cg", "__g", "__bg"), ("__cr", "__rel", "__br"))],
    )
    pos, size = pl.col("__pos"), pl.col("__size").cast(pl.Float64)
    discount = 1.0 / (pos.cast(pl.Float64) + 2.0).log(2)
    rank = pos - pl.col("__into") + (size - pl.col("__br")) + 1
    relevant = v & (pl.col("__rel") > 0)
    return rows.with_columns(
        pl.when(v & (pos < k)).then(pl.col("__bg") / size * discount).otherwise(0.0)
        .alias("__dcg"),
        pl.when(relevant).then(rank).alias("__rank"),
        pl.when(relevant).then(1.0 / rank).alias("__rr"),
    )


def _ideal_dcg(rows: pl.LazyFrame, k: int) -> pl.LazyFrame:
    """DCG of the labels sorted descending, from (query, label) counts."""
    cumulative = np.concatenate([[0.0], np.cumsum(1.0 / np.log2(np.arange(k) + 2.0))])
    table = pl.lit(pl.Series(cumulative))
    levels = (
        rows.filter(pl.col(VALID))
        .group_by(QUERY, LABEL).agg(pl.len().alias("__m"))
        .sort([QUERY, LABEL], descending=[False, True])
    )
    m, q = pl.col("__m"), pl.col(QUERY)
    first = q.ne_missing(q.shift(1)).fill_null(True)
    levels = levels.with_columns(m.cum_sum().alias("__cm")).with_columns(
        (pl.col("__cm") - m - pl.when(first).then(pl.col("__cm") - m).forward_fill())
        .alias("__st")
    )
    st = pl.col("__st")
    upper, lower = (st + m).clip(upper_bound=k), st.clip(upper_bound=k)
    contribution = pl.col(LABEL) * (table.gather(upper) - table.gather(lower))
    levels = levels.with_columns(contribution.alias("idcg"))
    return with_grids(levels, ["idcg"]).group_by(QUERY).agg(exact_sums(["idcg"]))


def bad_values(stats: pl.DataFrame, cols: Columns) -> str | None:
    """Negative relevance, or a slice that varies within a query (from the overall sums)."""
    if stats.get_column("n_negative").sum() > 0:
        return f"column {cols.label}: relevance labels must be >= 0"
    if stats.get_column("n_varies").sum() > 0:
        return (f"ranking slices must take one value per query (group column {cols.group}); "
                "a slice expression varies within a query")
    return None


# per-segment sums, no second stage (see spec.py)
additive = always_additive
fine_columns = no_fine_columns
finish = unchanged


def fine_stats(base: pl.LazyFrame, keys: Sequence[str], metrics: frozenset[str]
               ) -> pl.LazyFrame:
    """Sums over the segment's queries (n counts queries with at least one evaluable row)."""
    v = pl.col(VALID)
    terms = {"s_ndcg": pl.col("ndcg"), "s_ndcg2": pl.col("ndcg") ** 2, "s_rr": pl.col("rr"),
             "s_rr2": pl.col("rr") ** 2}
    frame = base.with_columns(grid_scale(e).alias(scale_name(k)) for k, e in terms.items())
    return frame.group_by(group_exprs(keys)).agg(  # order-free float sums: see stats.exact
        v.sum().alias("n"), pl.col("n_missing_label").sum(), pl.col("n_excluded").sum(),
        *[exact_sum(e.filter(v), scale_name(k)).alias(k) for k, e in terms.items()],
        pl.col("hit").filter(v).sum().alias("s_hit"),
        pl.col("__negative").sum().alias("n_negative"),
        pl.col("__varies").sum().alias("n_varies"),
    )


def finalize(stats: pl.DataFrame, metrics: frozenset[str], options: Options) -> list[MetricBlock]:
    """Means over queries with normal intervals; hit rate with a Wilson interval."""
    n = column(stats, "n")
    blocks = []
    for name, total in (("ndcg", "s_ndcg"), ("mrr", "s_rr")):
        if name in metrics:
            value, low, high = mean_interval(column(stats, total), column(stats, total + "2"), n,
                                             options.confidence, 0.0, 1.0)
            blocks.append(MetricBlock(name, value, low, high, "normal (over queries)", n))
    if "hit_rate" in metrics:
        hits = column(stats, "s_hit")
        low, high = wilson_interval(hits, n, options.confidence)
        with np.errstate(divide="ignore", invalid="ignore"):
            value = np.where(n > 0, hits / n, np.nan)
        blocks.append(MetricBlock("hit_rate", value, low, high, "wilson (over queries)", n))
    return blocks
