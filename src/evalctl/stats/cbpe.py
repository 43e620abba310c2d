"""Confidence-based performance estimation (CBPE) for binary classifiers: the pure maths.

NannyML's recipe, fitted once on the reference and applied to every window:

1. `fit_isotonic` calibrates the scores on the labelled reference: equal scores are pooled
   first (count, positives), then ``scipy.optimize.isotonic_regression`` fits a non-decreasing
   map score -> P(y = 1); `Calibrator.apply` interpolates linearly between the fitted points
   and clips outside them (scikit-learn's ``IsotonicRegression(out_of_bounds="clip")``).
2. `expected_confusion` treats each row's calibrated probability p as the chance that its label
   is 1: E[TP] = sum p [pred = 1], E[FP] = sum (1 - p) [pred = 1], E[FN] = sum p [pred = 0],
   E[TN] = sum (1 - p) [pred = 0]. `confusion_metrics` turns the counts into accuracy,
   precision, recall and F1 (ratios of the expected counts, as NannyML does).
3. `rank_auc` gives the expected rank-based ROC AUC: pairs ordered by the model's raw score,
   each (i, j) pair weighted p_i (1 - p_j), ties counting one half, divided by the expected
   number of (positive, negative) pairs. With p in {0, 1} it is the realised Mann-Whitney AUC.

Uncertainty: every metric comes with the standard error of the value the window would
*realise* if its labels were drawn from the calibrated probabilities (independent Bernoulli
labels, the window's scores and predictions fixed): Poisson-binomial variances of TP and FN,
the delta method for ratios (recall, F1, AUC). It covers label noise only; calibration error
and concept drift (P(y | score) changing after the reference) are not in it.

Every function takes *weighted rows*: one element per (window, score, prediction) group with its
row count as weight, so callers aggregate first and never pass one element per raw row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from evalctl.stats.estimated import BINARY_METRICS

ESTIMATED_METRICS = BINARY_METRICS
Estimates = dict[str, tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True, eq=False)
class Calibrator:
    """A fitted isotonic map: scores `knots` (increasing) -> probabilities `values`."""

    knots: np.ndarray
    values: np.ndarray
    rows: int
    distinct_scores: int

    def apply(self, scores: np.ndarray) -> np.ndarray:
        """Calibrated probabilities; NaN where the score is not finite."""
        s = np.asarray(scores, dtype=float)
        out = np.full(s.shape, np.nan)
        ok = np.isfinite(s)
        out[ok] = np.interp(s[ok], self.knots, self.values)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"method": "isotonic", "knots": self.knots.tolist(),
                "values": self.values.tolist(), "rows": self.rows,
                "distinct_scores": self.distinct_scores}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Calibrator:
        return cls(np.asarray(data["knots"], dtype=float), np.asarray(data["values"], dtype=float),
                   int(data["rows"]), int(data["distinct_scores"]))


def fit_isotonic(scores: np.ndarray, positives: np.ndarray, counts: np.ndarray) -> Calibrator:
    """Isotonic calibration from (score, positives, rows) triples; equal scores are pooled.

    Non-finite scores and empty groups are ignored. Raises ValueError without usable rows.
    Only the end points of each flat block are kept: interpolation is unchanged.
    """
    # scipy is imported only when this is computed (start-up time)
    from scipy.optimize import isotonic_regression

    s = np.asarray(scores, dtype=float)
    pos = np.asarray(positives, dtype=float)
    n = np.asarray(counts, dtype=float)
    keep = np.isfinite(s) & (n > 0)
    if not keep.any():
        raise ValueError("no labelled rows with a finite score to calibrate on")
    knots, inverse = np.unique(s[keep], return_inverse=True)
    weight = np.bincount(inverse, weights=n[keep])
    hits = np.bincount(inverse, weights=pos[keep])
    fitted = np.clip(isotonic_regression(hits / weight, weights=weight).x, 0.0, 1.0)
    flat = np.zeros(len(knots), dtype=bool)
    flat[1:-1] = (fitted[1:-1] == fitted[:-2]) & (fitted[1:-1] == fitted[2:])
    return Calibrator(knots[~flat], fitted[~flat], int(weight.sum()), len(knots))


@dataclass(frozen=True, eq=False)
class Confusion:
    """Per-window confusion counts (expected ones when built from probabilities).

    `var_tp` and `var_fn` are the variances of TP and FN over label draws (0 when realised).
    """

    tp: np.ndarray
    fp: np.ndarray
    fn: np.ndarray
    tn: np.ndarray
    var_tp: np.ndarray
    var_fn: np.ndarray

    @property
    def rows(self) -> np.ndarray:
        return self.tp + self.fp + self.fn + self.tn


def expected_confusion(window: np.ndarray, p: np.ndarray, predicted: np.ndarray,
                       weight: np.ndarray, windows: int) -> Confusion:
    """Expected confusion per window (`window` holds indices 0 .. windows-1).

    `p` is each group's probability of a positive label (the label itself for realised
    counts), `predicted` its 0/1 prediction, `weight` its row count.
    """
    window = np.asarray(window, dtype=np.int64)
    w = np.asarray(weight, dtype=float)
    p = np.asarray(p, dtype=float)
    one = np.asarray(predicted) == 1

    def per_window(values: np.ndarray) -> np.ndarray:
        return np.bincount(window, weights=values, minlength=windows).astype(float)

    tp, fn = per_window(w * p * one), per_window(w * p * ~one)
    var = w * p * (1.0 - p)
    return Confusion(tp, per_window(w * one) - tp, fn, per_window(w * ~one) - fn,
                     per_window(var * one), per_window(var * ~one))


def confusion_metrics(c: Confusion) -> Estimates:
    """metric -> (value, standard error) per window; NaN where undefined (0 / 0)."""
    n, m1 = c.rows, c.tp + c.fp
    a, b, va, vb = c.tp, c.fn, c.var_tp, c.var_fn
    with np.errstate(divide="ignore", invalid="ignore"):
        f1_den = m1 + a + b
        return {
            "accuracy": ((c.tp + c.tn) / n, np.sqrt(va + vb) / n),
            "precision": (a / m1, np.sqrt(va) / m1),
            "recall": (a / (a + b), np.sqrt(b * b * va + a * a * vb) / (a + b) ** 2),
            "f1": (2 * a / f1_den,
                   2 * np.sqrt((m1 + b) ** 2 * va + a * a * vb) / f1_den ** 2),
        }


def rank_auc(window: np.ndarray, score: np.ndarray, p: np.ndarray, weight: np.ndarray,
             windows: int) -> tuple[np.ndarray, np.ndarray]:
    """Expected (or, with 0/1 `p`, realised) ROC AUC per window and its standard error.

    Rows are ranked by `score` within their window; a pair (i, j) counts p_i (1 - p_j) when
    s_i > s_j and half of it when tied; the sum over i != j is divided by the expected number
    of positive-negative pairs, sum_{i != j} p_i (1 - p_j). The standard error linearises the
    AUC in each label (delta method) and sums p (1 - p) times the squared derivative.
    """
    order = rank_order(window, score)
    auc, grad = rank_auc_gradient(window, score, p, weight, windows, order=order)
    if len(grad) == 0:
        return auc, np.full(windows, np.nan)
    pr, w = np.asarray(p, dtype=float)[order], np.asarray(weight, dtype=float)[order]
    g = grad[order]
    with np.errstate(invalid="ignore"):
        var = np.bincount(np.asarray(window, dtype=np.int64)[order],
                          weights=w * pr * (1.0 - pr) * g * g, minlength=windows)
    return auc, np.sqrt(var)


def rank_order(window: np.ndarray, score: np.ndarray) -> np.ndarray:
    """The rows in (window, score) order, ties in input order: ``np.lexsort((score, window))``
    as two stable sorts (the second, on small integers, is a radix sort), which is faster."""
    by_score = np.argsort(np.asarray(score, dtype=float), kind="stable")
    return by_score[np.argsort(np.asarray(window)[by_score], kind="stable")]


def rank_auc_gradient(window: np.ndarray, score: np.ndarray, p: np.ndarray,
                      weight: np.ndarray, windows: int, order: np.ndarray | None = None
                      ) -> tuple[np.ndarray, np.ndarray]:
    """`rank_auc`'s value per window and, per input row (in input order), the derivative of
    its window's AUC with respect to one of the row's labels (its own pairs excluded from
    ties): the delta method's linear term, which multiclass CBPE combines across classes.
    `order`: `rank_order(window, score)` when the caller has it (several label sets over the
    same scores share one sort)."""
    if order is None:
        order = rank_order(window, score)
    win = np.asarray(window, dtype=np.int64)[order]
    s = np.asarray(score, dtype=float)[order]
    w, pr = np.asarray(weight, dtype=float)[order], np.asarray(p, dtype=float)[order]
    new = np.ones(len(s), dtype=bool)
    new[1:] = (win[1:] != win[:-1]) | (s[1:] != s[:-1])
    starts = np.flatnonzero(new)
    if len(starts) == 0:
        return np.full(windows, np.nan), np.zeros(0)
    block_win = win[starts]
    s1 = np.add.reduceat(w * pr, starts)
    s0 = np.add.reduceat(w * (1.0 - pr), starts)
    q = np.add.reduceat(w * pr * (1.0 - pr), starts)
    n1, n0 = (np.bincount(block_win, weights=x, minlength=windows) for x in (s1, s0))
    neg_below = _below_in_window(s0, block_win, windows)
    pos_above = n1[block_win] - _below_in_window(s1, block_win, windows) - s1
    with np.errstate(divide="ignore", invalid="ignore"):
        pairs = n1 * n0 - np.bincount(block_win, weights=q, minlength=windows)
        auc = np.bincount(block_win, weights=s1 * neg_below + 0.5 * (s1 * s0 - q),
                          minlength=windows) / pairs
        # per-row derivative of AUC with respect to its own label, self excluded from ties
        size = np.diff(np.append(starts, len(s)))
        tied_neg = np.repeat(s0, size) - (1.0 - pr)
        tied_pos = np.repeat(s1, size) - pr
        d_u = (np.repeat(neg_below, size) + 0.5 * tied_neg
               - np.repeat(pos_above, size) - 0.5 * tied_pos)
        grad = (d_u - auc[win] * (n0 - n1)[win]) / pairs[win]
    out = np.empty(len(grad))
    out[order] = grad
    return auc, out


def _below_in_window(values: np.ndarray, block_window: np.ndarray, windows: int) -> np.ndarray:
    """For blocks sorted by (window, score): the sum of `values` of earlier blocks, same window."""
    before = np.cumsum(values) - values
    totals = np.bincount(block_window, weights=values, minlength=windows)
    offset = np.concatenate([[0.0], np.cumsum(totals)[:-1]])
    return before - offset[block_window]


def estimate_metrics(window: np.ndarray, score: np.ndarray, p: np.ndarray,
                     predicted: np.ndarray, weight: np.ndarray, windows: int) -> Estimates:
    """Every ESTIMATED_METRICS entry per window: (value, standard error).

    The rows (groups from a hash group-by, in no fixed order) are put in one canonical order
    first, so the float sums, and hence the bits of every result, do not depend on it."""
    columns = [np.asarray(x) for x in (weight, predicted, p, score, window)]
    order = np.lexsort(columns)
    weight, predicted, p, score, window = (x[order] for x in columns)
    out = confusion_metrics(expected_confusion(window, p, predicted, weight, windows))
    out["roc_auc"] = rank_auc(window, score, p, weight, windows)
    return out


def proportion_band(value: float, se: float, z: float) -> tuple[float, float]:
    """value +- z * se, clipped to [0, 1] (every estimated metric lives there)."""
    return max(0.0, value - z * se), min(1.0, value + z * se)


# -- proxy statistics -------------------------------------------------------------------------

def welch_test(mean_a: float, var_a: float, n_a: float, mean_b: float, var_b: float,
               n_b: float) -> tuple[float, float]:
    """Welch's two-sample t statistic of mean_b - mean_a and its two-sided p-value.

    Variances are sample variances (ddof 1). NaN when either side has fewer than 2 values or
    both variances are 0.
    """
    # scipy is imported only when this is computed (start-up time)
    from scipy import stats

    if n_a < 2 or n_b < 2:
        return float("nan"), float("nan")
    ea, eb = var_a / n_a, var_b / n_b
    if ea + eb <= 0:
        return float("nan"), float("nan")
    t = (mean_b - mean_a) / np.sqrt(ea + eb)
    df = (ea + eb) ** 2 / (ea * ea / (n_a - 1) + eb * eb / (n_b - 1))
    return float(t), float(2 * stats.t.sf(abs(t), df))


def correlation_from_sums(n: float, sx: float, sy: float, sxx: float, syy: float,
                          sxy: float) -> float:
    """Pearson correlation from sums (point-biserial when one side is 0/1); NaN if constant."""
    if n < 3:
        return float("nan")
    cov = sxy - sx * sy / n
    vx, vy = sxx - sx * sx / n, syy - sy * sy / n
    if vx <= 1e-12 * max(sxx, 1.0) or vy <= 1e-12 * max(syy, 1.0):
        return float("nan")
    return float(np.clip(cov / np.sqrt(vx * vy), -1.0, 1.0))


def pearson(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson correlation over the points where both are finite (NaN below 3 points)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    ok = np.isfinite(x) & np.isfinite(y)
    xs, ys = x[ok], y[ok]
    return correlation_from_sums(float(ok.sum()), xs.sum(), ys.sum(), (xs * xs).sum(),
                                 (ys * ys).sum(), (xs * ys).sum())


# -- verdicts -------------------------------------------------------------------------------

def judge_estimate(metric: str, value: float, upper: float, reference: float | None,
                   minimum: float | None, warn_drop: float, fail_drop: float
                   ) -> tuple[str, str | None]:
    """pass / warn / fail of one estimated metric and why.

    fail: the band's upper end is below `minimum`, or below `reference` - `fail_drop`;
    warn: it is below `reference` - `warn_drop`, or the estimate itself is below `minimum`.
    """
    level, why, _, _ = judge_estimate_detail(metric, value, upper, reference, minimum,
                                             warn_drop, fail_drop)
    return level, why


def judge_estimate_detail(metric: str, value: float, upper: float, reference: float | None,
                          minimum: float | None, warn_drop: float, fail_drop: float
                          ) -> tuple[str, str | None, float | None, float | None]:
    """`judge_estimate` plus the number judged and the threshold it crossed (None on pass)."""
    if minimum is not None and upper < minimum:
        return "fail", f"{metric} ≤ {upper:.3f} < min {minimum:g}", upper, minimum
    for level, drop in (("fail", fail_drop), ("warn", warn_drop)):
        if reference is not None and upper < reference - drop:
            return (level, f"{metric} ≤ {upper:.3f} < ref {reference:.3f} - {drop:g}", upper,
                    reference - drop)
    if minimum is not None and value < minimum:
        return "warn", f"{metric} ~ {value:.3f} < min {minimum:g}", value, minimum
    return "pass", None, None, None


def band_estimates(est: Estimates, i: int, z: float) -> dict[str, dict[str, float | None]]:
    """Window `i` of `est` as metric -> {value, lower, upper, se}; None where undefined."""
    out: dict[str, dict[str, float | None]] = {}
    for metric, (values, errors) in est.items():
        value, se = _nan_none(values[i]), _nan_none(errors[i])
        low, high = (None, None) if value is None or se is None else \
            proportion_band(value, se, z)
        out[metric] = {"value": value, "lower": low, "upper": high, "se": se}
    return out


def judge_window(estimated: dict[str, dict[str, float | None]],
                 reference: dict[str, float | None], metrics: tuple[str, ...],
                 minimum: dict[str, float], warn_drop: float, fail_drop: float
                 ) -> list[dict[str, Any]]:
    """Every judged metric that is not `pass`, failures first: ``status``, ``why`` and, as a
    `decided_by` record, ``check`` (the metric), ``value`` and ``threshold``."""
    alerts = []
    for metric in metrics:
        e = estimated[metric]
        if e["value"] is None or e["upper"] is None:
            continue
        level, why, value, threshold = judge_estimate_detail(
            metric, e["value"], e["upper"], reference.get(metric), minimum.get(metric),
            warn_drop, fail_drop)
        if why is not None:
            alerts.append({"status": level, "why": why, "check": metric, "value": value,
                           "threshold": threshold})
    return sorted(alerts, key=lambda a: a["status"] != "fail")


def inside_band(estimated: dict[str, dict[str, float | None]],
                realized: dict[str, float | None]) -> dict[str, bool | None]:
    """Per metric, whether the realised value lies in the estimate's band (None: unknown)."""
    out: dict[str, bool | None] = {}
    for metric, e in estimated.items():
        r, low, high = realized.get(metric), e["lower"], e["upper"]
        out[metric] = None if r is None or low is None or high is None else low <= r <= high
    return out


def moments(count: float, total: float, total_sq: float) -> tuple[float | None, float | None]:
    """Mean and sample variance (ddof 1) from count, sum and sum of squares (None if empty)."""
    if count <= 0:
        return None, None
    mean = total / count
    var = max(total_sq - total * mean, 0.0) / (count - 1) if count > 1 else None
    return mean, var


def proxy_point(name: str, reference: tuple[float, float, float],
                current: tuple[float, float, float], bounds: tuple[float | None, float | None]
                ) -> dict[str, Any]:
    """One proxy in one window from (count, sum, sum of squares) of both sides: its mean, the
    difference to the reference mean with Welch's test, and `warn` outside [min, max]."""
    ref_mean, ref_var = moments(*reference)
    mean, var = moments(*current)
    diff = t = p_value = None
    if mean is not None and ref_mean is not None:
        diff = mean - ref_mean
        t, p_value = welch_test(ref_mean, ref_var or 0.0, reference[0], mean, var or 0.0,
                                current[0])
    low, high = bounds
    why = None
    if mean is not None and low is not None and mean < low:
        why = f"{name} mean {mean:.3f} < min {low:g}"
    elif mean is not None and high is not None and mean > high:
        why = f"{name} mean {mean:.3f} > max {high:g}"
    return {"mean": mean, "rows": int(current[0]), "reference_mean": ref_mean, "diff": diff,
            "t": _nan_none(t), "p_value": _nan_none(p_value),
            "status": "warn" if why else "pass", "why": why}


def _nan_none(value: Any) -> float | None:
    return None if value is None or not np.isfinite(value) else float(value)
