"""Issue #16 item 2: profile merge laws (associative, commutative, merging file profiles equals
profiling the union), and the profile table checked against brute-force numpy."""

from __future__ import annotations

import math
from dataclasses import fields
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evalctl.errors import StoreError
from evalctl.profiles import format as format_module
from evalctl.profiles.format import merge_profiles, profile_table, tidy
from evalctl.stats import fit_binning, summarize
from evalctl.stats.summary import Summary

KINDS = {"x": "numeric", "c": "categorical"}
START = datetime(2026, 11, 1)
BUCKET = pl.col("ts").dt.truncate("1d")
LEVELS = ["a", "b", "c", "d", "new1", "new2", "new3"]


def reference() -> pl.DataFrame:
    rng = np.random.default_rng(0)
    n = 400
    return pl.DataFrame({
        "ts": [START + timedelta(hours=int(h)) for h in rng.integers(0, 72, n)],
        "x": np.round(rng.normal(0, 3, n), 1),  # ties
        "c": rng.choice(["a", "b", "c", "d"], n, p=[0.5, 0.3, 0.15, 0.05]),
    })


BINNING = fit_binning(reference().lazy(), KINDS, n_bins=5, top_k=2, fine_bins=20)


@st.composite
def frames(draw: Any) -> pl.DataFrame:
    """Rows over 3 days with ties, nulls, NaN/inf and categories the reference never saw."""
    n = draw(st.integers(0, 60))
    x = draw(st.lists(st.one_of(st.none(), st.sampled_from([math.nan, math.inf, -1.5]),
                                st.integers(-12, 12).map(lambda v: v / 2)), min_size=n,
                      max_size=n))
    c = draw(st.lists(st.one_of(st.none(), st.sampled_from(LEVELS)), min_size=n, max_size=n))
    hours = draw(st.lists(st.integers(0, 71), min_size=n, max_size=n))
    return pl.DataFrame({"ts": [START + timedelta(hours=h) for h in hours], "x": x, "c": c},
                        schema={"ts": pl.Datetime("us"), "x": pl.Float64, "c": pl.String})


def profile(frame: pl.DataFrame) -> pl.DataFrame:
    return profile_table(summarize(frame.lazy(), BINNING, by=BUCKET, unseen_names=1000),
                         ["x", "c"])


def merged(tables: list[pl.DataFrame], window: pl.Expr | None = None
           ) -> dict[Any, dict[str, Summary]]:
    return merge_profiles(tables, BINNING, window).summaries


def as_profile(summaries: dict[Any, dict[str, Summary]]) -> pl.DataFrame:
    """Merged summaries (one window per day) written back as one profile."""
    return profile_table(summaries, ["x", "c"])


def assert_same(a: dict[Any, dict[str, Summary]], b: dict[Any, dict[str, Summary]]) -> None:
    assert list(a) == list(b)
    for key in a:
        assert list(a[key]) == list(b[key])
        for feature in a[key]:
            left, right = a[key][feature], b[key][feature]
            for f in fields(left):
                x, y = getattr(left, f.name), getattr(right, f.name)
                if isinstance(x, float) and isinstance(y, float):
                    assert math.isclose(x, y, rel_tol=1e-12, abs_tol=1e-12), (f.name, x, y)
                elif f.name == "sums":
                    assert np.allclose(x, y, rtol=1e-12, atol=1e-12), f.name
                elif isinstance(x, np.ndarray):  # numeric cells: exactly (NaN: an empty cell)
                    assert np.array_equal(x, y, equal_nan=True), (key, feature, f.name, x, y)
                else:
                    assert x == y, (key, feature, f.name, x, y)


@settings(max_examples=40, deadline=None)
@given(st.lists(frames(), min_size=1, max_size=4))
def test_merging_file_profiles_equals_profiling_the_union(parts: list[pl.DataFrame]) -> None:
    union = pl.concat(parts)
    whole = summarize(union.lazy(), BINNING, by=BUCKET)
    assert_same(merged([profile(p) for p in parts], pl.col("bucket")), whole)
    assert_same(merged([profile(p) for p in parts]),
                summarize(union.lazy(), BINNING))  # one window over every bucket


@settings(max_examples=30, deadline=None)
@given(frames(), frames(), frames(), st.permutations([0, 1, 2]))
def test_merge_is_associative_and_commutative(a: pl.DataFrame, b: pl.DataFrame,
                                              c: pl.DataFrame, order: list[int]) -> None:
    tables = [profile(p) for p in (a, b, c)]
    by_day = pl.col("bucket")
    flat = merged(tables, by_day)
    assert_same(merged([tables[i] for i in order], by_day), flat)  # commutative
    left = as_profile(merged(tables[:2], by_day))
    right = as_profile(merged(tables[1:], by_day))
    assert_same(merged([left, tables[2]], by_day), flat)  # (a + b) + c
    assert_same(merged([tables[0], right], by_day), flat)  # a + (b + c)


def test_a_profile_counts_what_numpy_counts() -> None:
    rng = np.random.default_rng(3)
    n = 500
    x = np.round(rng.normal(0, 4, n), 1)
    x[rng.random(n) < 0.1] = np.nan
    c = [None if gone else level for level, gone in
         zip(rng.choice(LEVELS, n).tolist(), (rng.random(n) < 0.1).tolist(), strict=True)]
    frame = pl.DataFrame({"ts": [START] * n, "x": x, "c": c},
                         schema={"ts": pl.Datetime("us"), "x": pl.Float64, "c": pl.String}
                         ).with_columns(pl.col("x").fill_nan(None))
    table = tidy(profile(frame))  # a row per cell
    heads = {r["feature"]: r for r in table.filter(pl.col("cell").is_null()).to_dicts()}
    finite = x[np.isfinite(x)]
    assert heads["x"]["rows"] == n and heads["x"]["nulls"] == int(np.isnan(x).sum())
    assert math.isclose(heads["x"]["mean"], finite.mean(), rel_tol=1e-12)
    assert math.isclose(heads["x"]["m2"], ((finite - finite.mean()) ** 2).sum(), rel_tol=1e-12)
    assert (heads["x"]["minimum"], heads["x"]["maximum"]) == (finite.min(), finite.max())
    cells = table.filter(pl.col("feature") == "x", pl.col("cell").is_not_null())
    edges = np.asarray(BINNING.numeric["x"].edges)
    for cell, count in cells.select("cell", "count").iter_rows():
        i = cell // 2
        if cell % 2:  # at edge i
            expected = int((finite == edges[i]).sum())
        else:  # strictly between edges i-1 and i
            low = edges[i - 1] if i > 0 else -np.inf
            high = edges[i] if i < len(edges) else np.inf
            expected = int(((finite > low) & (finite < high)).sum())
        assert count == expected
    assert cells["count"].sum() == finite.size
    vocabulary = BINNING.categorical["c"].vocabulary
    values = [v for v in c if v is not None]
    counts = dict(table.filter(pl.col("feature") == "c", pl.col("cell").is_not_null())
                  .select("cell", "count").iter_rows())
    for slot, level in enumerate(vocabulary):
        assert counts.get(slot, 0) == values.count(level)
    unseen = sorted({v for v in values if v not in {"a", "b", "c", "d"}})
    assert counts.get(len(vocabulary) + 1, 0) == sum(v in unseen for v in values)
    assert heads["c"]["unseen"] == unseen and heads["c"]["unseen_exact"]


def test_a_profile_with_cells_outside_its_feature_is_a_store_error() -> None:
    """A damaged profile (a cell beyond its feature's cells, or cells without feature rows,
    or cell lists of different lengths) stops the merge with a StoreError (exit 3) instead
    of adding into another feature; in either format."""
    frame = reference().head(50)
    table = profile(frame)
    rows = tidy(table)  # format 1: a row per cell
    cells = len(BINNING.numeric["x"].edges) * 2 + 1
    beyond = rows.with_columns(pl.when(pl.col("feature") == "x", pl.col("cell").is_not_null())
                               .then(cells).otherwise(pl.col("cell")).cast(pl.Int32)
                               .alias("cell"))
    headless = rows.filter(pl.col("cell").is_not_null())
    shifted = table.with_columns(pl.when(pl.col("feature") == "x")
                                 .then(pl.col("cells").list.eval(pl.element() + cells))
                                 .otherwise(pl.col("cells")).cast(pl.List(pl.Int32)))
    for damaged in (beyond, headless, shifted):
        for window in (None, pl.col("bucket")):
            with pytest.raises(StoreError, match="outside its feature rows"):
                merge_profiles([damaged], BINNING, window)
    uneven = table.with_columns(pl.col("counts").list.head(1))
    # the same number of counts in all, one moved from the first row to the second
    swapped = table.with_columns(pl.when(pl.int_range(pl.len()) == 0)
                                 .then(pl.col("counts").list.head(pl.col("counts").list.len() - 1))
                                 .when(pl.int_range(pl.len()) == 1)
                                 .then(pl.col("counts").list.concat(pl.lit([1], pl.List(pl.Int64))))
                                 .otherwise(pl.col("counts")))
    assert swapped.get_column("counts").list.len().sum() == \
        table.get_column("counts").list.len().sum()
    for damaged in (uneven, swapped):
        with pytest.raises(StoreError, match="differ in length"):
            merge_profiles([damaged], BINNING)
    merge_profiles([table], BINNING)  # the undamaged profile merges
    merge_profiles([rows], BINNING)


def test_the_merge_is_the_same_bits_however_many_profiles_a_query_reads(
        tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Cell rows are read a few profiles per query (`FILES_PER_READ`) and added in row order,
    so the batch size changes nothing: summaries of 11 profile files are identical, floats
    bit for bit, read one, three, eight or all eleven per query."""
    rng = np.random.default_rng(7)
    paths = []
    for i in range(11):
        frame = reference().sample(60, seed=i).with_columns(
            pl.Series("x", np.round(rng.normal(0, 3, 60), 3)))
        path = tmp_path / f"p{i}.parquet"
        profile(frame).write_parquet(path)
        paths.append(str(path))
    found = []
    for per_read in (1, 3, 8, 11):
        monkeypatch.setattr(format_module, "FILES_PER_READ", per_read)
        found.append([merge_profiles(paths, BINNING, window).summaries
                      for window in (None, pl.col("bucket"))])
    assert all(f == found[0] for f in found[1:])
    assert found[0][0][None]["x"].count == 11 * 60  # every row of every profile, once


def test_profiles_on_object_storage_are_read_more_per_query() -> None:
    """Fewer, larger queries where each waits for round trips (a URL or storage options)."""
    local = ["/store/profiles/a.parquet", "/store/profiles/b.parquet"]
    assert format_module.files_per_read(local, None) == format_module.FILES_PER_READ
    assert format_module.files_per_read(["s3://bucket/profiles/a.parquet"], None) == \
        format_module.REMOTE_FILES_PER_READ
    assert format_module.files_per_read(local, {"aws_region": "eu-west-1"}) == \
        format_module.REMOTE_FILES_PER_READ
    assert format_module.FILES_PER_READ < format_module.REMOTE_FILES_PER_READ
