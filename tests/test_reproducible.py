"""Reproducible to the bit: the same data and command give the same bytes on every run.

Polars' parallel hash group-by adds a group's floats in whatever order its threads meet them,
so plain grouped float sums differ in the last bits from run to run on data big enough to be
split across threads (tens of thousands of rows). The engines sum floats order-free
(`evalctl.stats.exact`); these tests run each computation many times on such data and ask for
one distinct result, and run every report command of the sample story twice.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import polars as pl
import pytest

from evalctl.metrics import binned_slice, column_slice, compute_metrics, crossed_slice
from evalctl.stats import cbpe
from evalctl.stats.decompose import feature_segments
from evalctl.stats.exact import (
    bound_grid,
    bound_scale,
    exact_sum,
    exact_sums,
    exact_total,
    fixed_point,
    from_fixed_point,
    grid_scale,
    with_grids,
)
from evalctl.stats.paired import FAMILY
from evalctl.stats.paired_segments import compare_segments, materialise_keys

RUNS = 20
ROWS = 60_000


def _distinct(compute: Callable[[], Any], runs: int = RUNS) -> int:
    """How many different results `runs` calls give (compared as their repr: every bit)."""
    return len({repr(compute()) for _ in range(runs)})


def _frame_bits(frame: pl.DataFrame) -> str:
    return frame.write_json()


@pytest.fixture(scope="module")
def rows() -> pl.DataFrame:
    rng = np.random.default_rng(5)
    score = rng.random(ROWS)
    frame = pl.DataFrame({
        "g": rng.integers(0, 200, ROWS), "h": rng.choice(["a", "b", "c", "d"], ROWS),
        "x": rng.normal(0.0, 1.0, ROWS), "y": (rng.random(ROWS) < score).astype(float),
        "s": score, "s2": np.clip(score + rng.normal(0, 0.2, ROWS), 0, 1),
        "q": rng.integers(0, 5_000, ROWS), "rel": rng.integers(0, 4, ROWS).astype(float),
        "v": rng.lognormal(3.0, 1.0, ROWS),
    })
    return frame.with_columns((pl.col("q") % 3).alias("qs"))  # one value per query


# -- the order-free sum itself -------------------------------------------------------------

def test_grouped_exact_sums_are_one_result_and_match_fsum(rows: pl.DataFrame) -> None:
    def run() -> pl.DataFrame:
        return (with_grids(rows.lazy(), ["x", "v"]).group_by("g").agg(exact_sums(["x", "v"]))
                .collect().sort("g"))

    assert _distinct(lambda: _frame_bits(run())) == 1
    out = run()
    for (g,), part in rows.group_by("g"):
        got = out.filter(pl.col("g") == g).row(0, named=True)
        for c in ("x", "v"):
            assert got[c] == pytest.approx(math.fsum(part[c].to_list()), rel=1e-15, abs=1e-15)


def test_exact_sums_keep_nulls_nan_inf_and_empty_groups_as_sum_does() -> None:
    frame = pl.DataFrame({"g": [1, 1, 2, 2, 3, 4, 5], "x": [1.5, 2.25, None, None, 0.0, 4.0, -1.0]})
    out = (with_grids(frame.lazy(), ["x"]).group_by("g").agg(exact_sums(["x"])).collect()
           .sort("g"))
    assert out["x"].to_list() == [3.75, 0.0, 0.0, 4.0, -1.0]
    for bad, expected in ((float("inf"), math.inf), (float("nan"), None)):
        odd = frame.with_columns(pl.when(pl.col("g") == 3).then(bad).otherwise(pl.col("x"))
                                 .alias("x"))
        got = (with_grids(odd.lazy(), ["x"]).group_by("g").agg(exact_sums(["x"])).collect()
               .sort("g"))["x"].to_list()
        assert got[0] == 3.75
        assert got[2] == expected if expected is not None else math.isnan(got[2])
    empty = with_grids(frame.lazy().filter(pl.col("g") > 9), ["x"])
    assert empty.select(exact_sums(["x"])).collect()["x"].to_list() == [0.0]
    tiny = pl.DataFrame({"x": [1e-300, 3e-300]})  # below 2^-962: no grid, a float sum
    assert tiny.select(exact_total(pl.col("x")))[0, 0] == pytest.approx(4e-300, rel=1e-15,
                                                                        abs=0.0)
    assert tiny.select(grid_scale(pl.col("x")))[0, 0] == 0.0
    edge = pl.DataFrame({"x": [2.0**-962, 2.0**-1000]})  # the smallest grid: 2^-962 exact
    assert edge.select(grid_scale(pl.col("x")))[0, 0] == 2.0**1023
    assert edge.select(exact_total(pl.col("x")))[0, 0] == 2.0**-962 + 2.0**-1000
    for zeros in ([0.0], [None], [0.0, None, -0.0]):  # nothing to put on a grid: sums are 0
        frame = pl.DataFrame({"g": [1] * len(zeros), "x": zeros}, schema={"g": pl.Int64,
                                                                          "x": pl.Float64})
        assert frame.select(grid_scale(pl.col("x")))[0, 0] == 0.0
        assert (with_grids(frame.lazy(), ["x"]).group_by("g").agg(exact_sums(["x"]))
                .collect()["x"].to_list()) == [0.0]


def test_grouped_exact_sums_equal_fsum_brute_force() -> None:
    """Per group against `math.fsum` (exact, one rounding): values on the column's grid —
    dyadic values of normal, huge (2^900) and tiny (2^-900) magnitude, with ties, nulls,
    one-row groups and groups that cancel to a remainder far below their terms — sum to
    exactly fsum's float; any floats sum to within the grid's rounding (2^-61 of the column's
    largest |x| per row) of it. Shuffled rows give the same bits."""
    rng = np.random.default_rng(21)
    n, groups = 30_000, 400
    g = rng.integers(0, groups, n)
    g[:groups] = np.arange(groups)
    dyadic = rng.integers(-(2**30), 2**30, n).astype(float) * 2.0**-30
    dyadic[rng.random(n) < 0.3] = 0.5  # ties
    # cancellation: pairs ±b (b up to 2^53) and small multiples of the grid's 2^-7 whose sum
    # is all that is left (a float sum in row order loses them: ulp(2^53) = 2)
    big = rng.integers(2**50, 2**53, n).astype(float) * np.where(np.arange(n) % 2 == 0, 1, -1)
    big[1::2] = -big[0::2]
    small = rng.integers(1, 1000, n) * 2.0**-7
    pair = np.arange(n) // 2
    cancel = np.where((pair % 3 == 2), small, big)
    g = np.where(pair % 3 == 2, g, pair % groups)  # each ± pair in one group
    frame = pl.DataFrame({
        "g": g, "d": dyadic, "huge": dyadic * 2.0**900, "tiny": dyadic * 2.0**-900,
        "cancel": cancel,
        "any": np.where(rng.random(n) < 0.5, rng.normal(0, 1, n), rng.lognormal(3, 4, n)),
    }).with_columns(pl.when(pl.int_range(pl.len()) % 11 == 3).then(None)
                    .otherwise(pl.col(c)).alias(c) for c in ("d", "huge", "any"))
    names = ["d", "huge", "tiny", "cancel", "any"]

    def run(rows: pl.DataFrame) -> pl.DataFrame:
        return (with_grids(rows.lazy(), names).group_by("g").agg(exact_sums(names)).collect()
                .sort("g"))

    out = run(frame)
    assert _frame_bits(run(frame.sample(fraction=1.0, shuffle=True, seed=3))) == \
        _frame_bits(out)
    top = frame["any"].abs().max()
    assert isinstance(top, float)
    parts = frame.partition_by("g", as_dict=True)
    for row in out.iter_rows(named=True):
        part = parts[(row["g"],)]
        for c in names:
            values = part[c].drop_nulls().to_list()
            exact = math.fsum(values)
            if c != "any":
                assert row[c] == exact, (c, row["g"])
            else:
                bound = len(values) * 2.0 ** (math.ceil(math.log2(top)) - 61)
                assert abs(row[c] - exact) <= bound + math.ulp(exact), (row["g"], row[c], exact)


def _grid_total(values: list[float], scale: float) -> float:
    """The float nearest the exact sum of `values` on the grid `scale`, in Python integers."""
    return float(sum(int(v * scale) for v in values)) / scale


def test_grouped_sums_past_int64_are_the_float_nearest_the_exact_grid_total() -> None:
    """Grid integers near 2^61: a group's Int64 sum wraps many times (polars wraps integer
    sums, which the wrap count recovered from the float sum relies on), and the result is
    still the one rounding of the exact grid total, on the column's own grid and on a literal
    one."""
    rng = np.random.default_rng(14)
    n = 40_000
    x = np.concatenate([rng.uniform(0.5, 1.0, n), -rng.uniform(0.5, 1.0, n),
                        rng.uniform(-1.0, 1.0, n)])
    frame = pl.DataFrame({"g": np.repeat([0, 1, 2], n), "x": x})
    wrapped = pl.DataFrame({"a": [2**62] * 4}).select(pl.col("a").sum())[0, 0]
    assert wrapped == 0, "polars Int64 sums no longer wrap: stats.exact needs another design"
    scale = frame.select(grid_scale(pl.col("x")))[0, 0]
    assert scale == 2.0**61
    grouped = (with_grids(frame.lazy(), ["x"]).group_by("g").agg(exact_sums(["x"])).collect()
               .sort("g"))["x"].to_list()
    literal = (frame.group_by("g").agg(exact_sum(pl.col("x"), 2.0**60)).sort("g"))["x"]
    for g in range(3):
        part = x[g * n:(g + 1) * n].tolist()
        assert grouped[g] == _grid_total(part, scale)
        assert literal[g] == _grid_total(part, 2.0**60)
        assert grouped[g] == pytest.approx(math.fsum(part), rel=1e-15)
    assert frame.select(exact_total(pl.col("x")))[0, 0] == _grid_total(x.tolist(), scale)


def test_grouped_sums_are_exact_where_the_float_sum_of_a_group_overflows() -> None:
    frame = pl.DataFrame({"g": [1, 2] * 3, "x": [1.5e308, -1.5e308] * 2 + [-1.5e308, 1.5e308]})
    assert frame.select(grid_scale(pl.col("x")))[0, 0] == 2.0**-963  # the largest |x|'s grid
    assert with_grids(frame.lazy(), ["x"]).collect()["x~grid"].to_list() == [2.0**-963] * 6
    assert frame.group_by("g").agg(pl.col("x").sum()).sort("g")["x"].to_list() == [
        math.inf, -math.inf]
    got = with_grids(frame.lazy(), ["x"]).group_by("g").agg(exact_sums(["x"])).collect()
    assert got.sort("g")["x"].to_list() == [1.5e308, -1.5e308]
    beyond = frame.with_columns(pl.col("x").abs() * pl.when(pl.col("g") == 1).then(1).otherwise(-1))
    assert (with_grids(beyond.lazy(), ["x"]).group_by("g").agg(exact_sums(["x"])).collect()
            .sort("g")["x"].to_list()) == [math.inf, -math.inf]  # the exact total overflows


# -- the engines, run many times -----------------------------------------------------------

@pytest.mark.parametrize("metrics", [["log_loss", "brier", "ece"],
                                     ["roc_auc", "average_precision", "accuracy"]])
def test_binary_metrics_per_slice_are_one_result(rows: pl.DataFrame, metrics: list[str]) -> None:
    slices = [column_slice("g"), column_slice("h"), binned_slice("x", [-1.0, 0.0, 1.0]),
              crossed_slice("h", binned_slice("x", [-1.0, 0.0, 1.0]))]

    def run() -> str:
        return _frame_bits(compute_metrics(rows, "binary_classification", label="y", score="s",
                                           slices=slices, metrics=metrics, n_boot=50))

    assert _distinct(run) == 1


def test_regression_and_ranking_metrics_are_one_result(rows: pl.DataFrame) -> None:
    def regression() -> str:
        return _frame_bits(compute_metrics(rows, "regression", label="v", score="x",
                                           slices=[column_slice("g"), column_slice("h")]))

    def ranking() -> str:
        return _frame_bits(compute_metrics(rows, "ranking", label="rel", score="s", group="q",
                                           slices=[column_slice("qs")]))

    assert _distinct(regression) == 1
    assert _distinct(ranking) == 1


@pytest.mark.parametrize(("metric", "task"), [("brier", "binary_classification"),
                                              ("log_loss", "binary_classification"),
                                              ("r2", "regression")])
def test_paired_moment_tests_are_one_result(rows: pl.DataFrame, metric: str, task: str) -> None:
    data = rows.select(pl.col("y").alias("__y"), pl.col("s").alias("__s0"),
                       pl.col("s2").alias("__s1"), (pl.col("s") >= 0.5).cast(pl.Float64)
                       .alias("__p0"), (pl.col("s2") >= 0.5).cast(pl.Float64).alias("__p1"),
                       "g")
    if task == "regression":
        data = data.with_columns(pl.col("__y") + rows["v"])
    frame, keys = materialise_keys(data, [column_slice("g")])

    def run() -> str:
        return repr(sorted(compare_segments(frame, keys, FAMILY[(task, metric)], metric,
                                            ["m0", "m1"], n_boot=50, seed=0).items()))

    assert _distinct(run, runs=10) == 1


def test_cbpe_estimates_do_not_depend_on_the_order_of_the_groups() -> None:
    rng = np.random.default_rng(3)
    n = 5_000
    window, score = rng.integers(0, 6, n), rng.random(n).round(2)  # ties within windows
    p, weight = np.clip(score + rng.normal(0, 0.1, n), 0, 1), rng.integers(1, 50, n)
    predicted = (score >= 0.5).astype(int)

    def run() -> str:
        order = rng.permutation(n)
        est = cbpe.estimate_metrics(window[order], score[order], p[order], predicted[order],
                                    weight[order].astype(float), 6)
        return repr({k: (v[0].tolist(), v[1].tolist()) for k, v in est.items()})

    assert _distinct(run) == 1


def test_rare_categories_roll_up_to_one_result() -> None:
    rng = np.random.default_rng(4)
    codes = np.arange(40_000)
    table = pl.DataFrame({
        "side": np.repeat([1, 2], len(codes)), "feature": "f",
        "segment": np.tile(codes, 2).astype(np.int32),
        "rows": rng.integers(1, 5, 2 * len(codes)).astype(float),
        "n": rng.integers(1, 5, 2 * len(codes)).astype(float),
        "sum": rng.random(2 * len(codes)),
    })
    vocabulary = [f"c{i}" for i in codes]

    def run() -> str:
        seg = feature_segments(table, "f", "categorical", [], vocabulary, min_share=0.01)
        return repr((seg.predicates, seg.sum0.tolist(), seg.sum1.tolist()))

    assert _distinct(run) == 1


# -- every report command of the sample story, twice ---------------------------------------

M = ["--model", "tv-recommender"]
COMMANDS = {
    "skew": ["skew", *M, "--reference", "training", "--current",
             "production@2026-11-15..2026-11-30"],
    "skew --join-key": ["skew", *M, "--reference", "training:v2", "--current",
                        "production:v1@2026-11-01..2026-11-07", "--join-key", "request_id"],
    "drift": ["drift", *M, "--reference", "training", "--current",
              "production@2026-11-01..2026-11-30", "--window", "1d"],
    "slices": ["slices", *M, "--selector", "production@2026-11-15..2026-11-30"],
    "slices --metric log_loss": ["slices", *M, "--selector", "production@2026-11-15..2026-11-30",
                                 "--metric", "log_loss"],
    "slices --discover": ["slices", *M, "--selector", "production@2026-11-15..2026-11-30",
                          "--discover", "--compare-to", "production@2026-11-01..2026-11-14"],
    "validate": ["validate", *M, "--candidate", "v2", "--baseline", "v1", "--selector",
                 "validation"],
    "compare": ["compare", *M, "--champion", "v1", "--challenger", "v2", "--selector",
                "production@2026-11-01..2026-11-25"],
    "compare --metric brier": ["compare", *M, "--champion", "v1", "--challenger", "v2",
                               "--selector", "production@2026-11-01..2026-11-25",
                               "--metric", "brier"],
    "rca": ["rca", *M, "--baseline", "production@2026-11-01..2026-11-14", "--current",
            "production@2026-11-15..2026-11-25"],
    "estimate": ["estimate", *M, "--reference", "validation", "--current",
                 "production@2026-11-20..2026-11-30"],
}


@pytest.mark.parametrize("name", list(COMMANDS))
def test_each_report_command_gives_the_same_bytes_twice(story, name: str) -> None:
    outputs = []
    for _ in range(2):
        result = story(*COMMANDS[name], "-f", "json")
        assert result.code in (0, 1), result.stderr
        doc = json.loads(result.stdout)
        assert doc["status"] != "error"
        outputs.append(result.stdout.replace(f'"generated_at": "{doc["generated_at"]}"', ""))
    assert outputs[0] == outputs[1]


# -- fixed-point columns on known grids (the binary score terms, the paired moments) ----------

def test_bound_scale_is_the_grid_of_a_frame_whose_largest_value_is_the_bound() -> None:
    for bound in (1.0, 0.75, 34.538776394910684, 1193.0, 3e-290, 1.5e308):
        frame = pl.DataFrame({"x": [bound, -bound / 3]})
        assert bound_scale(bound) == frame.select(grid_scale(pl.col("x")))[0, 0], bound
        assert bound_scale(bound) == frame.select(bound_grid(pl.lit(bound)))[0, 0], bound
    for bound in (2.0**-962, 1.0, 2.0**1023):  # the bound lands on 2^61 exactly (polars'
        assert bound * bound_scale(bound) == 2.0**61  # log may round a power of two up)
    assert bound_scale(1.0) == 2.0**61 and bound_scale(34.54) == 2.0**55
    for nothing in (0.0, -1.0, math.inf, math.nan, 2.0**-963):  # no grid: sums stay floats
        assert bound_scale(nothing) == 0.0


def test_fixed_point_sums_are_the_float_nearest_the_exact_grid_total() -> None:
    """Probabilities and squared errors of probabilities in [0, 1] on the constant grid
    `bound_scale(1.0)` (no pass over the rows): per group, with ties, nulls, zeros, the bound
    itself, one-row groups and values far below the grid's step, the Int128 sum turned back
    to float is exactly the float nearest the grid total computed with Python integers; it is
    within the grid's truncation (one step per row) of `math.fsum`, and shuffled rows give the
    same bits, grouped once or rolled up from finer groups."""
    rng = np.random.default_rng(8)
    n, groups = 50_000, 300
    g = rng.integers(0, groups, n)
    g[:groups] = np.arange(groups)
    x = rng.random(n) ** 2
    x[rng.random(n) < 0.2] = 0.25  # ties
    x[rng.random(n) < 0.05] = 1.0  # the bound
    x[rng.random(n) < 0.05] = 0.0
    x[rng.random(n) < 0.05] = 2.0**-70  # below the grid's step of 2^-61: truncated to 0
    frame = pl.DataFrame({"g": g, "f": g % 7, "x": x}).with_columns(
        pl.when(pl.int_range(pl.len()) % 13 == 5).then(None).otherwise(pl.col("x")).alias("x"))
    scale = bound_scale(1.0)

    def run(rows: pl.DataFrame) -> pl.DataFrame:
        fixed = rows.lazy().with_columns(fixed_point(pl.col("x"), scale).alias("q"))
        fine = fixed.group_by("g", "f").agg(pl.col("q").sum())
        coarse = fine.group_by("g").agg(from_fixed_point(pl.col("q").sum(), scale).alias("x"))
        direct = fixed.group_by("g").agg(from_fixed_point(pl.col("q").sum(), scale).alias("x"))
        return coarse.join(direct, on="g", suffix="_direct").collect().sort("g")

    out = run(frame)
    assert out["x"].to_list() == out["x_direct"].to_list()
    assert _frame_bits(run(frame.sample(fraction=1.0, shuffle=True, seed=5))) == _frame_bits(out)
    parts = frame.partition_by("g", as_dict=True)
    for row in out.iter_rows(named=True):
        values = parts[(row["g"],)]["x"].drop_nulls().to_list()
        assert row["x"] == _grid_total(values, scale)
        assert abs(row["x"] - math.fsum(values)) <= len(values) / scale + math.ulp(row["x"])


def test_fixed_point_refuses_values_beyond_its_bound() -> None:
    """A value the grid was not made for fails the cast (InvalidOperationError) rather than
    giving a wrong sum; Int128 leaves room up to 2^66 times the bound."""
    scale = bound_scale(1.0)
    ok = pl.DataFrame({"x": [1.0, 2.0**60, None]}).select(fixed_point(pl.col("x"), scale))
    assert ok["x"].to_list() == [2**61, 2**121, None]
    for bad in (2.0**70, math.inf, math.nan):
        with pytest.raises(pl.exceptions.InvalidOperationError):
            pl.DataFrame({"x": [0.5, bad]}).select(fixed_point(pl.col("x"), scale))


def test_brier_and_log_loss_per_segment_match_brute_force_with_out_of_range_scores() -> None:
    """The binary score terms are summed on constant grids: Brier over the rows with a score
    in [0, 1] (a segment with any other score has no Brier score or log loss), log loss
    clipped. Per segment against numpy means of the rows, on scores with ties, exact 0 and 1,
    missing labels and NaN scores; a segment holding a score outside [0, 1] is null with its
    reason while the others keep their values; shuffled rows give the same bits."""
    rng = np.random.default_rng(12)
    n = 40_000
    score = rng.random(n).round(3)  # ties
    score[rng.random(n) < 0.02] = 0.0
    score[rng.random(n) < 0.02] = 1.0
    label = (rng.random(n) < score).astype(float)
    label[rng.random(n) < 0.03] = np.nan
    score[rng.random(n) < 0.01] = np.nan
    seg = rng.integers(0, 6, n)
    score[(seg == 5) & (np.arange(n) % 97 == 0)] = 1.5  # out of range in segment 5 only
    frame = pl.DataFrame({"y": label, "s": score, "seg": seg})
    slices = [column_slice("seg")]

    def run(rows: pl.DataFrame) -> pl.DataFrame:
        return compute_metrics(rows, "binary_classification", label="y", score="s",
                               slices=slices, metrics=["brier", "log_loss"], n_boot=50)

    out = run(frame)
    assert _frame_bits(run(frame.sample(fraction=1.0, shuffle=True, seed=2))) == \
        _frame_bits(out)
    for row in out.filter(pl.col("slice") == "seg").iter_rows(named=True):
        segment = int(row["segment"].split("=")[-1].strip())
        keep = (seg == segment) & ~np.isnan(label) & ~np.isnan(score)
        y, s = label[keep], score[keep]
        if segment == 5:
            assert row["value"] is None and row["reason"] == "scores outside [0, 1] in segment"
            continue
        clipped = np.clip(s, 1e-15, 1 - 1e-15)
        expected = {"brier": np.mean((s - y) ** 2),
                    "log_loss": -np.mean(y * np.log(clipped) + (1 - y) * np.log(1 - clipped))}
        assert row["value"] == pytest.approx(expected[row["metric"]], rel=1e-13)
