"""Paired tests of `evalctl compare`, cross-checked against independent implementations."""

from __future__ import annotations

from math import comb, fsum

import numpy as np
import polars as pl
import pytest
from scipy.stats import binomtest, chi2, norm
from sklearn.metrics import (
    f1_score,
    log_loss,
    mean_absolute_error,
    mean_absolute_percentage_error,
    precision_score,
    r2_score,
    recall_score,
    roc_auc_score,
)

from evalctl.metrics import SliceKey, column_slice
from evalctl.stats.paired import (
    FAMILY,
    Y,
    aggregations,
    finish,
    mcnemar,
    moment_columns,
    moment_grids,
)
from evalctl.stats.paired_segments import compare_segments, materialise_keys, opposite_below


# -- McNemar ---------------------------------------------------------------------------------
def _brute_mid_p(b: int, c: int) -> float:
    """Two-sided mid-p by enumerating Binomial(b + c, 1/2)."""
    n, k = b + c, min(b, c)
    pmf = [comb(n, x) / 2**n for x in range(n + 1)]
    if 2 * k == n:
        return 1.0
    tails = sum(pmf[:k]) + sum(pmf[n - k + 1:])
    return tails + 0.5 * (pmf[k] + pmf[n - k])


@pytest.mark.parametrize(("b", "c"), [(0, 1), (0, 7), (3, 9), (5, 5), (12, 2), (1, 23)])
def test_mcnemar_mid_p_for_small_discordant_counts(b: int, c: int) -> None:
    _, p, exact = mcnemar(b, c)
    assert exact[0]
    assert p[0] == pytest.approx(_brute_mid_p(b, c), abs=1e-12)
    conventional = binomtest(min(b, c), b + c, 0.5).pvalue
    k = min(b, c)
    if b != c:  # mid-p = exact p minus half of the two observed-outcome masses
        assert p[0] == pytest.approx(conventional - comb(b + c, k) / 2 ** (b + c), abs=1e-12)


def test_mcnemar_chi_square_with_continuity_for_large_counts() -> None:
    b, c = np.array([40, 100, 30, 500]), np.array([20, 130, 30, 430])
    stat, p, exact = mcnemar(b, c)
    expected = np.maximum(np.abs(b - c) - 1, 0) ** 2 / (b + c)
    assert not exact.any()
    np.testing.assert_allclose(stat, expected, rtol=1e-12)
    np.testing.assert_allclose(p, chi2.sf(expected, 1), rtol=1e-12)
    exact_p = [binomtest(int(min(x, y)), int(x + y), 0.5).pvalue for x, y in zip(b, c, strict=True)]
    np.testing.assert_allclose(p, exact_p, atol=0.01)  # the approximation is close here


def test_mcnemar_without_discordant_rows_is_p_one() -> None:
    _, p, _ = mcnemar([0, 0], [0, 0])
    assert p.tolist() == [1.0, 1.0]


# -- DeLong ----------------------------------------------------------------------------------
def _brute_delong(y: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """O(n²) DeLong: structural components from the kernel ψ(x, z) = 1[x > z] + ½ 1[x = z]."""
    comps = []
    for s in (a, b):
        x, z = s[y == 1][:, None], s[y == 0][None, :]
        psi = (x > z) + 0.5 * (x == z)
        comps.append((psi.mean(axis=1), psi.mean(axis=0)))  # V10 per positive, V01 per negative
    d10, d01 = comps[1][0] - comps[0][0], comps[1][1] - comps[0][1]
    var = d10.var(ddof=1) / len(d10) + d01.var(ddof=1) / len(d01)
    return float(d10.mean()), float(np.sqrt(var))


def _frame(y: np.ndarray, outputs: list[np.ndarray], group: np.ndarray | None = None,
           kind: str = "score") -> pl.DataFrame:
    data: dict[str, object] = {Y: y.astype(float), "g": group if group is not None
                               else np.zeros(len(y), dtype=int)}
    for i, out in enumerate(outputs):
        data[f"__{'s' if kind == 'score' else 'p'}{i}"] = out
        if kind == "score":
            data[f"__p{i}"] = (out >= 0.5).astype(float)
    return pl.DataFrame(data)


def _tests(frame: pl.DataFrame, metric: str, task: str = "binary_classification", seed: int = 0,
           n_boot: int = 400) -> dict:
    frame, keys = materialise_keys(frame, [column_slice("g")])
    versions = sorted({c[3:] for c in frame.columns if c[:3] in ("__p", "__s")})
    return compare_segments(frame, keys, FAMILY[(task, metric)], metric,
                            [f"m{v}" for v in versions], n_boot=n_boot, seed=seed)


def test_paired_delong_matches_brute_force_with_ties() -> None:
    rng = np.random.default_rng(1)
    n = 400
    y = (rng.random(n) < 0.4).astype(int)
    a = np.round(rng.normal(y * 0.8, 1.0) * 2) / 2  # coarse: many ties
    b = np.round((rng.normal(y * 1.2, 1.0) + a) / 2 * 4) / 4  # correlated with a
    group = rng.integers(0, 3, n)
    tests = _tests(_frame(y, [a, b], group), "roc_auc")
    for segment, mask in [(("overall", "all"), np.ones(n, bool))] + [
            (("g", str(g)), group == g) for g in range(3)]:
        t = tests[segment]["m1"]
        delta, se = _brute_delong(y[mask], a[mask], b[mask])
        assert t["delta"] == pytest.approx(delta, abs=1e-12)
        assert t["delta"] == pytest.approx(roc_auc_score(y[mask], b[mask])
                                           - roc_auc_score(y[mask], a[mask]), abs=1e-12)
        assert t["statistic"] == pytest.approx(delta / se, rel=1e-9)
        assert t["p_value"] == pytest.approx(2 * norm.sf(abs(delta / se)), rel=1e-9)
        assert t["ci_low"] == pytest.approx(delta - 1.959964 * se, abs=1e-6)


@pytest.mark.parametrize("tied", [True, False])  # False: the untied fast path
def test_opposite_below_counts_the_other_class_below_with_ties_half(tied: bool) -> None:
    rng = np.random.default_rng(2)
    n = 300
    codes = rng.integers(0, 4, n).astype(np.uint16)
    positive = rng.random(n) < 0.5
    score = rng.integers(0, 6, n).astype(float) if tied else rng.permutation(n) / n
    order = np.argsort(score, kind="stable")
    got = opposite_below(codes, (order, score[order], positive[order]))
    same = codes[:, None] == codes[None, :]
    other = positive[:, None] != positive[None, :]
    lower = (score[None, :] < score[:, None]) + 0.5 * (score[None, :] == score[:, None])
    np.testing.assert_allclose(got, ((same & other) * lower).sum(axis=1))


# -- point values against scikit-learn -------------------------------------------------------
@pytest.fixture(scope="module")
def binary() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    n = 3000
    y = (rng.random(n) < 0.45).astype(int)
    a = np.clip(rng.beta(2, 2, n) * 0.6 + y * 0.3, 0, 1)
    b = np.clip(a + rng.normal(0.05 * (2 * y - 1), 0.1, n), 0, 1)
    return y, np.round(a, 3), np.round(b, 3)


@pytest.mark.parametrize(("metric", "score", "sign"), [
    ("precision", lambda y, s: precision_score(y, s >= 0.5), 1),
    ("recall", lambda y, s: recall_score(y, s >= 0.5), 1),
    ("f1", lambda y, s: f1_score(y, s >= 0.5), 1),
    ("accuracy", lambda y, s: np.mean((s >= 0.5) == y), 1),
    ("brier", lambda y, s: np.mean((s - y) ** 2), -1),
    ("log_loss", lambda y, s: log_loss(y, np.clip(s, 1e-15, 1 - 1e-15)), -1),
])
def test_binary_deltas_match_sklearn(binary, metric, score, sign) -> None:
    y, a, b = binary
    t = _tests(_frame(y, [a, b]), metric)[("overall", "all")]["m1"]
    assert t["delta"] == pytest.approx(sign * (score(y, b) - score(y, a)), abs=1e-10)
    assert t["ci_low"] < t["delta"] < t["ci_high"]


@pytest.mark.parametrize(("metric", "score"), [
    ("mae", mean_absolute_error), ("rmse", lambda y, p: np.sqrt(np.mean((p - y) ** 2))),
    ("mape", mean_absolute_percentage_error), ("r2", r2_score)])
def test_regression_deltas_match_sklearn(metric, score) -> None:
    rng = np.random.default_rng(4)
    y = rng.gamma(3.0, 10.0, 2000) + 1.0
    a, b = y + rng.normal(0, 6, 2000), y + rng.normal(1, 4, 2000)
    t = _tests(_frame(y, [a, b]), metric, task="regression")[("overall", "all")]["m1"]
    sign = 1 if metric == "r2" else -1
    assert t["delta"] == pytest.approx(sign * (score(y, b) - score(y, a)), rel=1e-9)
    assert t["p_value"] < 0.05 and t["delta"] > 0  # b is clearly better


@pytest.mark.parametrize("metric", ["macro_f1", "weighted_f1"])
def test_multiclass_f1_deltas_match_sklearn(metric) -> None:
    rng = np.random.default_rng(5)
    n = 1500
    y = rng.choice(["a", "b", "c"], n)
    a = np.where(rng.random(n) < 0.6, y, rng.choice(["a", "b", "c", "d"], n))
    b = np.where(rng.random(n) < 0.7, y, rng.choice(["a", "b", "c"], n))
    frame = pl.DataFrame({Y: y, "g": np.zeros(n, int), "__p0": a, "__p1": b})
    t = _tests(frame, metric, task="multiclass_classification")[("overall", "all")]["m1"]
    average = metric.split("_")[0]
    assert t["delta"] == pytest.approx(f1_score(y, b, average=average)
                                       - f1_score(y, a, average=average), abs=1e-12)


# -- bootstrap: against a brute-force row bootstrap, reproducibility, coverage ---------------
def _row_bootstrap_sd(y, a, b, metric: str, n_boot: int = 1500, seed: int = 9) -> float:
    """Brute force: resample rows (pairs) n_boot times, vectorised over replicates."""
    idx = np.random.default_rng(seed).integers(0, len(y), (n_boot, len(y)))
    deltas = []
    for s in (a, b):
        if metric == "f1":
            pred = s >= 0.5
            tp, fp = ((y == 1) & pred)[idx].sum(1), ((y == 0) & pred)[idx].sum(1)
            fn = ((y == 1) & ~pred)[idx].sum(1)
            deltas.append(2 * tp / (2 * tp + fp + fn))
        else:
            deltas.append(-((s - y) ** 2)[idx].mean(1))
    return float(np.std(deltas[1] - deltas[0], ddof=1))


@pytest.mark.parametrize("metric", ["f1", "brier"])
def test_bootstrap_spread_matches_a_row_bootstrap(binary, metric) -> None:
    y, a, b = (x[:800] for x in binary)
    t = _tests(_frame(y, [a, b]), metric, n_boot=4000)[("overall", "all")]["m1"]
    sd = abs(t["delta"] / t["statistic"])
    assert sd == pytest.approx(_row_bootstrap_sd(y, a, b, metric), rel=0.1)


def test_bootstrap_is_reproducible_and_seeded(binary) -> None:
    y, a, b = binary
    frame = _frame(y, [a, b])
    first, again = (_tests(frame, "f1", seed=7)[("overall", "all")]["m1"] for _ in range(2))
    other = _tests(frame, "f1", seed=8)[("overall", "all")]["m1"]
    assert first == again
    assert first["ci_low"] != other["ci_low"] and first["delta"] == other["delta"]


def _coverage(metric: str, task: str, rows: pl.DataFrame, truth: float) -> float:
    """Share of simulated data sets (segments `g`) whose interval holds the true difference."""
    family = FAMILY[(task, metric)]
    grids = moment_grids(family, metric, rows, [1])
    aggs = [pl.len().alias("n"), *aggregations(family, metric, 1, grids)]
    terms = moment_columns(family, metric, 1, grids)
    stats = rows.with_columns(terms).group_by("g").agg(aggs).sort("g")
    sign = -1.0 if metric in ("brier", "rmse") else 1.0
    t = finish(family, metric, stats, 1, sign=sign, n_boot=300, confidence=0.95,
               rng=np.random.default_rng(0))
    return float(np.mean((t.ci_low <= truth) & (truth <= t.ci_high)))


def test_intervals_cover_the_true_difference() -> None:
    rng = np.random.default_rng(11)
    sets, n = 300, 1000
    g = np.repeat(np.arange(sets), n)
    y = (rng.random(sets * n) < 0.5).astype(float)
    # f1: predictions right with probability 0.80 (champion) / 0.83 (challenger), independent.
    pa = np.where(rng.random(sets * n) < 0.80, y, 1 - y)
    pb = np.where(rng.random(sets * n) < 0.83, y, 1 - y)
    cells = pl.DataFrame({Y: y, "g": g, "__p0": pa, "__p1": pb})
    assert 0.91 <= _coverage("f1", "binary_classification", cells, 0.83 - 0.80) <= 0.985
    # rmse of errors N(0, 1) vs N(0, 0.9): true difference 0.1 (lower is better).
    e = pl.DataFrame({Y: np.zeros(sets * n), "g": g, "__s0": rng.normal(0, 1.0, sets * n),
                      "__s1": rng.normal(0, 0.9, sets * n)})
    assert 0.91 <= _coverage("rmse", "regression", e, 0.1) <= 0.985


def test_mcnemar_keeps_its_level_under_the_null() -> None:
    rng = np.random.default_rng(12)
    b = rng.binomial(60, 0.5, 4000)
    _, p, _ = mcnemar(b, 60 - b)
    assert np.mean(p < 0.05) <= 0.06


@pytest.mark.parametrize("tied", [True, False])
def test_auc_values_from_the_delong_counts_equal_compute_metrics(tied: bool) -> None:
    """Each model's AUC and DeLong interval per segment, from the paired test's counts, equal
    `compute_metrics`' rank path; a single-class segment (g = 3: positives only) is null with
    the same reason."""
    from evalctl.metrics import compute_metrics

    rng = np.random.default_rng(5)
    n = 600
    group = rng.integers(0, 4, n)
    y = np.where(group == 3, 1, (rng.random(n) < 0.4).astype(int))
    scores = [rng.normal(y * k, 1.0) for k in (0.8, 1.2)]
    if tied:
        scores = [np.round(s * 2) / 2 for s in scores]
    frame, keys = materialise_keys(_frame(y, scores, group), [column_slice("g")])
    frames: list[pl.DataFrame] = []
    compare_segments(frame, keys, "delong", "roc_auc", ["m0", "m1"], n_boot=50, seed=0,
                     auc_values=frames)
    for i, got in enumerate(frames):
        raw = pl.DataFrame({"y": y, "s": scores[i], "g": group.astype(str)})
        want = compute_metrics(raw, "binary_classification", label="y", score="s",
                               slices=[column_slice("g")], metrics=["roc_auc"])
        got_rows = {(r["slice"], r["segment"]): r for r in got.iter_rows(named=True)}
        for r in want.iter_rows(named=True):
            g = got_rows[(r["slice"], r["segment"])]
            assert g["reason"] == r["reason"] and g["n"] == r["n"]
            for key in ("value", "ci_low", "ci_high"):
                if r[key] is None:
                    assert g[key] is None
                else:
                    assert g[key] == pytest.approx(r[key], abs=1e-12)
        assert got_rows[("g", "3")]["reason"] == "single class in segment"


# -- slices rolled up from finer ones --------------------------------------------------------
def _sliced(task: str, seed: int = 5, n: int = 4000, scale: float = 1.0) -> pl.DataFrame:
    """Three models on rows with two key columns (nulls among them) and ties in the outputs."""
    rng = np.random.default_rng(seed)
    g = rng.integers(0, 4, n).astype(float)
    g[rng.random(n) < 0.05] = np.nan
    h = rng.choice(["a", "b", "c", None], n).tolist()
    if task == "regression":
        y = np.round(rng.normal(3, 2, n), 1) * scale
        outputs = [y + np.round(rng.normal(0, s, n), 2) * scale for s in (1.0, 0.9, 1.2)]
    else:
        y = (rng.random(n) < 0.4).astype(float)
        outputs = [np.clip(np.round(0.5 * y + rng.normal(0.25, s, n), 2), 0, 1)
                   for s in (0.3, 0.25, 0.35)]
    return _frame(y, outputs).with_columns(pl.Series("g", g), pl.Series("h", h))


def _sliced_tests(frame: pl.DataFrame, task: str, metric: str) -> dict:
    keys = [column_slice("g"), column_slice("h"),
            SliceKey("g x h", (pl.col("g").fill_nan(None), pl.col("h")))]
    frame, keys = materialise_keys(frame, keys)
    return compare_segments(frame, keys, FAMILY[(task, metric)], metric, ["m0", "m1", "m2"],
                            n_boot=200, seed=3)


@pytest.mark.parametrize(("task", "metric"), [
    ("binary_classification", "brier"), ("binary_classification", "log_loss"),
    ("binary_classification", "accuracy"), ("binary_classification", "f1"),
    ("regression", "mae"), ("regression", "rmse"), ("regression", "mape")])
def test_rolled_up_slices_equal_slices_grouped_over_the_rows(task, metric, monkeypatch) -> None:
    frame = _sliced(task)
    rolled = _sliced_tests(frame, task, metric)
    shuffled = _sliced_tests(frame.sample(fraction=1.0, shuffle=True, seed=1), task, metric)
    # every slice grouped over the rows
    monkeypatch.setattr("evalctl.stats.paired_segments.additive_sums", lambda *_: None)
    direct = _sliced_tests(frame, task, metric)
    assert repr(rolled) == repr(direct) == repr(shuffled)  # the same bits, NaN included
    assert {s for s, _ in rolled} == {"overall", "g", "h", "g x h"}
    assert len(rolled) == 1 + 5 + 4 + 20  # null keys are segments too


@pytest.mark.parametrize("scale", [1.0, 2.0**-900, 2.0**400])
def test_rolled_up_moment_deltas_match_fsum_per_segment(scale) -> None:
    frame = _sliced("regression", scale=scale)
    tests = _sliced_tests(frame, "regression", "mae")
    rows = frame.with_columns(pl.col("g").fill_nan(None)).to_dicts()
    for (name, segment), by_version in tests.items():
        def member(r: dict, name: str = name, segment: str = segment) -> bool:
            parts = {"overall": [], "g": ["g"], "h": ["h"], "g x h": ["g", "h"]}[name]
            shown = [("(missing)" if r[p] is None else str(r[p])) for p in parts]
            return name == "overall" or " & ".join(shown) == segment
        chosen = [r for r in rows if member(r)]
        assert chosen, (name, segment)
        for j in (1, 2):
            gain = fsum(abs(r["__s0"] - r[Y]) - abs(r[f"__s{j}"] - r[Y]) for r in chosen)
            expected = gain / len(chosen)  # lower is better: positive = challenger better
            assert by_version[f"m{j}"]["delta"] == pytest.approx(expected, rel=1e-12,
                                                                  abs=1e-300 * scale)
