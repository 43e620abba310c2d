"""Slice keys, segment labels and ordering; interval helpers against scipy."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest
from scipy.stats import binomtest

from evalctl.config import SliceSpec
from evalctl.errors import InputError
from evalctl.metrics import (
    SliceKey,
    binned_slice,
    column_slice,
    compute_metrics,
    crossed_slice,
    slices_from_config,
    wilson_interval,
)
from evalctl.metrics.intervals import mean_interval, percentile_interval, z_value
from evalctl.metrics.slices import bin_labels


def segments_of(df: pl.DataFrame, key: SliceKey) -> dict[str, int]:
    out = compute_metrics(df, "binary_classification", label="y", prediction="p",
                          slices=[key], metrics=["accuracy"])
    rows = out.filter(pl.col("slice") == key.name)
    return dict(zip(rows["segment"], rows["n"], strict=True))


def test_bin_labels_and_membership():
    assert bin_labels([0, 25, 40.5]) == ["< 0", "[0, 25)", "[25, 40.5]", "> 40.5"]
    df = pl.DataFrame({"age": [-1.0, 0.0, 24.9, 25.0, 40.5, 41.0, None, float("nan")],
                       "y": [1] * 8, "p": [1] * 8})
    got = segments_of(df, binned_slice("age", [0, 25, 40.5]))
    assert list(got) == ["< 0", "[0, 25)", "[25, 40.5]", "> 40.5", "(missing)"]
    assert list(got.values()) == [1, 2, 2, 1, 2]


def test_categorical_nulls_last_numbers_numeric_and_crosses():
    df = pl.DataFrame({"c": ["b", None, "a", "b"], "k": [10, 2, 2, 10], "f": [1.5, None, 0.5, 1.5],
                       "flag": [True, False, True, None], "y": [1, 0, 1, 0], "p": [1, 1, 0, 0]})
    assert list(segments_of(df, column_slice("c"))) == ["a", "b", "(missing)"]
    assert list(segments_of(df, column_slice("k"))) == ["2", "10"]
    assert list(segments_of(df, column_slice("f"))) == ["0.5", "1.5", "(missing)"]
    assert list(segments_of(df, column_slice("flag"))) == ["false", "true", "(missing)"]
    cross = crossed_slice("c", binned_slice("k", [0, 5, 20]))
    assert cross.name == "c x k"
    assert segments_of(df, cross) == {"a & [0, 5)": 1, "b & [5, 20]": 2, "(missing) & [0, 5)": 1}
    expr_key = SliceKey("big", (pl.col("k") > 5,))
    assert segments_of(df, expr_key) == {"false": 2, "true": 2}


def test_slices_from_config():
    specs = [
        SliceSpec(features=("age",), bins=(0.0, 30.0, 90.0)),
        SliceSpec(features=("country",)),
        SliceSpec(features=("country", "device"), name="where"),
        SliceSpec(features=("income",), quantiles=4),
    ]
    keys = slices_from_config(specs, {"income": [0, 10, 20, 40, 80]})
    assert [k.name for k in keys] == ["age", "country", "where", "income"]
    assert [len(k.exprs) for k in keys] == [1, 1, 2, 1]
    with pytest.raises(InputError, match="quantile edges were not fitted"):
        slices_from_config(specs)
    with pytest.raises(InputError, match="bins and quantiles apply to one feature"):
        slices_from_config([SliceSpec(features=("a", "b"), bins=(0.0, 1.0))])


def test_slice_errors():
    df = pl.DataFrame({"y": [0, 1], "p": [0, 1], "c": ["a", "b"]})
    with pytest.raises(InputError, match="reserved"):
        SliceKey("overall", (pl.col("c"),))
    with pytest.raises(InputError, match="at least one expression"):
        SliceKey("empty", ())
    with pytest.raises(InputError, match="increasing edges"):
        binned_slice("c", [3, 1])
    with pytest.raises(InputError, match="slice 'bad'"):
        compute_metrics(df, "binary_classification", label="y", prediction="p",
                        slices=[SliceKey("bad", (pl.col("nope"),))])
    with pytest.raises(InputError, match="used twice"):
        compute_metrics(df, "binary_classification", label="y", prediction="p",
                        slices=[column_slice("c"), column_slice("c")])
    with pytest.raises(InputError, match="with itself"):
        compute_metrics(df, "binary_classification", label="y", prediction="p",
                        slices=[crossed_slice("c", "c")])


def test_shared_key_expressions_across_slices():
    df = pl.DataFrame({"c": ["a", "b", "a"], "d": ["x", "x", "y"], "y": [1, 0, 1], "p": [1, 1, 1]})
    out = compute_metrics(df, "binary_classification", label="y", prediction="p",
                          slices=[column_slice("c"), crossed_slice("c", "d"), column_slice("d")],
                          metrics=["precision"])
    assert out["segment"].to_list() == ["all", "a", "b", "a & x", "a & y", "b & x", "x", "y"]


def test_wilson_matches_scipy():
    xs, ns = np.array([0, 1, 3, 50, 99, 100, 7]), np.array([10, 1, 10, 100, 100, 100, 1000])
    low, high = wilson_interval(xs, ns, 0.9)
    for i in range(len(xs)):
        ci = binomtest(int(xs[i]), int(ns[i])).proportion_ci(0.9, method="wilson")
        assert (low[i], high[i]) == pytest.approx((ci.low, ci.high), abs=1e-12)
    assert np.isnan(wilson_interval(np.array([0]), np.array([0]), 0.95)[0][0])


def test_mean_and_percentile_helpers():
    values = np.random.default_rng(1).normal(3, 2, 50)
    mean, low, high = mean_interval(values.sum(), (values**2).sum(), 50, 0.95)
    half = z_value(0.95) * values.std(ddof=1) / math.sqrt(50)
    assert (mean, low, high) == pytest.approx((values.mean(), values.mean() - half,
                                               values.mean() + half))
    assert z_value(0.95) == pytest.approx(1.959963984540054)
    assert percentile_interval(np.array([np.nan, 1.0, 2.0, 3.0]), 0.5) == pytest.approx(
        (1.5, 2.5))


def test_compute_model_metrics_uses_config_columns_and_slices():
    from evalctl.config import ModelConfig
    from evalctl.metrics import compute_model_metrics

    model = ModelConfig(
        name="m", task="binary_classification", id="id", timestamp="ts",
        features={"age": "numeric", "c": "categorical"}, score="s", label="y", threshold=0.4,
        slices=(SliceSpec(features=("age",), bins=(0.0, 50.0, 100.0)),
                SliceSpec(features=("c",))),
    )
    df = pl.DataFrame({"y": [0, 1, 1, 0], "s": [0.45, 0.9, 0.2, 0.1], "age": [10, 20, 70, 80],
                       "c": ["a", "b", "a", "b"]})
    out = compute_model_metrics(df, model, metrics=["positive_rate"])
    assert out["slice"].to_list() == ["overall", "age", "age", "c", "c"]
    assert out["value"][0] == pytest.approx(0.5)  # threshold 0.4 from the config
    with pytest.raises(InputError, match="no label column"):
        compute_model_metrics(df, ModelConfig(name="m", task="regression", id="i",
                                              timestamp="t", features={}, score="s"))
