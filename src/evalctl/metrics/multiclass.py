"""Multiclass classification: a confusion matrix per segment (mergeable cell counts).

Macro and weighted F1 follow scikit-learn: the classes are those present in the segment's labels
or predictions; a class never predicted correctly scores 0. Their intervals come from a
multinomial bootstrap of the confusion cells, which is exactly a row bootstrap because both
scores depend on the rows only through the cell counts.

`macro_roc_auc` (a model that names each class's probability column, `scores:`) is
scikit-learn's ``roc_auc_score(multi_class="ovr", average="macro")``: per class the
Mann-Whitney AUC of its probability against "the label is this class" (ties count one half),
averaged over the classes; undefined in a segment where a class has no label, or only that
label. Its cells are the distinct (label, prediction, probabilities) rows. The interval is
DeLong's, extended to the mean of the one-vs-rest AUCs: each row's influence on every class's
AUC (its placement value minus the AUC, scaled as DeLong's sample variances are), averaged
over the classes, squared and summed — with two classes exactly the binary DeLong interval.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl

from evalctl.metrics.catalogue import METRIC_NAMES, MULTICLASS, score_metrics
from evalctl.metrics.frame import MetricBlock, column
from evalctl.metrics.intervals import (
    normal_interval,
    percentile_interval,
    segment_rng,
    wilson_interval,
)
from evalctl.metrics.slices import group_exprs, group_names
from evalctl.metrics.spec import LABEL, PREDICTION, SCORE, VALID, Columns, Options

METRICS = METRIC_NAMES[MULTICLASS]
CLASS = "__c"  # the label's index among the classes of `scores:` (-1: another value)
SCORE_METRICS = score_metrics(MULTICLASS)
_BOOTSTRAP = "bootstrap (confusion cells)"


def select_columns(cols: Columns, schema: pl.Schema) -> list[pl.Expr]:
    """Label and predicted class, cast to one type when the columns' types differ."""
    label, predicted = pl.col(cols.label), pl.col(str(cols.prediction))
    left, right = schema[cols.label], schema[str(cols.prediction)]
    if left != right:
        target = pl.Float64 if left.is_numeric() and right.is_numeric() else pl.String
        label, predicted = label.cast(target), predicted.cast(target)
    out = [label.alias(LABEL), predicted.alias(PREDICTION)]
    if cols.scores:  # the probabilities as one list column, and the label's class index
        out.append(pl.concat_list([pl.col(c).cast(pl.Float64) for c in cols.scores])
                   .alias(SCORE))
        out.append(pl.col(cols.label).cast(pl.String).replace_strict(
            list(cols.classes), list(range(len(cols.classes))), default=-1,
            return_dtype=pl.Int16).alias(CLASS))
    return out


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
    """A confusion cell: label, prediction and the row's validity (and, for the AUC, the
    probabilities and the label's class index)."""
    extra = [SCORE, CLASS] if "macro_roc_auc" in metrics else []
    return [LABEL, PREDICTION, VALID, "__miss", *extra]


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
        *([pl.col(SCORE).filter(v).alias("cell_s"), pl.col(CLASS).filter(v).alias("cell_c")]
          if "macro_roc_auc" in metrics else []),
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
    if "macro_roc_auc" in metrics:
        blocks.append(_macro_roc_auc(stats, n, options))
    return blocks


def _macro_roc_auc(stats: pl.DataFrame, n: np.ndarray, o: Options) -> MetricBlock:
    """One-vs-rest macro ROC AUC per segment with its DeLong interval."""
    rows = stats.select("cell_s", "cell_c", "cell_count").iter_rows()
    found = np.array([_segment_auc(*row) for row in rows], dtype=float).reshape(-1, 2)
    value, se = found[:, 0], found[:, 1]
    low, high = normal_interval(value, se, o.confidence, 0.0, 1.0)
    return MetricBlock("macro_roc_auc", value, low, high, "delong (one-vs-rest)", n,
                       [(np.isnan(value), "a class has no label, or every label, in segment")])


def _segment_auc(scores: list, classes: list, counts: list) -> tuple[float, float]:
    """Macro one-vs-rest AUC of one segment's cells and its DeLong standard error."""
    nan = (float("nan"), float("nan"))
    if not counts or any(s is None for s in scores):
        return nan
    s = np.asarray(scores, dtype=float)
    y, w = np.asarray(classes), np.asarray(counts, dtype=float)
    ok = np.isfinite(s).all(axis=1)
    s, y, w = s[ok], y[ok], w[ok]
    k = s.shape[1] if s.ndim == 2 else 0
    influence = np.zeros(len(w))
    aucs = []
    for c in range(k):
        auc, part = _class_auc(s[:, c], y == c, w)
        if not np.isfinite(auc):
            return nan
        aucs.append(auc)
        influence += part / k
    if not aucs:
        return nan
    return float(np.mean(aucs)), float(np.sqrt((w * influence ** 2).sum()))


def _class_auc(s: np.ndarray, positive: np.ndarray, w: np.ndarray
               ) -> tuple[float, np.ndarray]:
    """Mann-Whitney AUC of one class (ties one half) and each cell's DeLong influence:
    (placement - AUC) / sqrt(m (m - 1)) for a positive (placement: the share of negatives
    below it), / sqrt(n (n - 1)) for a negative (the share of positives above it)."""
    m, n = w[positive].sum(), w[~positive].sum()
    if m == 0 or n == 0:
        return float("nan"), np.zeros(len(w))
    block, inverse = np.unique(s, return_inverse=True)
    pos = np.bincount(inverse, weights=w * positive, minlength=len(block))
    neg = np.bincount(inverse, weights=w * ~positive, minlength=len(block))
    neg_below = np.cumsum(neg) - neg
    pos_above = pos.sum() - np.cumsum(pos)
    v10 = ((neg_below + 0.5 * neg) / n)[inverse]
    v01 = ((pos_above + 0.5 * pos) / m)[inverse]
    auc = float((w * positive * v10).sum() / m)
    with np.errstate(divide="ignore", invalid="ignore"):  # one positive or negative: no SE
        return auc, np.where(positive, (v10 - auc) / np.sqrt(m * (m - 1)),
                             (v01 - auc) / np.sqrt(n * (n - 1)))


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
    for j in range(2):  # one row: its bootstrap repeats it, no interval
        interval = percentile_interval(boot[j], o.confidence) if counts.sum() >= 2 else (
            float("nan"), float("nan"))
        out += [float(point[j][0]), *interval]
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
