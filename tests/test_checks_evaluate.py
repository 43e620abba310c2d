"""evaluate_feature: verdicts, errors instead of crashes, JSON-safe output, and the registry."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import polars as pl
import pytest

from evalctl.checks import (
    DEFAULT_METHOD,
    MEASURES,
    compute_score,
    evaluate_feature,
    judge,
    resolve_measure,
    resolve_thresholds,
)
from evalctl.checks.evaluate import describe
from evalctl.errors import InputError
from evalctl.stats import Summary, fit_binning, summarize

RNG = np.random.default_rng(5)


def _pair(ref: Any, cur: Any, kind: str) -> tuple[Summary, Summary]:
    ref_frame, cur_frame = pl.LazyFrame({"f": ref}), pl.LazyFrame({"f": cur})
    binning = fit_binning(ref_frame, {"f": kind})
    return summarize(ref_frame, binning)[None]["f"], summarize(cur_frame, binning)[None]["f"]


def _evaluate(ref: Any, cur: Any, kind: str, **kw: Any) -> dict[str, Any]:
    result = evaluate_feature(*_pair(ref, cur, kind), kind, **kw)
    json.dumps(result, allow_nan=False)  # JSON-ready: no NaN / inf, plain types only
    return result


NORMAL = RNG.normal(50, 10, 5000)
SHIFTED = RNG.normal(58, 10, 5000)
CATS = RNG.choice(list("abcd"), 4000, p=[.4, .3, .2, .1])

# One fixture per registered measure: (kind, reference, current, expected status).
FIXTURES: dict[str, tuple[str, Any, Any, str]] = {
    "psi": ("numeric", NORMAL, SHIFTED, "fail"),
    "jensen_shannon": ("categorical", CATS, RNG.choice(list("abcd"), 3000), "warn"),
    "hellinger": ("numeric", NORMAL, RNG.normal(50, 10, 5000), "pass"),
    "ks": ("numeric", NORMAL, SHIFTED, "fail"),
    "wasserstein": ("numeric", NORMAL, SHIFTED, "fail"),
    "l_infinity": ("categorical", CATS, RNG.choice(list("abcd"), 3000, p=[.25] * 4), "warn"),
    "chi_square": ("categorical", CATS, RNG.choice(list("abcd"), 3000, p=[.25] * 4), "fail"),
    "unseen": ("categorical", ["a", "b"] * 50, ["a"] * 90 + ["new"] * 10, "warn"),
    "vanished": ("categorical", list("aaaabbbbcd") * 10, list("aaaabbbb") * 10, "fail"),
    "null_rate_change": ("numeric", [1.0] * 100, [1.0] * 92 + [None] * 8, "warn"),
    "out_of_range": ("numeric", NORMAL, np.r_[NORMAL[:900], [200.0] * 100], "warn"),
}


def test_every_registered_measure_has_a_fixture() -> None:
    assert set(FIXTURES) == set(MEASURES)


@pytest.mark.parametrize("method", sorted(MEASURES))
def test_each_measure_on_its_fixture(method: str) -> None:
    kind, ref, cur, expected = FIXTURES[method]
    result = _evaluate(ref, cur, kind, method=method)
    assert result["method"] == method and result["status"] == expected, result
    measure = MEASURES[method]
    assert (result["warn"], result["threshold"]) == (measure.warn, measure.fail)
    assert measure.doc and kind in measure.kinds


def test_registry_defaults_are_consistent() -> None:
    assert DEFAULT_METHOD == {"numeric": "wasserstein", "categorical": "jensen_shannon"}
    assert (MEASURES["wasserstein"].warn, MEASURES["wasserstein"].fail) == (0.1, 0.2)
    assert (MEASURES["psi"].warn, MEASURES["psi"].fail) == (0.1, 0.25)
    assert (MEASURES["jensen_shannon"].warn, MEASURES["jensen_shannon"].fail) == (0.1, 0.2)
    assert (MEASURES["l_infinity"].warn, MEASURES["l_infinity"].fail) == (0.1, 0.2)
    assert (MEASURES["null_rate_change"].warn, MEASURES["null_rate_change"].fail) == (0.05, 0.1)
    assert (MEASURES["out_of_range"].warn, MEASURES["out_of_range"].fail) == (0.05, 0.2)
    for measure in MEASURES.values():
        resolve_thresholds(measure)  # defaults are ordered the right way round


def test_default_methods_and_result_shape() -> None:
    numeric = _evaluate(NORMAL, SHIFTED, "numeric")
    assert numeric["method"] == "wasserstein" and numeric["reference_std"] > 0
    assert numeric["distance_lower_bound"] <= numeric["distance"] <= \
        numeric["distance_upper_bound"]
    assert numeric["reference"]["rows"] == 5000 and numeric["current"]["nulls"] == 0
    assert numeric["reference"]["mean"] == pytest.approx(NORMAL.mean())
    assert numeric["null_rate_change"] == 0.0 and numeric["out_of_range_share"] >= 0
    assert numeric["summary"].startswith("mean ")
    categorical = _evaluate(CATS, ["a", "zz", "zz", None], "categorical")
    assert categorical["method"] == "jensen_shannon" and categorical["log_base"] == 2
    assert categorical["unseen"]["names"] == ["zz"] and categorical["unseen"]["rows"] == 2
    assert categorical["vanished"]["names"] == ["b", "c", "d"]
    assert categorical["null_rate_change"] == pytest.approx(0.25)
    assert "__unseen__" in categorical["summary"]


def test_overrides_and_p_values() -> None:
    result = _evaluate(NORMAL, SHIFTED, "numeric", method="ks", warn=0.5, fail=0.9)
    assert result["status"] == "pass" and result["threshold"] == 0.9
    assert 0 <= result["p_value"] < 1e-10  # reported beside the effect size, not the gate


def test_bad_method_or_thresholds_are_input_errors() -> None:
    with pytest.raises(InputError, match="valid: .*psi"):
        resolve_measure("numeric", "l_infinity")
    with pytest.raises(InputError, match="unknown numeric method 'nope'"):
        resolve_measure("numeric", "nope")
    with pytest.raises(InputError, match="kind"):
        resolve_measure("text")
    with pytest.raises(InputError, match="warn"):
        resolve_thresholds(MEASURES["psi"], warn=0.3, fail=0.2)
    with pytest.raises(InputError, match="warn"):
        resolve_thresholds(MEASURES["chi_square"], warn=0.01, fail=0.05)


def test_judge_reaching_a_threshold() -> None:
    assert judge(0.25, 0.1, 0.25) == "fail" and judge(0.1, 0.1, 0.25) == "warn"
    assert judge(0.09, 0.1, 0.25) == "pass"
    assert judge(0.001, 0.05, 0.01, higher_is_worse=False) == "fail"
    assert judge(0.03, 0.05, 0.01, higher_is_worse=False) == "warn"
    assert judge(0.5, 0.05, 0.01, higher_is_worse=False) == "pass"


ALL_NULL = pl.Series([None] * 50, dtype=pl.Float64)


@pytest.mark.parametrize("method", [m for m, v in MEASURES.items() if "numeric" in v.kinds])
def test_all_null_current_column_is_an_error_result(method: str) -> None:
    result = _evaluate(NORMAL, ALL_NULL, "numeric", method=method)
    if method == "null_rate_change":
        assert result["status"] == "fail" and result["score"] == pytest.approx(1.0)
    else:
        assert result["status"] == "error" and result["score"] is None
        assert "no finite values" in result["reason"]


def test_all_null_reference_and_wrong_dtype_are_error_results() -> None:
    result = _evaluate(ALL_NULL, NORMAL[:50], "numeric")
    assert result["status"] == "error" and "reference" in result["reason"]
    assert _evaluate(ALL_NULL, NORMAL[:50], "numeric", method="null_rate_change")["score"] == 1.0
    text = _evaluate(NORMAL, ["1.5"] * 10, "numeric")
    assert text["status"] == "error" and "String" in text["reason"]
    ref, _ = _pair(CATS, CATS, "categorical")
    _, numeric_summary = _pair([1.0], [1.0], "numeric")
    mismatched = evaluate_feature(ref, numeric_summary, "categorical")
    assert mismatched["status"] == "error" and "numeric" in mismatched["reason"]


def test_missing_column_is_an_error_result() -> None:
    binning = fit_binning(pl.LazyFrame({"f": NORMAL}), {"f": "numeric"})
    ref = summarize(pl.LazyFrame({"f": NORMAL}), binning)[None]["f"]
    cur = summarize(pl.LazyFrame({"other": [1, 2]}), binning)[None]["f"]
    for method in ("psi", "null_rate_change"):
        result = evaluate_feature(ref, cur, "numeric", method=method)
        assert result["status"] == "error" and "missing" in result["reason"]
        json.dumps(result, allow_nan=False)


def test_constant_and_single_category_columns() -> None:
    constant = _evaluate([3.0] * 100, [3.0] * 60 + [4.0] * 40, "numeric", method="ks")
    assert constant["score"] == pytest.approx(0.4) and constant["status"] == "fail"
    assert constant["out_of_range_share"] == pytest.approx(0.4)
    flat = _evaluate([3.0] * 100, [3.0] * 60 + [4.0] * 40, "numeric", method="wasserstein")
    assert flat["status"] == "error" and "constant" in flat["reason"]
    single = _evaluate(["x"] * 100, ["x"] * 100, "categorical", method="chi_square")
    assert single["score"] == 1.0 and single["status"] == "pass"


def test_thousand_level_categorical_result() -> None:
    levels = [f"l{i}" for i in range(1000)]
    ref = RNG.choice(levels, 30000)
    cur = np.r_[RNG.choice(levels, 29000), RNG.choice([f"n{i}" for i in range(30)], 1000)]
    result = _evaluate(ref, cur, "categorical")
    assert result["categories"] == 50 and result["buckets"] == 52
    assert result["unseen"]["levels"] == 30 and len(result["unseen"]["names"]) == 5
    assert result["unseen"]["share"] == pytest.approx(1000 / 30000)


def test_json_safe_unwraps_numpy_and_drops_non_finite_at_any_depth() -> None:
    from collections import OrderedDict

    from evalctl.checks.evaluate import json_safe

    value = {"a": np.float64(1.5), 2: (np.int64(3), [float("nan"), np.float32(np.inf)]),
             "b": OrderedDict(c=-float("inf"), d=True), "e": None, "f": "x",
             "g": np.bool_(False), "h": [np.float64(np.nan), 0.25]}
    safe = json_safe(value)
    assert safe == {"a": 1.5, "2": [3, [None, None]], "b": {"c": None, "d": True},
                    "e": None, "f": "x", "g": False, "h": [None, 0.25]}
    assert type(safe["a"]) is float and type(safe["2"][0]) is int
    assert type(safe["g"]) is bool
    json.dumps(safe, allow_nan=False)  # plain JSON only


@pytest.mark.parametrize("method", sorted(MEASURES))
def test_an_undescribed_result_is_the_described_one_without_the_sides(method: str) -> None:
    """drift's windows skip `describe` (counts, summary line) and the measure's details (how
    to reproduce it): the verdict is the same."""
    kind, ref, cur, _ = FIXTURES[method]
    full = _evaluate(ref, cur, kind, method=method)
    lean = _evaluate(ref, cur, kind, method=method, described=False)
    pair = _pair(ref, cur, kind)
    details = compute_score(*pair, kind, method).details
    assert compute_score(*pair, kind, method, detailed=False).details == {}
    described = set(describe(*pair)) | set(details)
    assert set(full) - set(lean) <= described and set(lean) <= set(full)
    assert {k: v for k, v in full.items() if k not in described} == \
        {k: v for k, v in lean.items() if k not in described}
