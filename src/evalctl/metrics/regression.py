"""Regression: error moments per segment (all mergeable sums), metrics and intervals from them.

The predicted value is the `score` column when given, else `prediction`. Labels are centred on
the overall mean before their moments are summed, so R² and its interval stay accurate for
labels far from zero. MAPE leaves out rows whose label is 0 and says how many in `note`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import polars as pl

from evalctl.metrics.catalogue import METRIC_NAMES, REGRESSION, score_metrics
from evalctl.metrics.frame import MetricBlock, column
from evalctl.metrics.intervals import mean_interval, normal_interval, sample_variance
from evalctl.metrics.slices import group_exprs
from evalctl.metrics.spec import (
    LABEL,
    PREDICTION,
    VALID,
    Columns,
    Options,
    always_additive,
    no_fine_columns,
)
from evalctl.stats.exact import bound_scale, exact_total, fixed_point, scale_name

METRICS = METRIC_NAMES[REGRESSION]
SCORE_METRICS = score_metrics(REGRESSION)

_MOMENTS = {  # output name -> per-row float term (zero on excluded rows), summed exactly
    "s_e": "__e", "s_ae": "__ae", "s_e2": "__e2", "s_e4": "__e4", "s_y": "__yc",
    "s_y2": "__yc2", "s_y3": "__yc3", "s_y4": "__yc4", "s_e2y": "__e2yc", "s_e2y2": "__e2yc2",
    "s_ape": "__ape", "s_ape2": "__ape2",
}


def select_columns(cols: Columns, schema: pl.Schema) -> list[pl.Expr]:
    """Label and predicted value under internal names."""
    predicted = cols.score or cols.prediction
    return [
        pl.col(cols.label).cast(pl.Float64).alias(LABEL),
        pl.col(str(predicted)).cast(pl.Float64).alias(PREDICTION),
    ]


def prepare(base: pl.LazyFrame, cols: Columns, metrics: frozenset[str], options: Options,
            keys: Sequence[str]) -> pl.LazyFrame:
    """Per-row error terms and centred label powers shared by every slice, each summed term
    as a fixed-point Int128 column on its grid (see `evalctl.stats.exact`), so every slice's
    group-by sums integers. One pass over the rows first finds the label's mean (order-free)
    and the largest |error|, |centred label| and percentage error, which bound every term."""
    y, yhat = pl.col(LABEL), pl.col(PREDICTION)
    missing = (y.is_null() | y.is_nan()).fill_null(True)
    valid = (y.is_finite() & yhat.is_finite()).fill_null(False)
    frame = base.with_columns(
        valid.alias(VALID), missing.alias("__miss"), (~missing & ~valid).alias("__excl")
    )
    v = pl.col(VALID)
    nonzero = v & (y != 0)
    ape = pl.when(nonzero).then((yhat - y).abs() / y.abs()).otherwise(0.0)
    found = frame.select(
        exact_total(y.filter(v)).alias("total"), v.sum().alias("n"),
        (yhat - y).filter(v).abs().max().alias("e"), y.filter(v).max().alias("high"),
        y.filter(v).min().alias("low"), ape.max().alias("ape"),
    ).collect(engine="streaming").row(0, named=True)  # bounded memory on any input
    mean = found["total"] / found["n"] if found["n"] else math.nan
    e = pl.when(v).then(yhat - y).otherwise(0.0)
    centred = pl.when(v).then(y - mean).otherwise(0.0)
    frame = frame.with_columns(e.alias("__e"), centred.alias("__yc"), nonzero.alias("__nz"),
                               ape.alias("__ape"))
    e, yc = pl.col("__e"), pl.col("__yc")
    frame = frame.with_columns(
        e.abs().alias("__ae"), (e * e).alias("__e2"), (e * e * e * e).alias("__e4"),
        (yc * yc).alias("__yc2"), (yc * yc * yc).alias("__yc3"),
        (yc * yc * yc * yc).alias("__yc4"), (e * e * yc).alias("__e2yc"),
        (e * e * yc * yc).alias("__e2yc2"), (pl.col("__ape") ** 2).alias("__ape2"),
    )
    high, low = _bound(found["high"], mean), _bound(found["low"], mean)
    largest_yc = math.nan if math.isnan(high) or math.isnan(low) else max(high, low)
    grids = _grids(_bound(found["e"]), largest_yc, _bound(found["ape"]))
    # every label within ~1.5e-154 of the mean but not on it: each square underflows to 0
    lost = bool(largest_yc > 0 and largest_yc * largest_yc == 0)
    return frame.with_columns(pl.lit(lost).alias("__y2_lost"),
        *[fixed_point(pl.col(t), grids[t]).alias(t) for t in _MOMENTS.values() if grids[t] > 0],
        *[pl.lit(grids[t]).alias(scale_name(t)) for t in _MOMENTS.values()])


def _bound(value: float | None, centre: float = 0.0) -> float:
    """|value - centre| as computed per row (NaN when there was no value: no grid)."""
    return math.nan if value is None else abs(float(value) - centre)


def _grids(e: float, yc: float, ape: float) -> dict[str, float]:
    """Each summed term's grid from the largest |error|, |centred label| and percentage
    error: a product of terms is bounded by the product of their bounds, computed in the
    same order (float products are monotone). 0.0 (summed as floats) where a bound is not
    finite or is 0 (an all-zero term: its float sum is exact)."""
    bounds = {"__e": e, "__ae": e, "__e2": e * e, "__e4": e * e * e * e, "__yc": yc,
              "__yc2": yc * yc, "__yc3": yc * yc * yc, "__yc4": yc * yc * yc * yc,
              "__e2yc": e * e * yc, "__e2yc2": e * e * yc * yc, "__ape": ape,
              "__ape2": ape * ape}
    return {t: bound_scale(b) if not math.isnan(b) else 0.0 for t, b in bounds.items()}


def bad_values(stats: pl.DataFrame, cols: Columns) -> str | None:
    """Regression accepts any numeric values."""
    return None


# per-segment sums grouped by the slice keys alone (see spec.py)
additive = always_additive
fine_columns = no_fine_columns


def fine_stats(base: pl.LazyFrame, keys: Sequence[str], metrics: frozenset[str]
               ) -> pl.LazyFrame:
    """Counts and moment sums per segment: integer sums of the fixed-point terms (floats for
    a term without a grid), each with its grid (`finish` turns them into floats)."""
    aggs = [
        pl.col(VALID).sum().alias("n"), pl.col("__miss").sum().alias("n_missing_label"),
        pl.col("__excl").sum().alias("n_excluded"),
        pl.col("__nz").sum().alias("n_nonzero"), pl.col("__y2_lost").sum().alias("y2_lost"),
        *[pl.col(term).sum().alias(name) for name, term in _MOMENTS.items()],
        *[pl.col(scale_name(term)).first().alias(scale_name(name))
          for name, term in _MOMENTS.items()],
    ]
    return base.group_by(group_exprs(keys)).agg(aggs)


def finish(stats: pl.LazyFrame, keys: Sequence[str], metrics: frozenset[str]) -> pl.LazyFrame:
    """The moment sums as floats (each fixed-point total divided by its grid: the float
    nearest the exact grid total), without the grid columns."""
    schema = stats.collect_schema()
    fixed = [name for name in _MOMENTS if schema[name] == pl.Int128]
    return stats.with_columns(
        (pl.col(name).cast(pl.Float64) / pl.col(scale_name(name))).alias(name) for name in fixed
    ).drop(scale_name(name) for name in _MOMENTS)


def finalize(stats: pl.DataFrame, metrics: frozenset[str], options: Options) -> list[MetricBlock]:
    """Metric values, intervals and reasons from the moment sums."""
    m = {name: column(stats, name) for name in ("n", "n_nonzero", "y2_lost", *_MOMENTS)}
    builders = {"mae": _mae, "rmse": _rmse, "mape": _mape, "r2": _r2, "mean_error": _mean_error}
    return [builders[name](m, options) for name in METRICS if name in metrics]


OVERFLOW = "its sums overflow the float range (values near ±1.8e308, or squared beyond it)"


def _overflowed(value: np.ndarray, *sums: np.ndarray) -> tuple[np.ndarray, str]:
    """The reason for a value that is not finite because one of its sums is not."""
    return ~np.isfinite(value) & ~np.all([np.isfinite(s) for s in sums], axis=0), OVERFLOW


def _mae(m: dict[str, np.ndarray], o: Options) -> MetricBlock:
    value, low, high = mean_interval(m["s_ae"], m["s_e2"], m["n"], o.confidence, 0.0)
    return MetricBlock("mae", value, low, high, "normal", m["n"], [_overflowed(value, m["s_ae"])])


def _mean_error(m: dict[str, np.ndarray], o: Options) -> MetricBlock:
    value, low, high = mean_interval(m["s_e"], m["s_e2"], m["n"], o.confidence)
    return MetricBlock("mean_error", value, low, high, "normal", m["n"],
                       [_overflowed(value, m["s_e"])])


def _rmse(m: dict[str, np.ndarray], o: Options) -> MetricBlock:
    """RMSE with a delta-method interval: se(RMSE) = se(MSE) / (2 RMSE)."""
    n = m["n"]
    # errors all below ~1.5e-154 square to 0: an RMSE of 0 beside an MAE that is not is none
    underflowed = (m["s_e2"] == 0) & (m["s_ae"] > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        rmse = np.where(underflowed, np.nan, np.sqrt(m["s_e2"] / n))
        se_mse = np.sqrt(sample_variance(m["s_e2"], m["s_e4"], n) / n)
        se = np.where(rmse > 0, se_mse / (2.0 * rmse), 0.0)
    low, high = normal_interval(rmse, se, o.confidence, 0.0)
    return MetricBlock("rmse", rmse, low, high, "delta", n, [
        (underflowed, "squares of the errors underflow (errors below ~1.5e-154)"),
        _overflowed(rmse, m["s_e2"])])


def _mape(m: dict[str, np.ndarray], o: Options) -> MetricBlock:
    kept = m["n_nonzero"]
    value, low, high = mean_interval(m["s_ape"], m["s_ape2"], kept, o.confidence, 0.0)
    zeros = (m["n"] - kept).astype(np.int64)
    notes = np.array([f"excluded {z} rows with label 0" if z else None for z in zeros],
                     dtype=object)
    return MetricBlock("mape", value, low, high, "normal", kept,
                       [(kept == 0, "all labels are 0 in segment")], notes)


def _r2(m: dict[str, np.ndarray], o: Options) -> MetricBlock:
    """R² = 1 - SSE/SST, interval by the delta method on its influence function."""
    n = m["n"]
    # labels within ~1.5e-154 of the mean (not all on it) square to 0: their spread is unknown
    underflowed = m["y2_lost"] > 0
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        sst = m["s_y2"] - m["s_y"] ** 2 / n
        constant = np.isfinite(m["s_y2"]) & ~underflowed & (sst <= 1e-12 * m["s_y2"])
        value = np.where(constant | underflowed, np.nan, 1.0 - m["s_e2"] / sst)
        se = np.sqrt(_r2_variance(m) / n)
    low, high = normal_interval(value, se, o.confidence, upper=1.0)
    reasons = [(n < 2, "fewer than 2 rows in segment"), (constant, "constant label in segment"),
               (underflowed, "squares of the labels underflow (values below ~1e-154)"),
               _overflowed(value, m["s_y2"], m["s_e2"])]
    return MetricBlock("r2", value, low, high, "delta", n, reasons)


def _r2_variance(m: dict[str, np.ndarray]) -> np.ndarray:
    """E[IF²] for R² = 1 - A/S, A = mean squared error, S = label variance:
    IF = -(e² - A)/S + A ((y - mean)² - S)/S²."""
    n = m["n"]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        a, mu = m["s_e2"] / n, m["s_y"] / n
        raw2, raw3, raw4 = m["s_y2"] / n, m["s_y3"] / n, m["s_y4"] / n
        s = raw2 - mu**2
        central4 = raw4 - 4 * mu * raw3 + 6 * mu**2 * raw2 - 3 * mu**4
        cov_uv = (m["s_e2y2"] - 2 * mu * m["s_e2y"] + mu**2 * m["s_e2"]) / n - a * s
        var_u = m["s_e4"] / n - a**2
        var_v = central4 - s**2
        out = var_u / s**2 - 2 * a * cov_uv / s**3 + a**2 * var_v / s**4
    return np.maximum(out, 0.0)
