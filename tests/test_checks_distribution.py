"""PSI, Jensen-Shannon, Hellinger, L-infinity and chi-square against scipy / brute-force numpy."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from scipy.spatial.distance import jensenshannon
from scipy.stats import chi2_contingency

from evalctl.checks import compute_score, histogram
from evalctl.stats import Summary, fit_binning, summarize

RNG = np.random.default_rng(7)


def _pair(ref: list | np.ndarray, cur: list | np.ndarray, kind: str, **kw: int
          ) -> tuple[Summary, Summary]:
    """Summaries of two samples; NaN becomes a null so the null path is exercised."""
    ref_frame, cur_frame = (pl.LazyFrame({"f": list(x)}).with_columns(pl.col("f").fill_nan(None))
                            if kind == "numeric" else pl.LazyFrame({"f": list(x)})
                            for x in (ref, cur))
    binning = fit_binning(ref_frame, {"f": kind}, **kw)
    return (summarize(ref_frame, binning)[None]["f"], summarize(cur_frame, binning)[None]["f"])


def _decile_counts(ref: np.ndarray, cur: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Independent binning: right-closed bins on deduplicated lower-interpolated deciles."""
    edges = np.unique(np.quantile(ref, np.linspace(0.1, 0.9, 9), method="lower"))
    def counts(x: np.ndarray) -> np.ndarray:
        return np.bincount(np.searchsorted(edges, x, side="left"), minlength=len(edges) + 1)
    return counts(ref), counts(cur)


def _psi(p_counts: np.ndarray, q_counts: np.ndarray) -> float:
    p = np.clip(p_counts / p_counts.sum(), 1e-4, None)
    q = np.clip(q_counts / q_counts.sum(), 1e-4, None)
    return float(((q - p) * np.log(q / p)).sum())


def _hellinger(p_counts: np.ndarray, q_counts: np.ndarray) -> float:
    p, q = p_counts / p_counts.sum(), q_counts / q_counts.sum()
    return float(np.linalg.norm(np.sqrt(p) - np.sqrt(q)) / np.sqrt(2))


NUMERIC_CASES = {
    "continuous shift": (RNG.normal(size=5000), RNG.normal(0.4, 1.2, size=3000)),
    "integer ages (ties)": (RNG.integers(18, 90, 4000), RNG.integers(25, 95, 2500)),
    "empty bins": (RNG.normal(size=2000), np.full(300, 0.05)),
    "constant reference": (np.full(500, 5.0), np.array([5.0] * 90 + [6.0] * 10)),
    "nulls on both sides": (np.r_[RNG.normal(size=900), [np.nan] * 100],
                            np.r_[RNG.normal(size=400), [np.nan] * 50]),
}


@pytest.mark.parametrize("case", NUMERIC_CASES)
def test_numeric_bucket_distances_match_independent_versions(case: str) -> None:
    ref, cur = (np.asarray(x, dtype=float) for x in NUMERIC_CASES[case])
    r, c = _pair(ref, cur, "numeric")
    assert r.nulls == np.isnan(ref).sum() and c.nulls == np.isnan(cur).sum()
    p, q = _decile_counts(ref[np.isfinite(ref)], cur[np.isfinite(cur)])
    assert r.psi_counts().tolist() == p.tolist()
    assert c.psi_counts().tolist() == q.tolist()
    expected = {
        "psi": _psi(p, q),
        "jensen_shannon": float(jensenshannon(p, q, base=2)),
        "hellinger": _hellinger(p, q),
    }
    for method, value in expected.items():
        score = compute_score(r, c, "numeric", method)
        assert score.value == pytest.approx(value, rel=1e-9, abs=1e-12), method


CATEGORICAL_CASES = {
    "shifted shares": (RNG.choice(list("abcde"), 3000, p=[.4, .3, .15, .1, .05]),
                       RNG.choice(list("abcde"), 2000, p=[.2, .3, .2, .2, .1])),
    "single category with a new one": (["a"] * 200, ["a"] * 150 + ["b"] * 50),
    "vanished category": (list("aabbc") * 40, list("aab") * 30),
    "thousand levels": (RNG.choice([f"l{i}" for i in range(1000)], 20000),
                        RNG.choice([f"l{i}" for i in range(1100)], 20000)),
}


def _bucket_counts_by_hand(ref: list, cur: list, top_k: int) -> tuple[np.ndarray, np.ndarray]:
    levels, counts = np.unique(np.asarray(ref), return_counts=True)
    order = sorted(zip(-counts, levels, strict=True))
    vocab = [str(level) for _, level in order[:top_k]]
    def buckets(values: list) -> np.ndarray:
        out = np.zeros(len(vocab) + 2, dtype=int)
        for v in values:
            slot = len(vocab) if v in levels else len(vocab) + 1
            out[vocab.index(v) if v in vocab else slot] += 1
        return out
    return buckets(list(ref)), buckets(list(cur))


@pytest.mark.parametrize("case", CATEGORICAL_CASES)
def test_categorical_distances_match_independent_versions(case: str) -> None:
    ref, cur = (list(x) for x in CATEGORICAL_CASES[case])
    r, c = _pair(ref, cur, "categorical", top_k=50)
    p, q = _bucket_counts_by_hand(ref, cur, top_k=50)
    assert list(r.counts) == p.tolist() and list(c.counts) == q.tolist()
    table = np.vstack([p, q])
    table = table[:, table.sum(axis=0) > 0]
    chi = chi2_contingency(table, correction=False)
    expected = {
        "jensen_shannon": float(jensenshannon(p, q, base=2)),
        "l_infinity": float(np.abs(p / p.sum() - q / q.sum()).max()),
        "psi": _psi(p, q),
        "hellinger": _hellinger(p, q),
        "chi_square": float(chi.pvalue),
    }
    for method, value in expected.items():
        score = compute_score(r, c, "categorical", method)
        assert score.value == pytest.approx(value, rel=1e-9, abs=1e-12), method
    details = compute_score(r, c, "categorical", "chi_square").details
    assert details["statistic"] == pytest.approx(chi.statistic, rel=1e-9)
    assert details["dof"] == chi.dof


def test_chi_square_handles_zero_columns_and_a_single_column() -> None:
    ref, cur = np.array([10, 0, 5, 0]), np.array([3, 0, 9, 0])
    statistic, p_value, dof = histogram.chi_square(ref, cur)
    chi = chi2_contingency(np.array([[10, 5], [3, 9]]), correction=False)
    assert (statistic, p_value, dof) == pytest.approx((chi.statistic, chi.pvalue, chi.dof))
    assert histogram.chi_square(np.array([4, 0]), np.array([7, 0])) == (0.0, 1.0, 0)


def test_psi_epsilon_bounds_empty_buckets() -> None:
    value = histogram.psi(np.array([100, 0]), np.array([95, 5]))
    expected = (0.95 - 1) * np.log(0.95) + (0.05 - 1e-4) * np.log(0.05 / 1e-4)
    assert value == pytest.approx(expected)
    assert histogram.psi(np.array([5, 0]), np.array([5, 0])) == 0.0


def test_identical_distributions_score_zero() -> None:
    values = RNG.normal(size=1000)
    r, c = _pair(values, values, "numeric")
    for method in ("psi", "jensen_shannon", "hellinger", "ks", "wasserstein"):
        assert compute_score(r, c, "numeric", method).value == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("dof", [*range(1, 41), 99, 100, 101, 998, 999, 1000, 1001])
def test_chi2_sf_is_scipys_chi2_sf(dof: int) -> None:
    """The closed form the chi-square test uses (scipy costs start-up time) against
    `scipy.stats.chi2.sf`: from 0 and tiny statistics to far tails, at 1 to 1,001 dof."""
    from scipy.stats import chi2

    xs = np.concatenate([[0.0, 1e-12], np.geomspace(1e-6, 1e6, 200),
                         dof + np.linspace(-0.9 * dof, 20 * dof, 80)])
    for x in xs.tolist():
        expected = float(chi2.sf(x, dof))
        got = histogram.chi2_sf(x, dof)
        if expected > 1e-300:
            assert got == pytest.approx(expected, rel=1e-12 if expected > 1e-10 else 1e-11,
                                        abs=0), (dof, x)
        else:
            assert got < 1e-290, (dof, x)
    assert np.isnan(histogram.chi2_sf(float("nan"), dof))
    with pytest.raises(ValueError, match="dof"):
        histogram.chi2_sf(1.0, 0)
