"""The segment tables of `evalctl rca`: per side (baseline, current), feature and segment code,
the rows, labelled rows and sums of the metric's row term.

For a 0/1 term they come from keyed summaries (`summarize_sides`, `cells_table`): the cells of
the reference binning, regrouped at baseline-quantile edges (`segment_edges`) or by vocabulary
index. For a continuous term, `segment_query` groups the rows themselves, with the same codes.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from evalctl.config import ModelConfig
from evalctl.lake.store import LABEL_SOURCE_COL, Selection, Store
from evalctl.stats import Binning, merge, summarize
from evalctl.stats.exact import exact_sum, scale_name, with_grids
from evalctl.stats.summary import CategoricalSummary, NumericSummary, Summary

REF, BASE, CUR = 0, 1, 2
_TERM, _SQUARE, OVERALL = "__term", "__term2", "__overall__"
_TABLE = {"side": pl.Int8, "feature": pl.String, "segment": pl.Int32, "rows": pl.Float64,
          "n": pl.Float64, "sum": pl.Float64, "sumsq": pl.Float64, "from_actuals": pl.Float64}


def feature_vocabulary(binning: Binning, feature: str) -> tuple[str, ...]:
    """The baseline vocabulary of a categorical feature (empty for a numeric one)."""
    bins = binning.categorical.get(feature)
    return bins.vocabulary if bins else ()


def summarize_sides(store: Store, model: ModelConfig, sides: list[Selection | None],
                    binning: Binning, term: pl.Expr | None) -> dict[int, dict[str, Summary]]:
    """Summaries keyed ``side * 10 + term code * 2 + from actuals`` (term code: 0 unlabelled,
    1 term 0, 2 term 1; the reference is key 0). One pass per side."""
    out: dict[int, dict[str, Summary]] = {}
    for side, selection in enumerate(sides):
        if selection is None:
            continue
        labelled = side != REF
        lf = store.scan(model, selection.selector, with_actuals=labelled, selection=selection)
        key = pl.lit(side * 10, pl.Int16)
        if labelled:
            actuals = (pl.col(LABEL_SOURCE_COL) == "actuals").fill_null(False).cast(pl.Int16)
            code = pl.lit(0) if term is None else pl.when(term.is_null()).then(0).when(
                term == 0.0).then(1).otherwise(2)
            key = (key + code.cast(pl.Int16) * 2 + actuals).cast(pl.Int16)
        out |= summarize(lf, binning, by=key)
    return out


def merge_side(by_key: dict[int, dict[str, Summary]], side: int) -> dict[str, Summary]:
    merged: dict[str, Summary] = {}
    for key, summaries in by_key.items():
        if key // 10 == side:
            merged = {f: merge(merged[f], s) if f in merged else s for f, s in summaries.items()}
    return merged


def segment_edges(summary: Summary, bins: int) -> list[float]:
    """Baseline quantiles at 1/bins .. (bins-1)/bins, each moved up to the nearest fine edge of
    the summary (exact when every distinct value is an edge), so segments are unions of cells."""
    if not isinstance(summary, NumericSummary) or summary.error or not summary.count:
        return []
    cum = np.cumsum(np.asarray(summary.counts, dtype=np.int64))
    ranks = np.floor(np.arange(1, bins) / bins * (cum[-1] - 1))
    cells = np.searchsorted(cum, ranks, side="right")
    index = np.where(cells % 2 == 1, (cells - 1) // 2, cells // 2)
    edges = np.asarray(summary.edges)[index[index < len(summary.edges)]]
    low = summary.minimum if summary.minimum is not None else -np.inf
    return sorted({float(e) for e in edges if e > low})


def cells_table(by_key: dict[int, dict[str, Summary]], binning: Binning,
                features: dict[str, str], edges: dict[str, list[float]]) -> pl.DataFrame:
    """Segment tables from the keyed summaries (0/1 metrics): per side, feature and segment code
    (numeric: bin index, categorical: vocabulary index, vocabulary size for the rest; -1 null)
    the rows, labelled rows and sum of the term."""
    parts = []
    for key, summaries in by_key.items():
        side, code, actuals = key // 10, key % 10 // 2, key % 2
        if side == REF:
            continue
        rows = float(next(iter(summaries.values())).rows)
        weights = {"n": float(code > 0), "sum": float(code == 2), "from_actuals": float(actuals)}
        parts.append(_part(side, OVERALL, np.array([-1]), np.array([rows]), weights))
        for feature in features:
            codes, counts = _segment_counts(summaries[feature], binning, edges.get(feature, []))
            parts.append(_part(side, feature, codes, counts, weights))
    table = pl.concat(parts).group_by("side", "feature", "segment").agg(pl.all().sum())
    table = table.filter((pl.col("rows") > 0) | (pl.col("feature") == OVERALL))
    return table.with_columns(pl.col("sum").alias("sumsq"))  # a 0/1 term is its own square


def _part(side: int, feature: str, codes: np.ndarray, counts: np.ndarray,
          weights: dict[str, float]) -> pl.DataFrame:
    columns = {"side": side, "feature": feature, "segment": codes, "rows": counts,
               **{k: counts * w for k, w in weights.items()}}
    return pl.DataFrame(columns, schema={k: v for k, v in _TABLE.items() if k != "sumsq"})


def _segment_counts(summary: Summary, binning: Binning, edges: list[float]
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Counts per segment code from one summary's cells (aggregated numbers only)."""
    if summary.error:  # e.g. mistyped in one batch: its rows count as missing values
        return np.array([-1]), np.array([float(summary.rows)])
    counts = np.asarray(summary.counts, dtype=float)
    nulls = float((summary.nulls or 0) + getattr(summary, "nonfinite", 0))
    if isinstance(summary, CategoricalSummary):
        k = len(summary.vocabulary)
        codes = np.minimum(np.arange(counts.size), k)  # other and unseen levels together
    else:
        fine = np.asarray(binning.numeric[summary.feature].edges)
        lower = np.searchsorted(edges, np.concatenate([[-np.inf], fine]), side="right")
        codes = np.empty(counts.size, dtype=np.int64)
        codes[0::2], codes[1::2] = lower, np.searchsorted(edges, fine, side="right")
    return np.append(codes, -1), np.append(counts, nulls)


def segment_query(windows: list[pl.LazyFrame], binning: Binning, features: dict[str, str],
                  edges: dict[str, list[float]], term: pl.Expr) -> pl.DataFrame:
    """Segment tables for a continuous row term: one plan, one shared scan per window feeding a
    group-by per feature (common subplan elimination), with the same segment codes. The term's
    sums are order-free (`evalctl.stats.exact`): the same store gives the same bits."""
    plans = []
    for side, lf in zip((BASE, CUR), windows, strict=True):
        codes = [_code(f, kind, edges.get(f, []), feature_vocabulary(binning, f)).alias(f"__c{i}")
                 for i, (f, kind) in enumerate(features.items())]
        base = with_grids(lf.select(term.alias(_TERM), (pl.col(LABEL_SOURCE_COL) == "actuals")
                                    .fill_null(False).alias("_actual"), *codes
                                    ).with_columns((pl.col(_TERM) ** 2).alias(_SQUARE)),
                          [_TERM, _SQUARE])
        tag = [pl.lit(side, pl.Int8).alias("side")]
        plans.append(base.select(*tag, pl.lit(OVERALL).alias("feature"),
                                 pl.lit(-1, pl.Int32).alias("segment"), *_sums()))
        plans += [base.group_by(f"__c{i}").agg(_sums()).select(
            *tag, pl.lit(f).alias("feature"), pl.col(f"__c{i}").cast(pl.Int32).alias("segment"),
            *_SUMS) for i, f in enumerate(features)]
    return pl.concat(plans, how="diagonal_relaxed").collect().cast(_TABLE)  # type: ignore[arg-type]


def _code(feature: str, kind: str, edges: list[float], vocabulary: tuple[str, ...]) -> pl.Expr:
    if kind != "numeric":
        s = pl.col(feature).cast(pl.String)
        index = s.replace_strict(list(vocabulary), list(range(len(vocabulary))),
                                 default=len(vocabulary), return_dtype=pl.Int32)
        return pl.when(s.is_null()).then(-1).otherwise(index)
    x = pl.col(feature).cast(pl.Float64)
    position = pl.lit(pl.Series(edges, dtype=pl.Float64)).search_sorted(x, side="right")
    return pl.when(x.is_finite()).then(position.cast(pl.Int32)).otherwise(-1)


_SUMS = ["rows", "n", "sum", "sumsq", "from_actuals"]


def _sums() -> list[pl.Expr]:
    """The segment's rows, labelled rows, and order-free sums of the term and its square."""
    return [pl.len().alias("rows"), pl.col(_TERM).count().alias("n"),
            exact_sum(pl.col(_TERM), scale_name(_TERM)).alias("sum"),
            exact_sum(pl.col(_SQUARE), scale_name(_SQUARE)).alias("sumsq"),
            pl.col("_actual").sum().alias("from_actuals")]
