"""Lattice internals: the score bound, the apriori join, grouped statistics."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evalctl.slicing import coded as coded_module
from evalctl.slicing.coded import CodedData, evaluate, item_stats
from evalctl.slicing.lattice import SearchParams, join_candidates, score, upper_bound


@settings(max_examples=300, deadline=None)
@given(
    n=st.integers(100, 10_000),
    mean_error=st.floats(0.01, 2.0),
    alpha=st.floats(0.5, 1.0),
    min_support=st.integers(1, 50),
    parent_size=st.integers(1, 5_000),
    max_error=st.floats(0.01, 10.0),
    fill=st.floats(0.0, 1.0),
    shrink=st.floats(0.0, 1.0),
    child_fill=st.floats(0.0, 1.0),
)
def test_upper_bound_bounds_every_sub_slice(n: int, mean_error: float, alpha: float,
                                           min_support: int, parent_size: int,
                                           max_error: float, fill: float, shrink: float,
                                           child_fill: float) -> None:
    """Any slice with min support <= size <= parent size, errors <= max error and error sum
    <= the parent's scores at most the parent's bound."""
    parent_size = min(parent_size, n)
    parent_err = fill * parent_size * max_error
    params = SearchParams(alpha, 10, 3, min_support)
    ub = upper_bound(np.array([float(parent_size)]), np.array([parent_err]),
                     np.array([max_error]), n, mean_error, params)[0]
    size = min_support + round(shrink * (parent_size - min_support))
    if parent_size < min_support or parent_err == 0:
        assert ub == -np.inf
        return
    child_err = child_fill * min(parent_err, size * max_error)
    child = score(np.array([float(size)]), np.array([child_err]), n, mean_error, alpha)[0]
    assert child <= ub + 1e-9 * max(1.0, abs(ub))


def test_join_makes_each_candidate_once_with_all_parents() -> None:
    item_feature = np.array([0, 0, 1, 1, 2, 2, 3])
    items = range(len(item_feature))
    level2 = np.array([c for c in itertools.combinations(items, 2)
                       if len({item_feature[i] for i in c}) == 2])
    keep = np.ones(len(level2), dtype=bool)
    keep[[3, 7]] = False  # two level-2 slices are not valid parents
    parents = level2[keep]
    stats = np.column_stack([np.arange(len(parents)) + 10.0, np.arange(len(parents)) + 1.0,
                             np.ones(len(parents))])
    cands, bound, made = join_candidates(parents, stats, item_feature)
    valid = {tuple(p) for p in parents}
    expected = [c for c in itertools.combinations(items, 3)
                if len({item_feature[i] for i in c}) == 3
                and all(sub in valid for sub in itertools.combinations(c, 2))]
    assert [tuple(c) for c in cands] == expected
    assert made >= len(expected)
    index = {tuple(p): i for i, p in enumerate(parents)}
    for cand, b in zip(cands, bound, strict=True):
        rows = [index[sub] for sub in itertools.combinations(tuple(cand), 2)]
        assert list(b) == list(stats[rows].min(axis=0))


def make_coded(binary: bool, seed: int = 0, n: int = 3_000) -> CodedData:
    rng = np.random.default_rng(seed)
    cards = np.array([3, 5, 4, 2])
    codes = [rng.integers(0, c, n).astype(np.uint8) for c in cards]
    errors = (rng.random(n) < 0.3).astype(float) if binary else rng.exponential(1.0, n)
    return CodedData(codes, cards, errors, binary)


@pytest.mark.parametrize("binary", [True, False])
@pytest.mark.parametrize("dense_limit", [1 << 22, 4])
def test_evaluate_matches_masks(binary: bool, dense_limit: int,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(coded_module, "DENSE_LIMIT", dense_limit)
    data = make_coded(binary)
    feature, code = data.item_feature, data.item_code
    cands = np.array([c for c in itertools.combinations(range(len(feature)), 3)
                      if len({feature[i] for i in c}) == 3])
    size, err, mx = evaluate(data, cands, need_max=True)
    for i, cand in enumerate(cands):
        mask = np.logical_and.reduce([data.codes[feature[j]] == code[j] for j in cand])
        assert size[i] == mask.sum()
        assert err[i] == pytest.approx(data.errors[mask].sum())
        assert mx[i] == (data.errors[mask].max() if mask.any() else 0.0)
    one_size, one_err, one_max = item_stats(data, need_max=True)
    for j in range(len(feature)):
        mask = data.codes[feature[j]] == code[j]
        assert (one_size[j], one_max[j]) == (mask.sum(), data.errors[mask].max())
        assert one_err[j] == pytest.approx(data.errors[mask].sum())
