"""Regression metrics per slice against scikit-learn, intervals against direct numpy formulas."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest
from sklearn import metrics as skm

from evalctl.metrics import column_slice, compute_metrics, crossed_slice, regression
from evalctl.metrics.spec import LABEL, PREDICTION, Columns, Options

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


@pytest.mark.filterwarnings("error::RuntimeWarning")  # 2^300: e^4 is inf, and that is expected
@pytest.mark.parametrize("scale", [2.0**-900, 1.0, 2.0**300])
def test_fixed_point_moments_match_fsum_and_do_not_depend_on_row_order(scale) -> None:
    """The moment sums are fixed-point integers on grids from the frame's largest |error| /
    |centred label| (see metrics.regression.prepare): per segment equal to brute-force fsum
    means, with ties, null and non-finite rows, near-cancelling errors, tiny and huge values
    (at 2^300 the fourth powers overflow: those sums stay floats, inf as a float sum gives),
    and the same bits whatever the row order, also through slices rolled up from a cross."""
    df = make_frame(n=6000, seed=3).with_columns(pl.col("y") * scale, pl.col("p") * scale)
    df = df.with_columns(pl.Series("h", np.arange(df.height) % 3))
    slices = [column_slice("g"), column_slice("h"),
              crossed_slice("g", column_slice("h"))]
    run = [compute_metrics(frame, "regression", label="y", score="p", slices=slices,
                           metrics=["mae", "mean_error", "rmse"])
           for frame in (df, df.sample(fraction=1.0, shuffle=True, seed=1))]
    assert run[0].write_json() == run[1].write_json()
    out = run[0]
    for slice_name, segment, mask in segments(df):
        y, p = valid(df, mask)
        got = lookup(out, slice_name, segment)
        e = [float(x) for x in p - y]
        assert got["mae"]["value"] == pytest.approx(math.fsum(abs(x) for x in e) / len(e),
                                                    rel=1e-14)
        assert got["mean_error"]["value"] == pytest.approx(math.fsum(e) / len(e), rel=1e-12,
                                                           abs=1e-15 * scale)
        squares = math.fsum(x * x for x in e)
        if squares == 0 and any(e):  # 2^-900: every square underflows, an RMSE of 0 is none
            assert got["rmse"]["value"] is None
            continue
        rmse = math.sqrt(squares / len(e)) if math.isfinite(squares) else math.inf
        assert got["rmse"]["value"] == pytest.approx(rmse, rel=1e-14)
    base = df.lazy().select(pl.col("y").alias(LABEL), pl.col("p").alias(PREDICTION))
    schema = regression.prepare(base, Columns(label="y", score="p"), frozenset(), Options(),
                                []).collect_schema()
    assert schema["__e"] == schema["__yc"] == pl.Int128  # fixed point: summed as integers
    # e^4 beyond float64's range at 2^300 and 2^-900 (inf; below 2^-962): no grid, summed
    # as floats (inf as a float sum gives; tiny: right but not order-free)
    assert schema["__e4"] == (pl.Int128 if scale == 1.0 else pl.Float64)
