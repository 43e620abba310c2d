"""The pruned lattice search returns exactly the brute-force top K.

The brute force enumerates every conjunction of predicates on different features up to
max_level, selects rows with each predicate's own polars expression (not the codes the search
uses), scores with its own formula, and applies the same rules: size >= min support, error > 0,
not the same rows as one of its immediate parents (size < n at level 1; the feature
`tier` is a function of `b`, so such redundant conjunctions exist), score > 0, order by
(score desc, level asc, predicate positions asc).
"""

from __future__ import annotations

import itertools

import numpy as np
import polars as pl
import pytest

from evalctl.slicing import SliceDiscovery, discover_slices

FEATURES = {"a": "categorical", "b": "categorical", "c": "numeric", "d": "categorical",
            "tier": "categorical"}


def make_frame(seed: int, n: int = 2000, errors: str = "binary") -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    a = rng.choice(["a0", "a1", "a2"], n, p=[0.5, 0.3, 0.2])
    b = rng.choice(["b0", "b1", "b2", "b3"], n)
    c = rng.integers(0, 100, n).astype(float)
    d = rng.choice(["d0", "d1", "d2"], n, p=[0.6, 0.3, 0.1]).astype(object)
    d[rng.random(n) < 0.05] = None
    rate = 0.1 + 0.25 * ((a == "a1") & (b == "b2")) + 0.15 * ((c < 30) & (d == "d1"))
    rate = rate + 0.2 * ((a == "a2") & (b == "b0") & (c >= 60))
    if errors == "binary":
        err = (rng.random(n) < rate).astype(float)
    elif errors == "counts":
        err = rng.poisson(rate * 3).astype(float)
    else:
        err = rng.exponential(rate)
    tier = np.where(np.isin(b, ["b0", "b1"]), "low", "high")  # b=b2 & tier=high is just b=b2
    return pl.DataFrame({"a": a, "b": b, "c": c, "d": d.tolist(), "tier": tier, "err": err})


def brute_force(df: pl.DataFrame, found: SliceDiscovery, max_level: int) -> list[tuple]:
    """Every slice with positive score, in the search's order: (score, level, id)."""
    err = df["err"].to_numpy()
    n, mean, alpha = len(err), err.mean(), found.alpha
    preds = [[(fi, ci, p, df.select(p.expr()).to_series().to_numpy())
              for ci, p in enumerate(coding.predicates)]
             for fi, coding in enumerate(found.codings)]
    sizes: dict[tuple, int] = {(): n}
    rows = []
    for level in range(1, max_level + 1):
        for combo in itertools.combinations(range(len(preds)), level):
            for chosen in itertools.product(*(preds[f] for f in combo)):
                mask = np.logical_and.reduce([m for *_, m in chosen])
                key = tuple((fi, ci) for fi, ci, _, _ in chosen)
                size, se = int(mask.sum()), float(err[mask].sum())
                sizes[key] = size
                parents = [key[:i] + key[i + 1:] for i in range(level)]
                if size < found.min_support or se <= 0 or size in {sizes[p] for p in parents}:
                    continue
                score = alpha * (se / size / mean - 1) - (1 - alpha) * (n / size - 1)
                if score > 0:
                    ident = "&".join(sorted((p.token for _, _, p, _ in chosen)))
                    rows.append((-score, level, key, ident, size, se))
    rows.sort(key=lambda r: (r[0], r[1], r[2]))
    return rows


def assert_same_top(df: pl.DataFrame, found: SliceDiscovery, max_level: int) -> None:
    expected = brute_force(df, found, max_level)[: found.k]
    assert [s.id for s in found.slices] == [r[3] for r in expected]
    for s, r in zip(found.slices, expected, strict=True):
        assert s.size == r[4]
        assert s.error_sum == pytest.approx(r[5], rel=1e-12)
        assert s.score == pytest.approx(-r[0], rel=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize(("alpha", "k", "min_support"),
                         [(0.95, 5, 32), (0.95, 10, 10), (0.8, 3, 50), (0.99, 20, 0.01)])
def test_top_k_equals_brute_force_level_3(seed: int, alpha: float, k: int,
                                          min_support: float) -> None:
    df = make_frame(seed)
    found = discover_slices(df, FEATURES, "err", alpha=alpha, k=k, max_level=3,
                            min_support=min_support, n_bins=4)
    if alpha >= 0.95:
        assert found.slices, "the planted slices must surface"
    assert_same_top(df, found, max_level=3)


@pytest.mark.parametrize("errors", ["counts", "continuous"])
@pytest.mark.parametrize("seed", [3, 4])
def test_top_k_equals_brute_force_continuous_errors(errors: str, seed: int) -> None:
    df = make_frame(seed, errors=errors)
    found = discover_slices(df, FEATURES, "err", k=5, max_level=3, min_support=20, n_bins=4)
    assert found.error_kind == "continuous"
    assert_same_top(df, found, max_level=3)


def test_top_k_equals_brute_force_level_2_with_other_levels() -> None:
    df = make_frame(5)
    found = discover_slices(df, FEATURES, "err", k=8, max_level=2, min_support=25,
                            max_categories=2, bin_edges={"c": [30, 60]})
    assert found.codings[0].levels == ("a0", "a1")  # a2 falls into <other>
    assert_same_top(df, found, max_level=2)


def test_pruning_happens_and_is_counted() -> None:
    df = make_frame(6, n=4000)
    found = discover_slices(df, FEATURES, "err", k=3, max_level=3, min_support=40, n_bins=4)
    assert_same_top(df, found, max_level=3)
    by_level = {c.level: c for c in found.levels}
    assert sum(c.pruned for c in found.levels) > 0
    for c in found.levels:
        assert c.candidates == c.pruned + c.evaluated
        assert c.valid <= c.evaluated
    assert found.level_reached == max(c.level for c in found.levels if c.evaluated)
    assert by_level[1].pruned == 0
