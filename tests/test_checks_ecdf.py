"""KS and Wasserstein from binned summaries: the documented bounds, checked against scipy."""

from __future__ import annotations

import warnings

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import ks_2samp, wasserstein_distance

from evalctl.checks import compute_score
from evalctl.checks.ecdf import ks_p_value, ks_statistic
from evalctl.checks.ecdf import wasserstein_distance as binned_wasserstein
from evalctl.stats import NumericSummary, fit_binning, summarize

RNG = np.random.default_rng(11)


def _pair(ref: np.ndarray, cur: np.ndarray, **kw: int) -> tuple[NumericSummary, NumericSummary]:
    binning = fit_binning(pl.LazyFrame({"x": ref}), {"x": "numeric"}, **kw)
    r = summarize(pl.LazyFrame({"x": ref}), binning)[None]["x"]
    c = summarize(pl.LazyFrame({"x": cur}), binning)[None]["x"]
    assert isinstance(r, NumericSummary) and isinstance(c, NumericSummary)
    return r, c


CONTINUOUS = {
    "same distribution": (RNG.normal(size=40000), RNG.normal(size=25000)),
    "small shift": (RNG.normal(size=40000), RNG.normal(0.05, 1, size=25000)),
    "large shift": (RNG.normal(size=40000), RNG.normal(1.0, 1, size=25000)),
    "wider": (RNG.normal(size=40000), RNG.normal(0, 1.5, size=25000)),
    "exponential": (RNG.exponential(size=40000), RNG.exponential(1.3, size=25000)),
    "heavy tail": (RNG.lognormal(0, 2, size=40000), RNG.lognormal(0.1, 2, size=25000)),
    "pareto": (RNG.pareto(1.5, size=40000), RNG.pareto(1.4, size=25000)),
    "cauchy": (RNG.standard_cauchy(size=40000), RNG.standard_cauchy(size=25000)),
    "small current": (RNG.normal(size=3000), RNG.normal(0.2, 1, size=200)),
}


@pytest.mark.parametrize("case", CONTINUOUS)
def test_ks_matches_scipy_within_0_002_on_continuous_data(case: str) -> None:
    ref, cur = CONTINUOUS[case]
    r, c = _pair(ref, cur)
    exact = ks_2samp(ref, cur, method="asymp")
    bounds = ks_statistic(r, c)
    assert bounds.lower - 1e-12 <= exact.statistic <= bounds.upper + 1e-12
    assert bounds.max_error < 1 / 1000  # the documented bound
    score = compute_score(r, c, "numeric", "ks")
    assert score.value == pytest.approx(exact.statistic, abs=0.002)
    assert score.details["p_value"] == pytest.approx(
        ks_p_value(exact.statistic, len(ref), len(cur)), abs=0.05)


@pytest.mark.parametrize("case", CONTINUOUS)
def test_wasserstein_matches_scipy_within_1_percent(case: str) -> None:
    ref, cur = CONTINUOUS[case]
    r, c = _pair(ref, cur)
    exact = wasserstein_distance(ref, cur)
    bounds = binned_wasserstein(r, c)
    assert bounds.lower * (1 - 1e-9) <= exact <= bounds.upper * (1 + 1e-9) + 1e-12
    score = compute_score(r, c, "numeric", "wasserstein")
    assert score.value == pytest.approx(exact / np.std(ref), rel=0.01)
    assert score.details["reference_std"] == pytest.approx(np.std(ref), rel=1e-9)


def test_ks_and_wasserstein_are_exact_on_heavily_tied_integer_data() -> None:
    ref = RNG.integers(18, 90, 30000).astype(float)
    cur = np.r_[RNG.integers(25, 99, 20000), [10.0, 11.0, 120.0]]  # some outside the range
    r, c = _pair(ref, cur)
    bounds = ks_statistic(r, c)
    assert bounds.max_error == 0.0
    assert bounds.lower == pytest.approx(ks_2samp(ref, cur).statistic, abs=1e-12)
    w = binned_wasserstein(r, c)
    assert w.lower == pytest.approx(wasserstein_distance(ref, cur), rel=1e-9)


def test_nulls_and_empty_bins() -> None:
    ref = np.r_[RNG.normal(size=5000), [np.nan] * 300]
    cur = np.r_[np.full(400, 0.25), RNG.normal(3, 0.1, 100), [np.nan] * 50]  # most bins empty
    frame = {name: pl.LazyFrame({"x": values}).with_columns(pl.col("x").fill_nan(None))
             for name, values in (("ref", ref), ("cur", cur))}
    binning = fit_binning(frame["ref"], {"x": "numeric"})
    r = summarize(frame["ref"], binning)[None]["x"]
    c = summarize(frame["cur"], binning)[None]["x"]
    assert (r.nulls, c.nulls) == (300, 50)
    ref, cur = ref[~np.isnan(ref)], cur[~np.isnan(cur)]
    ks = ks_statistic(r, c)
    assert ks.lower - 1e-12 <= ks_2samp(ref, cur).statistic <= ks.upper + 1e-12
    assert ks.value == pytest.approx(ks_2samp(ref, cur).statistic, abs=0.002)
    w = compute_score(r, c, "numeric", "wasserstein").value
    assert w == pytest.approx(wasserstein_distance(ref, cur) / np.std(ref), rel=0.01)


def test_p_value_matches_scipy_asymptotic() -> None:
    ref, cur = RNG.integers(0, 20, 5000), RNG.integers(0, 21, 4000)
    r, c = _pair(ref.astype(float), cur.astype(float))
    exact = ks_2samp(ref, cur, method="asymp")
    assert compute_score(r, c, "numeric", "ks").details["p_value"] == pytest.approx(
        exact.pvalue, rel=1e-6, abs=1e-12)


def test_constant_reference() -> None:
    r, c = _pair(np.full(100, 3.0), np.array([3.0] * 80 + [4.0] * 20))
    assert compute_score(r, c, "numeric", "ks").value == pytest.approx(0.2)
    wasserstein = compute_score(r, c, "numeric", "wasserstein")
    assert wasserstein.value is None and "constant" in (wasserstein.reason or "")
    assert wasserstein.details["distance"] == pytest.approx(0.2)
    same = _pair(np.full(100, 3.0), np.full(10, 3.0))
    assert compute_score(*same, "numeric", "wasserstein").value == 0.0


samples = st.lists(st.one_of(st.integers(-5, 5).map(float),
                             st.floats(-100, 100, allow_nan=False, allow_infinity=False)),
                   min_size=1, max_size=40)


@settings(max_examples=150, deadline=None)
@given(samples, samples, st.integers(2, 8))
def test_bounds_always_contain_the_exact_statistics(ref: list, cur: list, fine: int) -> None:
    r, c = _pair(np.array(ref), np.array(cur), n_bins=2, fine_bins=fine)
    ks = ks_statistic(r, c)
    with warnings.catch_warnings():  # scipy's p-value warns on tiny samples; D is what we test
        warnings.simplefilter("ignore", RuntimeWarning)
        exact_ks = ks_2samp(ref, cur).statistic
    assert ks.lower - 1e-12 <= exact_ks <= ks.upper + 1e-12
    assert ks.max_error < 1 / fine + 1e-12
    w = binned_wasserstein(r, c)
    exact_w = wasserstein_distance(ref, cur)
    tolerance = 1e-9 * (1 + max(map(abs, ref + cur)))
    assert w.lower - tolerance <= exact_w <= w.upper + tolerance
    assert w.lower <= w.value <= w.upper
    if max(*r.counts[0::2], *c.counts[0::2]) <= 3:  # <= 3 values per open cell: model is exact
        assert w.value == pytest.approx(exact_w, rel=1e-9, abs=tolerance)


def test_the_ks_p_value_of_large_samples_follows_scipy_within_one_percent() -> None:
    """Above EXACT_KS_MAX_N the limiting distribution (Stephens' correction) replaces scipy's
    slow exact tail: within 1% of `kstwo.sf` wherever p > 1e-4, and the same below the size."""
    from scipy.stats import kstwo

    from evalctl.checks.ecdf import EXACT_KS_MAX_N, ks_p_value

    for n in (20_000, 100_000, 400_000):
        en = round(n * n / (2 * n))
        for d in np.linspace(0.0005, 0.03, 30):
            expected = kstwo.sf(d, en)
            if expected > 1e-4:
                assert ks_p_value(d, n, n) == pytest.approx(expected, rel=0.01), (n, d)
    small = EXACT_KS_MAX_N
    assert ks_p_value(0.02, small, small) == kstwo.sf(0.02, round(small / 2))


def test_kolmogorov_sf_is_scipys_kolmogorov() -> None:
    """The limiting distribution the large-sample KS p-value uses (scipy costs start-up
    time) against `scipy.special.kolmogorov`, both sides of its series cut-over."""
    from scipy.special import kolmogorov

    from evalctl.checks.ecdf import KOLMOGOROV_CUTOVER, kolmogorov_sf

    xs = np.concatenate([[-1.0, 0.0, 1e-9], np.linspace(0.01, 3, 600), np.geomspace(3, 27, 50),
                         np.nextafter(KOLMOGOROV_CUTOVER, [0, 1])])
    for x in xs.tolist():
        expected = float(kolmogorov(x))
        if expected > 1e-300:
            assert kolmogorov_sf(x) == pytest.approx(expected, rel=1e-13, abs=0), x
        else:
            assert kolmogorov_sf(x) < 1e-290, x
    assert np.isnan(kolmogorov_sf(float("nan")))


def _bits(value: float) -> bytes:
    return np.float64(value).tobytes()


def test_windows_side_by_side_give_the_very_bits_of_one_at_a_time() -> None:
    """drift judges every window's Wasserstein at once (`wasserstein_distances`): each value,
    bound and score has the bits of `wasserstein_distance` on that window alone — on ties,
    NaN, nulls, heavy tails, values beyond the reference's range, one- to three-value windows,
    and through `window_scores`, which leaves windows with an input problem to one-by-one."""
    from evalctl.checks.ecdf import wasserstein_distances
    from evalctl.checks.evaluate import window_scores

    rng = np.random.default_rng(11)
    values = np.r_[rng.normal(0, 1, 20_000), rng.integers(0, 5, 4_000).astype(float),
                   [np.nan] * 20]
    ref_frame = pl.LazyFrame({"f": pl.Series(values).append(pl.Series([None] * 5,
                                                                     dtype=pl.Float64))})
    binning = fit_binning(ref_frame, {"f": "numeric"})
    ref = summarize(ref_frame, binning)[None]["f"]
    currents = [rng.standard_t(2, 300 + 700 * k) * (1 + k / 8) + k / 4 for k in range(9)]
    currents += [np.array([0.5]), np.array([1e12, -3.0]), np.array([2.0, 2.0, 7.5]),
                 np.r_[rng.integers(0, 5, 900).astype(float), [np.inf, np.nan]]]
    curs = [summarize(pl.LazyFrame({"f": c}), binning)[None]["f"] for c in currents]
    one = [binned_wasserstein(ref, c) for c in curs]
    many = wasserstein_distances(ref, curs)
    for a, b in zip(one, many, strict=True):
        assert (_bits(a.value), _bits(a.lower), _bits(a.upper)) == \
            (_bits(b.value), _bits(b.lower), _bits(b.upper))
    empty = summarize(pl.LazyFrame({"f": pl.Series([None, None], dtype=pl.Float64)}),
                      binning)[None]["f"]
    scores = window_scores(ref, [*curs, empty], "numeric", "wasserstein")
    assert scores[-1] is None  # no finite values: compute_score gives the reason
    for cur, score in zip(curs, scores, strict=False):
        alone = compute_score(ref, cur, "numeric", "wasserstein")
        assert score is not None
        given_score = compute_score(ref, cur, "numeric", "wasserstein", score)
        assert given_score == alone and _bits(given_score.value) == _bits(alone.value)
    assert window_scores(ref, curs, "numeric", "ks") == [None] * len(curs)  # no batched form
    assert wasserstein_distances(ref, []) == []
