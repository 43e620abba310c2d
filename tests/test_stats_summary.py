"""summarize + merge: hand-checked cells, windows, bad columns, and the merge laws."""

from __future__ import annotations

import json
import math
from functools import reduce
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evalctl.errors import InputError
from evalctl.stats import (
    CategoricalSummary,
    NumericSummary,
    fit_binning,
    merge,
    summarize,
    summary_from_dict,
    summary_query,
)

FEATURES = {"x": "numeric", "c": "categorical"}


def _reference() -> pl.LazyFrame:
    return pl.LazyFrame({"x": [1.0, 2.0, 2.0, 3.0, 5.0], "c": ["a", "a", "b", "c", "a"]})


def test_numeric_cells_hand_checked() -> None:
    binning = fit_binning(_reference(), FEATURES, n_bins=2, top_k=1)
    assert binning.numeric["x"].edges == (1.0, 2.0, 3.0, 5.0)
    current = pl.LazyFrame({"x": [0.5, 1.0, 1.5, 2.0, 4.0, 9.0, None, float("nan")],
                            "c": ["a", "b", "z", "y", "z", None, "a", "c"]})
    s = summarize(current, binning)[None]["x"]
    assert isinstance(s, NumericSummary)
    #               (-inf,1) {1} (1,2) {2} (2,3) {3} (3,5) {5} (5,inf)
    assert s.counts.tolist() == [1, 1, 1, 1, 0, 0, 1, 0, 1]
    assert s.sums.tolist() == [0.5, 1.5, 0.0, 4.0, 9.0]
    assert (s.rows, s.nulls, s.nonfinite, s.count) == (8, 1, 1, 6)
    assert (s.below, s.above, s.minimum, s.maximum) == (1, 1, 0.5, 9.0)
    finite = np.array([0.5, 1.0, 1.5, 2.0, 4.0, 9.0])
    assert s.mean == pytest.approx(finite.mean())
    assert s.variance == pytest.approx(finite.var())
    assert s.psi_edges == (2.0,)
    assert s.psi_counts().tolist() == [4, 2]


def test_categorical_buckets_hand_checked() -> None:
    binning = fit_binning(_reference(), FEATURES, top_k=1)
    current = pl.LazyFrame({"x": [1.0] * 8, "c": ["a", "b", "z", "y", "z", None, "a", "c"]})
    s = summarize(current, binning)[None]["c"]
    assert isinstance(s, CategoricalSummary)
    assert s.vocabulary == ("a",)
    assert s.counts == (2, 2, 3)  # a | other (b, c) | unseen (z, y, z)
    assert (s.rows, s.nulls, s.unseen_levels, s.unseen_names) == (8, 1, 2, ("y", "z"))
    assert s.labels == ("a", "__other__", "__unseen__")


def test_windows_are_sorted_and_counted() -> None:
    binning = fit_binning(_reference(), FEATURES)
    frame = pl.LazyFrame({"w": [3, 1, 1, 2], "x": [1.0, 2.0, None, 3.0], "c": ["a"] * 4})
    windows = summarize(frame, binning, by="w")
    assert list(windows) == [1, 2, 3]
    assert [windows[w]["x"].rows for w in windows] == [2, 1, 1]
    assert windows[1]["x"].nulls == 1
    by_expr = summarize(frame, binning, by=(pl.col("w") > 1).alias("late"))
    assert list(by_expr) == [False, True]


def test_empty_frame_gives_one_empty_window() -> None:
    binning = fit_binning(_reference(), FEATURES)
    empty = _reference().head(0)
    summaries = summarize(empty, binning)
    assert list(summaries) == [None]
    assert summaries[None]["x"].rows == 0 and summaries[None]["c"].count == 0


def test_missing_window_column_is_an_input_error() -> None:
    binning = fit_binning(_reference(), FEATURES)
    with pytest.raises(InputError, match="window column 'day'"):
        summarize(_reference(), binning, by="day")


def test_bad_columns_do_not_break_the_query() -> None:
    binning = fit_binning(_reference(), FEATURES)
    current = pl.LazyFrame({"x": ["1", None, "3"]})  # numeric configured, strings given
    summaries = summarize(current, binning)[None]
    x, c = summaries["x"], summaries["c"]
    assert x.error and "String" in x.error and (x.rows, x.nulls) == (3, 1)
    assert c.error and "missing" in c.error and (c.rows, c.nulls) == (3, None)


@pytest.mark.parametrize("dtype", [pl.Float64, pl.Null])
def test_all_null_window_is_empty_not_an_error(dtype: pl.DataType) -> None:
    binning = fit_binning(_reference(), FEATURES)
    column = pl.Series([None, None], dtype=dtype)
    summaries = summarize(pl.LazyFrame({"x": column, "c": column}), binning)[None]
    assert summaries["x"].error is None and summaries["x"].count == 0
    assert summaries["x"].nulls == 2 and summaries["c"].nulls == 2
    assert summaries["c"].error is None and summaries["c"].count == 0


def test_thousand_level_categorical() -> None:
    levels = [f"l{i}" for i in range(1200)]
    binning = fit_binning(pl.LazyFrame({"c": levels * 2}), {"c": "categorical"}, top_k=50)
    current = pl.LazyFrame({"c": levels + [f"new{i}" for i in range(40)]})
    s = summarize(current, binning)[None]["c"]
    assert isinstance(s, CategoricalSummary)
    assert sum(s.counts[:50]) == 50 and s.other == 1150 and s.unseen == 40
    assert s.unseen_levels == 40 and len(s.unseen_names) == 20
    assert s.unseen_names == tuple(sorted(f"new{i}" for i in range(40))[:20])


def test_round_trip_through_json() -> None:
    binning = fit_binning(_reference(), FEATURES)
    current = pl.LazyFrame({"x": [1.0, 7.0, None], "c": ["a", "q", None]})
    for summary in summarize(current, binning)[None].values():
        data = json.loads(json.dumps(summary.to_dict(), allow_nan=False))
        assert summary_from_dict(data) == summary


def test_merge_rejects_different_binnings() -> None:
    a = summarize(_reference(), fit_binning(_reference(), FEATURES))[None]["x"]
    other = pl.LazyFrame({"x": [10.0, 20.0], "c": ["a", "b"]})
    b = summarize(_reference(), fit_binning(other, FEATURES))[None]["x"]
    with pytest.raises(ValueError, match="different bin edges"):
        merge(a, b)
    with pytest.raises(ValueError):
        merge(a, summarize(_reference(), fit_binning(other, FEATURES))[None]["c"])


def test_merge_keeps_errors_commutatively() -> None:
    binning = fit_binning(_reference(), FEATURES)
    good = summarize(_reference(), binning)[None]["x"]
    bad = summarize(pl.LazyFrame({"x": ["a"]}), binning)[None]["x"]
    assert merge(good, bad) == merge(bad, good)
    assert merge(good, bad).error and merge(good, bad).rows == 6


values = st.one_of(
    st.none(),
    st.sampled_from([0.0, 1.0, 2.0, 2.0, float("nan"), float("inf")]),
    st.floats(-1e6, 1e6, allow_nan=False),
)
rows = st.lists(
    st.tuples(values, st.sampled_from(["a", "b", "c", "u1", "u2", None]),
              st.integers(0, 3)),
    min_size=0, max_size=60,
)


@settings(max_examples=60, deadline=None)
@given(rows)
def test_merging_windows_equals_summarising_their_union(data: list[tuple]) -> None:
    reference = pl.LazyFrame({"x": [-5.0, 0.0, 1.0, 2.0, 2.0, 3.5, 100.0],
                              "c": ["a", "a", "b", "c", "c", "c", None]})
    binning = fit_binning(reference, FEATURES, n_bins=3, top_k=2, fine_bins=4)
    frame = pl.LazyFrame({"x": [r[0] for r in data], "c": [r[1] for r in data],
                          "w": [r[2] for r in data]},
                         schema={"x": pl.Float64, "c": pl.String, "w": pl.Int64})
    whole = summarize(frame, binning)[None]
    windows = list(summarize(frame, binning, by="w").values())
    for feature in FEATURES:
        parts = [w[feature] for w in windows]
        merged = reduce(merge, parts, whole[feature].__class__.empty(
            feature, binning.numeric.get(feature) or binning.categorical[feature]))
        _assert_same(merged, whole[feature])
        if len(parts) >= 3:
            left = merge(merge(parts[0], parts[1]), parts[2])
            right = merge(parts[0], merge(parts[2], parts[1]))
            _assert_same(left, right)


def _assert_same(a: NumericSummary | CategoricalSummary, b: NumericSummary | CategoricalSummary
                 ) -> None:
    assert (a.rows, a.nulls, list(a.counts)) == (b.rows, b.nulls, list(b.counts))
    if isinstance(a, NumericSummary) and isinstance(b, NumericSummary):
        assert (a.nonfinite, a.minimum, a.maximum) == (b.nonfinite, b.minimum, b.maximum)
        scale = max(1.0, max(abs(v) for v in (a.minimum or 0.0, a.maximum or 0.0)))
        assert math.isclose(a.mean, b.mean, rel_tol=1e-9, abs_tol=1e-12 * scale)
        assert math.isclose(a.m2, b.m2, rel_tol=1e-9, abs_tol=1e-9 * scale**2)
        np.testing.assert_allclose(a.sums, b.sums, rtol=1e-9, atol=1e-9 * scale)
    else:
        assert (a.unseen_levels, a.unseen_names) == (b.unseen_levels, b.unseen_names)


def test_one_scan_for_every_feature_and_window(tmp_path: Path) -> None:
    path = tmp_path / "part.parquet"
    pl.DataFrame({"x": [1.0, 2.0, 3.0], "y": [4.0, 5.0, 6.0], "c": ["a", "b", "a"],
                  "w": [0, 1, 1]}).write_parquet(path)
    features = {"x": "numeric", "y": "numeric", "c": "categorical"}
    binning = fit_binning(pl.scan_parquet(path), features)
    plan = summary_query(pl.scan_parquet(path), binning, by="w").explain()
    assert plan.count("SCAN") == 1, plan
    windows = summarize(pl.scan_parquet(path), binning, by="w")
    assert [windows[w]["y"].rows for w in windows] == [1, 2]


def test_window_expression_on_a_missing_column_is_an_input_error() -> None:
    binning = fit_binning(_reference(), FEATURES)
    with pytest.raises(InputError, match="cannot summarise"):
        summarize(_reference(), binning, by=pl.col("ts").dt.truncate("1d"))
