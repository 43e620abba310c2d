"""Direct loss estimation (DLE) for regression models: the pure maths.

NannyML's recipe for "how is a regression model probably doing while its labels are late":

1. `fit_loss_model` learns, on a sample of the labelled reference, two models of the loss the
   regression model makes on a row, from the row's features and the model's own prediction:
   E[|e| | x] and E[e² | x] (e = label - prediction). Both are scikit-learn histogram
   gradient-boosted regressors with the Poisson loss: it fits a conditional *mean* (what MAE and
   MSE average), its log link keeps every prediction positive and makes multiplicative,
   heteroscedastic structure (noise that grows with a feature) easy to learn. The sample is cut
   into `folds` folds (cross-fitting): fold k's models are fitted on the other folds, so every
   reference row gets an out-of-fold prediction and the reference's own estimate is honest.
2. `estimate_windows` averages, per window, the fold models' predictions over the window's rows:
   estimated MAE = mean predicted |e|, estimated RMSE = sqrt(mean predicted e²).

Uncertainty (`estimate_windows`' standard errors; band = estimate ± z·SE, RMSE's band is the
square root of the MSE band's ends). The realised MAE of a window of n rows is the mean of n
noisy losses; its spread around the estimate has three parts, added as variances:

- label sampling: a row's loss l scatters around its predicted mean p; on the reference's
  out-of-fold rows the spread is proportional to p (noise sd that depends on x scales both), so
  Var(l | x) = kappa·p² with kappa = sum (l - p)² / sum p² measured out of fold (it includes the
  loss model's own error, so it errs wide); the window mean's variance is kappa·mean(p²)/n;
- model uncertainty: the folds' models disagree; the variance of their window means (ddof 1)
  is added whole (not divided by the number of folds: the fold models share most of their
  training rows, so their disagreement understates the error of any one of them); plus the
  loss model's calibration error that does not shrink with n (`calibration_error`: out of
  fold, per decile of predicted loss, the relative gap between mean observed and mean
  predicted loss beyond sampling), as a relative variance times the estimate²;
- row sampling: when only `m` of the window's `n` rows are predicted (a row budget per window),
  the variance of the predicted losses / m times (1 - m/n).

It covers neither a changed relationship between inputs and target after the reference
(concept drift) nor inputs far outside what the reference held: the back-test flags windows
whose realised value contradicts the band (`evalctl.analyses.estimate_backtest`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from evalctl.stats.estimated import REGRESSION_METRICS, DleOptions

ESTIMATED_METRICS = REGRESSION_METRICS

LOSSES = ("abs", "sq")  # E[|e| | x] and E[e² | x]
Estimates = dict[str, tuple[np.ndarray, np.ndarray]]  # metric -> (values, standard errors)


@dataclass(frozen=True, eq=False)
class LossModel:
    """Fitted on one version's labelled reference sample: fold models per loss, and what the
    out-of-fold predictions say about them."""

    models: dict[str, list[Any]]  # loss -> one regressor per fold
    kappa: dict[str, float]  # loss -> Var(l | x) / p² measured out of fold
    bias: dict[str, float]  # loss -> variance of the relative calibration error (out of fold)
    rows: int  # reference rows fitted on
    reference: dict[str, float]  # realised and out-of-fold estimated metrics of the sample
    iterations: list[int] = field(default_factory=list)  # boosting rounds used per model


def losses(label: np.ndarray, prediction: np.ndarray) -> dict[str, np.ndarray]:
    """Per row |e| and e² (e = label - prediction); inf where they overflow (|e| beyond
    ~1.3e154 for e²), float arithmetic's answer, not worth a RuntimeWarning."""
    with np.errstate(over="ignore"):
        e = np.asarray(label, dtype=float) - np.asarray(prediction, dtype=float)
        return {"abs": np.abs(e), "sq": e * e}


def fold_of(rows: int, folds: int, seed: int) -> np.ndarray:
    """A balanced random fold number (0 .. folds-1) per row, fixed by `seed`."""
    return np.random.default_rng(seed).permutation(np.arange(rows) % folds)


def fit_loss_model(x: np.ndarray, categorical: list[bool], label: np.ndarray,
                   prediction: np.ndarray, options: DleOptions) -> LossModel:
    """Cross-fitted loss models on the labelled reference sample `x` (rows x columns, the
    model's prediction among the columns; NaN = missing). Raises ValueError when there are
    fewer rows than 10 per fold, when every loss is 0 (a perfect model: nothing to learn), or
    when the squared losses leave the float range (`_check_range`)."""
    from sklearn.ensemble import HistGradientBoostingRegressor  # optional extra; start-up time

    target = losses(label, prediction)
    rows = len(label)
    if rows < 10 * options.folds:
        raise ValueError(f"{rows} labelled reference rows: need at least {10 * options.folds}")
    if not target["abs"].any():
        raise ValueError("every reference prediction equals its label: no loss to learn")
    _check_range(target)
    fold = fold_of(rows, options.folds, options.seed)
    mask = np.asarray(categorical, dtype=bool)
    models: dict[str, list[Any]] = {loss: [] for loss in LOSSES}
    out_of_fold = {loss: np.empty(rows) for loss in LOSSES}
    iterations = []
    for k in range(options.folds):
        train, held = fold != k, fold == k
        for loss in LOSSES:
            model = HistGradientBoostingRegressor(
                loss="poisson", max_iter=options.max_iter, learning_rate=options.learning_rate,
                categorical_features=mask if mask.any() else None, early_stopping=True,
                validation_fraction=0.1, n_iter_no_change=10, random_state=options.seed + k)
            model.fit(x[train], target[loss][train])
            out_of_fold[loss][held] = model.predict(x[held])
            models[loss].append(model)
            iterations.append(int(model.n_iter_))
    kappa = {loss: _kappa(target[loss], out_of_fold[loss]) for loss in LOSSES}
    bias = {loss: calibration_error(target[loss], out_of_fold[loss]) for loss in LOSSES}
    reference = {"mae": float(target["abs"].mean()),
                 "rmse": float(np.sqrt(target["sq"].mean())),
                 "mae_estimated": float(out_of_fold["abs"].mean()),
                 "rmse_estimated": float(np.sqrt(out_of_fold["sq"].mean()))}
    return LossModel(models, kappa, bias, rows, reference, iterations)


def _check_range(target: dict[str, np.ndarray]) -> None:
    """The squared losses must be finite and not all 0: errors beyond ~1.3e154 square to inf
    (which scikit-learn refuses), errors all below ~1.5e-154 square to 0 (no loss to learn)."""
    if np.isfinite(target["sq"]).all() and target["sq"].any():
        return
    nonzero = target["abs"][target["abs"] > 0]
    raise ValueError(f"the errors (label - prediction, {nonzero.min():.3g} to "
                     f"{nonzero.max():.3g} in size) square beyond the float range (about "
                     "1.5e-154 to 1.3e154 in size): no squared loss to learn")


def _kappa(observed: np.ndarray, predicted: np.ndarray) -> float:
    """Var(l | x) / p², pooled: sum (l - p)² / sum p²."""
    return float(((observed - predicted) ** 2).sum() / max((predicted ** 2).sum(), 1e-300))


def calibration_error(observed: np.ndarray, predicted: np.ndarray, bins: int = 10) -> float:
    """The variance of the loss model's relative error that does not average out: out-of-fold
    rows cut into `bins` equal-count bins of predicted loss; per bin the squared relative gap
    between the mean observed and the mean predicted loss, less what sampling alone gives it
    (var(l - p) / rows / mean p²); the mean over bins, floored at 0."""
    order = np.argsort(predicted, kind="stable")
    terms = []
    for part in np.array_split(order, bins):
        if len(part) < 2:
            continue
        p, gap = predicted[part].mean(), observed[part] - predicted[part]
        terms.append((gap.mean() / p) ** 2 - gap.var(ddof=1) / len(part) / p ** 2)
    return max(float(np.mean(terms)), 0.0) if terms else 0.0


@dataclass(frozen=True)
class WindowSums:
    """Per window (arrays indexed by window) what `estimate_windows` needs: the rows with a
    finite prediction in the whole window, and per loss the sums over its predicted rows."""

    rows: np.ndarray  # rows of the window the estimate speaks for
    predicted: np.ndarray  # rows of it that were predicted (the row budget's sample)
    mean: dict[str, np.ndarray]  # loss -> sum of fold-averaged predictions
    square: dict[str, np.ndarray]  # loss -> sum of squared fold-averaged predictions
    folds: dict[str, np.ndarray]  # loss -> (folds x windows) sums of each fold's predictions

    @classmethod
    def empty(cls, windows: int, folds: int) -> WindowSums:
        def zeros() -> np.ndarray:
            return np.zeros(windows)

        return cls(zeros(), zeros(), {loss: zeros() for loss in LOSSES},
                   {loss: zeros() for loss in LOSSES},
                   {loss: np.zeros((folds, windows)) for loss in LOSSES})


def add_predictions(sums: WindowSums, model: LossModel, x: np.ndarray,
                    window: np.ndarray) -> None:
    """Predict the losses of sampled rows `x` (window index per row) and add them to `sums`."""
    windows = len(sums.rows)
    sums.predicted[:] += np.bincount(window, minlength=windows)
    for loss in LOSSES:
        per_fold = np.stack([m.predict(x) for m in model.models[loss]]) if len(x) else \
            np.zeros((len(model.models[loss]), 0))
        p = per_fold.mean(axis=0)
        sums.mean[loss][:] += np.bincount(window, weights=p, minlength=windows)
        sums.square[loss][:] += np.bincount(window, weights=p * p, minlength=windows)
        for k, row in enumerate(per_fold):
            sums.folds[loss][k] += np.bincount(window, weights=row, minlength=windows)


def estimate_windows(sums: WindowSums, kappa: dict[str, float],
                     bias: dict[str, float]) -> Estimates:
    """Estimated MAE and MSE per window with their standard errors (see the module docstring);
    NaN where the window has no predicted row. `kappa` and `bias` may pool several versions:
    the caller decides."""
    m = np.where(sums.predicted > 0, sums.predicted, np.nan)
    n = np.where(sums.rows > 0, sums.rows, np.nan)
    out: Estimates = {}
    for loss, metric in (("abs", "mae"), ("sq", "mse")):
        mean = sums.mean[loss] / m
        mean_sq = sums.square[loss] / m
        label_var = kappa[loss] * mean_sq / n
        spread = np.maximum(mean_sq - mean * mean, 0.0) * m / np.maximum(m - 1, 1)
        row_var = spread / m * np.clip(1 - m / n, 0.0, 1.0)
        fold_means = sums.folds[loss] / m
        model_var = fold_means.var(axis=0, ddof=1) if len(fold_means) > 1 else 0.0 * mean
        model_var = model_var + bias[loss] * mean * mean
        out[metric] = (mean, np.sqrt(label_var + row_var + model_var))
    return out


def band_estimates(est: Estimates, i: int, z: float) -> dict[str, dict[str, float | None]]:
    """Window `i` as metric -> {value, lower, upper, se} for MAE and RMSE (None: undefined).
    MAE: value ± z·se, floored at 0. RMSE: the square roots of the MSE band's ends; its `se`
    by the delta method, se(MSE) / (2·RMSE)."""
    mae, mae_se = _finite(est["mae"][0][i]), _finite(est["mae"][1][i])
    mse, mse_se = _finite(est["mse"][0][i]), _finite(est["mse"][1][i])
    out: dict[str, dict[str, float | None]] = {}
    if mae is None or mae_se is None:
        out["mae"] = {"value": None, "lower": None, "upper": None, "se": None}
    else:
        out["mae"] = {"value": mae, "lower": max(mae - z * mae_se, 0.0),
                      "upper": mae + z * mae_se, "se": mae_se}
    if mse is None or mse_se is None:
        out["rmse"] = {"value": None, "lower": None, "upper": None, "se": None}
    else:
        rmse = float(np.sqrt(mse))
        out["rmse"] = {"value": rmse, "lower": float(np.sqrt(max(mse - z * mse_se, 0.0))),
                       "upper": float(np.sqrt(mse + z * mse_se)),
                       "se": mse_se / (2 * rmse) if rmse > 0 else None}
    return out


def realised(count: np.ndarray, abs_sum: np.ndarray, sq_sum: np.ndarray
             ) -> dict[str, np.ndarray]:
    """Realised MAE and RMSE per window from the labelled rows' count, sum |e| and sum e²."""
    n = np.where(count > 0, count, np.nan)
    return {"mae": abs_sum / n, "rmse": np.sqrt(sq_sum / n)}


def judge_window(estimated: dict[str, dict[str, float | None]],
                 reference: dict[str, float | None], metrics: tuple[str, ...],
                 maximum: dict[str, float], warn_rise: float, fail_rise: float
                 ) -> list[dict[str, Any]]:
    """Every judged metric that is not `pass` (lower is better), failures first, each with
    ``status``, ``why``, ``check``, ``value`` (the number judged) and ``threshold``:

    fail: the band's lower end is above `maximum`, or above reference·(1 + fail_rise);
    warn: it is above reference·(1 + warn_rise), or the estimate itself is above `maximum`.
    The rises are relative (a loss has the label's unit)."""
    alerts = []
    for metric in metrics:
        e = estimated[metric]
        value, low = e["value"], e["lower"]
        if value is None or low is None:
            continue
        limit, ref = maximum.get(metric), reference.get(metric)
        found: tuple[str, str, float, float] | None = None
        if limit is not None and low > limit:
            found = ("fail", f"{metric} ≥ {low:.4g} > max {limit:g}", low, limit)
        for level, rise in (("fail", fail_rise), ("warn", warn_rise)):
            if found is None and ref is not None and low > ref * (1 + rise):
                found = (level, f"{metric} ≥ {low:.4g} > ref {ref:.4g} · (1 + {rise:g})", low,
                         ref * (1 + rise))
        if found is None and limit is not None and value > limit:
            found = ("warn", f"{metric} ~ {value:.4g} > max {limit:g}", value, limit)
        if found is not None:
            level, why, judged, threshold = found
            alerts.append({"status": level, "why": why, "check": metric, "value": judged,
                           "threshold": threshold})
    return sorted(alerts, key=lambda a: a["status"] != "fail")


def _finite(value: Any) -> float | None:
    v = float(value)
    return v if np.isfinite(v) else None
