"""Confidence-based performance estimation (CBPE) for multiclass classifiers: the pure maths.

NannyML's multiclass recipe, fitted once on the labelled reference and applied to every window:

1. `fit_calibrators`: one isotonic calibrator per class, one-vs-rest (the binary estimator's
   `cbpe.fit_isotonic` on the class's probability column against "the label is this class");
   `MulticlassCalibrator.apply` maps each class's probability through its calibrator and
   divides each row by its sum, so the calibrated probabilities q_1..q_K of a row again sum
   to 1 (a row whose calibrated values are all 0 keeps the model's own probabilities).
2. `estimate_metrics` treats q_k as the chance that the row's label is class k:
   expected accuracy = sum q_pred / n (q_pred: the probability of the predicted class);
   per class the expected TP_k = sum_{pred = k} q_k, predicted count P_k (fixed) and support
   S_k = sum q_k, F1_k = 2 TP_k / (P_k + S_k), macro F1 their mean over the classes present
   (support or predictions > 0, scikit-learn's rule); one-vs-rest ROC AUC per class is the
   binary estimator's expected rank AUC (`cbpe.rank_auc_gradient`) of the class's raw
   probability with q_k as the chance of a positive, macro AUC their mean (undefined when a
   class's AUC is). With one-hot q (the labels) every function gives the realised metric:
   accuracy, scikit-learn's ``f1_score(average="macro")`` and
   ``roc_auc_score(multi_class="ovr", average="macro")``.

The band (what `SE` is): the standard error of the value the window would *realise* if each
row's label were drawn from Categorical(q_1..q_K), independently, the window's probabilities
and predictions fixed. Each metric is linearised in the rows' label indicators (delta method:
accuracy is already linear; F1 through TP_k and S_k; AUC through `rank_auc_gradient`), and a
row contributes the variance of its linear term over its categorical label,
sum_c q_c g_c^2 - (sum_c q_c g_c)^2. It covers label noise only. NannyML's bands are sampling
errors estimated from the spread of the metric over reference chunks of the window's size;
this band is narrower in that it also holds the window's inputs fixed, and neither includes
calibration error or concept drift (P(label | probabilities) moving after the reference),
which is what a realised value far outside the band reveals.

Every function takes *weighted rows*: one element per group of identical rows with its row
count as weight (score columns as an (n, K) array), so callers aggregate first.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from evalctl.stats.cbpe import Calibrator, fit_isotonic, rank_auc_gradient
from evalctl.stats.estimated import MULTICLASS_METRICS

ESTIMATED_METRICS = MULTICLASS_METRICS
Estimates = dict[str, tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True, eq=False)
class MulticlassCalibrator:
    """One isotonic calibrator per class (one-vs-rest), in the order of the score columns."""

    per_class: tuple[Calibrator, ...]

    def apply(self, scores: np.ndarray) -> np.ndarray:
        """Calibrated probabilities, each row summing to 1; NaN rows where a score is not
        finite."""
        s = np.asarray(scores, dtype=float)
        q = np.column_stack([c.apply(s[:, k]) for k, c in enumerate(self.per_class)])
        total = q.sum(axis=1, keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(total > 0, q / total, s)


def fit_calibrators(scores: np.ndarray, label: np.ndarray, weight: np.ndarray
                    ) -> MulticlassCalibrator:
    """Per class k, isotonic P(label = k | score_k) from labelled rows: `scores` (n, K), `label`
    the class index 0..K-1 of each row (rows with another value are ignored), `weight` the
    row counts. Raises ValueError naming the class index when a class has no usable rows."""
    s = np.asarray(scores, dtype=float)
    y = np.asarray(label)
    w = np.asarray(weight, dtype=float)
    known = (y >= 0) & (y < s.shape[1])
    calibrators = []
    for k in range(s.shape[1]):
        if not (known & (y == k)).any():
            raise ValueError(f"class {k} has no labelled rows")
        calibrators.append(fit_isotonic(s[known, k], w[known] * (y[known] == k), w[known]))
    return MulticlassCalibrator(tuple(calibrators))


def estimate_metrics(window: np.ndarray, scores: np.ndarray, q: np.ndarray,
                     predicted: np.ndarray, weight: np.ndarray, windows: int) -> Estimates:
    """Every ESTIMATED_METRICS entry per window: (value, standard error).

    `scores` (n, K): the model's probabilities (they rank rows for the AUC); `q` (n, K): each
    row's probability of each class (calibrated, or the one-hot labels for realised values);
    `predicted`: the predicted class index 0..K-1; `window`: indices 0 .. windows-1. The rows
    are put in one canonical order first, so the bits of every result do not depend on the
    order a hash group-by produced them in."""
    return _estimates(window, scores, [(q, weight)], predicted, weight, windows)[0]


def estimate_with_realised(window: np.ndarray, scores: np.ndarray, q: np.ndarray,
                           predicted: np.ndarray, weight: np.ndarray, label: np.ndarray,
                           windows: int) -> tuple[Estimates, Estimates]:
    """`estimate_metrics` of `q` over every row, and the realised metrics over the rows whose
    `label` (class index) is known (>= 0): the one-hot labels in place of `q`. One canonical
    order and one ranking per class serve both."""
    y = np.asarray(label, dtype=np.int64)
    known = (y >= 0) & (y < np.asarray(scores).shape[1])
    one_hot = np.equal.outer(np.where(known, y, -1), np.arange(np.asarray(scores).shape[1]))
    realised_weight = np.where(known, np.asarray(weight, dtype=float), 0.0)
    est, real = _estimates(window, scores, [(q, weight), (one_hot.astype(float),
                                                          realised_weight)],
                           predicted, weight, windows, label=y)
    return est, real


def _estimates(window: np.ndarray, scores: np.ndarray, sets: list[tuple[np.ndarray, np.ndarray]],
               predicted: np.ndarray, weight: np.ndarray, windows: int,
               label: np.ndarray | None = None) -> list[Estimates]:
    """Every metric for each (q, weight) of `sets` over the same rows, in canonical order."""
    s = np.asarray(scores, dtype=float)
    order = _canonical_order([*s.T, np.asarray(predicted), np.asarray(window),
                              np.asarray(weight), *([] if label is None else [label])])
    win = np.asarray(window, dtype=np.int64)[order]
    pred = np.asarray(predicted, dtype=np.int64)[order]
    s = s[order]
    ranks = [_class_order(win, s[:, c], windows) for c in range(s.shape[1])]
    out = []
    for q, w in sets:
        qq, ww = np.asarray(q, dtype=float)[order], np.asarray(w, dtype=float)[order]
        out.append({"accuracy": _accuracy(win, qq, pred, ww, windows),
                    "macro_f1": _macro_f1(win, qq, pred, ww, windows),
                    "macro_roc_auc": _macro_auc(win, s, qq, ww, windows, ranks)})
    return out


def _canonical_order(columns: list[np.ndarray]) -> np.ndarray:
    """An order of the rows that depends on their values only, not on the order they came
    in: by a 64-bit mix of each row's bits (equal keys are equal rows, whose order changes no
    sum, or a collision, about 3e-8 likely for a million rows). One integer sort instead of a
    lexicographic sort on every column."""
    key = np.zeros(len(columns[0]) if columns else 0, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for i, column in enumerate(columns):
            bits = np.ascontiguousarray(column, dtype=np.float64).view(np.uint64)
            key = (key ^ bits) * np.uint64(0x9E3779B97F4A7C15 + 2 * i)
            key ^= key >> np.uint64(29)
    return np.argsort(key)


def _class_order(win: np.ndarray, score: np.ndarray, windows: int) -> np.ndarray:
    """Rows in (window, score) order for the rank AUC; the rows come in canonical order, so
    ties fall in a fixed order too. The window pass is a radix sort on small integers."""
    by_score = np.argsort(score)
    small = win.astype(np.int16) if windows < 2 ** 15 else win
    return by_score[np.argsort(small[by_score], kind="stable")]


def _per_window(win: np.ndarray, values: np.ndarray, windows: int) -> np.ndarray:
    return np.bincount(win, weights=values, minlength=windows).astype(float)


def _categorical_variance(q: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Per row, the variance of sum_c g_c [label = c] when the label ~ Categorical(q)."""
    mean = (q * g).sum(axis=1)
    return np.maximum((q * g * g).sum(axis=1) - mean * mean, 0.0)


def _accuracy(win: np.ndarray, q: np.ndarray, pred: np.ndarray, w: np.ndarray,
              windows: int) -> tuple[np.ndarray, np.ndarray]:
    hit = q[np.arange(len(pred)), pred]
    n = _per_window(win, w, windows)
    with np.errstate(divide="ignore", invalid="ignore"):
        return (_per_window(win, w * hit, windows) / n,
                np.sqrt(_per_window(win, w * hit * (1.0 - hit), windows)) / n)


def _class_sums(win: np.ndarray, values: np.ndarray, windows: int) -> np.ndarray:
    """(windows, K) sums of an (n, K) array per window."""
    return np.column_stack([_per_window(win, values[:, k], windows)
                            for k in range(values.shape[1])])


def _macro_f1(win: np.ndarray, q: np.ndarray, pred: np.ndarray, w: np.ndarray,
              windows: int) -> tuple[np.ndarray, np.ndarray]:
    """Macro F1 over the classes present, and its delta-method standard error."""
    one_hot = np.equal.outer(pred, np.arange(q.shape[1])).astype(float)
    tp = _class_sums(win, w[:, None] * q * one_hot, windows)
    denominator = _class_sums(win, w[:, None] * (one_hot + q), windows)  # P_k + S_k
    present = denominator > 0
    classes = present.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        f1 = np.where(present, 2.0 * tp / denominator, 0.0)
        macro = f1.sum(axis=1) / classes
        # d macro / d TP_k = 2 / D_k, d / d S_k = -2 TP_k / D_k^2, each over the classes present
        d_tp = np.where(present, 2.0 / denominator, 0.0) / classes[:, None]
        d_support = np.where(present, -2.0 * tp / denominator ** 2, 0.0) / classes[:, None]
        g = d_support[win] + one_hot * d_tp[win]
        var = _per_window(win, w * _categorical_variance(q, g), windows)
    return macro, np.sqrt(var)


def _macro_auc(win: np.ndarray, s: np.ndarray, q: np.ndarray, w: np.ndarray,
               windows: int, ranks: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Mean one-vs-rest expected rank AUC and its delta-method standard error (`ranks`: each
    class's `_class_order`)."""
    k = s.shape[1]
    aucs, grads = zip(*(rank_auc_gradient(win, s[:, c], q[:, c], w, windows, order=ranks[c])
                        for c in range(k)), strict=True)
    if len(win) == 0:
        return np.full(windows, np.nan), np.full(windows, np.nan)
    macro = np.mean(np.column_stack(aucs), axis=1)
    with np.errstate(invalid="ignore"):
        g = np.column_stack(grads) / k
        var = _per_window(win, w * _categorical_variance(q, g), windows)
    return macro, np.sqrt(var)
