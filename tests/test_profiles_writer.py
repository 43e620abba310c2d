"""Issue #16 (ingest with profiles at most 1.3x ingest without): the profile writer that
ingest and `profiles build` use (`counted_table`, straight from the counters) gives the very
bytes of the format's reference writer (`profile_table`, from summaries) — on data with
nulls, NaN/inf, +/-0.0, values on the edges, unseen categories, all-null and empty cells,
missing and mistyped columns, hourly buckets whose rows interleave."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evalctl.errors import StoreError
from evalctl.lake.ledger import FileEntry
from evalctl.profiles.compute import GROUP_FILES, file_groups, profile_bytes
from evalctl.profiles.format import (
    PROFILE_SCHEMA,
    UNSEEN_KEPT,
    counted_table,
    profile_table,
    tidy,
)
from evalctl.profiles.parts import PART_ROWS
from evalctl.stats import fit_binning, summarize
from evalctl.stats.summarize import count_windows

START = datetime(2026, 11, 1)
KINDS = {"x": "numeric", "y": "numeric", "c": "categorical", "gone": "numeric",
         "gone_c": "categorical", "typed": "numeric"}


def reference() -> pl.DataFrame:
    rng = np.random.default_rng(0)
    n = 500
    return pl.DataFrame({
        "ts": [START + timedelta(hours=int(h)) for h in rng.integers(0, 48, n)],
        "x": np.round(rng.normal(0, 3, n), 1),  # ties
        "y": rng.normal(10, 1, n),
        "c": rng.choice(["a", "b", "c", "d", "e"], n, p=[0.4, 0.3, 0.15, 0.1, 0.05]),
        "gone": rng.normal(0, 1, n), "gone_c": rng.choice(["p", "q"], n),
        "typed": rng.normal(0, 1, n),
    })


BINNING = fit_binning(reference().lazy(), KINDS, n_bins=5, top_k=3, fine_bins=25)
EDGES = BINNING.numeric["x"].edges


def both(frame: pl.DataFrame, every: str) -> tuple[bytes, bytes, pl.DataFrame]:
    """The new writer's and the reference writer's Parquet bytes for one data file's rows,
    with the columns the file lacks added as nulls (as `profile_on` does)."""
    present = [f for f in KINDS if f in frame.columns]
    lf = frame.lazy().with_columns(
        pl.lit(None, dtype=pl.Float64 if KINDS[f] == "numeric" else pl.String).alias(f)
        for f in KINDS if f not in frame.columns)
    bucket = pl.col("ts").dt.truncate(every)
    new = counted_table(count_windows(lf, BINNING, by=bucket), present)
    old = profile_table(summarize(lf, BINNING, by=bucket, unseen_names=UNSEEN_KEPT), present)
    return profile_bytes(new), profile_bytes(old), new


def edge_cases(n: int = 3000) -> pl.DataFrame:
    rng = np.random.default_rng(7)
    x = rng.choice(np.array(EDGES), n)  # every value on an edge ...
    x[::3] = np.round(rng.normal(0, 4, n // 3 + (n % 3 > 0)), 1)  # ... or between, beyond
    specials = [None, math.nan, math.inf, -math.inf, 0.0, -0.0, 1e308, -1e308, 1e308]
    values: list[Any] = x.tolist()
    values[:len(specials)] = specials
    values[100:110] = [1e308] * 10  # a cell whose sum overflows to inf (stored as float max)
    hours = rng.integers(0, 48, n)  # rows of each hour interleave
    hours[-50:] = 47
    return pl.DataFrame({
        "ts": [START + timedelta(hours=int(h)) for h in hours],
        "x": values,
        "y": [None if h < 24 else v for h, v in zip(hours, rng.normal(10, 1, n), strict=True)],
        "c": rng.choice(["a", "b", "c", "d", "e", "new1", "new2", ""], n).tolist()[:-1]
        + [None],
        "typed": ["1.5"] * n,  # configured numeric, stored as text: an error row
    }, schema_overrides={"x": pl.Float64, "y": pl.Float64})


@pytest.mark.filterwarnings("error::RuntimeWarning")  # 1e308s overflow, silently
@pytest.mark.parametrize("every", ["1d", "1h"])
def test_the_writer_gives_the_reference_writers_bytes(every: str) -> None:
    new, old, table = both(edge_cases(), every)
    assert new == old
    assert table.schema == PROFILE_SCHEMA
    table = tidy(table)  # a row per cell
    heads = table.filter(pl.col("cell").is_null())
    assert heads.filter(pl.col("feature") == "typed").get_column("error").null_count() == 0
    assert not heads.filter(pl.col("feature") == "gone").get_column("present").any()
    sums = table.filter((pl.col("feature") == "x") & pl.col("sum").is_not_null())
    assert sums.get_column("sum").max() == np.finfo(np.float64).max  # overflowed sum


def test_all_null_and_empty_data_files_give_the_reference_bytes() -> None:
    nulls = pl.DataFrame({"ts": [START] * 4, "x": [None] * 4, "c": [None] * 4},
                         schema={"ts": pl.Datetime("us"), "x": pl.Float64, "c": pl.String})
    assert both(nulls, "1d")[0] == both(nulls, "1d")[1]
    empty = nulls.head(0)
    new, old, table = both(empty, "1d")
    assert new == old and table.height == 0


@st.composite
def files(draw: Any) -> pl.DataFrame:
    n = draw(st.integers(1, 80))
    on_edges = st.sampled_from(EDGES[:5] + EDGES[-3:])
    x = draw(st.lists(st.one_of(st.none(), on_edges,
                                st.sampled_from([math.nan, math.inf, -math.inf, 0.0, -0.0]),
                                st.integers(-30, 30).map(lambda v: v / 4)),
                      min_size=n, max_size=n))
    c = draw(st.lists(st.one_of(st.none(), st.sampled_from(["a", "b", "e", "zz", "yy"])),
                      min_size=n, max_size=n))
    hours = draw(st.lists(st.integers(0, 47), min_size=n, max_size=n))
    return pl.DataFrame({"ts": [START + timedelta(hours=h) for h in hours], "x": x, "c": c},
                        schema={"ts": pl.Datetime("us"), "x": pl.Float64, "c": pl.String})


@settings(max_examples=60, deadline=None)
@given(files(), st.sampled_from(["1d", "1h"]))
def test_the_writer_gives_the_reference_writers_bytes_on_any_file(frame: pl.DataFrame,
                                                                  every: str) -> None:
    new, old, _ = both(frame, every)
    assert new == old


def counted_apart_and_together(frames: list[pl.DataFrame], cuts: list[int], every: str
                               ) -> tuple[list[bytes], list[bytes]]:
    """Each file's profile bytes counted alone, and counted in one stream of all of them
    (`count_windows(files=...)`) read in parts cut at `cuts` (so batches straddle files).
    Alone, a file is read in the pieces the cuts make of it, so that its floats are added in
    the same batches (a sum of other batches may differ in its last bit)."""
    bucket = pl.col("ts").dt.truncate(every)
    present = list(frames[0].columns[1:])
    rows = sum(f.height for f in frames)
    bounds = sorted({0, rows, *(c for c in cuts if 0 < c < rows)})
    alone, start = [], 0
    for f in frames:
        own = sorted({0, f.height, *(b - start for b in bounds if 0 < b - start < f.height)})
        pieces = [f.lazy().slice(a, b - a) for a, b in zip(own, own[1:], strict=False)]
        alone.append(profile_bytes(counted_table(
            count_windows(f.lazy(), BINNING, by=bucket, parts=pieces), present)))
        start += f.height
    stream = pl.concat(frames).lazy()
    parts = [stream.slice(a, b - a) for a, b in zip(bounds, bounds[1:], strict=False)]
    counted = count_windows(stream, BINNING, by=bucket, parts=parts or [stream],
                            files=[(f"f{i}", f.height) for i, f in enumerate(frames)])
    per_file: list[dict[Any, Any]] = [{} for _ in frames]
    for (file, key), window in counted.items():
        per_file[file][key] = window
    return alone, [profile_bytes(counted_table(w, present)) for w in per_file]


@settings(max_examples=40, deadline=None)
@given(st.lists(files(), min_size=1, max_size=4), st.lists(st.integers(0, 320), max_size=5),
       st.sampled_from(["1d", "1h"]), st.booleans())
def test_files_counted_in_one_stream_give_each_files_own_profile(
        frames: list[pl.DataFrame], cuts: list[int], every: str, with_empty: bool) -> None:
    """Profiles count a few small files in one read (`count_files`): split at the files'
    boundaries, each file's profile is the very bytes of counting it alone — whatever the
    batches' cuts, with empty files among them and buckets shared across files."""
    if with_empty:
        frames = [frames[0].head(0), *frames, frames[0].head(0)]
    alone, together = counted_apart_and_together(frames, cuts, every)
    assert together == alone


@pytest.mark.filterwarnings("error::RuntimeWarning")  # 1e308s overflow, silently
def test_a_stream_with_other_rows_than_its_files_record_names_the_file() -> None:
    frame = edge_cases().head(40)
    lf = frame.lazy()
    bucket = pl.col("ts").dt.truncate("1d")
    with pytest.raises(StoreError, match="second.parquet: .*fewer rows"):
        count_windows(lf, BINNING, by=bucket, files=[("first.parquet", 30),
                                                       ("second.parquet", 20)])
    with pytest.raises(StoreError, match="second.parquet: .*more rows"):
        count_windows(lf, BINNING, by=bucket, files=[("first.parquet", 30),
                                                       ("second.parquet", 5)])


def test_small_files_are_grouped_up_to_a_parts_rows_and_hourly_ones_go_alone() -> None:
    def entry(n: int, rows: int) -> FileEntry:
        return FileEntry(path=f"p{n}", rows=rows, bytes=1, sha256="", date="2026-11-01")

    small = [entry(n, 30_000) for n in range(7)]
    assert [len(g) for g in file_groups(small, "1d")] == [4, 3]  # 4 x 30k <= PART_ROWS
    assert [len(g) for g in file_groups(small, "1h")] == [1] * 7
    mixed = [entry(0, 10), entry(1, PART_ROWS * 3), entry(2, 10), entry(3, 10)]
    assert [[e.path for e in g] for g in file_groups(mixed, "1d")] == [["p0"], ["p1"],
                                                                      ["p2", "p3"]]
    many = [entry(n, 1) for n in range(20)]
    assert [len(g) for g in file_groups(many, "1d")] == [GROUP_FILES, GROUP_FILES, 4]
    assert [e for g in file_groups(many, "1d") for e in g] == many
