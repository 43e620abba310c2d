"""Transformation skew over rows joined on the id (TFDV's skew detector shape)."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest

from evalctl.checks import CURRENT_SUFFIX, join_on_id, transform_skew

RNG = np.random.default_rng(9)
N = 2000
FEATURES = {"minutes": "numeric", "age": "numeric", "country": "categorical"}


def _sides() -> tuple[pl.LazyFrame, pl.LazyFrame]:
    ids = np.arange(N)
    minutes = RNG.uniform(1, 100, N)
    age = RNG.integers(18, 90, N).astype(float)
    country = RNG.choice(["DE", "FR", "US"], N)
    reference = pl.LazyFrame({"id": ids, "minutes": minutes, "age": age, "country": country})
    current = pl.LazyFrame({
        "id": ids[::-1],  # order differs: the join, not the row order, pairs them
        "minutes": (minutes * 60)[::-1],  # seconds online, minutes offline: the classic bug
        "age": (age * (1 + 1e-9))[::-1],  # float noise within tolerance
        "country": np.where(np.arange(N) % 10 == 0, "de", country)[::-1],
    })
    return reference, current


def _by_feature(results: list[dict]) -> dict[str, dict]:
    return {r["feature"]: r for r in results}


def test_scaled_feature_is_caught_and_untouched_one_passes() -> None:
    joined = join_on_id(*_sides(), "id", list(FEATURES))
    results = _by_feature(transform_skew(joined, FEATURES, id_column="id"))
    minutes = results["minutes"]
    assert minutes["median_ratio"] == pytest.approx(60)
    assert minutes["mismatch_rate"] == pytest.approx(1.0) and minutes["status"] == "fail"
    assert minutes["rows"] == minutes["compared"] == N and minutes["either_null"] == 0
    samples = minutes["samples"]
    assert len(samples) == 5 and [s["id"] for s in samples] == [0, 1, 2, 3, 4]
    assert all(s["current"] == pytest.approx(60 * s["reference"]) for s in samples)
    age = results["age"]
    assert age["mismatches"] == 0 and age["mismatch_rate"] == 0.0 and age["status"] == "pass"
    assert age["median_ratio"] == pytest.approx(1.0) and age["samples"] == []
    country = results["country"]
    assert country["mismatch_rate"] == pytest.approx(0.1, abs=0.01)
    assert country["median_ratio"] is None
    assert all(s["current"] == "de" for s in country["samples"])
    json.dumps(list(results.values()), allow_nan=False)


def test_brute_force_counts_with_nulls_and_nan() -> None:
    joined = pl.LazyFrame({
        "x": [1.0, 2.0, None, 4.0, float("nan"), 0.0, 5.0],
        f"x{CURRENT_SUFFIX}": [1.0, 2.5, 3.0, None, float("nan"), 1.0, 5.0 + 1e-7],
    })
    (result,) = transform_skew(joined, {"x": "numeric"})
    assert (result["rows"], result["either_null"], result["compared"]) == (7, 2, 5)
    assert result["mismatches"] == 2  # 2.0 vs 2.5 and 0.0 vs 1.0; NaN = NaN and 5 ~ 5 match
    assert result["mismatch_rate"] == pytest.approx(2 / 5)
    ratios = np.array([1.0, 1.25, 1 + 2e-8])
    assert result["median_ratio"] == pytest.approx(np.median(ratios))
    assert result["median_offset"] == pytest.approx(np.median([0, 0.5, 1.0, 1e-7]))


def test_tolerances() -> None:
    joined = pl.LazyFrame({"x": [100.0, 0.0, 5.0], f"x{CURRENT_SUFFIX}": [100.001, 1e-10, 5.0]})
    # |diff| 1e-3 > 1e-6 * 100 + 1e-9 mismatches; 1e-10 on 0 is within the absolute 1e-9
    (strict,) = transform_skew(joined, {"x": "numeric"})
    assert strict["mismatches"] == 1
    (loose,) = transform_skew(joined, {"x": "numeric"}, rtol=1e-3)
    assert loose["mismatches"] == 0
    (exact,) = transform_skew(joined, {"x": "numeric"}, rtol=0.0, atol=0.0)
    assert exact["mismatches"] == 2


def test_bad_columns_are_error_results() -> None:
    joined = pl.LazyFrame({"a": [1.0], f"a{CURRENT_SUFFIX}": ["1.0"], "b": [1]})
    results = _by_feature(transform_skew(joined, {"a": "numeric", "b": "numeric"}))
    assert results["a"]["status"] == "error" and "String" in results["a"]["reason"]
    assert results["b"]["status"] == "error" and "missing" in results["b"]["reason"]


def test_all_null_side_is_an_error_result() -> None:
    joined = pl.LazyFrame({"a": [1.0, 2.0], f"a{CURRENT_SUFFIX}": [None, None]},
                          schema={"a": pl.Float64, f"a{CURRENT_SUFFIX}": pl.Float64})
    (result,) = transform_skew(joined, {"a": "numeric"})
    assert result["status"] == "error" and result["either_null"] == 2
