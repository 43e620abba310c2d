"""Slices rolled up from a finer slice's sums (``a`` and ``overall`` from ``a x b``) give exactly
what grouping the rows does, checked against scikit-learn / numpy per segment."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal
from sklearn import metrics as skm

from evalctl.metrics import column_slice, compute_metrics, crossed_slice
from evalctl.metrics.slices import maximal_groupings

ROLLED = [column_slice("a"), column_slice("b"), crossed_slice("a", "b")]
ADDITIVE_BINARY = ["accuracy", "precision", "recall", "f1", "positive_rate", "log_loss",
                   "brier", "ece"]


def frame(n: int = 2500, seed: int = 3) -> pl.DataFrame:
    """Two keys (a has a null level, b a rare level), ties, null labels, NaN scores."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.4).astype(float)
    s = np.round(np.clip(rng.normal(0.4 + 0.2 * y, 0.25), 0, 1), 1)
    y[rng.random(n) < 0.05] = np.nan
    s[rng.random(n) < 0.03] = np.nan
    a = rng.choice(["x", "y", "z", None], n, p=[0.4, 0.3, 0.25, 0.05])
    b = rng.choice(["p", "q", "rare"], n, p=[0.6, 0.38, 0.02])
    return pl.DataFrame({"y": pl.Series(y, nan_to_null=True), "s": s, "a": a, "b": b,
                         "r": rng.normal(3 * y, 1.0), "c": rng.integers(0, 3, n)})


def segments(df: pl.DataFrame, column: str | None):
    values = np.full(df.height, "all") if column is None else \
        df[column].fill_null("(missing)").to_numpy()
    for segment in np.unique(values):
        yield str(segment), values == segment


def rows_of(out: pl.DataFrame, slice_name: str) -> pl.DataFrame:
    return out.filter(pl.col("slice") == slice_name).drop("slice")


def test_groupings_keep_only_slices_no_other_refines() -> None:
    assert maximal_groupings([[], ["k0"], ["k1"], ["k0", "k1"]]) == [["k0", "k1"]]
    assert maximal_groupings([[], ["k0"], ["k1", "k0"], ["k0", "k1"], ["k2"]]) == [
        ["k1", "k0"], ["k2"]]
    assert maximal_groupings([[]]) == [[]]


def test_binary_rolled_up_segments_match_sklearn() -> None:
    df = frame()
    out = compute_metrics(df, "binary_classification", label="y", score="s", slices=ROLLED,
                          metrics=ADDITIVE_BINARY)
    y_all, s_all = df["y"].to_numpy(), df["s"].to_numpy()
    checked = 0
    for slice_name, column in (("overall", None), ("a", "a"), ("b", "b")):
        for segment, mask in segments(df, column):
            valid = mask & np.isfinite(y_all) & np.isfinite(s_all)
            y, s = y_all[valid].astype(int), s_all[valid]
            got = {r["metric"]: r for r in rows_of(out, slice_name)
                   .filter(pl.col("segment") == segment).iter_rows(named=True)}
            pred = (s >= 0.5).astype(int)
            assert got["accuracy"]["n"] == valid.sum()
            assert got["accuracy"]["n_missing_label"] == (mask & ~np.isfinite(y_all)).sum()
            assert got["accuracy"]["value"] == pytest.approx(skm.accuracy_score(y, pred))
            assert got["f1"]["value"] == pytest.approx(skm.f1_score(y, pred))
            assert got["log_loss"]["value"] == pytest.approx(
                skm.log_loss(y, np.clip(s, 1e-15, 1 - 1e-15), labels=[0, 1]))
            assert got["brier"]["value"] == pytest.approx(skm.brier_score_loss(y, s))
            cells = np.minimum(np.floor(s * 10), 9)
            ece = sum(abs((y - s)[cells == k].sum()) for k in range(10)) / len(y)
            assert got["ece"]["value"] == pytest.approx(ece)
            checked += 1
    assert checked == 1 + 4 + 3


@pytest.mark.parametrize("task, kwargs, metrics", [
    ("binary_classification", {"score": "s"}, ADDITIVE_BINARY),
    ("multiclass_classification", {"prediction": "c"}, None),
    ("regression", {"score": "r"}, None),
])
def test_rolled_up_equals_grouped_over_rows(task, kwargs, metrics) -> None:
    """Every column (values, intervals including seeded bootstraps, counts, reasons) of a
    rolled-up slice equals the same slice computed on its own from the rows."""
    df = frame()
    if task != "binary_classification":
        df = df.with_columns(pl.col("y").fill_null(strategy="zero").round(0).cast(pl.Int64)
                             .clip(0, 2).alias("y"))
    label = "y"
    rolled = compute_metrics(df, task, label=label, slices=ROLLED, metrics=metrics, **kwargs)
    for name in ("a", "b"):
        alone = compute_metrics(df, task, label=label, slices=[column_slice(name)],
                                metrics=metrics, **kwargs)
        for slice_name in (name, "overall"):
            # floating sums are added in another order: equal to the last few bits
            assert_frame_equal(rows_of(rolled, slice_name), rows_of(alone, slice_name),
                               check_exact=False, rel_tol=1e-12, abs_tol=1e-15)


def test_ranking_rolled_up_equals_grouped_over_queries() -> None:
    rng = np.random.default_rng(5)
    queries = np.repeat(np.arange(200), 5)
    df = pl.DataFrame({
        "q": queries, "rel": rng.integers(0, 3, len(queries)),
        "score": np.round(rng.random(len(queries)), 1),
        "country": np.array(["BR", "US", "DE"])[queries % 3],
        "device": np.array(["tv", "phone"])[(queries // 3) % 2],
    })
    both = [column_slice("country"), column_slice("device"), crossed_slice("country", "device")]
    rolled = compute_metrics(df, "ranking", label="rel", score="score", group="q", slices=both)
    alone = compute_metrics(df, "ranking", label="rel", score="score", group="q",
                            slices=[column_slice("country")])
    assert_frame_equal(rows_of(rolled, "country"), rows_of(alone, "country"),
                       check_exact=False, rel_tol=1e-12, abs_tol=1e-15)
    # brute force: the mean over a country's queries of the per-query hit@10 (all hit: 5 items)
    hits = rows_of(rolled, "country").filter(pl.col("metric") == "hit_rate")
    relevant = df.group_by("q", "country").agg((pl.col("rel") > 0).any().alias("hit"))
    expected = relevant.group_by("country").agg(pl.col("hit").mean()).sort("country")
    got = hits.sort("segment")
    assert np.allclose(got["value"].to_numpy(), expected["hit"].to_numpy())
    assert all(not math.isnan(v) for v in got["value"])


@pytest.mark.parametrize("task, kwargs, metrics", [
    ("binary_classification", {"score": "s"}, ["accuracy"]),  # summed path
    ("binary_classification", {"score": "s"}, ["roc_auc"]),  # rank path
    ("regression", {"score": "s"}, None),
    ("multiclass_classification", {"prediction": "c"}, None),
])
def test_no_rows_is_an_input_error(task, kwargs, metrics) -> None:
    from evalctl.errors import InputError

    empty = frame().head(0)
    for slices in (ROLLED, None):
        with pytest.raises(InputError, match="no rows to evaluate"):
            compute_metrics(empty, task, label="y", slices=slices, metrics=metrics, **kwargs)


@pytest.mark.parametrize("task, kwargs, metrics", [
    ("binary_classification", {"score": "s"}, ADDITIVE_BINARY),
    ("binary_classification", {"score": "s"}, ["roc_auc", "accuracy"]),  # rank path
    ("multiclass_classification", {"prediction": "c"}, None),
    ("regression", {"score": "r"}, None),
])
def test_low_memory_mode_gives_the_same_frame(task, kwargs, metrics) -> None:
    df = frame()
    if task == "multiclass_classification":
        df = df.with_columns(pl.col("y").fill_null(0).cast(pl.Int64))
    lf = df.lazy()
    shared = compute_metrics(lf, task, label="y", slices=ROLLED, metrics=metrics, **kwargs)
    streamed = compute_metrics(lf, task, label="y", slices=ROLLED, metrics=metrics,
                               low_memory=True, **kwargs)
    assert_frame_equal(shared, streamed, check_exact=False, rel_tol=1e-12, abs_tol=1e-15)
