"""`evalctl estimate` for regression models: direct loss estimation (`evalctl.stats.dle`).

Per model version, the loss models are fitted once on a uniform sample of its labelled
reference rows (`reference_rows`, drawn with a fixed seed) and applied to every window of the
current selection, so windows stay comparable. Two scans of the current selection: one grouped
query gives every window's rows and realised MAE / RMSE sums (all rows, lazily), the other draws
at most `window_rows` rows per window whose losses are predicted. Categorical features are coded
as `drift --multivariate` codes them (the reference's vocabulary, `checks.multivariate`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import polars as pl

from evalctl.analyses.estimators import (
    IDX,
    EstimateInput,
    Estimator,
    W,
    WindowEstimates,
)
from evalctl.analyses.performance import finite
from evalctl.checks.multivariate import EXTRA, category_counts, encode, fit_encoding
from evalctl.config import ModelConfig
from evalctl.errors import InputError
from evalctl.lake.store import VERSION_COL, Selection
from evalctl.stats import dle

R, E_ABS, E_SQ = "_r", "_ea", "_es"
PREDICT_CHUNK = 100_000  # rows predicted at once (bounds the encoded matrix's memory)
PREDICT_TOTAL = 1_000_000  # sampled window rows at most over all windows (many small windows)
MIN_WINDOW_SAMPLE = 1_000  # ... but never fewer than this per window
UNCERTAINTY = ("direct loss estimation: label sampling (out-of-fold loss spread, scaled by the "
               "predicted loss, over the window's rows) + model uncertainty (disagreement of "
               "the cross-fitted fold models) + row sampling (when only a sample of the "
               "window is predicted); band = estimate ± z·SE, RMSE's band the square root of "
               "the MSE band")


def unavailable(model: ModelConfig) -> str | None:
    """Why direct loss estimation cannot run for this model, or None when it can."""
    if not (model.score or model.prediction):
        return "direct loss estimation needs the predicted value (`score` or `prediction`)"
    if not model.label:
        return "direct loss estimation needs a `label` column to learn the loss on the reference"
    return None


def columns(model: ModelConfig) -> dict[str, pl.Expr]:
    """None: the loss models read the rows themselves (`estimate`), which count the labelled
    rows too."""
    return {}


def estimate(data: EstimateInput) -> WindowEstimates:
    """Loss models fitted per version on the labelled reference, applied to a sample of every
    window; the realised MAE / RMSE and labelled rows of every window over all its rows."""
    _require_sklearn()
    if data.store is None or data.selections is None or data.key is None:
        raise ValueError("direct loss estimation scans the rows: it needs the store, the "
                         "selections and the window key")
    model, store, (ref_sel, cur_sel) = data.model, data.store, data.selections
    options = data.settings.dle
    kinds = {c: k for c, k in model.features.items() if c != model.label}
    predicted = str(model.score or model.prediction)
    kinds[predicted] = "numeric"
    in_versions = pl.col(VERSION_COL).is_in(cur_sel.versions)
    ref_lf = store.scan(model, ref_sel.selector, selection=ref_sel).filter(in_versions)
    cur_lf = store.scan(model, cur_sel.selector, selection=cur_sel)
    encoding = fit_encoding(dict(zip(
        [c for c, k in kinds.items() if k == "categorical"],
        _collect([category_counts(ref_lf, c) for c, k in kinds.items() if k == "categorical"]),
        strict=True)), kinds)
    index = dict(zip(data.cur[W].to_list(), data.cur[IDX].to_list(), strict=True))
    with openmp_threads():
        fitted, ref_real, labelled = _fit(ref_lf, model, kinds, predicted, encoding, ref_sel,
                                          cur_sel.versions, options)
        sums, real = _current(cur_lf, model, kinds, predicted, encoding, data.key, index,
                              data.windows, fitted, options)
    kappa = {loss: max(f.kappa[loss] for f in fitted.values()) for loss in dle.LOSSES}
    bias = {loss: max(f.bias[loss] for f in fitted.values()) for loss in dle.LOSSES}
    count = real.pop("labelled")
    return WindowEstimates(
        dle.estimate_windows(sums, kappa, bias), real, ref_real,  # pooled: the widest version's
        {"loss_model": {v: _described(f, options) for v, f in fitted.items()}},
        labelled=count, reference_labelled=labelled)


@contextmanager
def openmp_threads() -> Iterator[None]:
    """scikit-learn's OpenMP threads on one core unless `OMP_NUM_THREADS` is set: on a busy
    host its spinning threads made the same estimate 5-20x slower (see README, Performance)."""
    if os.environ.get("OMP_NUM_THREADS"):
        yield
        return
    from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]  # sklearn's

    with threadpool_limits(limits=1, user_api="openmp"):
        yield


def _require_sklearn() -> None:
    try:
        import sklearn.ensemble  # noqa: F401
    except ImportError as exc:
        raise InputError(f"estimate for regression models needs scikit-learn, which is not "
                         f"installed: pip install '{EXTRA}'", hint=f"pip install '{EXTRA}'"
                         ) from exc


def _collect(frames: list[pl.LazyFrame]) -> list[pl.DataFrame]:
    try:
        return pl.collect_all(frames)
    except (pl.exceptions.ColumnNotFoundError, pl.exceptions.InvalidOperationError) as exc:
        raise InputError(f"estimate: cannot read the selection: {str(exc).splitlines()[0]}"
                         ) from exc


def _valid(model: ModelConfig, predicted: str, labelled: bool) -> pl.Expr:
    ok = pl.col(predicted).cast(pl.Float64).is_finite().fill_null(False)
    if labelled:
        ok &= pl.col(str(model.label)).cast(pl.Float64).is_finite().fill_null(False)
    return ok


def _sampled(lf: pl.LazyFrame, columns: list[str], key: pl.Expr, valid: pl.Expr,
             budget: int, seed: int) -> pl.LazyFrame:
    """At most `budget` rows of each window (`key`, computed over every row first) among the
    `valid` ones, drawn uniformly with `seed`."""
    priority = pl.int_range(pl.len()).shuffle(seed=seed)
    return (lf.select(key.alias(W), *columns).filter(valid).with_columns(priority.alias(R))
            .filter(pl.col(R).rank("ordinal").over(W) <= budget).sort(W, R).drop(R))


def _fit(ref_lf: pl.LazyFrame, model: ModelConfig, kinds: dict[str, str], predicted: str,
         encoding: Any, ref_sel: Selection, versions: list[str], options: dle.DleOptions
         ) -> tuple[dict[str, dle.LossModel], dict[str, float | None], int]:
    """Loss models per version of `versions`, the reference's realised metrics over every labelled
    row, and how many rows those are."""
    label = str(model.label)
    columns = list(dict.fromkeys([*kinds, label, VERSION_COL]))
    e = pl.col(label).cast(pl.Float64) - pl.col(predicted).cast(pl.Float64)
    valid = _valid(model, predicted, labelled=True)
    total, sample = _collect([
        ref_lf.filter(valid).select(pl.len().alias("n"), e.abs().sum().alias("a"),
                                    (e * e).sum().alias("q")),
        _sampled(ref_lf, columns, pl.col(VERSION_COL), valid, options.reference_rows,
                 options.seed)])
    n, abs_sum, sq_sum = total.row(0)
    real = dle.realised(np.array([n]), np.array([abs_sum or 0.0]), np.array([sq_sum or 0.0]))
    fitted = {}
    for version in versions:
        part = sample.filter(pl.col(VERSION_COL) == version)
        try:
            fitted[version] = dle.fit_loss_model(
                encode(part, encoding), encoding.categorical,
                part[label].cast(pl.Float64).to_numpy(),
                part[predicted].cast(pl.Float64).to_numpy(), options)
        except ValueError as exc:
            raise InputError(f"--reference {ref_sel.selector.text}: version {version}: {exc} "
                             "(the estimate learns the loss on labelled reference rows)"
                             ) from exc
    return fitted, {m: finite(v[0]) for m, v in real.items()}, int(n)


def _current(cur_lf: pl.LazyFrame, model: ModelConfig, kinds: dict[str, str], predicted: str,
             encoding: Any, key: pl.Expr, index: dict[Any, int], windows: int,
             fitted: dict[str, dle.LossModel], options: dle.DleOptions
             ) -> tuple[dle.WindowSums, dict[str, Any]]:
    """Every window's rows and realised sums (all rows), and its sampled rows' predicted
    losses, accumulated in `WindowSums` (`index`: window key -> its index)."""
    label = str(model.label)
    y, p = pl.col(label).cast(pl.Float64), pl.col(predicted).cast(pl.Float64)
    has_label = y.is_finite().fill_null(False)
    e = pl.when(has_label).then(y - p).otherwise(0.0)
    valid = _valid(model, predicted, labelled=False)
    columns = list(dict.fromkeys([*kinds, VERSION_COL]))
    totals, sample = _collect([
        cur_lf.select(key.alias(W), valid.alias("_ok"), has_label.alias("_l"), e.alias("_e"))
        .filter(pl.col("_ok")).group_by(W).agg(
            pl.len().alias("rows"), pl.col("_l").sum().alias("labelled"),
            pl.col("_e").abs().sum().alias(E_ABS), (pl.col("_e") ** 2).sum().alias(E_SQ)),
        _sampled(cur_lf, columns, key, valid, window_budget(options.window_rows, windows),
                 options.seed + 1)])
    sums = dle.WindowSums.empty(windows, options.folds)
    count, abs_sum, sq_sum = np.zeros(windows), np.zeros(windows), np.zeros(windows)
    for row in totals.iter_rows(named=True):
        i = index[row[W]]
        sums.rows[i], count[i] = row["rows"], row["labelled"]
        abs_sum[i], sq_sum[i] = row[E_ABS], row[E_SQ]
    at = np.array([index[k] for k in sample[W].to_list()], dtype=np.int64)
    versions = sample[VERSION_COL].to_numpy()
    for version, model_fit in fitted.items():
        rows = np.flatnonzero(versions == version)
        for start in range(0, len(rows), PREDICT_CHUNK):
            chunk = rows[start:start + PREDICT_CHUNK]
            dle.add_predictions(sums, model_fit, encode(sample[chunk], encoding), at[chunk])
    return sums, {"labelled": count, **dle.realised(count, abs_sum, sq_sum)}


def window_budget(window_rows: int, windows: int) -> int:
    """Rows predicted per window: `window_rows`, cut so that all windows together stay near
    PREDICT_TOTAL (hourly windows over a month), but at least MIN_WINDOW_SAMPLE."""
    return max(min(window_rows, PREDICT_TOTAL // max(windows, 1)), MIN_WINDOW_SAMPLE)


def _described(fitted: dle.LossModel, options: dle.DleOptions) -> dict[str, Any]:
    """One version's loss model for the report's inputs."""
    return {"method": "direct loss estimation (histogram gradient boosting, Poisson loss, "
                      "cross-fitted)", "rows": fitted.rows,
            "reference_rows": options.reference_rows, "window_rows": options.window_rows,
            "folds": options.folds, "iterations": fitted.iterations,
            "kappa_abs": fitted.kappa["abs"], "kappa_sq": fitted.kappa["sq"],
            "bias_abs": fitted.bias["abs"], "bias_sq": fitted.bias["sq"],
            **{f"sample_{k}": v for k, v in fitted.reference.items()}}


ESTIMATOR = Estimator(
    dle.ESTIMATED_METRICS, unavailable, columns, estimate, UNCERTAINTY, bands=dle.band_estimates,
    losses=True, unestimable="no rows with a finite predicted value",
    concept="the relationship between the inputs and the target")
