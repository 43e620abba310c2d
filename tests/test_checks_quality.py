"""Data-quality checks against brute-force numpy: null rates, out-of-range share, schemas."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from evalctl.checks import compare_schemas, compute_score
from evalctl.checks.quality import null_rate
from evalctl.stats import fit_binning, summarize

RNG = np.random.default_rng(3)


def _frame(values: np.ndarray, null_share: float) -> pl.LazyFrame:
    nulls = RNG.random(len(values)) < null_share
    column = [None if n else float(v) for v, n in zip(values, nulls, strict=True)]
    return pl.LazyFrame({"x": column})


def test_null_rate_change_matches_brute_force() -> None:
    ref_frame, cur_frame = _frame(RNG.normal(size=2000), 0.02), _frame(RNG.normal(size=1000), 0.1)
    binning = fit_binning(ref_frame, {"x": "numeric"})
    ref = summarize(ref_frame, binning)[None]["x"]
    cur = summarize(cur_frame, binning)[None]["x"]
    expected = [f.collect()["x"].is_null().mean() for f in (ref_frame, cur_frame)]
    assert (null_rate(ref), null_rate(cur)) == pytest.approx(expected)
    score = compute_score(ref, cur, "numeric", "null_rate_change")
    assert score.value == pytest.approx(abs(expected[1] - expected[0]))
    assert score.details["change"] == pytest.approx(expected[1] - expected[0])
    back = compute_score(cur, ref, "numeric", "null_rate_change")
    assert back.value == score.value and back.details["change"] < 0


def test_out_of_range_share_matches_brute_force() -> None:
    ref_values = RNG.integers(18, 90, 3000).astype(float)
    cur_values = np.r_[RNG.integers(10, 100, 2000), [np.nan, np.inf]]
    ref_frame = pl.LazyFrame({"x": ref_values})
    binning = fit_binning(ref_frame, {"x": "numeric"})
    ref = summarize(ref_frame, binning)[None]["x"]
    cur = summarize(pl.LazyFrame({"x": cur_values}), binning)[None]["x"]
    finite = cur_values[np.isfinite(cur_values)]
    outside = (finite < ref_values.min()) | (finite > ref_values.max())
    score = compute_score(ref, cur, "numeric", "out_of_range")
    assert score.value == pytest.approx(outside.mean())
    assert score.details["below"] == (finite < ref_values.min()).sum()
    assert score.details["reference_max"] == ref_values.max()
    assert cur.nonfinite == 2


def test_compare_schemas() -> None:
    reference = {"age": "Int64", "country": "String", "score": "Float64", "old": "Int8"}
    current = {"age": "Float64", "country": "String", "score": "Float64", "new": "Boolean"}
    diff = compare_schemas(reference, current)
    assert diff == {
        "status": "warn",
        "missing": ["old"],
        "new": ["new"],
        "retyped": [{"column": "age", "reference": "Int64", "current": "Float64"}],
    }
    assert compare_schemas(reference, reference)["status"] == "pass"
    assert compare_schemas(reference, reference | {"extra": "Int8"})["new"] == ["extra"]
    retyped_only = reference | {"age": "Float64"}
    assert compare_schemas(reference, retyped_only)["status"] == "warn"


def test_compare_schemas_without_types_reports_only_columns() -> None:
    """A CSV side carries no types: its String columns are not a retyping."""
    reference = {"age": "Int64", "country": "String"}
    untyped = {"age": "String", "country": "String", "device": "String"}
    diff = compare_schemas(reference, untyped, compare_types=False)
    assert diff == {"status": "warn", "missing": [], "new": ["device"], "retyped": []}
    assert compare_schemas(reference, {"age": "String", "country": "String"},
                           compare_types=False)["status"] == "pass"
