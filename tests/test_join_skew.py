"""`skew --join-key` as a grace hash join (issue #16, item 6): both sides hash-partitioned by
id into buckets joined one after another give the one-query join's results — counts bit for
bit, medians to 1e-12 — with duplicate ids, nulls, zero references, overflowing ratios and
ids on one side only."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from tests.helpers import assert_same, make_frame

from evalctl import open as open_workspace
from evalctl.analyses import skew_join
from evalctl.checks import join_on_id, transform_skew
from evalctl.checks.transform_skew import bucketed_transform_skew
from evalctl.profiles import parts as parts_module
from evalctl.stats import streamed as streamed_module

FEATURES = {"x": "numeric", "y": "numeric", "c": "categorical", "z": "numeric"}


def sides(n: int, seed: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    rng = np.random.default_rng(seed)
    ids = [f"id{i:05d}" for i in range(n)]
    x = rng.integers(-3, 4, n).astype(float)  # ties and zeros (ratio undefined)
    y = rng.normal(0, 1e3, n)
    ref = pl.DataFrame({"id": ids, "x": x, "y": y, "c": rng.choice(["a", "b", "c"], n),
                        "z": rng.normal(size=n)})
    wrong = rng.random(n) < 0.3
    cur = ref.with_columns(
        x=pl.when(pl.Series(wrong)).then(pl.col("x") * 60).otherwise(pl.col("x")),
        y=pl.col("y") + pl.Series(np.where(rng.random(n) < 0.5, 3600.0, 0.0)),
        c=pl.when(pl.Series(rng.random(n) < 0.1)).then(pl.lit("d")).otherwise(pl.col("c")),
        z=pl.col("z") + pl.Series(rng.normal(0, 1e-3, n)),  # distinct ratios and offsets
    )
    # nulls on either side, overflowing ratios and offsets, ids on one side only
    ref = ref.with_columns(pl.when(pl.int_range(n) % 17 == 0).then(None)
                           .otherwise(pl.col("y")).alias("y"))
    cur = cur.with_columns(
        pl.when(pl.int_range(n) % 13 == 0).then(None).otherwise(pl.col("c")).alias("c"),
        pl.when(pl.int_range(n) == 5).then(1e300).when(pl.int_range(n) == 6).then(-1e308)
        .otherwise(pl.col("z")).alias("z"))
    ref = ref.with_columns(pl.when(pl.int_range(n).is_in([5, 6])).then(
        pl.when(pl.int_range(n) == 5).then(1e-300).otherwise(1e308)).otherwise(pl.col("z"))
        .alias("z"))
    # a duplicated id on both sides (rows that match: 2 x 2 joined pairs)
    ref = pl.concat([ref, ref.slice(10, 1)])
    cur = pl.concat([cur.slice(3, n - 3), cur.slice(10, 1),
                     cur.slice(0, 2).with_columns(id=pl.lit("only-current"))])
    return ref, cur


def bucket_joins(ref: pl.DataFrame, cur: pl.DataFrame, buckets: int):  # noqa: ANN201
    def joins() -> Iterator[pl.LazyFrame]:
        for b in range(buckets):
            pick = pl.col("id").hash(seed=0) % buckets == b
            yield join_on_id(ref.lazy().filter(pick), cur.lazy().filter(pick), "id",
                             list(FEATURES))
    return joins


@pytest.mark.parametrize(("n", "buckets", "collect"), [(400, 3, 1 << 18), (401, 7, 16),
                                                       (50, 1, 8)])
def test_buckets_give_the_one_query_results(n: int, buckets: int, collect: int,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(streamed_module, "COLLECT", collect)  # 16: several streamed passes
    ref, cur = sides(n, seed=n)
    expected = transform_skew(join_on_id(ref.lazy(), cur.lazy(), "id", list(FEATURES)),
                              FEATURES, id_column="id")
    got = bucketed_transform_skew(bucket_joins(ref, cur, buckets), FEATURES, id_column="id")
    assert_same(got, expected)
    rows = {r["feature"]: r for r in got}
    assert rows["x"]["mismatches"] > 0 and rows["x"]["median_ratio"] == 1.0
    assert rows["y"]["either_null"] > 0 and rows["y"]["median_offset"] is not None
    assert rows["z"]["rows"] == n - 3 + 3  # one duplicated id: 2 x 2 pairs
    assert len(rows["c"]["samples"]) == 5


def test_no_shared_id_gives_the_one_query_results() -> None:
    ref, cur = sides(40, seed=1)
    cur = cur.with_columns(id=pl.lit("x") + pl.col("id"))
    expected = transform_skew(join_on_id(ref.lazy(), cur.lazy(), "id", list(FEATURES)),
                              FEATURES, id_column="id")
    got = bucketed_transform_skew(bucket_joins(ref, cur, 3), FEATURES, id_column="id")
    assert_same(got, expected)
    assert got[0]["rows"] == 0 and got[0]["status"] == "error"


def test_skew_join_key_spilled_in_buckets_equals_one_join(cli, workdir: Path, frame_file,
                                                          monkeypatch) -> None:
    frame = make_frame(900, seed=3, start=datetime(2026, 11, 1))
    serving = frame.with_columns(
        minutes=pl.when(pl.int_range(900) % 4 != 0).then(pl.col("minutes") * 60)
        .otherwise(pl.col("minutes")))
    for env, data in (("training", frame), ("production", serving)):
        assert cli("ingest", str(frame_file(data, f"{env}.parquet")), "--model", "churn",
                   "--version", "v1", "--env", env).code == 0

    def report() -> dict:
        doc = open_workspace(workdir / "evalctl.yaml").skew(
            "churn", current="production", join_key="request_id", engine="scan").to_dict()
        return {k: doc[k] for k in ("status", "inputs", "results", "summary",
                                    "recommendations")}

    expected = report()
    spilled: list[int] = []
    spill = skew_join._spill  # noqa: SLF001

    files_per_bucket: list[int] = []

    def counted(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        assert len(args[0]) >= 15  # the side's parts
        found = spill(*args, **kwargs)
        spilled.append(len(found))
        files_per_bucket[:] = sorted({len(paths) for paths in found.values()})
        return found

    monkeypatch.setattr(skew_join, "JOIN_ROWS", 0)
    monkeypatch.setattr(skew_join, "BUCKET_ROWS", 100)  # 18 buckets
    monkeypatch.setattr(skew_join, "_spill", counted)
    monkeypatch.setattr(parts_module, "PART_ROWS", 64)  # each side read in 15+ parts ...
    got = report()
    assert spilled == [18, 18]
    assert files_per_bucket == [1]  # ... by one sink: a file per bucket and side
    minutes = next(r for r in got["results"] if r.get("section") == "transformation"
                   and r["feature"] == "minutes")
    assert minutes["hint"] and minutes["mismatches"] > 0
    assert_same(got, expected)
