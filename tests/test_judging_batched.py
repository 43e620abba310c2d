"""Drift's judging computed for every window at once keeps the very bits of the per-window
code it replaced (issue #16: profile-served drift in a fraction of a second).

`_old_wasserstein` is the per-window implementation as it stood before (one window, a sort of
each cell's six points): the oracle every batched value is compared with, bit for bit, on
ties, NaN, nulls, empty windows, single values, all-equal values, values beyond the
reference's range and categories the reference never had.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import polars as pl
import pytest

from evalctl.checks.aggregate import column_p_value, column_p_values
from evalctl.checks.ecdf import (
    _MERGE_ROWS,
    Bounded,
    _merge_codes,
    ks_statistic,
    ks_statistics,
    wasserstein_and_ks,
    wasserstein_distance,
    wasserstein_distances,
)
from evalctl.checks.evaluate import window_scores, window_scores_and_ks
from evalctl.stats import NumericSummary, fit_binning, summarize
from evalctl.stats.summary import Summary


def _bits(value: float) -> bytes:
    return np.float64(value).tobytes()


# --- the per-window implementation before issue #16's batching (the oracle) ---------------

def _old_proportions(s: NumericSummary) -> np.ndarray:
    counts = s.counts.astype(float)
    return counts / counts.sum()


def _old_cell_points(s: NumericSummary, fallback: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    counts = s.counts.astype(float)
    count, low, high = counts[0::2], s.lows, s.highs
    with np.errstate(invalid="ignore", divide="ignore"):
        rest = (s.sums - low - high) / (count - 2)
    rest[np.isnan(rest)] = 0.0
    at = np.array([low, high, np.clip(rest, low, high)])
    mass = np.array([np.minimum(count, 1), (count >= 2).astype(float),
                     np.maximum(count - 2, 0)]) / s.count
    return np.where(mass > 0, at, fallback), mass


def _old_step_integrals(a: np.ndarray, b: np.ndarray, d_left: np.ndarray, at: np.ndarray,
                        jump: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(at, axis=0, kind="stable")
    points = np.empty((at.shape[0] + 2, at.shape[1]))
    points[0], points[-1] = a, b
    np.clip(np.take_along_axis(at, order, axis=0), a, b, out=points[1:-1])
    levels = np.empty((at.shape[0] + 1, at.shape[1]))
    levels[0] = d_left
    np.cumsum(np.take_along_axis(jump, order, axis=0), axis=0, out=levels[1:])
    levels[1:] += d_left
    lengths = np.diff(points, axis=0)
    return np.sum(lengths * levels, axis=0), np.sum(lengths * np.abs(levels), axis=0)


def _old_tail_gap(ref: NumericSummary, cur: NumericSummary, edges: np.ndarray) -> float:
    def tails(s: NumericSummary) -> tuple[float, float]:
        below = max(edges[0] * s.counts[0] - s.sums[0], 0.0) / s.count
        above = max(s.sums[-1] - edges[-1] * s.counts[-1], 0.0) / s.count
        return below, above
    (below_r, above_r), (below_c, above_c) = tails(ref), tails(cur)
    return 2 * min(below_r, below_c) + 2 * min(above_r, above_c)


def _old_means(s: NumericSummary) -> np.ndarray:
    counts = s.counts.astype(float)[0::2]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, s.sums / counts, np.nan)


def _old_interior_gap(a: np.ndarray, b: np.ndarray, d_left: np.ndarray, o_r: np.ndarray,
                      mu_r: np.ndarray, o_c: np.ndarray, mu_c: np.ndarray) -> float:
    inner = slice(1, -1)
    a, b, d = a[inner], b[inner], d_left[inner]
    o_r, o_c, width = o_r[inner], o_c[inner], b - a
    mu_r, mu_c = mu_r[inner], mu_c[inner]
    ig_r = np.clip(o_r * (b - np.where(np.isnan(mu_r), b, mu_r)), 0.0, width * o_r)
    ig_c = np.clip(o_c * (b - np.where(np.isnan(mu_c), b, mu_c)), 0.0, width * o_c)
    positive = np.minimum(ig_r + width * np.maximum(d, 0), width * np.maximum(d + o_r, 0))
    negative = np.minimum(ig_c + width * np.maximum(-d, 0), width * np.maximum(o_c - d, 0))
    return float(np.sum(2 * np.minimum(positive, negative)))


def _old_wasserstein(ref: NumericSummary, cur: NumericSummary) -> Bounded:
    r, c = _old_proportions(ref), _old_proportions(cur)
    edges = np.asarray(ref.edges, dtype=float)
    d_left = np.concatenate([[0.0], np.cumsum(r - c)[1::2]])
    first = min(v for v in (ref.lows[0], cur.lows[0], edges[0]) if not math.isnan(v))
    last = max(v for v in (ref.highs[-1], cur.highs[-1], edges[-1]) if not math.isnan(v))
    a = np.concatenate((np.array([first], dtype=float), edges))
    b = np.concatenate((edges, np.array([last], dtype=float)))
    ref_at, ref_mass = _old_cell_points(ref, b)
    cur_at, cur_mass = _old_cell_points(cur, b)
    signed, absolute = _old_step_integrals(
        a, b, d_left, np.concatenate([ref_at, cur_at]), np.concatenate([ref_mass, -cur_mass]))
    lower = float(np.sum(np.abs(signed)))
    gap = _old_tail_gap(ref, cur, edges) + _old_interior_gap(
        a, b, d_left, r[0::2], _old_means(ref), c[0::2], _old_means(cur))
    estimate = min(max(float(np.sum(absolute)), lower), lower + gap)
    return Bounded(estimate, lower, lower + gap)


# --- cases ---------------------------------------------------------------------------------

def _summaries(reference: pl.Series, currents: list[pl.Series],
               fine_bins: int = 1000) -> tuple[NumericSummary, list[NumericSummary]]:
    """The reference's and each current's summary on bins fitted on the reference
    (`fine_bins` as `fit_binning`'s default unless a test sets it)."""
    ref_frame = pl.LazyFrame({"f": reference.cast(pl.Float64)})
    binning = fit_binning(ref_frame, {"f": "numeric"}, fine_bins=fine_bins)
    ref = _numeric(summarize(ref_frame, binning)[None]["f"])
    return ref, [_numeric(summarize(pl.LazyFrame({"f": c.cast(pl.Float64)}), binning)[None]["f"])
                 for c in currents]


def _numeric(summary: Summary) -> NumericSummary:
    assert isinstance(summary, NumericSummary)
    return summary


def _series(values: Sequence[float | None] | np.ndarray) -> pl.Series:
    return pl.Series(values, dtype=pl.Float64, strict=False)


RNG = np.random.default_rng(16)
CURRENTS = [
    _series(RNG.normal(0.3, 1.2, 5_000)),
    _series(RNG.integers(0, 6, 3_000).astype(float)),  # ties on the reference's edges
    _series([0.5]),  # a single value
    _series([2.0, 2.0, 2.0, 2.0]),  # all equal
    _series([1e12, -3.0]),  # far beyond the reference's range on both sides
    _series([2.0, 2.0, 7.5]),
    _series(np.r_[RNG.integers(0, 5, 900).astype(float), [np.inf, -np.inf, np.nan]]),
    _series([None, 1.0, None, float("nan"), 3.0]),  # nulls and NaN beside values
    _series(RNG.standard_t(1.5, 2_000) * 40),  # heavy tails
    _series(np.r_[RNG.normal(0, 1, 50), [0.0] * 500]),  # one value in most of the mass
    _series([-0.0, 0.0, 0.0, -0.0, 1.0, -0.0]),  # signed zeros
]
REFERENCES = {
    "continuous with ties, NaN and nulls": _series(
        np.r_[RNG.normal(0, 1, 20_000), RNG.integers(0, 5, 4_000).astype(float),
              [np.nan] * 20]).append(_series([None] * 5)),
    "few distinct values": _series(RNG.integers(0, 6, 10_000).astype(float)),
    "one value": _series([2.0] * 500),
    "two values": _series([1.0] * 300 + [4.0] * 20),
    "tiny": _series([3.0, -1.0, 8.5]),
    "signed zeros": _series([-0.0] * 50 + [0.0] * 50 + [1.0] * 10 + [-1.0] * 3),
}


@pytest.mark.parametrize("name", REFERENCES)
@pytest.mark.parametrize("fine_bins", [1000, 12])
def test_batched_wasserstein_has_the_bits_of_the_per_window_code(name: str,
                                                                  fine_bins: int) -> None:
    ref, curs = _summaries(REFERENCES[name], CURRENTS, fine_bins=fine_bins)
    sound = [c for c in curs if c.count]
    batched = wasserstein_distances(ref, sound)
    assert len(batched) == len(sound)
    for cur, got in zip(sound, batched, strict=True):
        want = _old_wasserstein(ref, cur)
        assert (_bits(got.value), _bits(got.lower), _bits(got.upper)) == \
            (_bits(want.value), _bits(want.lower), _bits(want.upper))
        alone = wasserstein_distance(ref, cur)
        assert (_bits(alone.value), _bits(alone.upper)) == (_bits(want.value),
                                                            _bits(want.upper))


@pytest.mark.parametrize("name", REFERENCES)
@pytest.mark.parametrize("fine_bins", [1000, 12])
def test_ks_statistics_from_the_wasserstein_running_sums_have_their_own_bits(
        name: str, fine_bins: int) -> None:
    """drift takes each window's KS statistic from the Wasserstein's running sums
    (`wasserstein_and_ks`): the bits of `ks_statistics` and of `ks_statistic` window by
    window, the same distances, and the same p-values through `column_p_values`."""
    ref, curs = _summaries(REFERENCES[name], CURRENTS, fine_bins=fine_bins)
    sound = [c for c in curs if c.count]
    distances, statistics = wasserstein_and_ks(ref, sound)
    assert [_bits(d) for d in statistics] == \
        [_bits(d) for d in ks_statistics(ref, sound).tolist()] == \
        [_bits(ks_statistic(ref, c).value) for c in sound]
    assert [(_bits(d.value), _bits(d.lower), _bits(d.upper)) for d in distances] == \
        [(_bits(d.value), _bits(d.lower), _bits(d.upper))
         for d in wasserstein_distances(ref, sound)]
    given = column_p_values(ref, list(sound), statistics)
    assert [(t, _bits(p)) for t, p in given if p is not None] == \
        [(t, _bits(p)) for t, p in column_p_values(ref, list(sound)) if p is not None]
    assert wasserstein_and_ks(ref, []) == ([], [])


def test_window_scores_and_ks_give_window_scores_and_statistics_only_when_shared() -> None:
    """The Wasserstein measure with every window scorable: `window_scores`' very scores and
    the statistics; another measure, or a window with an input problem: the scores alone."""
    ref, curs = _summaries(REFERENCES["continuous with ties, NaN and nulls"], CURRENTS)
    sound: list[Summary] = [c for c in curs if c.count]
    scores, statistics = window_scores_and_ks(ref, sound, "numeric", "wasserstein")
    assert scores == window_scores(ref, sound, "numeric", "wasserstein")
    assert statistics is not None and len(statistics) == len(sound)
    empty = _summaries(REFERENCES["continuous with ties, NaN and nulls"],
                       [_series([None, None])])[1]
    for windows, method in (([*sound, *empty], "wasserstein"), (sound, "ks"), (sound, "psi")):
        scores, statistics = window_scores_and_ks(ref, windows, "numeric", method)
        assert statistics is None
        assert scores == window_scores(ref, windows, "numeric", method)


def test_one_window_and_windows_in_any_order_give_the_same_bits() -> None:
    ref, curs = _summaries(REFERENCES["continuous with ties, NaN and nulls"], CURRENTS[:7])
    forward = wasserstein_distances(ref, curs)
    backward = wasserstein_distances(ref, curs[::-1])[::-1]
    assert [(_bits(x.value), _bits(x.lower)) for x in forward] == \
        [(_bits(x.value), _bits(x.lower)) for x in backward]
    assert wasserstein_distances(ref, []) == []


def _triples(n: int, rng: np.random.Generator) -> list[np.ndarray]:
    """A side's (min, max, third point) per cell, as `_cell_points` gives them: the third
    in [min, max], or both at the cell's end when the cell holds fewer than three values;
    small integers, so ties are everywhere."""
    low = rng.integers(0, 6, n).astype(float)
    high = low + rng.integers(0, 4, n)
    rest = np.minimum(low + rng.integers(0, 4, n), high)
    end = high + rng.integers(0, 2, n)
    few = rng.integers(0, 4, n)  # 0: empty, 1: one value, 2: two, 3: three or more
    low = np.where(few == 0, end, low)
    high = np.where(few <= 1, end, high)
    rest = np.where(few <= 2, end, rest)
    return [low, high, rest]


def test_merge_order_is_the_stable_argsort_of_the_cells_points() -> None:
    rng = np.random.default_rng(5)
    at = np.array([*_triples(50_000, rng), *_triples(50_000, rng)])
    codes = _merge_codes(at)
    assert codes is not None
    assert np.array_equal(_MERGE_ROWS[codes].T, np.argsort(at, axis=0, kind="stable"))


def test_merge_order_declines_points_that_are_not_cells_triples() -> None:
    at = np.array([[1.0, 5.0], [2.0, 4.0], [3.0, 6.0], [0.0, 2.0], [1.0, 3.0], [2.0, 1.0]])
    assert _merge_codes(at) is None  # the current's min is above its third point
    at[5, 1] = np.nan
    assert _merge_codes(at) is None


def _categorical(reference: Sequence[str | None], currents: Sequence[Sequence[str | None]]
                 ) -> tuple[Summary, list[Summary]]:
    ref_frame = pl.LazyFrame({"c": pl.Series(reference, dtype=pl.String)})
    binning = fit_binning(ref_frame, {"c": "categorical"}, top_k=3)
    ref = summarize(ref_frame, binning)[None]["c"]
    return ref, [summarize(pl.LazyFrame({"c": pl.Series(c, dtype=pl.String)}),
                           binning)[None]["c"] for c in currents]


def test_batched_p_values_have_the_bits_of_one_column_at_a_time() -> None:
    """KS p-values of every window from one running sum; categorical columns (unseen and
    vanished categories, nulls, an empty window) and untestable windows as one by one."""
    ref, curs = _summaries(REFERENCES["continuous with ties, NaN and nulls"],
                           [*CURRENTS, _series([None, None]), _series([float("nan")])])
    other, _ = _summaries(REFERENCES["tiny"], [])
    cases: list[tuple[Summary, list[Summary]]] = [(ref, [*curs, other])]
    cases.append(_categorical(
        ["a"] * 50 + ["b"] * 30 + ["c"] * 10 + ["d"] * 5 + [None] * 3,
        [["a", "b", "z", None], ["q", "r"], [None, None], ["a"] * 7 + ["d"], ["b", "c", "c"]]))
    for reference, windows in cases:
        batched = column_p_values(reference, windows)
        alone = [column_p_value(reference, w) for w in windows]
        assert [(t, None if p is None else _bits(p)) for t, p in batched] == \
            [(t, None if p is None else _bits(p)) for t, p in alone]
    numeric = column_p_values(ref, [*curs])
    assert numeric[-1] == ("ks", None) and numeric[-2] == ("ks", None)  # no finite values
    assert all(p is not None for _, p in numeric[:-2])


def test_kolmogorov_series_of_many_arguments_have_the_bits_of_each_alone() -> None:
    """drift's p-values take the series of every window in one numpy call per series
    (`kolmogorov_sfs`): each the bits of its argument alone, wherever it sits in the call,
    on both sides of the cut-over, at 0, below it and NaN."""
    from evalctl.checks.ecdf import KOLMOGOROV_CUTOVER, kolmogorov_sf, kolmogorov_sfs

    rng = np.random.default_rng(8)
    xs = np.r_[[-1.0, 0.0, -0.0, 1e-9, np.nan, KOLMOGOROV_CUTOVER, 40.0],
               np.nextafter(KOLMOGOROV_CUTOVER, 0.0), rng.random(997) * 3].tolist()
    for order in (xs, xs[::-1], xs[3:]):
        many = kolmogorov_sfs(order)
        assert [_bits(v) for v in many] == [_bits(kolmogorov_sf(x)) for x in order]
    assert kolmogorov_sfs([]) == []


def test_ks_p_value_in_plain_python_has_numpys_bits() -> None:
    """`ks_p_value` rounds, takes roots and clips without numpy calls: the same bits as the
    numpy expressions it replaced, at both sides of the exact/limiting cut-over."""
    from evalctl.checks.ecdf import EXACT_KS_MAX_N, _unit, kolmogorov_sf, ks_p_value

    rng = np.random.default_rng(3)
    for _ in range(400):
        n_ref, n_cur = (int(v) for v in rng.integers(30_000, 2_000_000, 2))
        statistic = float(rng.choice([rng.random() * 0.02, rng.random(), 0.0]))
        en = max(np.round(n_ref * n_cur / (n_ref + n_cur)), 1.0)
        assert en > EXACT_KS_MAX_N
        root = float(np.sqrt(en))
        want = float(np.clip(kolmogorov_sf((root + 0.12 + 0.11 / root) * statistic), 0.0, 1.0))
        assert _bits(ks_p_value(statistic, n_ref, n_cur)) == _bits(want)
    for value in (-0.0, 0.0, 1e-300, 0.5, 1.0, 1.5, -2.0, float("inf")):
        assert _bits(_unit(value)) == _bits(float(np.clip(value, 0.0, 1.0)))
    assert math.isnan(_unit(float("nan")))
    for n in (5, 6, 7, 2_500, 20_000):  # en = n / 2 (x.5 rounds to even, as np.round)
        assert ks_p_value(0.1, n, n) == pytest.approx(ks_p_value(0.1, n, n))


def test_clipping_by_maximum_then_minimum_is_numpys_clip() -> None:
    """`_step_integrals` clips points with np.maximum then np.minimum: np.clip's bits."""
    import itertools

    values = [-0.0, 0.0, -1.0, 1.0, 2.0, np.nan]
    for size in (1, 7, 100):
        for x, low, high in itertools.product(values, repeat=3):
            v, lo, hi = (np.full(size, t) for t in (x, low, high))
            with np.errstate(invalid="ignore"):
                assert np.minimum(np.maximum(v, lo), hi).tobytes() == \
                    np.clip(v, lo, hi).tobytes()
