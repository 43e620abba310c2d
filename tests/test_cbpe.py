"""CBPE maths cross-checked against scikit-learn, scipy, brute force and Monte-Carlo draws."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from sklearn.isotonic import IsotonicRegression
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score, roc_auc_score

from evalctl.metrics.intervals import z_value
from evalctl.stats import cbpe

SKLEARN = {"accuracy": accuracy_score, "precision": precision_score, "recall": recall_score,
           "f1": f1_score}
Z95 = z_value(0.95)


def _rows(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Scores with many ties, true probabilities (miscalibrated: p = s**2), labels."""
    rng = np.random.default_rng(seed)
    score = np.round(rng.random(n), 2)
    p = score ** 2
    return score, p, (rng.random(n) < p).astype(float)


def _one_window(p: np.ndarray, score: np.ndarray, pred: np.ndarray) -> cbpe.Estimates:
    ones = np.ones(len(p))
    return cbpe.estimate_metrics(np.zeros(len(p), dtype=int), score, p, pred, ones, 1)


def test_isotonic_matches_scikit_learn_on_ties_and_clips_outside() -> None:
    score, _, label = _rows(3000, 0)
    fitted = cbpe.fit_isotonic(score, label, np.ones(len(score)))
    reference = IsotonicRegression(out_of_bounds="clip").fit(score, label)
    grid = np.linspace(-0.2, 1.2, 1001)
    np.testing.assert_allclose(fitted.apply(grid), reference.predict(grid), atol=1e-12)
    assert fitted.distinct_scores == len(np.unique(score)) and fitted.rows == 3000
    assert len(fitted.knots) <= fitted.distinct_scores
    assert np.isnan(fitted.apply(np.array([np.nan]))[0])


def test_isotonic_from_pooled_counts_equals_row_level_fit() -> None:
    score, _, label = _rows(2000, 1)
    values, inverse = np.unique(score, return_inverse=True)
    counts = np.bincount(inverse).astype(float)
    positives = np.bincount(inverse, weights=label)
    pooled = cbpe.fit_isotonic(values, positives, counts)
    rows = cbpe.fit_isotonic(score, label, np.ones(len(score)))
    grid = np.linspace(0, 1, 301)
    np.testing.assert_allclose(pooled.apply(grid), rows.apply(grid), atol=1e-12)
    again = cbpe.Calibrator.from_dict(pooled.to_dict())
    np.testing.assert_array_equal(again.apply(grid), pooled.apply(grid))
    with pytest.raises(ValueError):
        cbpe.fit_isotonic(np.array([np.nan]), np.array([1.0]), np.array([1.0]))


def test_expected_confusion_is_the_mean_of_monte_carlo_draws() -> None:
    rng = np.random.default_rng(2)
    n, draws = 400, 20_000
    p, pred = rng.random(n), (rng.random(n) < 0.5).astype(int)
    c = cbpe.expected_confusion(np.zeros(n, dtype=int), p, pred, np.ones(n), 1)
    labels = rng.random((draws, n)) < p
    tp = (labels & (pred == 1)).sum(axis=1)
    fn = (labels & (pred == 0)).sum(axis=1)
    assert abs(c.tp[0] - tp.mean()) < 0.2 and abs(c.fn[0] - fn.mean()) < 0.2
    assert c.fp[0] + c.tp[0] == (pred == 1).sum() and c.rows[0] == n
    assert c.var_tp[0] == pytest.approx(tp.var(), rel=0.05)
    assert c.var_fn[0] == pytest.approx(fn.var(), rel=0.05)


def _draw_metrics(rng: np.random.Generator, p: np.ndarray, score: np.ndarray,
                  pred: np.ndarray, draws: int) -> dict[str, np.ndarray]:
    """Every metric for `draws` label vectors drawn from p (vectorised; scores without ties)."""
    y = rng.random((draws, len(p))) < p
    one = pred == 1
    tp, fp = (y & one).sum(axis=1), (~y & one).sum(axis=1)
    fn, tn = (y & ~one).sum(axis=1), (~y & ~one).sum(axis=1)
    n1 = y.sum(axis=1)
    ranks = stats.rankdata(score)
    auc = (y @ ranks - n1 * (n1 + 1) / 2) / (n1 * (len(p) - n1))
    return {"accuracy": (tp + tn) / len(p), "precision": tp / (tp + fp),
            "recall": tp / (tp + fn), "f1": 2 * tp / (2 * tp + fp + fn), "roc_auc": auc}


def test_draw_metrics_agree_with_scikit_learn() -> None:
    rng = np.random.default_rng(30)
    score = rng.random(200)
    p, pred = score, (score >= 0.5).astype(int)
    sims = _draw_metrics(np.random.default_rng(31), p, score, pred, 3)
    y = np.random.default_rng(31).random((3, 200)) < p
    for k in range(3):
        for name, fn in SKLEARN.items():
            assert sims[name][k] == pytest.approx(fn(y[k], pred))
        assert sims["roc_auc"][k] == pytest.approx(roc_auc_score(y[k], score))


def test_expected_metrics_and_their_errors_match_monte_carlo() -> None:
    rng = np.random.default_rng(3)
    score = rng.random(300)
    p, pred = score ** 0.7, (score >= 0.5).astype(int)
    est = _one_window(p, score, pred)
    sims = _draw_metrics(rng, p, score, pred, 20_000)
    for metric, (value, se) in est.items():
        assert value[0] == pytest.approx(sims[metric].mean(), abs=0.002), metric
        assert se[0] == pytest.approx(sims[metric].std(), rel=0.05), metric


def _brute_expected_auc(score: np.ndarray, p: np.ndarray) -> float:
    num = den = 0.0
    for i in range(len(score)):
        for j in range(len(score)):
            if i != j:
                pair = p[i] * (1 - p[j])
                den += pair
                num += pair * (1.0 if score[i] > score[j] else 0.5 if score[i] == score[j]
                               else 0.0)
    return num / den


def test_expected_auc_equals_brute_force_pair_sum_with_ties() -> None:
    rng = np.random.default_rng(4)
    score = np.round(rng.random(120), 1)
    p = rng.random(120)
    auc, _ = cbpe.rank_auc(np.zeros(120, dtype=int), score, p, np.ones(120), 1)
    assert auc[0] == pytest.approx(_brute_expected_auc(score, p), abs=1e-12)


def test_realised_metrics_match_scikit_learn_with_grouped_weights() -> None:
    score, _, label = _rows(5000, 5)
    pred = (score >= 0.5).astype(int)
    window = (np.arange(5000) % 3).astype(int)
    # pool identical (window, score, pred, label) rows into weighted groups
    keys = np.stack([window, score, pred, label], axis=1)
    groups, counts = np.unique(keys, axis=0, return_counts=True)
    got = cbpe.estimate_metrics(groups[:, 0].astype(int), groups[:, 1], groups[:, 3],
                                groups[:, 2].astype(int), counts.astype(float), 3)
    for w in range(3):
        rows = window == w
        for name, fn in SKLEARN.items():
            assert got[name][0][w] == pytest.approx(fn(label[rows], pred[rows]), abs=1e-12)
        assert got["roc_auc"][0][w] == pytest.approx(
            roc_auc_score(label[rows], score[rows]), abs=1e-12)
        assert got["accuracy"][1][w] == 0.0  # realised labels carry no label noise


def test_undefined_metrics_are_nan_and_become_none() -> None:
    p, score = np.array([0.2, 0.3]), np.array([0.2, 0.3])
    est = _one_window(p, score, np.array([0, 0]))
    assert np.isnan(est["precision"][0][0])
    banded = cbpe.band_estimates(est, 0, Z95)
    assert banded["precision"] == {"value": None, "lower": None, "upper": None, "se": None}
    assert banded["accuracy"]["value"] == pytest.approx(0.75)


def _simulate(rng: np.random.Generator, n: int, shift: float, concept: bool = False
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """x ~ N(shift, 1); the model's score sigmoid(x) is monotone but under-confident for the
    truth P(y | x) = sigmoid(2x). With `concept`, the truth becomes sigmoid(2x - 2)."""
    x = rng.normal(shift, 1.0, n)
    score = 1 / (1 + np.exp(-x))
    truth = 1 / (1 + np.exp(-(2 * x - (2.0 if concept else 0.0))))
    return score, (score >= 0.5).astype(int), (rng.random(n) < truth).astype(float)


def _estimate_windows(shifts: list[float], rows: int, concept: bool, seed: int
                      ) -> tuple[cbpe.Estimates, cbpe.Estimates]:
    rng = np.random.default_rng(seed)
    ref_score, _, ref_label = _simulate(rng, 50_000, 0.0)
    calibrator = cbpe.fit_isotonic(ref_score, ref_label, np.ones(len(ref_label)))
    parts = [_simulate(rng, rows, s, concept) for s in shifts]
    window = np.repeat(np.arange(len(shifts)), rows)
    score, pred, label = (np.concatenate([p[i] for p in parts]) for i in range(3))
    ones = np.ones(len(score))
    est = cbpe.estimate_metrics(window, score, calibrator.apply(score), pred, ones, len(shifts))
    real = cbpe.estimate_metrics(window, score, label, pred, ones, len(shifts))
    return est, real


SHIFTS = [-1.0, -0.5, 0.0, 0.5, 1.0, 1.5]


@pytest.mark.parametrize("seed", [6, 11, 12])
def test_covariate_shift_estimate_tracks_the_realised_metrics(seed: int) -> None:
    """Tolerance reached on 5,000-row windows, accuracy moving from 0.70 to 0.80 across the
    shifts: |estimated - realised| < 0.02 for accuracy and ROC AUC, < 0.04 for precision,
    recall and F1 (the leftmost window has only ~16% predicted positives)."""
    est, real = _estimate_windows(SHIFTS, 5000, concept=False, seed=seed)
    accuracy = real["accuracy"][0]
    assert accuracy.max() - accuracy.min() > 0.05  # the shift really moves the metric
    for metric in cbpe.ESTIMATED_METRICS:
        gap = np.abs(est[metric][0] - real[metric][0])
        assert gap.max() < (0.02 if metric in ("accuracy", "roc_auc") else 0.04), (metric, gap)


def test_concept_drift_is_invisible_to_the_estimate() -> None:
    """Documents CBPE's limit: when P(y | x) changes, the scores look the same, so the estimate
    stays where covariate shift alone would put it while the realised accuracy falls far
    outside its band."""
    est, real = _estimate_windows([0.0, 0.5], 5000, concept=True, seed=7)
    value, se = est["accuracy"]
    gap = value - real["accuracy"][0]
    assert (gap > 0.08).all()
    assert (gap > 5 * se).all()


def test_band_covers_the_realised_accuracy_about_95_percent_of_the_time() -> None:
    """Calibration fitted on a 50,000-row reference, 120 windows of 1,000 rows: coverage of the
    95% label-sampling band must be at least 88% (it ignores calibration error)."""
    rng = np.random.default_rng(8)
    shifts = list(rng.uniform(-1, 1.5, 120))
    est, real = _estimate_windows(shifts, 1000, concept=False, seed=9)
    for metric in ("accuracy", "roc_auc", "f1"):
        value, se = est[metric]
        covered = np.abs(real[metric][0] - value) <= Z95 * se
        assert covered.mean() >= 0.88, (metric, covered.mean())


def test_judge_estimate_rules() -> None:
    judge = cbpe.judge_estimate
    assert judge("accuracy", 0.8, 0.83, 0.84, None, 0.02, 0.05)[0] == "pass"
    assert judge("accuracy", 0.8, 0.81, 0.84, None, 0.02, 0.05)[0] == "warn"
    level, why = judge("accuracy", 0.75, 0.78, 0.84, None, 0.02, 0.05)
    assert level == "fail" and "ref 0.840 - 0.05" in str(why)
    assert judge("accuracy", 0.7, 0.72, None, 0.75, 0.02, 0.05)[0] == "fail"
    assert judge("accuracy", 0.74, 0.76, None, 0.75, 0.02, 0.05)[0] == "warn"


def test_welch_and_correlations_match_scipy() -> None:
    rng = np.random.default_rng(10)
    a, b = rng.binomial(1, 0.3, 800).astype(float), rng.binomial(1, 0.36, 300).astype(float)
    t, p_value = cbpe.welch_test(a.mean(), a.var(ddof=1), len(a), b.mean(), b.var(ddof=1),
                                 len(b))
    expected = stats.ttest_ind(b, a, equal_var=False)
    assert t == pytest.approx(expected.statistic) and p_value == pytest.approx(expected.pvalue)
    x, y = rng.binomial(1, 0.4, 500).astype(float), rng.random(500)
    got = cbpe.correlation_from_sums(500, x.sum(), y.sum(), (x * x).sum(), (y * y).sum(),
                                     (x * y).sum())
    assert got == pytest.approx(stats.pointbiserialr(x, y).statistic)
    assert np.isnan(cbpe.pearson(np.ones(5), np.arange(5.0)))


def test_proxy_point_flags_bounds() -> None:
    sums = (100.0, 20.0, 20.0)  # 100 rows, rate 0.2
    point = cbpe.proxy_point("clicked", (1000.0, 400.0, 400.0), sums, (0.3, None))
    assert point["status"] == "warn" and point["mean"] == pytest.approx(0.2)
    assert point["diff"] == pytest.approx(-0.2) and point["p_value"] < 1e-4
    assert cbpe.proxy_point("clicked", (0.0, 0.0, 0.0), sums, (None, 0.5))["diff"] is None
