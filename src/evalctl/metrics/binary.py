"""Binary classification: confusion counts, score moments and exact rank statistics per segment.

Every row gets an outcome code (2 * label + prediction for a valid row; BAD, MISSING or
EXCLUDED otherwise), so a segment's confusion counts are row counts per (segment, code) and the
score terms (log loss, Brier, ECE cells) are sums beside them: all additive, so coarser slices
are rolled up from finer ones (see `compute`).

The rank metrics are not additive. For them the base frame is sorted once by score
(descending). Per slice, one windowed cumulative sum over
the slice keys gives every row the number of positives and negatives of its segment ranked above
it (two counts packed in one int64). Rows whose score is unique need nothing more; rows whose
score is tied are re-aggregated per (segment, score) block so ties count one half, exactly as
average ranks do. From these sums come ROC AUC (Mann-Whitney), its DeLong variance and average
precision (scikit-learn's step definition), all without a per-segment sort.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import polars as pl

from evalctl.errors import InputError
from evalctl.metrics.catalogue import (
    BINARY,
    CLIP,
    METRIC_NAMES,
    log_loss_term,
    score_metrics,
    squared_error,
)
from evalctl.metrics.frame import MetricBlock, column
from evalctl.metrics.intervals import (
    logit_interval,
    mean_interval,
    normal_interval,
    percentile_interval,
    sample_variance,
    segment_rng,
    wilson_interval,
)
from evalctl.metrics.slices import group_exprs, group_names
from evalctl.metrics.spec import LABEL, PREDICTION, SCORE, VALID, Columns, Options
from evalctl.stats.exact import (
    bound_scale,
    exact_sum,
    exact_sums,
    fixed_point,
    from_fixed_point,
    grid_scale,
    scale_name,
    with_grids,
)

METRICS = METRIC_NAMES[BINARY]
SCORE_METRICS = score_metrics(BINARY)
RANK_METRICS = frozenset({"roc_auc", "average_precision"})
ECE_BINS = 10
_PACK = 2**32
OUT_OF_RANGE = "scores outside [0, 1] in segment"
# Row outcome codes: a valid row is 2 * label + prediction (0-3), or BAD when either is not 0/1;
# MISSING: no label; EXCLUDED: a label but an invalid score or prediction.
BAD, MISSING, EXCLUDED = 4, 8, 9
# The score terms' sums, on fixed-point grids known without a pass over the rows (see
# `evalctl.stats.exact`): a log loss is at most -log(CLIP), a Brier term at most 1 (it is
# summed over the rows with a score in [0, 1] and a 0/1 label: a segment with any other
# row gets no Brier score or log loss, and a label other than 0/1 fails the command).
LOG_LOSS_MAX = -math.log(CLIP)
SCORE_GRIDS = {"log_loss": {"ll": bound_scale(LOG_LOSS_MAX), "ll2": bound_scale(LOG_LOSS_MAX**2)},
               "brier": {"br": bound_scale(1.0), "br2": bound_scale(1.0)}}
CELL_GRID = bound_scale(1.0)  # an ECE cell's score sum (scores in [0, 1])


def select_columns(cols: Columns, schema: pl.Schema) -> list[pl.Expr]:
    """Label, score and prediction (given, or score >= threshold) under internal names."""
    out = [pl.col(cols.label).cast(pl.Float64).alias(LABEL)]
    if cols.score:
        out.append(pl.col(cols.score).cast(pl.Float64).alias(SCORE))
    if cols.prediction:
        out.append(pl.col(cols.prediction).cast(pl.Float64).alias(PREDICTION))
    elif cols.score is None:  # `compute` checks that a score or a prediction is given
        raise InputError("binary_classification needs a score or a prediction column")
    else:
        derived = pl.col(cols.score).cast(pl.Float64) >= cols.threshold
        out.append(derived.cast(pl.Float64).alias(PREDICTION))
    return out


def prepare(base: pl.LazyFrame, cols: Columns, metrics: frozenset[str], options: Options,
            keys: Sequence[str]) -> pl.LazyFrame:
    """Per-row outcome code and terms shared by every slice (computed once, before slicing)."""
    y, p, s = pl.col(LABEL), pl.col(PREDICTION), pl.col(SCORE)
    missing = (y.is_null() | y.is_nan()).fill_null(True)
    valid = ~missing & p.is_not_null() & ~p.is_nan().fill_null(True)
    if cols.score:
        valid = valid & s.is_finite().fill_null(False)
    valid = valid.fill_null(False)
    if metrics & RANK_METRICS:
        base = base.sort(SCORE, descending=True, nulls_last=True)
    outcome = (
        pl.when(missing).then(MISSING).when(~valid).then(EXCLUDED)
        .when(~y.is_in([0.0, 1.0]) | ~p.is_in([0.0, 1.0])).then(BAD)
        .otherwise(y * 2 + p).cast(pl.UInt8)
    )
    frame = base.with_columns(valid.alias(VALID), outcome.alias("__oc"))
    v = pl.col(VALID)
    terms = _score_terms(y, s, v, metrics) if metrics & SCORE_METRICS else []
    if metrics & RANK_METRICS:
        pos, neg = v & (y == 1), v & (y == 0)
        tied = ((s == s.shift(1)) | (s == s.shift(-1))).fill_null(False)
        terms += [
            pos.alias("__pos"), neg.alias("__neg"),
            (pos.cast(pl.Int64) + neg.cast(pl.Int64) * _PACK).alias("__pk"),
            tied.alias("__tied"),
            (pos & ~tied).cast(pl.Float64).alias("__pu"),
            (neg & ~tied).cast(pl.Float64).alias("__nu"),
        ]
    frame = frame.with_columns(terms) if terms else frame
    return frame.with_columns(_fixed_score_terms(metrics)) if metrics & SCORE_METRICS else frame


def _score_terms(y: pl.Expr, s: pl.Expr, v: pl.Expr, metrics: frozenset[str]
                 ) -> list[pl.Expr]:
    safe = s.clip(0.0, 1.0).fill_nan(0.0)  # only used where the row is valid and in range
    cell = (safe * ECE_BINS).floor().clip(0, ECE_BINS - 1).cast(pl.Int8) * 2 + (
        y.fill_nan(0.0).clip(0.0, 1.0).cast(pl.Int8)
    )
    in_range = (s >= 0) & (s <= 1)
    binary = v & in_range & y.is_in([0.0, 1.0])  # where a Brier term is within [0, 1]
    terms = {"log_loss": pl.when(v).then(log_loss_term(y, s)).otherwise(0.0).alias("__ll"),
             "brier": pl.when(binary).then(squared_error(y, s)).otherwise(0.0).alias("__br"),
             "ece": pl.when(v & in_range).then(cell).alias("__cell")}
    return [(v & ~in_range).alias("__oor"), *(e for m, e in terms.items() if m in metrics)]


def _score_grids(metrics: frozenset[str]) -> dict[str, float]:
    """The grids of the score sums the requested metrics need."""
    return {k: grid for m, grids in SCORE_GRIDS.items() if m in metrics
            for k, grid in grids.items()}


def _fixed_score_terms(metrics: frozenset[str]) -> list[pl.Expr]:
    """The summed score terms on their grids (`SCORE_GRIDS`), once per row for every slice;
    with ECE also each row's score on its calibration cell's grid."""
    ll, br = pl.col("__ll"), pl.col("__br")
    floats = {"ll": ll, "ll2": ll**2, "br": br, "br2": br**2}
    out = [fixed_point(floats[k], grid).alias("__" + k)
           for k, grid in _score_grids(metrics).items()]
    if "ece" in metrics:  # the score sum of each calibration cell (null cell: not needed)
        cell_s = pl.when(pl.col("__cell").is_not_null()).then(pl.col(SCORE))
        out.append(fixed_point(cell_s, CELL_GRID).alias("__cs"))
    return out


def bad_values(stats: pl.DataFrame, cols: Columns) -> str | None:
    """Why the label / prediction columns are not binary (from the overall segment's sums),
    or None when they are."""
    if stats.get_column("n_bad").sum() > 0:
        shown = f"label {cols.label!r}"
        if cols.prediction is not None:
            shown += f" / prediction {cols.prediction!r}"
        return f"{shown}: binary values must be 0/1 or boolean"
    return None


def additive(metrics: frozenset[str]) -> bool:
    """Whether a segment's sums are sums of finer segments' sums (rank sums are not: they
    depend on each row's position within its own segment)."""
    return not metrics & RANK_METRICS


def fine_columns(metrics: frozenset[str]) -> list[str]:
    """Columns that `fine_stats` groups on besides the slice keys: the outcome code, and the
    ECE cell."""
    return ["__oc", "__cell"] if "ece" in metrics else ["__oc"]


def fine_stats(base: pl.LazyFrame, keys: Sequence[str], metrics: frozenset[str]
               ) -> pl.LazyFrame:
    """Rows and sums per segment and outcome code (and ECE cell) of the key columns `keys`.
    Sums are order-free (`evalctl.stats.exact`), so reruns give the same bits: the score
    terms are fixed-point integers (summed as such until `finish`), the rank terms floats."""
    terms = _rank_terms(metrics)
    frame = base.with_columns(grid_scale(e).alias(scale_name(k)) for k, e in terms.items())
    return frame.group_by([*group_exprs(keys), *map(pl.col, fine_columns(metrics))]).agg(
        pl.len().alias("rows"), *_integer_sums(metrics),
        *[exact_sum(e, scale_name(k)).alias(k) for k, e in terms.items()],
    )


def _integer_sums(metrics: frozenset[str]) -> list[pl.Expr]:
    if not metrics & SCORE_METRICS:
        return []
    cells = [pl.col("__cs").sum().alias("cell_s")] if "ece" in metrics else []
    return [pl.col("__oor").sum().alias("n_oor"),
            *[pl.col("__" + k).sum().alias(k) for k in _score_grids(metrics)], *cells]


def finish(stats: pl.LazyFrame, keys: Sequence[str], metrics: frozenset[str]) -> pl.LazyFrame:
    """One row per segment: confusion counts from the outcome codes, the sums added up, and
    with ECE the calibration cells as lists."""
    names = group_names(keys)
    code, rows = pl.col("__oc"), pl.col("rows")
    counts = {
        "n": rows.filter(code <= BAD).sum(), "n_missing_label": rows.filter(code == MISSING).sum(),
        "n_excluded": rows.filter(code == EXCLUDED).sum(),
        "P": rows.filter(code.is_in([2, 3])).sum(), "tp": rows.filter(code == 3).sum(),
        "fp": rows.filter(code == 1).sum(), "n_bad": rows.filter(code == BAD).sum(),
    }
    floats = list(_rank_terms(metrics))
    fixed = ["n_oor", *_score_grids(metrics)] if metrics & SCORE_METRICS else []
    sums = [pl.col(k).sum() for k in fixed] + exact_sums(floats)
    if "ece" not in metrics:
        return _from_fixed_point(with_grids(stats, floats).group_by(names).agg(
            *[e.alias(k) for k, e in counts.items()], *sums), metrics)
    cells = with_grids(stats, floats).group_by([*names, "__cell"]).agg(
        *[e.alias(k) for k, e in counts.items()], *sums,
        from_fixed_point(pl.col("cell_s").sum(), CELL_GRID),
    )
    has_cell = pl.col("__cell").is_not_null()
    return _from_fixed_point(with_grids(cells, floats).group_by(names).agg(
        *[pl.col(name).sum() for name in [*counts, *fixed]], *exact_sums(floats),
        pl.col("__cell").filter(has_cell), pl.col("n").filter(has_cell).alias("cell_n"),
        pl.col("cell_s").filter(has_cell),
    ), metrics)


def _from_fixed_point(stats: pl.LazyFrame, metrics: frozenset[str]) -> pl.LazyFrame:
    """The score terms' integer sums as floats (the last step of `finish`)."""
    if not metrics & SCORE_METRICS:
        return stats
    return stats.with_columns(from_fixed_point(pl.col(k), grid).alias(k)
                              for k, grid in _score_grids(metrics).items())


def slice_stats(base: pl.LazyFrame, keys: Sequence[str], metrics: frozenset[str]) -> pl.LazyFrame:
    """Sums per segment of one slice, including the rank sums (on the score-sorted base).

    With ECE, rows are grouped once by (segment, ECE cell) and the sums rolled up, so the
    calibration cells cost no extra pass over the rows.
    """
    frame = _with_ranks(base, keys) if metrics & RANK_METRICS else base
    stats = finish(fine_stats(frame, keys, metrics), keys, metrics)
    if metrics & RANK_METRICS:
        names = group_names(keys)
        stats = stats.join(_tie_stats(frame, keys), on=names, how="left", nulls_equal=True)
    return stats


def _rank_terms(metrics: frozenset[str]) -> dict[str, pl.Expr]:
    """Per-row float terms of the rank metrics summed per segment."""
    sums: dict[str, pl.Expr] = {}
    if metrics & RANK_METRICS:
        a, b, pu, nu = pl.col("__a"), pl.col("__b"), pl.col("__pu"), pl.col("__nu")
        sums |= {
            "S1": b * pu, "S2": b * b * pu, "T1": a * nu, "T2": a * a * nu,
            "AP": pu * a / (a + b).clip(1.0),
        }
    return sums


def _with_ranks(base: pl.LazyFrame, keys: Sequence[str]) -> pl.LazyFrame:
    """a / b: positives / negatives of the row's segment at or above it in score order."""
    running = pl.col("__pk").cum_sum()
    running = running.over(list(keys)) if keys else running
    return base.with_columns(running.alias("__c")).with_columns(
        (pl.col("__c") % _PACK).cast(pl.Float64).alias("__a"),
        (pl.col("__c") // _PACK).cast(pl.Float64).alias("__b"),
    )


def _tie_stats(frame: pl.LazyFrame, keys: Sequence[str]) -> pl.LazyFrame:
    """Rank sums for tied rows, one (segment, score) block at a time (ties count one half)."""
    p, q, a_end, b_end = pl.col("p"), pl.col("q"), pl.col("a_end"), pl.col("b_end")
    above_pos = b_end - q + q / 2.0  # negatives above a positive of the block
    above_neg = a_end - p + p / 2.0  # positives above a negative of the block
    blocks = (
        frame.filter(pl.col(VALID) & pl.col("__tied"))
        .group_by([*group_exprs(keys), pl.col(SCORE)])
        .agg(
            pl.col("__pos").sum().cast(pl.Float64).alias("p"),
            pl.col("__neg").sum().cast(pl.Float64).alias("q"),
            pl.col("__a").max().alias("a_end"), pl.col("__b").max().alias("b_end"),
        )
    )
    terms = {"tS1": p * above_pos, "tS2": p * above_pos**2, "tT1": q * above_neg,
             "tT2": q * above_neg**2, "tAP": p * a_end / (a_end + b_end)}
    blocks = blocks.with_columns(grid_scale(e).alias(scale_name(k)) for k, e in terms.items())
    return blocks.group_by(group_names(keys)).agg(
        exact_sum(e, scale_name(k)).alias(k) for k, e in terms.items())


def finalize(stats: pl.DataFrame, metrics: frozenset[str], options: Options) -> list[MetricBlock]:
    """Metric values, intervals and reasons from the per-segment sums."""
    c = _counts(stats)
    return [BUILDERS[m](stats, c, options) for m in METRICS if m in metrics]


def _counts(stats: pl.DataFrame) -> dict[str, np.ndarray]:
    n, pos, tp, fp = (column(stats, k) for k in ("n", "P", "tp", "fp"))
    return {"n": n, "P": pos, "N": n - pos, "tp": tp, "fp": fp, "fn": pos - tp,
            "tn": n - pos - fp}


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / den, np.nan)


def _proportion(name: str, x: np.ndarray, trials: np.ndarray, confidence: float,
                reasons: list[tuple[np.ndarray, str]]) -> MetricBlock:
    low, high = wilson_interval(x, trials, confidence)
    return MetricBlock(name, _ratio(x, trials), low, high, "wilson", trials, reasons)


def _accuracy(stats: pl.DataFrame, c: dict[str, np.ndarray], o: Options) -> MetricBlock:
    return _proportion("accuracy", c["tp"] + c["tn"], c["n"], o.confidence, [])


def _precision(stats: pl.DataFrame, c: dict[str, np.ndarray], o: Options) -> MetricBlock:
    predicted = c["tp"] + c["fp"]
    return _proportion("precision", c["tp"], predicted, o.confidence,
                       [(predicted == 0, "no predicted positives in segment")])


def _recall(stats: pl.DataFrame, c: dict[str, np.ndarray], o: Options) -> MetricBlock:
    return _proportion("recall", c["tp"], c["P"], o.confidence,
                       [(c["P"] == 0, "no positive labels in segment")])


def _positive_rate(stats: pl.DataFrame, c: dict[str, np.ndarray], o: Options) -> MetricBlock:
    return _proportion("positive_rate", c["tp"] + c["fp"], c["n"], o.confidence, [])


def _f1(stats: pl.DataFrame, c: dict[str, np.ndarray], o: Options) -> MetricBlock:
    """F1 with a delta-method interval: Var = 4 tp (fp+fn) (tp+fp+fn) / (2tp+fp+fn)^4."""
    tp, wrong = c["tp"], c["fp"] + c["fn"]
    den = 2 * tp + wrong
    value = _ratio(2 * tp, den)
    se = np.sqrt(_ratio(4 * tp * wrong * (tp + wrong), den**4))
    low, high = normal_interval(value, se, o.confidence, 0.0, 1.0)
    return MetricBlock("f1", value, low, high, "delta", c["n"],
                       [(den == 0, "no positive labels or predictions in segment")])


def _roc_auc(stats: pl.DataFrame, c: dict[str, np.ndarray], o: Options) -> MetricBlock:
    """Mann-Whitney AUC (ties count one half) with DeLong's variance."""
    pos, neg = c["P"], c["N"]
    s1, s2, t1, t2 = (column(stats, k) + column(stats, "t" + k) for k in ("S1", "S2", "T1", "T2"))
    value = 1.0 - _ratio(s1, pos * neg)
    var10 = _ratio(sample_variance(s1, s2, pos), neg**2)  # V10 = 1 - (negatives above) / N
    var01 = _ratio(sample_variance(t1, t2, neg), pos**2)  # V01 = (positives above) / P
    se = np.sqrt(_ratio(var10, pos) + _ratio(var01, neg))
    low, high = normal_interval(value, se, o.confidence, 0.0, 1.0)
    return MetricBlock("roc_auc", value, low, high, "delong", c["n"],
                       [((pos == 0) | (neg == 0), "single class in segment")])


def _average_precision(stats: pl.DataFrame, c: dict[str, np.ndarray], o: Options) -> MetricBlock:
    value = _ratio(column(stats, "AP") + column(stats, "tAP"), c["P"])
    low, high = logit_interval(value, c["P"], o.confidence)
    return MetricBlock("average_precision", value, low, high, "logit (Boyd 2013)", c["P"],
                       [(c["P"] == 0, "no positive labels in segment")])


def _mean_metric(metric: str, stat: str, stats: pl.DataFrame, c: dict[str, np.ndarray],
                 o: Options, upper: float) -> MetricBlock:
    value, low, high = mean_interval(column(stats, stat), column(stats, stat + "2"), c["n"],
                                     o.confidence, 0.0, upper)
    out_of_range = column(stats, "n_oor") > 0
    return MetricBlock(metric, value, low, high, "normal", c["n"], [(out_of_range, OUT_OF_RANGE)])


def _log_loss(stats: pl.DataFrame, c: dict[str, np.ndarray], o: Options) -> MetricBlock:
    return _mean_metric("log_loss", "ll", stats, c, o, np.inf)


def _brier(stats: pl.DataFrame, c: dict[str, np.ndarray], o: Options) -> MetricBlock:
    return _mean_metric("brier", "br", stats, c, o, 1.0)


def _ece(stats: pl.DataFrame, c: dict[str, np.ndarray], o: Options) -> MetricBlock:
    """ECE over 10 equal-width bins; bootstrap over (bin, label) cells, cell mean scores fixed."""
    rows = stats.select("slice", "segment", "__cell", "cell_n", "cell_s").iter_rows()
    results = [_ece_segment(row, o) for row in rows]
    value, low, high = (np.array(r, dtype=float) for r in zip(*results, strict=True))
    return MetricBlock("ece", value, low, high, "bootstrap (bin x label cells)", c["n"],
                       [(column(stats, "n_oor") > 0, OUT_OF_RANGE)])


def _ece_segment(row: tuple, o: Options) -> tuple[float, float, float]:
    slice_name, segment, codes, counts, sums = row
    if not codes:
        return float("nan"), float("nan"), float("nan")
    order = np.argsort(codes)  # cells in a fixed order, so the seeded draws are reproducible
    codes, counts = np.asarray(codes)[order], np.asarray(counts, float)[order]
    sums = np.asarray(sums, float)[order]
    gap = (codes % 2) - sums / counts  # label minus mean score, per cell
    by_bin = np.equal.outer(codes // 2, np.arange(ECE_BINS)).astype(float)
    n = counts.sum()
    value = float(np.abs((counts * gap) @ by_bin).sum() / n)
    if n < 2:  # a bootstrap of one row repeats it: a zero-width interval, not a measurement
        return value, float("nan"), float("nan")
    rng = segment_rng(o.seed, "ece", slice_name, segment)
    draws = rng.multinomial(int(n), counts / n, size=o.n_boot)
    replicates = np.abs((draws * gap) @ by_bin).sum(axis=1) / n
    return (value, *percentile_interval(replicates, o.confidence))


# one builder per catalogued binary metric (`catalogue.CATALOGUE`; a test holds them equal)
BUILDERS = {
    "accuracy": _accuracy, "precision": _precision, "recall": _recall, "f1": _f1,
    "positive_rate": _positive_rate, "roc_auc": _roc_auc,
    "average_precision": _average_precision, "log_loss": _log_loss, "brier": _brier,
    "ece": _ece,
}
