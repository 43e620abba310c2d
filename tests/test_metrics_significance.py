"""Two-proportion tests and p-value adjustments against scipy and brute force."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from scipy import stats

from evalctl.errors import InputError
from evalctl.metrics import (
    adjust_pvalues,
    column_slice,
    compare_to_overall,
    compare_to_reference,
    compute_metrics,
    two_proportion_pvalues,
)


def test_z_test_equals_uncorrected_chi_square():
    x1, n1, x2, n2 = np.array([40, 300, 55]), np.array([100, 1000, 120]), \
        np.array([60, 280, 50]), np.array([110, 1000, 130])
    got = two_proportion_pvalues(x1, n1, x2, n2)
    for i in range(3):
        table = [[x1[i], n1[i] - x1[i]], [x2[i], n2[i] - x2[i]]]
        want = stats.chi2_contingency(table, correction=False).pvalue
        assert got[i] == pytest.approx(want, rel=1e-10)


def test_small_counts_use_fisher():
    got = two_proportion_pvalues([1, 0], [10, 12], [6, 3], [9, 8])
    assert got[0] == pytest.approx(stats.fisher_exact([[1, 9], [6, 3]]).pvalue)
    assert got[1] == pytest.approx(stats.fisher_exact([[0, 12], [3, 5]]).pvalue)


def test_degenerate_inputs():
    got = two_proportion_pvalues([0, 5, 50], [0, 10, 100], [1, 5, 100], [4, 0, 100])
    assert np.isnan(got[0]) and np.isnan(got[1])
    assert got[2] < 1e-10  # 50 % vs 100 %
    assert two_proportion_pvalues(30, 60, 30, 60)[0] == pytest.approx(1.0)


def holm_brute(p: np.ndarray) -> np.ndarray:
    order = np.argsort(p)
    m, out, running = len(p), np.empty(len(p)), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        out[i] = running
    return out


def test_adjustments():
    p = np.random.default_rng(0).random(40) ** 3
    assert adjust_pvalues(p, "bh") == pytest.approx(stats.false_discovery_control(p))
    assert adjust_pvalues(p, "holm") == pytest.approx(holm_brute(p))
    with_nan = adjust_pvalues([0.01, np.nan, 0.04], "holm")
    assert np.isnan(with_nan[1])
    assert with_nan[[0, 2]] == pytest.approx([0.02, 0.04])
    with pytest.raises(InputError, match="unknown p-value adjustment"):
        adjust_pvalues(p, "bonferroni")


def test_compare_to_overall_tests_segment_against_rest():
    rng = np.random.default_rng(4)
    n = 3000
    group = rng.choice(["a", "b", "c"], n)
    label = rng.random(n) < 0.4
    hit = rng.random(n) < np.where(group == "c", 0.6, 0.8)  # c is worse
    pred = np.where(hit, label, ~label)
    df = pl.DataFrame({"y": label, "p": pred, "g": group})
    out = compare_to_overall(compute_metrics(
        df, "binary_classification", label="y", prediction="p", slices=[column_slice("g")]))
    row = out.filter((pl.col("segment") == "c") & (pl.col("metric") == "accuracy")).row(
        0, named=True)
    correct = pred == label
    inside = group == "c"
    want = two_proportion_pvalues(correct[inside].sum(), inside.sum(),
                                  correct[~inside].sum(), (~inside).sum())[0]
    assert row["p_value"] == pytest.approx(want)
    assert row["rest_value"] == pytest.approx(correct[~inside].mean())
    assert row["p_adjusted"] < 1e-6
    assert out.filter(pl.col("slice") == "overall")["p_value"].null_count() == 5
    assert out.filter(pl.col("metric") == "f1")["p_value"].null_count() == 4
    tested = out["p_value"].drop_nulls()
    assert len(tested) == 3 * 4  # accuracy, precision, recall, positive_rate per segment


def test_compare_to_reference_matches_rows_across_windows():
    rng = np.random.default_rng(8)

    def window(accuracy: float) -> pl.DataFrame:
        label = rng.random(2000) < 0.5
        pred = np.where(rng.random(2000) < accuracy, label, ~label)
        return pl.DataFrame({"y": label, "p": pred, "g": rng.choice(["a", "b"], 2000)})

    old, new = window(0.8), window(0.7)
    frames = [compute_metrics(w, "binary_classification", label="y", prediction="p",
                              slices=[column_slice("g")], metrics=["accuracy", "f1"])
              for w in (new, old)]
    out = compare_to_reference(*frames, method="holm")
    row = out.filter(pl.col("slice") == "overall", pl.col("metric") == "accuracy").row(
        0, named=True)
    x_new = int((new["y"] == new["p"]).sum())
    x_old = int((old["y"] == old["p"]).sum())
    assert row["reference_value"] == pytest.approx(x_old / 2000)
    assert row["p_value"] == pytest.approx(two_proportion_pvalues(x_new, 2000, x_old, 2000)[0])
    assert out.filter(pl.col("metric") == "f1")["p_value"].null_count() == 3
    assert out["p_adjusted"].drop_nulls().len() == 3
