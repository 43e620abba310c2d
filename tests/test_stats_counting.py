"""The fast counting path behind summarize and fit_binning, held to independent implementations.

- `CellLocator` against ``np.searchsorted`` (the definition of a cell),
- `order_statistics` against ``np.sort``,
- `summarize` (streamed batches, numpy counters) against `summary_query` (one polars query),
- batch and window boundaries, which must not change any number.
"""

from __future__ import annotations

import importlib
import math
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evalctl.stats import CategoricalSummary, NumericSummary, fit_binning, summarize, summary_query
from evalctl.stats.grid import CellLocator, order_statistics
from evalctl.stats.query import WINDOW

streamed = importlib.import_module("evalctl.stats.summarize")

finite_floats = st.floats(allow_nan=False, allow_infinity=False)


def _cells_by_search(edges: np.ndarray, x: np.ndarray) -> np.ndarray:
    i = np.searchsorted(edges, x, side="left")
    return 2 * i + (np.append(edges, np.inf)[i] == x)


@settings(max_examples=200, deadline=None)
@given(st.lists(finite_floats, min_size=1, max_size=60), st.lists(finite_floats, max_size=60),
       st.sampled_from([1, 4, 64, 1 << 16]))
def test_cell_locator_matches_binary_search(edges: list[float], values: list[float],
                                            grid: int) -> None:
    e = np.unique(np.asarray(edges) + 0.0)
    with np.errstate(over="ignore"):
        near = np.concatenate([e, np.nextafter(e, np.inf), np.nextafter(e, -np.inf)])
    x = np.concatenate([np.asarray(values, dtype=float), near[np.isfinite(near)]])
    assert np.array_equal(CellLocator(e, grid=grid).cells(x), _cells_by_search(e, x))


def test_cell_locator_on_skewed_and_extreme_edges() -> None:
    rng = np.random.default_rng(3)
    big = np.finfo(float).max
    for e in (np.unique(rng.lognormal(0, 4, 1400)), np.array([-big, 0.0, big]),
              np.array([1e300, np.nextafter(1e300, np.inf)]), np.array([-0.0, 5e-324])):
        with np.errstate(over="ignore"):
            x = np.concatenate([e, rng.choice(e, 5000) * rng.uniform(0.5, 1.5, 5000),
                                rng.normal(size=500) * 1e6, [big, -big, 0.0, -0.0]])
        x = x[np.isfinite(x)]
        assert np.array_equal(CellLocator(e).cells(x), _cells_by_search(e, x))


@pytest.mark.parametrize("n_edges", [1, 2, 16_383, 16_384])  # int16 codes up to 16,383 edges
def test_cell_locator_on_both_table_widths(n_edges: int) -> None:
    rng = np.random.default_rng(n_edges)
    e = np.unique(np.r_[rng.normal(size=n_edges) * 1e3, -0.0][:n_edges])
    while e.size < n_edges:  # (ties among the normals: fill up with distinct ones)
        e = np.unique(np.r_[e, rng.normal(size=n_edges - e.size) * 1e3])
    locator = CellLocator(e)
    assert locator._table.dtype == (np.int16 if 2 * n_edges + 1 < 2**15 else np.int32)
    with np.errstate(over="ignore"):
        near = np.r_[e, np.nextafter(e, np.inf), np.nextafter(e, -np.inf)]
    tiny, big = 5e-324, np.finfo(float).max
    x = np.r_[near, rng.choice(e, 3000), rng.normal(size=3000) * 2e3, 0.0, -0.0, tiny, -tiny,
              big, -big, 1e-300, -1e300]
    assert np.array_equal(locator.cells(x), _cells_by_search(e, x))
    assert locator.cells(x).dtype == np.intp
    assert locator.cells(np.zeros(0)).shape == (0,)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.one_of(finite_floats, st.sampled_from([0.0, -0.0, 1.0, 1.0, 2.0])),
                min_size=1, max_size=300), st.data())
def test_order_statistics_match_a_full_sort(values: list[float], data: st.DataObject) -> None:
    x = np.asarray(values)
    ranks = np.unique(data.draw(st.lists(st.integers(0, x.size - 1), min_size=1)))
    expected = np.sort(x)[ranks]
    for grid in (4, 16, 1 << 16):  # a grid smaller than the data takes the grid path
        np.testing.assert_array_equal(order_statistics(x, ranks, grid=grid), expected)


def test_order_statistics_on_large_and_skewed_data() -> None:
    rng = np.random.default_rng(5)
    for x in (rng.normal(size=200_000), rng.lognormal(0, 5, 200_000),
              np.r_[np.zeros(150_000), rng.normal(size=50)], np.full(70_000, 3.0)):
        ranks = np.unique(np.floor(np.linspace(0, 1, 1411) * (x.size - 1)).astype(np.int64))
        np.testing.assert_array_equal(order_statistics(x, ranks), np.sort(x)[ranks])


@pytest.mark.parametrize("values", [
    np.random.default_rng(1).normal(size=100_000),                       # continuous
    np.random.default_rng(2).integers(18, 90, 100_000).astype(float),    # few distinct values
    np.tile([0.0, 1e-12, 1.0, 2.0], 25_000),                             # two values per bucket
])
def test_fit_on_many_rows_matches_lower_quantiles(values: np.ndarray) -> None:
    bins = fit_binning(pl.LazyFrame({"x": values}), {"x": "numeric"}).numeric["x"]
    deciles = np.quantile(values, np.linspace(0.1, 0.9, 9), method="lower")
    assert bins.psi_edges == tuple(np.unique(deciles).tolist())
    distinct = np.unique(values)
    if distinct.size <= 1000:
        assert bins.edges == tuple(distinct.tolist())
    else:
        assert bins.edges[0] == values.min() and bins.edges[-1] == values.max()
        assert set(bins.edges) <= set(values.tolist())


FEATURES = {"x": "numeric", "y": "numeric", "c": "categorical", "text": "numeric"}


def _frame(rows: int, seed: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=rows)
    x[rng.random(rows) < 0.05] = np.nan
    x[rng.random(rows) < 0.02] = np.inf
    x[rng.random(rows) < 0.05] = -0.0
    c = [None if missing else v for v, missing in zip(
        rng.choice(["a", "b", "c", "d", "new1", "new2"], size=rows).tolist(),
        (rng.random(rows) < 0.1).tolist(), strict=True)]
    return pl.DataFrame({
        "x": pl.Series(x).set(pl.Series(rng.random(rows) < 0.05), None),
        "y": rng.integers(0, 7, rows).astype(float),
        "c": pl.Series(c, dtype=pl.String),
        "text": rng.choice(["p", "q"], size=rows),
        "w": rng.integers(0, 4, rows),
        "ts": np.arange(rows),
    })


def _reference() -> pl.LazyFrame:
    rng = np.random.default_rng(0)
    return pl.LazyFrame({"x": rng.normal(size=500), "y": rng.integers(0, 5, 500).astype(float),
                         "c": rng.choice(["a", "b", "c", "d"], size=500), "text": ["t"] * 500})


@pytest.mark.parametrize("by", [None, "w", (pl.col("ts") * 4 // pl.len()).alias("chunk")])
def test_summarize_matches_the_polars_query(by: str | pl.Expr | None) -> None:
    binning = fit_binning(_reference(), FEATURES, n_bins=4, top_k=2, fine_bins=20)
    frame = _frame(3000, seed=1).lazy()
    summaries = summarize(frame, binning, by=by)
    query = summary_query(frame, binning, by=by).collect()
    for window, per_feature in summaries.items():
        key = 0 if by is None else window
        for feature, summary in per_feature.items():
            if summary.error:
                continue
            row = query.filter((pl.col(WINDOW) == key) & (pl.col("feature") == feature))
            _assert_matches_query(summary, row.row(0, named=True))


def _assert_matches_query(s: NumericSummary | CategoricalSummary, row: dict) -> None:
    cell = np.asarray(row["cell"])
    n = np.asarray(row["n"])
    valued = cell >= 0
    counts = np.zeros(len(s.counts), dtype=np.int64)
    counts[cell[valued]] = n[valued]
    assert list(s.counts) == counts.tolist()
    assert (s.rows, s.nulls) == (int(n.sum()), int(n[cell == -1].sum()))
    if isinstance(s, CategoricalSummary):
        unseen = cell == len(s.vocabulary) + 1
        names = [list(v) for v, u in zip(row["names"], unseen, strict=True) if u]
        levels = [v for v, u in zip(row["levels"], unseen, strict=True) if u]
        assert list(s.unseen_names) == (names[0] if names else [])
        assert s.unseen_levels == (levels[0] if levels else 0)
        return
    assert isinstance(s, NumericSummary)
    assert s.nonfinite == int(n[cell == -2].sum())
    sums, m2 = np.asarray(row["sum"], dtype=float), np.asarray(row["m2"], dtype=float)
    lows, highs = np.asarray(row["lo"], dtype=float), np.asarray(row["hi"], dtype=float)
    for c, total, lo, hi in zip(cell, sums, lows, highs, strict=True):
        if c >= 0 and c % 2 == 0:
            assert math.isclose(s.sums[c // 2], total, rel_tol=1e-12, abs_tol=1e-12)
            assert (s.lows[c // 2], s.highs[c // 2]) == (lo, hi)
    assert (s.minimum, s.maximum) == (lows[valued].min(), highs[valued].max())
    total = int(n[valued].sum())
    mean = sums[valued].sum() / total
    spread = m2[valued].sum() + (n[valued] * (sums[valued] / n[valued] - mean) ** 2).sum()
    assert math.isclose(s.mean, mean, rel_tol=1e-9, abs_tol=1e-12)
    assert math.isclose(s.m2, spread, rel_tol=1e-9)


def test_batch_and_window_boundaries_change_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    binning = fit_binning(_reference(), FEATURES, n_bins=4, top_k=2, fine_bins=20)
    frame = _frame(2000, seed=2)
    in_runs = frame.sort("w").lazy()  # windows arrive as runs: sliced
    whole = summarize(in_runs, binning, by="w")
    monkeypatch.setattr(streamed, "BATCH_ROWS", 37)
    for lf in (in_runs, frame.lazy()):  # interleaved windows: gathered per batch
        pieces = summarize(lf, binning, by="w")
        assert list(pieces) == list(whole)
        for window in whole:
            for feature, summary in whole[window].items():
                _assert_close(pieces[window][feature], summary)


def _assert_close(a: NumericSummary | CategoricalSummary,
                  b: NumericSummary | CategoricalSummary) -> None:
    if isinstance(a, NumericSummary) and isinstance(b, NumericSummary) and not a.error:
        assert math.isclose(a.mean, b.mean, rel_tol=1e-9, abs_tol=1e-12)
        assert math.isclose(a.m2, b.m2, rel_tol=1e-9, abs_tol=1e-12)
        np.testing.assert_allclose(a.sums, b.sums, rtol=1e-12, atol=1e-12)
        a = a.__class__(**{**a.__dict__, "mean": b.mean, "m2": b.m2, "sums": b.sums})
    assert a == b


@pytest.mark.parametrize("levels", [254, 255, 256])
def test_level_index_fits_every_vocabulary_size(levels: int) -> None:
    names = [f"l{i:03d}" for i in range(levels)]
    binning = fit_binning(pl.LazyFrame({"c": names}), {"c": "categorical"}, top_k=3)
    s = summarize(pl.LazyFrame({"c": [*names, "zz", None, "zz"]}), binning)[None]["c"]
    assert isinstance(s, CategoricalSummary)
    assert (s.count, s.nulls, s.unseen, s.other) == (levels + 2, 1, 2, levels - 3)
    assert (s.unseen_levels, s.unseen_names) == (1, ("zz",))


def test_the_streamed_select_scans_once(tmp_path: Path) -> None:
    path = tmp_path / "part.parquet"
    _frame(50, seed=3).write_parquet(path)
    binning = fit_binning(pl.scan_parquet(path), FEATURES)
    plan = streamed.row_query(pl.scan_parquet(path), binning, by="w").explain()
    assert plan.count("SCAN") == 1, plan


def test_a_constant_window_expression_counts_every_row() -> None:
    binning = fit_binning(_reference(), {"x": "numeric"})
    windows = summarize(pl.LazyFrame({"other": [1, 2, 3]}), binning, by=pl.lit(7))
    assert list(windows) == [7] and windows[7]["x"].rows == 3 and windows[7]["x"].error


def test_unseen_names_survive_compaction(monkeypatch: pytest.MonkeyPatch) -> None:
    binning = fit_binning(pl.LazyFrame({"c": ["a", "b"]}), {"c": "categorical"})
    frame = pl.LazyFrame({"c": [f"new{i % 70:02d}" for i in range(500)] + ["a", None]})
    whole = summarize(frame, binning)[None]["c"]
    monkeypatch.setattr(streamed, "BATCH_ROWS", 9)
    monkeypatch.setattr(importlib.import_module("evalctl.stats.counters"), "_COMPACT_NAMES", 5)
    assert summarize(frame, binning)[None]["c"] == whole
    assert whole.unseen_levels == 70 and whole.unseen_names[:2] == ("new00", "new01")
