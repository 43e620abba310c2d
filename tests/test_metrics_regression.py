"""Regression metrics per slice against scikit-learn, intervals against direct numpy formulas."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest
from sklearn import metrics as skm

from evalctl.metrics import column_slice, compute_metrics

Z95 = 1.959963984540054


def make_frame(n: int = 1500, seed: int = 0, offset: float = 0.0) -> pl.DataFrame:
    """Groups a/b/c, a constant-label group, a one-row group; zero labels (MAPE), null labels,
    NaN and infinite predictions."""
    rng = np.random.default_rng(seed)
    y = offset + np.round(rng.normal(10, 4, n), 0)  # rounding makes some labels exactly 0
    pred = y + rng.normal(0.5, 2, n)
    group = rng.choice(["a", "b", "c"], n).astype(object)
    group[:20] = "const"
    y[:20] = offset + 5.0
    group[20] = "one"
    y[30:40] = np.nan
    pred[40:45] = np.nan
    pred[45] = np.inf
    return pl.DataFrame({"y": pl.Series(y, nan_to_null=True), "p": pred,
                         "g": group.astype(str)})


@pytest.fixture(scope="module")
def data() -> tuple[pl.DataFrame, pl.DataFrame]:
    df = make_frame()
    return df, compute_metrics(df, "regression", label="y", score="p",
                               slices=[column_slice("g")])


def lookup(out: pl.DataFrame, slice_name: str, segment: str) -> dict[str, dict]:
    rows = out.filter((pl.col("slice") == slice_name) & (pl.col("segment") == segment))
    return {r["metric"]: r for r in rows.iter_rows(named=True)}


def segments(df: pl.DataFrame):
    g = df["g"].to_numpy()
    yield "overall", "all", np.ones(df.height, bool)
    for segment in np.unique(g):
        yield "g", str(segment), g == segment


def valid(df: pl.DataFrame, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y, p = df["y"].to_numpy(), df["p"].to_numpy()
    keep = mask & np.isfinite(y) & np.isfinite(p)
    return y[keep], p[keep]


def test_metrics_match_sklearn(data):
    df, out = data
    for slice_name, segment, mask in segments(df):
        y, p = valid(df, mask)
        got = lookup(out, slice_name, segment)
        assert got["mae"]["value"] == pytest.approx(skm.mean_absolute_error(y, p))
        assert got["rmse"]["value"] == pytest.approx(skm.root_mean_squared_error(y, p))
        assert got["mean_error"]["value"] == pytest.approx(np.mean(p - y))
        nonzero = y != 0
        if nonzero.any():
            want = skm.mean_absolute_percentage_error(y[nonzero], p[nonzero])
            assert got["mape"]["value"] == pytest.approx(want)
        if len(y) >= 2 and np.ptp(y) > 0:
            assert got["r2"]["value"] == pytest.approx(skm.r2_score(y, p), rel=1e-9)


def test_counts_and_mape_note(data):
    df, out = data
    overall = lookup(out, "overall", "all")
    y, p = valid(df, np.ones(df.height, bool))
    assert overall["mae"]["n"] == len(y)
    assert overall["mae"]["n_missing_label"] == 10
    assert overall["mae"]["n_excluded"] == 6  # 5 NaN + 1 infinite prediction
    zeros = int((y == 0).sum())
    assert zeros > 0
    assert overall["mape"]["note"] == f"excluded {zeros} rows with label 0"
    assert overall["mape"]["support"] == len(y) - zeros


def test_undefined_r2(data):
    _, out = data
    assert lookup(out, "g", "const")["r2"]["reason"] == "constant label in segment"
    one = lookup(out, "g", "one")
    assert one["r2"]["value"] is None
    assert one["r2"]["reason"] == "fewer than 2 rows in segment"
    assert one["mae"]["value"] is not None and one["mae"]["ci_low"] is None


def test_all_zero_labels_mape():
    df = pl.DataFrame({"y": [0.0, 0.0, 0.0], "p": [0.1, -0.2, 0.0]})
    got = lookup(compute_metrics(df, "regression", label="y", prediction="p"), "overall", "all")
    assert got["mape"]["value"] is None
    assert got["mape"]["reason"] == "all labels are 0 in segment"
    assert got["mape"]["note"] == "excluded 3 rows with label 0"


def test_mean_and_rmse_intervals(data):
    df, out = data
    y, p = valid(df, np.ones(df.height, bool))
    got = lookup(out, "overall", "all")
    e = p - y
    half = Z95 * np.abs(e).std(ddof=1) / math.sqrt(len(e))
    assert got["mae"]["ci_low"] == pytest.approx(np.abs(e).mean() - half)
    half = Z95 * e.std(ddof=1) / math.sqrt(len(e))
    assert got["mean_error"]["ci_high"] == pytest.approx(e.mean() + half)
    rmse = math.sqrt(np.mean(e**2))
    se = (e**2).std(ddof=1) / math.sqrt(len(e)) / (2 * rmse)
    assert got["rmse"]["ci_high"] == pytest.approx(rmse + Z95 * se)


def r2_se(y: np.ndarray, p: np.ndarray) -> float:
    """Influence-function standard error of R², straight from centred data."""
    u, v = (p - y) ** 2, (y - y.mean()) ** 2
    a, s = u.mean(), v.mean()
    influence = -(u - a) / s + a * (v - s) / s**2
    return math.sqrt(np.mean(influence**2) / len(y))


@pytest.mark.parametrize("offset", [0.0, 1e6])
def test_r2_interval_is_delta_method_even_far_from_zero(offset):
    df = make_frame(seed=2, offset=offset)
    out = compute_metrics(df, "regression", label="y", score="p", slices=[column_slice("g")])
    for slice_name, segment, mask in segments(df):
        y, p = valid(df, mask)
        if len(y) < 2 or np.ptp(y) == 0:
            continue
        got = lookup(out, slice_name, segment)["r2"]
        r2 = skm.r2_score(y, p)
        assert got["value"] == pytest.approx(r2, rel=1e-6)
        assert got["ci_low"] == pytest.approx(r2 - Z95 * r2_se(y, p), rel=1e-5)


def test_prediction_column_used_when_no_score():
    df = pl.DataFrame({"y": [1.0, 2.0, 3.0, 4.0], "p": [1.5, 2.0, 2.5, 5.0]})
    got = lookup(compute_metrics(df, "regression", label="y", prediction="p"), "overall", "all")
    assert got["mae"]["value"] == pytest.approx(0.5)
    assert got["r2"]["value"] == pytest.approx(skm.r2_score([1, 2, 3, 4], [1.5, 2, 2.5, 5]))
