"""Multiclass metrics per slice against scikit-learn; bootstrap against a row bootstrap."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from sklearn import metrics as skm

from evalctl.metrics import column_slice, compute_metrics


def make_frame(n: int = 1200, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 4, n)
    pred = np.where(rng.random(n) < 0.6, y, rng.integers(0, 4, n))
    group = rng.choice(["a", "b"], n).astype(object)
    group[:15], y[:15] = "single", 2  # one class in the labels
    group[15] = "one"
    labels = pl.Series(y).scatter([20, 21, 22], None)
    preds = pl.Series(pred).scatter([23, 24], None)
    return pl.DataFrame({"y": labels, "p": preds, "g": group.astype(str)})


def lookup(out: pl.DataFrame, slice_name: str, segment: str) -> dict[str, dict]:
    rows = out.filter((pl.col("slice") == slice_name) & (pl.col("segment") == segment))
    return {r["metric"]: r for r in rows.iter_rows(named=True)}


@pytest.fixture(scope="module")
def data() -> tuple[pl.DataFrame, pl.DataFrame]:
    df = make_frame()
    out = compute_metrics(df, "multiclass_classification", label="y", prediction="p",
                          slices=[column_slice("g")])
    return df, out


def test_metrics_match_sklearn(data):
    df, out = data
    g = df["g"].to_numpy()
    keep = df["y"].is_not_null().to_numpy() & df["p"].is_not_null().to_numpy()
    for slice_name, segment, mask in [("overall", "all", np.ones(df.height, bool))] + [
        ("g", s, g == s) for s in np.unique(g)
    ]:
        y, p = df["y"].to_numpy()[mask & keep], df["p"].to_numpy()[mask & keep]
        got = lookup(out, slice_name, segment)
        assert got["accuracy"]["value"] == pytest.approx(skm.accuracy_score(y, p))
        assert got["macro_f1"]["value"] == pytest.approx(skm.f1_score(y, p, average="macro"))
        assert got["weighted_f1"]["value"] == pytest.approx(
            skm.f1_score(y, p, average="weighted"))
        assert got["accuracy"]["n"] == len(y)


def test_counts(data):
    _, out = data
    got = lookup(out, "overall", "all")["accuracy"]
    assert (got["n_missing_label"], got["n_excluded"]) == (3, 2)


def test_string_and_mixed_class_types():
    df = pl.DataFrame({"y": ["cat", "dog", "dog", "bird", "cat"],
                       "p": ["cat", "dog", "cat", "bird", "bird"]})
    got = lookup(compute_metrics(df, "multiclass_classification", label="y", prediction="p"),
                 "overall", "all")
    assert got["macro_f1"]["value"] == pytest.approx(
        skm.f1_score(df["y"], df["p"], average="macro"))
    mixed = pl.DataFrame({"y": [1, 2, 2, 3], "p": ["1", "2", "3", "3"]})
    got = lookup(compute_metrics(mixed, "multiclass_classification", label="y", prediction="p"),
                 "overall", "all")
    assert got["accuracy"]["value"] == pytest.approx(0.75)


def test_bootstrap_interval_close_to_row_bootstrap(data):
    df, out = data
    clean = df.drop_nulls()
    y, p = clean["y"].to_numpy(), clean["p"].to_numpy()
    rng = np.random.default_rng(0)
    draws = [skm.f1_score(y[i], p[i], average="macro")
             for i in rng.integers(0, len(y), size=(400, len(y)))]
    low, high = np.quantile(draws, [0.025, 0.975])
    got = lookup(out, "overall", "all")["macro_f1"]
    assert got["ci_low"] == pytest.approx(low, abs=0.01)
    assert got["ci_high"] == pytest.approx(high, abs=0.01)
    assert got["ci_method"] == "bootstrap (confusion cells)"
