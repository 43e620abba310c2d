"""discover_slices end to end: planted slices surface, outputs select their rows, edge cases."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest

from evalctl.errors import InputError
from evalctl.slicing import discover_slices, parse_slice_id

FEATURES = {"country": "categorical", "device": "categorical", "age": "numeric",
            "income": "numeric", "plan": "categorical"}


def planted_frame(n: int = 60_000, seed: int = 7) -> pl.DataFrame:
    """country=BR & device=tv errs at 0.5, everything else at 0.1."""
    rng = np.random.default_rng(seed)
    country = rng.choice(["BR", "US", "DE", "IN", "FR"], n, p=[0.15, 0.35, 0.2, 0.2, 0.1])
    device = rng.choice(["tv", "phone", "web"], n, p=[0.2, 0.5, 0.3])
    bad = (country == "BR") & (device == "tv")
    return pl.DataFrame({
        "country": country,
        "device": device,
        "age": rng.integers(16, 90, n),
        "income": rng.lognormal(10, 1, n),
        "plan": rng.choice(["free", "basic", "premium"], n),
        "err": (rng.random(n) < np.where(bad, 0.5, 0.1)).astype(np.int8),
    })


def test_planted_conjunction_is_the_top_slice_and_its_parents_rank_below() -> None:
    df = planted_frame()
    found = discover_slices(df, FEATURES, "err")
    top = found.slices[0]
    assert top.id == "country=BR&device=tv"
    assert top.label == "country = BR & device = tv"
    assert top.significant and top.test == "fisher_exact"
    ids = [s.id for s in found.slices]
    for parent in ("country=BR", "device=tv"):
        assert parent not in ids[:1]
        if parent in ids:
            assert found.slices[ids.index(parent)].score < top.score
    # each parent alone shows little: well under twice the overall error
    for expr in (pl.col("country") == "BR", pl.col("device") == "tv"):
        assert df.filter(expr)["err"].mean() < 1.7 * found.mean_error
    assert [s.score for s in found.slices] == sorted((s.score for s in found.slices), reverse=True)


def test_a_few_percent_of_traffic_at_twice_the_error_surfaces_at_default_alpha() -> None:
    rng = np.random.default_rng(3)
    n = 100_000
    region = rng.choice([f"r{i}" for i in range(16)], n, p=[0.06] + [0.94 / 15] * 15)
    rate = np.where(region == "r0", 0.2, 0.1)
    df = pl.DataFrame({"region": region, "err": (rng.random(n) < rate).astype(float)})
    found = discover_slices(df, {"region": "categorical"}, "err")
    assert found.slices and found.slices[0].id == "region=r0"
    assert found.slices[0].error_mean / found.mean_error == pytest.approx(1.9, abs=0.1)


def test_every_slice_expr_selects_exactly_its_rows() -> None:
    df = planted_frame(n=20_000)
    found = discover_slices(df, FEATURES, "err", k=10, max_level=2)
    assert len(found.slices) >= 3
    for s in found.slices:
        rows = df.filter(s.expr())
        assert rows.height == s.size
        assert rows["err"].sum() == pytest.approx(s.error_sum)
        assert s.share == pytest.approx(s.size / found.n_rows)
        assert s.error_mean == pytest.approx(s.error_sum / s.size)
        if all(p.op != "other" for p in s.predicates):
            assert parse_slice_id(s.id, FEATURES) == s.predicates


def test_output_is_deterministic_and_lazy_equals_eager() -> None:
    df = planted_frame(n=20_000)
    first = discover_slices(df, FEATURES, "err", max_level=2).to_dict()
    second = discover_slices(df.lazy(), FEATURES, "err", max_level=2).to_dict()
    assert first == second
    json.dumps(first, allow_nan=False)
    assert first["levels"][0]["level"] == 1
    assert set(first["features"][2]) == {"feature", "kind", "edges"}


def test_report_fields() -> None:
    df = planted_frame(n=20_000)
    found = discover_slices(df, FEATURES, "err", k=4, max_level=2, min_support=0.01)
    assert found.n_rows == 20_000 and found.n_excluded == 0
    assert found.min_support == 200 and found.k == 4 and found.alpha == 0.95
    assert found.error_kind == "binary"
    assert found.level_reached == 2
    assert found.mean_error == pytest.approx(df["err"].mean())
    assert len(found.slices) <= 4


def test_null_errors_are_excluded_and_counted() -> None:
    df = planted_frame(n=20_000).with_columns(
        pl.when(pl.int_range(pl.len()) % 10 == 0).then(None)
        .when(pl.int_range(pl.len()) % 10 == 1).then(float("nan"))
        .otherwise(pl.col("err").cast(pl.Float64)).alias("err"))
    found = discover_slices(df, FEATURES, "err", max_level=2)
    assert (found.n_rows, found.n_excluded) == (16_000, 4_000)
    assert found.slices[0].id == "country=BR&device=tv"


def test_uniform_errors_give_no_slice() -> None:
    df = planted_frame(n=5_000).with_columns(pl.lit(0.3).alias("err"))
    found = discover_slices(df, FEATURES, "err")
    assert found.slices == () and found.mean_error == pytest.approx(0.3)
    assert found.error_kind == "continuous"
    ones = discover_slices(df.with_columns(pl.lit(1).alias("err")), FEATURES, "err")
    assert ones.slices == () and ones.error_kind == "binary"


def test_all_errors_zero_gives_no_slice_and_no_search() -> None:
    df = planted_frame(n=5_000).with_columns(pl.lit(0).alias("err"))
    found = discover_slices(df, FEATURES, "err")
    assert found.slices == () and found.mean_error == 0.0
    assert found.level_reached == 0 and found.levels == ()


def test_single_row() -> None:
    df = pl.DataFrame({"country": ["BR"], "age": [30.0], "err": [1.0]})
    found = discover_slices(df, {"country": "categorical", "age": "numeric"}, "err",
                            min_support=1)
    assert found.slices == () and found.n_rows == 1


def test_null_levels_are_slices_and_select_null_and_nan() -> None:
    rng = np.random.default_rng(11)
    n = 20_000
    x = rng.normal(size=n)
    x[:1000], x[1000:2000] = np.nan, 0.0
    cat = rng.choice(["a", "b", "c"], n).astype(object)
    cat[5000:6000] = None
    err = (rng.random(n) < 0.1).astype(float)
    err[:1000] = rng.random(1000) < 0.5
    df = pl.DataFrame({"x": x, "cat": cat.tolist(), "err": err}).with_columns(
        pl.when(pl.int_range(pl.len()).is_between(1000, 1499)).then(None)
        .otherwise(pl.col("x")).alias("x"))
    found = discover_slices(df, {"x": "numeric", "cat": "categorical"}, "err", max_level=2)
    top = found.slices[0]
    assert top.id == "x=<null>"
    assert top.size == 1500 == df.filter(top.expr()).height
    assert df.filter(found.codings[1].predicates[-1].expr()).height == 1000


def test_constant_feature_never_appears() -> None:
    df = planted_frame(n=20_000).with_columns(pl.lit(5.0).alias("const"),
                                              pl.lit("same").alias("const_cat"))
    features = {**FEATURES, "const": "numeric", "const_cat": "categorical"}
    found = discover_slices(df, features, "err", max_level=3)
    assert found.slices[0].id == "country=BR&device=tv"
    assert not any(p.feature.startswith("const") for s in found.slices for p in s.predicates)


def test_bin_edges_and_max_categories_are_used() -> None:
    df = planted_frame(n=20_000)
    found = discover_slices(df, FEATURES, "err", max_level=2, bin_edges={"age": [0, 30, 60]},
                            max_categories=2)
    codings = {c.name: c for c in found.codings}
    assert codings["age"].edges == (0.0, 30.0, 60.0)
    counts = df["country"].value_counts()
    expected = counts.sort(["count", "country"], descending=[True, False])["country"][:2]
    assert codings["country"].levels == tuple(expected)
    assert [p.token for p in codings["age"].predicates] == [
        "age=[-inf,0)", "age=[0,30)", "age=[30,60)", "age=[60,inf)", "age=<null>"]
    assert any(p.op == "other" for s in found.slices for p in s.predicates)


def test_continuous_errors_use_welch() -> None:
    df = planted_frame(n=20_000).with_columns(
        (pl.col("err") * 2.0 + pl.col("income") / pl.col("income").max()).alias("loss"))
    found = discover_slices(df.drop("err"), FEATURES, "loss", max_level=2)
    assert found.error_kind == "continuous"
    assert found.slices[0].test == "welch_t"
    assert found.slices[0].id == "country=BR&device=tv"


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"alpha": 0.0}, "alpha"),
    ({"alpha": 1.5}, "alpha"),
    ({"k": 0}, "at least 1"),
    ({"n_bins": 1}, "n_bins"),
    ({"fdr": 1.0}, "fdr"),
    ({"min_support": 0}, "min_support"),
    ({"bin_edges": {"country": [1.0]}}, "bin_edges"),
])
def test_bad_parameters(kwargs: dict, message: str) -> None:
    df = planted_frame(n=200)
    with pytest.raises(InputError, match=message):
        discover_slices(df, FEATURES, "err", **kwargs)


@pytest.mark.parametrize(("features", "error", "change", "message"), [
    ({"nope": "numeric"}, "err", None, "'nope' is missing"),
    ({"age": "number"}, "err", None, "expected numeric or categorical"),
    ({"country": "numeric"}, "err", None, "configured numeric"),
    ({"age": "numeric"}, "missing", None, "error column 'missing' is missing"),
    ({"age": "numeric"}, "country", None, "must be numeric"),
    ({"age": "numeric"}, "err", pl.lit(-1.0), "negative"),
    ({"age": "numeric"}, "err", pl.lit(float("inf")), "infinite"),
    ({"age": "numeric"}, "err", pl.lit(None, pl.Float64), "no row has a value"),
    ({}, "err", None, "at least one feature"),
])
def test_bad_input(features: dict, error: str, change: pl.Expr | None, message: str) -> None:
    df = planted_frame(n=200)
    if change is not None:
        df = df.with_columns(change.alias("err"))
    with pytest.raises(InputError, match=message):
        discover_slices(df, features, error)
