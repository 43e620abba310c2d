"""Multiclass classification: a confusion matrix per segment (mergeable cell counts).

Macro and weighted F1 follow scikit-learn: the classes are those present in the segment's labels
or predictions; a class never predicted correctly scores 0. Their intervals come from a
multinomial bootstrap of the confusion cells, which is exactly a row bootstrap because both
scores depend on the rows only through the cell counts.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl

from evalctl.metrics.catalogue import METRIC_NAMES, MULTICLASS, score_metrics
from evalctl.metrics.frame import MetricBlock, column
from evalctl.metrics.intervals import percentile_interval, segment_rng, wilson_interval
from evalctl.metrics.slices import group_exprs, group_names
from evalctl.metrics.spec import LABEL, PREDICTION, VALID, Columns, Options

METRICS = METRIC_NAMES[MULTICLASS]
SCORE_METRICS = score_metrics(MULTICLASS)
_BOOTSTRAP = "bootstrap (confusion cells)"


def select_columns(cols: Columns, schema: pl.Schema) -> list[pl.Expr]:
    """Label and predicted class, cast to one type when the columns' types differ."""
    label, predicted = pl.col(cols.label), pl.col(str(cols.prediction))
    left, right = schema[cols.label], schema[str(cols.prediction)]
    if left != right:
        target = pl.Float64 if left.is_numeric() and right.is_numeric() else pl.String
        label, predicted = label.cast(target), predicted.cast(target)
    return [label.alias(LABEL), predicted.alias(PREDICTION)]


def prepare(base: pl.LazyFrame, cols: Columns, metrics: frozenset[str], options: Options,
            keys: Sequence[str]) -> pl.LazyFrame:
    """Validity flags (a NaN label counts as missing, a NaN prediction as excluded)."""
    y, p = pl.col(LABEL), pl.col(PREDICTION)
    missing, bad_prediction = y.is_null(), p.is_null()
    schema = base.collect_schema()
    if schema[LABEL].is_float():
        missing = missing | y.is_nan()
    if schema[PREDICTION].is_float():
        bad_prediction = bad_prediction | p.is_nan()
    missing = missing.fill_null(True)
    valid = ~missing & ~bad_prediction.fill_null(True)
    return base.with_columns(
        valid.alias(VALID), missing.alias("__miss"), (~missing & ~valid).alias("__excl")
    )


def bad_values(stats: pl.DataFrame, cols: Columns) -> str | None:
    """Any class values are accepted."""
    return None


def additive(metrics: frozenset[str]) -> bool:
    """Confusion cell counts add up across segments."""
    return True


def fine_columns(metrics: frozenset[str]) -> list[str]:
    """A confusion cell: label, prediction and the row's validity."""
    return [LABEL, PREDICTION, VALID, "__miss"]


def fine_stats(base: pl.LazyFrame, keys: Sequence[str], metrics: frozenset[str]
               ) -> pl.LazyFrame:
    """Row count per segment and confusion cell."""
    return base.group_by([*group_exprs(keys), *fine_columns(metrics)]).agg(
        pl.len().alias("cell_n")
    )


def finish(cells: pl.LazyFrame, keys: Sequence[str], metrics: frozenset[str]) -> pl.LazyFrame:
    """Confusion cells per segment, as lists (label, prediction, count) plus row counts."""
    v, count = pl.col(VALID), pl.col("cell_n")
    return cells.group_by(group_names(keys)).agg(
        count.filter(v).sum().alias("n"),
        count.filter(pl.col("__miss")).sum().alias("n_missing_label"),
        count.filter(~v & ~pl.col("__miss")).sum().alias("n_excluded"),
        count.filter(v & (pl.col(LABEL) == pl.col(PREDICTION))).sum().alias("correct"),
        pl.col(LABEL).filter(v).alias("cell_y"), pl.col(PREDICTION).filter(v).alias("cell_p"),
        count.filter(v).alias("cell_count"),
    )


def finalize(stats: pl.DataFrame, metrics: frozenset[str], options: Options) -> list[MetricBlock]:
    """Accuracy (Wilson) and bootstrapped macro / weighted F1."""
    n, correct = column(stats, "n"), column(stats, "correct")
    blocks = []
    if "accuracy" in metrics:
        low, high = wilson_interval(correct, n, options.confidence)
        with np.errstate(divide="ignore", invalid="ignore"):
            value = np.where(n > 0, correct / n, np.nan)
        blocks.append(MetricBlock("accuracy", value, low, high, "wilson", n))
    if metrics & {"macro_f1", "weighted_f1"}:
        rows = stats.select("slice", "segment", "cell_y", "cell_p", "cell_count").iter_rows()
        f1 = np.array([_segment_f1(row, options) for row in rows], dtype=float).reshape(-1, 6)
        for i, name in enumerate(("macro_f1", "weighted_f1")):
            if name in metrics:
                values = f1[:, 3 * i: 3 * i + 3]
                blocks.append(MetricBlock(name, values[:, 0], values[:, 1], values[:, 2],
                                          _BOOTSTRAP, n))
    return blocks


def _segment_f1(row: tuple, o: Options) -> list[float]:
    """[macro, low, high, weighted, low, high] for one segment's confusion cells."""
    slice_name, segment, labels, predicted, counts = row
    if not counts:
        return [float("nan")] * 6
    classes, codes = np.unique(np.asarray([*labels, *predicted], dtype=object).astype(str),
                               return_inverse=True)
    true_code, pred_code = codes[: len(labels)], codes[len(labels):]
    order = np.lexsort((pred_code, true_code))  # fixed cell order: reproducible seeded draws
    true_code, pred_code = true_code[order], pred_code[order]
    truth = np.equal.outer(true_code, np.arange(len(classes))).astype(float)
    guess = np.equal.outer(pred_code, np.arange(len(classes))).astype(float)
    hit = (true_code == pred_code).astype(float)
    counts = np.asarray(counts, dtype=float)[order]
    rng = segment_rng(o.seed, "f1", slice_name, segment)
    draws = rng.multinomial(int(counts.sum()), counts / counts.sum(), size=o.n_boot)
    point, boot = (_f1_scores(c, truth, guess, hit) for c in (counts[None, :], draws))
    out: list[float] = []
    for j in range(2):
        out += [float(point[j][0]), *percentile_interval(boot[j], o.confidence)]
    return out


def _f1_scores(counts: np.ndarray, truth: np.ndarray, guess: np.ndarray,
               hit: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Macro and weighted F1 for each row of `counts` (replicates x cells)."""
    tp = (counts * hit) @ truth
    support, predicted = counts @ truth, counts @ guess
    present = (support + predicted) > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        f1 = np.where(present, 2.0 * tp / (support + predicted), 0.0)
        macro = f1.sum(axis=1) / present.sum(axis=1)
        weighted = (f1 * support).sum(axis=1) / support.sum(axis=1)
    return macro, weighted
