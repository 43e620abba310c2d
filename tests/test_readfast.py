"""Profile-served reports kept cheap without changing a bit: the JSON encoder writes exactly
what ``json.dumps(indent=2)`` writes, merged cells are the row-order folds a plain loop gives,
and importing the CLI loads no heavy optional library."""

from __future__ import annotations

import json
import math
import operator
import pickle
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evalctl.errors import StoreError
from evalctl.profiles.cells import CellLayout
from evalctl.profiles.format import (
    CELL_LISTS,
    HEAD_SCHEMA,
    PROFILE_SCHEMA,
    merge_profiles,
    merged_table,
    profile_table,
    tidy,
)
from evalctl.render.json_out import dumps, render_json
from evalctl.reports import Report
from evalctl.stats import fit_binning, summarize
from evalctl.stats.summary import NumericSummary

GOLDEN = Path(__file__).parent / "golden" / "commands"


def stdlib(value: Any) -> str:
    return json.dumps(value, indent=2, allow_nan=False)


@pytest.mark.parametrize("golden", sorted(GOLDEN.glob("*.json")), ids=lambda p: p.name)
def test_every_golden_report_is_written_byte_for_byte(golden: Path) -> None:
    value = json.loads(golden.read_text())
    assert dumps(value) == stdlib(value)


AWKWARD = {
    "floats": [1e-7, 1e16, -0.0, 0.0, 1e300, 5e-324, 0.1, -2.5e-10, 123456789.123, 1e22],
    "ints": [0, -1, 2**63, -(2**70), True, False, None],
    "strings": ["", "quote \" back \\ slash", "tab\tnew\nline", "é ü 日本", "\x00\x1f", "😀"],
    "empty": {"list": [], "dict": {}, "nested": [[], {}, [[]], {"a": {}}]},
    "tuple": (1, (2.5, "x"), ()),
    "numpy": [np.float64(0.1), np.float64(1e-7), np.float64(-0.0)],
    "keys in a leaf": {7: "int", 2.5: "float", False: "bool", None: "none"},
    "deep": {"a": [{"b": [{"c": [1, {"d": [None]}]}]}]},
}


def test_awkward_values_are_written_as_the_standard_library_writes_them() -> None:
    assert dumps(AWKWARD) == stdlib(AWKWARD)
    for value in (1e-7, "text", None, True, 3, [], {}, [1], {"a": 1}, -0.0, np.float64(2.0)):
        assert dumps(value) == stdlib(value)


def test_a_non_string_key_above_a_container_falls_back_to_the_standard_library() -> None:
    value = {1: [1, 2], "x": {2.5: {"y": [True]}}, None: {"z": []}}
    assert dumps(value) == stdlib(value)


def test_a_cycle_is_reported_as_the_standard_library_reports_it() -> None:
    looped: dict[str, Any] = {"a": [1]}
    looped["self"] = looped
    with pytest.raises(ValueError, match="Circular reference"):
        dumps(looped)


def test_non_finite_floats_raise_as_with_allow_nan_false() -> None:
    for bad in ([math.nan], {"a": {"b": [math.inf]}}, -math.inf):
        with pytest.raises(ValueError):
            stdlib(bad)
        with pytest.raises(ValueError):
            dumps(bad)
    assert dumps({"after": [0.5]}) == stdlib({"after": [0.5]})  # nothing left behind


def test_a_report_writes_nan_as_null_as_before() -> None:
    report = Report(command="skew", model="m", status="ok",
                    inputs={"at": datetime(2026, 11, 1, 12), "tuple": (1, 2),
                            "scores": [math.nan, np.float64(math.inf), 0.5]},
                    summary={"n": math.nan}, generated_at=datetime(2026, 12, 1))
    text = render_json(report)
    assert text == stdlib(report.to_dict()) + "\n"
    assert json.loads(text)["inputs"]["scores"] == [None, None, 0.5]


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8)
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=5), inner,
                                                                max_size=5),
    max_leaves=40)


@settings(max_examples=300, deadline=None)
@given(JSON)
def test_any_json_value_is_written_as_the_standard_library_writes_it(value: Any) -> None:
    assert dumps(value) == stdlib(value)


# merged cells: the same bits as a plain loop over the profiles' cell rows, in their order

START = datetime(2026, 11, 1)
KINDS = {"x": "numeric", "c": "categorical"}


def frame(seed: int, n: int = 300) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 3, n) * 10.0 ** rng.integers(-3, 4, n)  # sums that round differently
    x[rng.random(n) < 0.05] = -0.0
    return pl.DataFrame({
        "ts": [START + timedelta(hours=int(h)) for h in rng.integers(0, 96, n)],
        "x": [None if rng.random() < 0.05 else float(v) for v in x],
        "c": rng.choice(["a", "b", "c", "zz"], n).tolist(),
    }, schema={"ts": pl.Datetime("us"), "x": pl.Float64, "c": pl.String})


BINNING = fit_binning(frame(99).lazy(), KINDS, n_bins=6, top_k=2, fine_bins=20)


def profile(data: pl.DataFrame) -> pl.DataFrame:
    """The profile of `data` in format 1's layout (a row per cell: the row folds below, and
    the damage done to profiles, work on rows); `packed` gives format 2's."""
    return tidy(profile_table(summarize(data.lazy(), BINNING,
                                        by=pl.col("ts").dt.truncate("1d"), unseen_names=1000),
                              ["x", "c"]))


def packed(rows: pl.DataFrame) -> pl.DataFrame:
    """A format-1 table (each feature row followed by its cell rows) in format 2, by a
    group-by of its rows (not the writer's code)."""
    group = pl.col("cell").is_null().cum_sum().alias("__g")
    numbered = rows.with_columns(group)
    heads = numbered.filter(pl.col("cell").is_null()).select("__g", *HEAD_SCHEMA)
    cells = numbered.filter(pl.col("cell").is_not_null()).group_by("__g", maintain_order=True
                                                                   ).agg(
        cells="cell", counts="count", sums="sum", lows="low", highs="high")
    joined = heads.join(cells, on="__g", how="left", maintain_order="left")
    return joined.select(*HEAD_SCHEMA, *(
        pl.col(name).fill_null(pl.lit([], dtype=pl.List(dtype))).cast(pl.List(dtype))
        for name, dtype in CELL_LISTS.items()))


def forms(tables: list[pl.DataFrame]) -> list[list[pl.DataFrame]]:
    """Profiles as format 1 tables, as format 2 tables, and mixed (format 2 first)."""
    two = [packed(t) for t in tables]
    return [tables, two, [t if i % 2 else p for i, (t, p) in enumerate(zip(tables, two,
                                                                           strict=True))]]


def test_packed_tables_are_the_writers() -> None:
    table = profile_table(summarize(frame(3).lazy(), BINNING, by=pl.col("ts").dt.truncate("1d"),
                                    unseen_names=1000), ["x", "c"])
    assert table.schema == PROFILE_SCHEMA
    assert packed(tidy(table)).equals(table)


def folded(tables: list[pl.DataFrame], window: pl.Expr | None
           ) -> dict[Any, tuple[np.ndarray, ...]]:
    """Feature x's cells per window: counts, and the open cells' sums, lows and highs folded
    one row at a time in the tables' order (Python floats), cleaned as `summarize` does."""
    return _row_fold(tables, window, float, operator.add, min, max)


def _row_fold(tables: list[pl.DataFrame], window: pl.Expr | None,
              number: Callable[[float], Any], add: Callable[[Any, Any], Any],
              least: Callable[[Any, Any], Any], most: Callable[[Any, Any], Any]
              ) -> dict[Any, tuple[np.ndarray, ...]]:
    """Feature x's cells per window, folded one cell row at a time in the tables' order with
    the scalar type `number` and its `add`, `least` and `most`; each open cell cleaned as
    `summarize` leaves it (0 sum and NaN low and high where empty, ``+ 0.0``, a sum of ±inf
    as ±float max and of NaN as 0)."""
    rows = pl.concat(tables).with_columns(
        (pl.lit(None) if window is None else window).alias("w")).filter(
        pl.col("feature") == "x", pl.col("cell").is_not_null())
    size = 2 * len(BINNING.numeric["x"].edges) + 1
    out: dict[Any, list[list[Any]]] = {}
    for w, cell, count, total, low, high in rows.select(
            "w", "cell", "count", "sum", "low", "high").iter_rows():
        acc = out.setdefault(w, [[0] * size, [number(0.0)] * size,
                                 [number(math.inf)] * size, [number(-math.inf)] * size])
        acc[0][cell] += count
        acc[1][cell] = add(acc[1][cell], number(0.0 if total is None else total))
        acc[2][cell] = least(acc[2][cell], number(math.inf if low is None else low))
        acc[3][cell] = most(acc[3][cell], number(-math.inf if high is None else high))
    result = {}
    for w, (counts, sums, lows, highs) in out.items():
        seen = [c > 0 for c in counts][0::2]
        cleaned = [np.array([add(v if s else number(blank), 0.0)
                             for v, s in zip(values[0::2], seen, strict=True)])
                   for values, blank in ((sums, 0.0), (lows, math.nan), (highs, math.nan))]
        result[w] = (np.array(counts), np.nan_to_num(cleaned[0]), *cleaned[1:])
    return result


@pytest.mark.parametrize("window", [None, pl.col("bucket"),
                                    pl.col("bucket").dt.truncate("2d")], ids=str)
def test_merged_cells_are_the_row_order_folds_bit_for_bit(window: pl.Expr | None) -> None:
    tables = [profile(frame(seed)) for seed in range(5)]
    expected = folded(tables, window)
    for form in forms(tables):  # format 1, format 2, mixed: the same bits
        merged = merge_profiles(form, BINNING, window)
        assert sorted(expected, key=lambda k: (k is None, k)) == list(merged.summaries)
        for w, cells in expected.items():
            x = merged.summaries[w]["x"]
            assert isinstance(x, NumericSummary)
            for name, got, want in zip(("counts", "sums", "lows", "highs"),
                                       (x.counts, x.sums, x.lows, x.highs), cells, strict=True):
                assert got.tobytes() == want.astype(got.dtype).tobytes(), (w, name)


def strange(table: pl.DataFrame, seed: int) -> pl.DataFrame:
    """A profile whose x open cells hold -0.0, inf, -inf and NaN sums, lows and highs (and
    nulls): values a row-order fold must keep bit for bit."""
    rng = np.random.default_rng(seed)
    odd = [-0.0, 0.0, np.inf, -np.inf, np.nan, None, 1e308, -1e308, 5e-324]
    opened = (pl.col("feature") == "x") & (pl.col("cell") % 2 == 0)
    picks = {name: pl.Series(rng.choice(len(odd), len(table)).tolist()) for name in
             ("sum", "low", "high")}
    return table.with_columns(
        pl.when(opened & (picks[name] < len(odd) - 1))
        .then(picks[name].replace_strict(list(range(len(odd))), odd,
                                         return_dtype=pl.Float64))
        .otherwise(pl.col(name)).alias(name) for name in ("sum", "low", "high"))


def numpy_folded(tables: list[pl.DataFrame], window: pl.Expr | None
                 ) -> dict[Any, tuple[np.ndarray, ...]]:
    """`folded` with numpy's scalar float64 add, minimum and maximum (NaN wins a minimum or
    maximum, as in `np.minimum.at`), one cell row at a time in the tables' order."""
    return _row_fold(tables, window, np.float64, np.add, np.minimum, np.maximum)


@pytest.mark.filterwarnings("ignore:(overflow|invalid value) encountered:RuntimeWarning")
@pytest.mark.parametrize("window", [None, pl.col("bucket"),
                                    pl.col("bucket").dt.truncate("2d")], ids=str)
def test_merged_cells_keep_the_bits_of_signed_zeros_infinities_and_nans(
        window: pl.Expr | None) -> None:
    """-0.0, ±inf and NaN in sums, lows and highs, with every (window, cell) hit by several
    profiles (each table twice, and buckets folded into windows): the merged cells, cleaned
    in place (`WindowCells.opened`), are numpy's row-order fold bit for bit (sums that end
    ±inf or NaN as the float maximum or 0, as `summarize` leaves them)."""
    tables = [strange(profile(frame(seed)), seed) for seed in range(3)]
    tables += tables[:2]
    expected = numpy_folded(tables, window)
    for form in forms(tables):  # format 1, format 2, mixed: the same bits
        merged = merge_profiles(form, BINNING, window)
        assert sorted(expected, key=lambda k: (k is None, k)) == list(merged.summaries)
        special = 0
        for w, cells in expected.items():
            x = merged.summaries[w]["x"]
            assert isinstance(x, NumericSummary)
            special += int(np.sum(np.abs(cells[1]) == np.finfo(float).max)) + int(
                np.sum(np.isinf(cells[2]))) + int(np.sum(np.isinf(cells[3])))
            for name, got, want in zip(("counts", "sums", "lows", "highs"),
                                       (x.counts, x.sums, x.lows, x.highs), cells, strict=True):
                assert got.tobytes() == want.astype(got.dtype).tobytes(), (w, name)
        assert special  # the strange values reached the merged cells


def test_open_cells_of_every_numeric_feature_sit_in_their_own_place() -> None:
    """Sums, lows and highs are kept for numeric open cells alone (`evalctl.profiles.cells`):
    numeric features after a categorical one and after each other merge to what summarising
    the union gives (counts, lows and highs exactly; sums to rounding: another order)."""
    kinds = {"c": "categorical", "x": "numeric", "x2": "numeric"}

    def wide(seed: int) -> pl.DataFrame:
        return frame(seed).with_columns((pl.col("x") * -2.0 + 1.0).alias("x2"))

    binning = fit_binning(wide(99).lazy(), kinds, n_bins=6, top_k=2, fine_bins=20)
    day = pl.col("ts").dt.truncate("1d")
    tables = [profile_table(summarize(wide(seed).lazy(), binning, by=day, unseen_names=1000),
                            list(kinds)) for seed in range(3)]
    union = pl.concat([wide(seed) for seed in range(3)]).lazy()
    layout = CellLayout(binning)
    assert layout.open_total == sum(len(b.edges) + 1 for b in binning.numeric.values())
    for window, by in ((None, None), (pl.col("bucket"), day)):
        merged = merge_profiles(tables, binning, window)
        expected = summarize(union, binning, by=by)
        assert list(merged.summaries) == sorted(expected, key=lambda k: (k is None, k))
        for w, summaries in expected.items():
            for feature in ("x", "x2"):
                got, want = merged.summaries[w][feature], summaries[feature]
                assert isinstance(got, NumericSummary) and isinstance(want, NumericSummary)
                assert got.counts.tobytes() == want.counts.tobytes(), (w, feature)
                for name in ("lows", "highs"):
                    assert np.array_equal(getattr(got, name), getattr(want, name),
                                          equal_nan=True), (w, feature, name)
                assert np.allclose(got.sums, want.sums, rtol=1e-12, atol=1e-9), (w, feature)
            assert merged.summaries[w]["c"] == summaries["c"]


def test_cells_of_a_bucket_without_feature_rows_among_good_ones_are_a_store_error() -> None:
    """Runs of buckets are mapped to windows a run at a time: a headless bucket between
    good ones is still found."""
    good = profile(frame(1))
    buckets = good.get_column("bucket").unique().sort()
    assert len(buckets) >= 3
    headless = good.filter(~((pl.col("bucket") == buckets[1]) & pl.col("cell").is_null()))
    with pytest.raises(StoreError, match="outside its feature rows"):
        merge_profiles([headless], BINNING, pl.col("bucket"))
    merge_profiles([good, headless], BINNING, pl.col("bucket"))  # good holds its rows


def test_rows_in_any_order_and_features_outside_the_reference_merge_as_a_row_fold() -> None:
    """Cells are placed a run of one (bucket, feature) at a time: rows in no particular order
    (a run per row) fold as the plain loop does, and a feature the reference lacks, wherever
    its rows are, is skipped."""
    tables = [profile(frame(seed)) for seed in range(3)]
    shuffled = [t.sample(fraction=1.0, shuffle=True, seed=i) for i, t in enumerate(tables)]
    stranger = [t.vstack(t.filter(pl.col("feature") == "x").with_columns(
        pl.lit("y").alias("feature"), pl.col("cell") * 1000)).sample(
        fraction=1.0, shuffle=True, seed=7) for t in tables]
    for window in (None, pl.col("bucket")):
        for case in (shuffled, stranger):
            merged = merge_profiles(case, BINNING, window)
            for w, cells in folded(case, window).items():
                x = merged.summaries[w]["x"]
                assert isinstance(x, NumericSummary) and "y" not in merged.summaries[w]
                for got, want in zip((x.counts, x.sums, x.lows, x.highs), cells, strict=True):
                    assert got.tobytes() == want.astype(got.dtype).tobytes(), w


@pytest.mark.parametrize("past", [-1, 0, 1000])
def test_a_cell_outside_its_feature_is_a_store_error(past: int) -> None:
    """A cell below 0 or at or past the feature's cells (2 per edge + 1)."""
    cell = -1 if past < 0 else 2 * len(BINNING.numeric["x"].edges) + 1 + past
    good = profile(frame(2))
    at = good.with_row_index("i").filter(pl.col("feature") == "x", pl.col("cell").is_not_null())
    bad = good.with_row_index("i").with_columns(
        pl.when(pl.col("i") == at.get_column("i")[len(at) // 2]).then(cell)
        .otherwise(pl.col("cell")).alias("cell")).drop("i")
    for window in (None, pl.col("bucket")):
        for pair in ([good, bad], [packed(good), packed(bad)]):
            with pytest.raises(StoreError, match="outside its feature rows"):
                merge_profiles(pair, BINNING, window)


def test_reading_profiles_does_not_import_numpy_ma(tmp_path: Path) -> None:
    """Start-up time: polars imports numpy.ma (~13 ms) when given a numpy array; the read
    path hands it lists."""
    paths = []
    for seed in range(2):
        paths.append(str(tmp_path / f"p{seed}.parquet"))
        profile(frame(seed)).write_parquet(paths[-1])
    merged = str(tmp_path / "merged.parquet")
    merged_table(paths, BINNING).write_parquet(merged)
    (tmp_path / "binning.pickle").write_bytes(pickle.dumps(BINNING))
    code = f"""
import pickle, sys
import polars as pl
from evalctl.profiles.format import merge_profiles, read_merged_table
binning = pickle.loads(open({str(tmp_path / "binning.pickle")!r}, "rb").read())
before = "numpy.ma" in sys.modules
merge_profiles({paths!r}, binning, pl.col("bucket"))
merge_profiles({paths!r}, binning)
read_merged_table({merged!r}, binning)
print(before, "numpy.ma" in sys.modules)
"""
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           check=True).stdout.split()
    assert found == ["False", "False"]


def test_importing_the_cli_loads_no_heavy_optional_library() -> None:
    """Start-up time: scipy, scikit-learn and pyspark load only in the commands that use
    them, never when the CLI is imported."""
    code = ("import sys, evalctl.cli.app; "
            "print(sorted({m.split('.')[0] for m in sys.modules} "
            "& {'scipy', 'sklearn', 'pyspark'}))")
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           check=True).stdout.strip()
    assert found == "[]"
