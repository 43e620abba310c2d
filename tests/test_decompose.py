"""The mix / performance / interaction decomposition on data where the answer is known."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from evalctl.stats.decompose import (
    best_range,
    change_interval,
    classify,
    decompose,
    feature_segments,
    judge_change,
    segment_view,
    shifted_mix,
    top_mix_segment,
)


def sums_from(shares: list[float], metrics: list[float], n: int = 100_000
              ) -> tuple[np.ndarray, np.ndarray]:
    counts = np.asarray(shares) * n
    return counts, counts * np.asarray(metrics)


def assert_adds_up(dec) -> None:
    parts = dec.mix.sum() + dec.performance.sum() + dec.interaction.sum()
    assert parts == pytest.approx(dec.change, abs=1e-12)


def test_pure_mix_shift_is_all_mix() -> None:
    n0, s0 = sums_from([0.9, 0.1], [0.9, 0.6])
    n1, s1 = sums_from([0.6, 0.4], [0.9, 0.6])
    dec = decompose(n0, s0, n1, s1)
    assert dec.change == pytest.approx((0.6 * 0.9 + 0.4 * 0.6) - (0.9 * 0.9 + 0.1 * 0.6))
    assert dec.mix.sum() == pytest.approx(dec.change, abs=1e-12)
    assert np.allclose(dec.performance, 0) and np.allclose(dec.interaction, 0)
    # the weak segment that grew carries the mix; centred terms: (dw) * (m0 - M0)
    assert dec.mix[1] == pytest.approx(0.3 * (0.6 - dec.total0))
    assert_adds_up(dec)


def test_pure_within_segment_degradation_is_all_performance() -> None:
    n0, s0 = sums_from([0.7, 0.3], [0.9, 0.8])
    n1, s1 = sums_from([0.7, 0.3], [0.9, 0.5])
    dec = decompose(n0, s0, n1, s1)
    assert np.allclose(dec.mix, 0) and np.allclose(dec.interaction, 0)
    assert dec.performance[1] == pytest.approx(0.3 * -0.3)
    assert dec.performance.sum() == pytest.approx(dec.change, abs=1e-12)


def test_both_at_once_match_the_hand_computation() -> None:
    n0, s0 = sums_from([0.5, 0.3, 0.2], [0.9, 0.8, 0.6])
    n1, s1 = sums_from([0.3, 0.3, 0.4], [0.85, 0.8, 0.5])
    dec = decompose(n0, s0, n1, s1)
    w0, w1 = np.array([0.5, 0.3, 0.2]), np.array([0.3, 0.3, 0.4])
    m0, m1 = np.array([0.9, 0.8, 0.6]), np.array([0.85, 0.8, 0.5])
    total0 = (w0 * m0).sum()
    assert np.allclose(dec.mix, (w1 - w0) * (m0 - total0))
    assert np.allclose(dec.performance, w0 * (m1 - m0))
    assert np.allclose(dec.interaction, (w1 - w0) * (m1 - m0))
    assert_adds_up(dec)


def test_new_and_vanished_segments_keep_the_identity() -> None:
    dec = decompose([50, 50, 0], [45, 40, 0], [40, 0, 60], [36, 0, 30])
    assert_adds_up(dec)
    assert dec.performance[2] == 0 and dec.interaction[2] == 0  # new: all mix
    assert dec.mix[2] == pytest.approx(0.6 * (0.5 - dec.total0))
    assert dec.performance[1] == 0 and dec.interaction[1] == 0  # gone: all mix


@pytest.mark.parametrize("seed", range(20))
def test_terms_add_up_exactly_on_random_tables(seed: int) -> None:
    rng = np.random.default_rng(seed)
    k = int(rng.integers(1, 30))
    n0, n1 = rng.integers(0, 1000, k).astype(float), rng.integers(0, 1000, k).astype(float)
    n0[0] += 1
    n1[0] += 1
    s0, s1 = rng.random(k) * n0, rng.random(k) * n1
    dec = decompose(n0, s0, n1, s1)
    assert_adds_up(dec)
    assert dec.change == pytest.approx(s1.sum() / n1.sum() - s0.sum() / n0.sum(), abs=1e-12)


def test_a_feature_that_does_not_affect_the_metric_is_not_blamed() -> None:
    """Rows: the metric depends on `cause` only; `bystander` shifts independently."""
    rng = np.random.default_rng(3)
    n = 200_000

    def window(p_cause: float, shift: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        cause = rng.random(n) < p_cause
        bystander = rng.normal(shift, 1.0, n)
        correct = rng.random(n) < np.where(cause, 0.6, 0.9)
        return cause.astype(int), np.digitize(bystander, [-1, 0, 1]), correct

    before, after = window(0.05, 0.0), window(0.30, 1.0)

    def table(column: int) -> tuple[np.ndarray, ...]:
        bins = 4
        return tuple(np.bincount(w[column], weights=w[2] * 1.0 if s else None, minlength=bins)
                     for w in (before, after) for s in (False, True))

    cause_n0, cause_s0, cause_n1, cause_s1 = table(0)
    by_n0, by_s0, by_n1, by_s1 = table(1)
    cause = decompose(cause_n0, cause_s0, cause_n1, cause_s1)
    bystander = decompose(by_n0, by_s0, by_n1, by_s1)
    assert cause.change == pytest.approx(bystander.change)
    assert cause.mix.sum() / cause.change > 0.9
    assert abs(bystander.mix.sum() / bystander.change) < 0.05
    assert_adds_up(cause)
    assert_adds_up(bystander)


def test_best_range_finds_the_run_of_bins_the_population_moved_into() -> None:
    n0, s0 = sums_from([0.02, 0.03, 0.25, 0.35, 0.35], [0.6, 0.62, 0.85, 0.86, 0.85])
    n1, s1 = sums_from([0.15, 0.15, 0.2, 0.25, 0.25], [0.6, 0.62, 0.85, 0.86, 0.85])
    start, stop, value = best_range(n0, n1, n0, s0, direction=-1.0)
    assert (start, stop) == (0, 2) and value > 0
    assert best_range(n0, n0, n0, s0, direction=-1.0) is None  # nothing moved


def test_shifted_mix_equals_the_mix_term_when_metrics_hold() -> None:
    n0, s0 = sums_from([0.9, 0.1], [0.9, 0.6])
    n1, s1 = sums_from([0.6, 0.4], [0.9, 0.6])
    assert shifted_mix(n0, n1, n0, s0) == pytest.approx(decompose(n0, s0, n1, s1).mix.sum())


def _bootstrap_interval(a: np.ndarray, b: np.ndarray, seed: int = 0) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    draws = 20_000
    ma = a[rng.integers(0, a.size, (draws, a.size))].mean(axis=1)
    mb = b[rng.integers(0, b.size, (draws, b.size))].mean(axis=1)
    return tuple(np.quantile(mb - ma, [0.025, 0.975]))  # type: ignore[return-value]


def test_accuracy_change_interval_matches_a_bootstrap() -> None:
    rng = np.random.default_rng(1)
    a = (rng.random(400) < 0.82).astype(float)
    b = (rng.random(350) < 0.74).astype(float)
    low, high, method = change_interval(a.size, a.sum(), a.sum(), b.size, b.sum(), b.sum(),
                                        proportion=True)
    boot_low, boot_high = _bootstrap_interval(a, b)
    assert method.startswith("newcombe")
    assert low == pytest.approx(boot_low, abs=0.008) and high == pytest.approx(boot_high, abs=0.008)
    assert low < b.mean() - a.mean() < high


def test_mean_metric_change_interval_matches_a_bootstrap() -> None:
    rng = np.random.default_rng(2)
    a, b = rng.gamma(2.0, 0.05, 500), rng.gamma(2.0, 0.06, 500)
    low, high, method = change_interval(a.size, a.sum(), (a * a).sum(), b.size, b.sum(),
                                        (b * b).sum(), proportion=False)
    boot_low, boot_high = _bootstrap_interval(a, b)
    assert method == "normal (welch)"
    assert low == pytest.approx(boot_low, abs=0.002) and high == pytest.approx(boot_high, abs=0.002)


def _totals(n: int, accuracy: float) -> dict[str, float]:
    return {"n": n, "sum": n * accuracy, "sumsq": n * accuracy}


@pytest.mark.parametrize(("before", "after", "mode", "status"), [
    (0.80, 0.80, "within_noise", "pass"), (0.85, 0.78, "drop", "fail"),
    (0.850, 0.838, "drop", "warn"), (0.78, 0.85, "gain", "pass")])
def test_the_change_verdict(before: float, after: float, mode: str, status: str) -> None:
    row = judge_change(_totals(100_000, before), _totals(100_000, after), metric="accuracy",
                       lower_is_better=False, max_drop=0.02, min_labels=100)
    assert (row["mode"], row["status"]) == (mode, status)
    assert row["ci_low"] <= row["change"] <= row["ci_high"]


def test_too_few_labels_make_performance_unknown() -> None:
    row = judge_change(_totals(1000, 0.8), _totals(20, 0.5), metric="accuracy",
                       lower_is_better=False, max_drop=0.02, min_labels=100)
    assert row["mode"] == "performance_unknown" and row["status"] == "warn"
    assert "unknown" in row["finding"]


def test_classify_reads_mix_drift_and_skew() -> None:
    change = {"measured": True, "mode": "drop", "lower_is_better": False}
    cases = [({"explained": 0.7, "drift_status": "fail"}, "population_shift"),
             ({"explained": 0.01, "drift_status": "pass", "skew_baseline_status": "fail",
               "skew_current_status": "fail"}, "pipeline"),
             ({"explained": 0.02, "drift_status": "fail"}, "drift_without_effect"),
             ({"explained": 0.05, "drift_status": "pass"}, "none")]
    for row, mode in cases:
        classify(row, change, min_explained=0.25, max_drop=0.02)
        assert row["mode"] == mode


def segment_table() -> pl.DataFrame:
    rows = [(1, "country", 0, 800, 800, 700), (1, "country", 1, 150, 150, 120),
            (1, "country", 2, 5, 5, 2), (1, "country", 3, 5, 5, 4), (1, "country", -1, 40, 40, 30),
            (2, "country", 0, 500, 500, 430), (2, "country", 1, 400, 400, 240),
            (2, "country", 2, 4, 4, 1), (2, "country", -1, 96, 96, 70)]
    return pl.DataFrame(rows, schema=["side", "feature", "segment", "rows", "n", "sum"],
                        orient="row")


def test_categorical_segments_group_rare_levels_and_keep_nulls() -> None:
    seg = feature_segments(segment_table(), "country", "categorical", [], ["US", "BR", "DE"],
                           min_share=0.01)
    labels = [p.label for p in seg.predicates]
    assert labels == ["country = US", "country = BR", "country = <other>", "country = <null>"]
    assert seg.rows0.tolist() == [800, 150, 10, 40]
    dec = decompose(seg.n0, seg.sum0, seg.n1, seg.sum1)
    assert_adds_up(dec)
    chosen = top_mix_segment(seg, direction=-1.0, measured=True)
    view = segment_view(seg, chosen, measured=True)
    assert view["segment"] == "country = BR" and view["id"] == "country=BR"
    assert view["share_baseline"] == pytest.approx(0.15)
    assert view["share_current"] == pytest.approx(0.4)
    other = segment_view(seg, np.array([2]), measured=True)
    assert other["id"] is None and other["where"] == "country not in ('BR', 'US')"
