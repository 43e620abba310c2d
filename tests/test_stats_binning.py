"""fit_binning: reference-quantile edges, top-K vocabularies, errors recorded, not raised."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest

from evalctl.stats import Binning, fit_binning
from evalctl.stats.binning import fine_levels


def test_numeric_edges_are_reference_values_deduplicated_on_ties() -> None:
    values = [20, 20, 20, 20, 30, 30, 40, 50, 60, 70]
    binning = fit_binning(pl.LazyFrame({"age": values}), {"age": "numeric"}, n_bins=4, fine_bins=6)
    bins = binning.numeric["age"]
    assert bins.psi_edges == (20.0, 30.0, 40.0)
    assert list(bins.psi_edges) == list(np.quantile(values, [0.25, 0.5, 0.75], method="lower"))
    ties = fit_binning(pl.LazyFrame({"b": [0] * 95 + [1] * 5}), {"b": "numeric"})
    assert ties.numeric["b"].psi_edges == (0.0,)
    # discrete data (at most fine_bins distinct values): every distinct value is an edge
    assert set(bins.edges) == {20.0, 30.0, 40.0, 50.0, 60.0, 70.0}
    assert list(bins.edges) == sorted(bins.edges)


def test_continuous_edges_span_min_to_max_and_contain_psi_edges() -> None:
    values = np.random.default_rng(1).normal(size=5000)
    binning = fit_binning(pl.LazyFrame({"x": values}), {"x": "numeric"}, fine_bins=200)
    bins = binning.numeric["x"]
    assert bins.edges[0] == values.min() and bins.edges[-1] == values.max()
    assert set(bins.psi_edges) <= set(bins.edges)
    assert len(bins.psi_edges) == 9
    deciles = np.quantile(values, np.linspace(0.1, 0.9, 9), method="lower")
    np.testing.assert_allclose(bins.psi_edges, deciles, rtol=0, atol=np.ptp(values) / 1000)


def test_fine_levels_are_denser_in_the_tails() -> None:
    levels = fine_levels(100)
    assert levels[0] == 0.0 and levels[-1] == 1.0
    assert np.diff(levels[:5]).max() < 0.01 < np.diff(levels[40:60]).max() + 1e-12


def test_top_k_vocabulary_by_count_then_name() -> None:
    frame = pl.LazyFrame({"c": ["b", "a", "c", "c", "b", None, "d"]})
    bins = fit_binning(frame, {"c": "categorical"}, top_k=2).categorical["c"]
    assert bins.vocabulary == ("b", "c")
    assert bins.known == frozenset("abcd") and bins.known_complete


def test_vocabulary_of_a_thousand_levels() -> None:
    levels = [f"level{i:04d}" for i in range(1500)]
    frame = pl.LazyFrame({"c": levels + levels[:10]})
    bins = fit_binning(frame, {"c": "categorical"}, top_k=50).categorical["c"]
    assert len(bins.vocabulary) == 50 and bins.vocabulary[:10] == tuple(levels[:10])
    assert len(bins.known) == 1500 and bins.known_complete


def test_known_levels_are_capped() -> None:
    frame = pl.LazyFrame({"c": [str(i) for i in range(30)]})
    bins = fit_binning(frame, {"c": "categorical"}, top_k=5, max_levels=10).categorical["c"]
    assert len(bins.known) == 10 and not bins.known_complete


def test_bad_columns_are_recorded_not_raised() -> None:
    frame = pl.LazyFrame({
        "text": ["a", "b"],
        "empty": pl.Series([None, None], dtype=pl.Float64),
        "nulls": [None, None],
        "nested": [[1], [2]],
        "ok": [1.0, 2.0],
    })
    features = {"text": "numeric", "empty": "numeric", "nulls": "categorical",
                "nested": "categorical", "missing": "numeric", "ok": "numeric"}
    binning = fit_binning(frame, features)
    assert set(binning.errors) == {"text", "empty", "nulls", "nested", "missing"}
    assert "String" in binning.errors["text"]
    assert "no finite values" in binning.errors["empty"]
    assert "missing" in binning.errors["missing"]
    assert binning.numeric["ok"].edges == (1.0, 2.0)


def test_non_finite_values_are_ignored_for_edges() -> None:
    frame = pl.LazyFrame({"x": [1.0, float("inf"), float("nan"), None, 2.0]})
    assert fit_binning(frame, {"x": "numeric"}).numeric["x"].edges == (1.0, 2.0)


def test_binning_round_trips_through_json() -> None:
    frame = pl.LazyFrame({"x": np.arange(100.0), "c": ["a", "b"] * 50, "s": ["z"] * 100})
    binning = fit_binning(frame, {"x": "numeric", "c": "categorical", "s": "numeric"})
    again = Binning.from_dict(json.loads(json.dumps(binning.to_dict())))
    assert again == binning


def test_invalid_parameters_raise() -> None:
    with pytest.raises(ValueError):
        fit_binning(pl.LazyFrame({"x": [1.0]}), {"x": "numeric"}, n_bins=1)
