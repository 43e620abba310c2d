"""Multivariate drift: the classifier two-sample test (pure) and `drift --multivariate` (CLI)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from sklearn.metrics import roc_auc_score
from tests.helpers import make_frame, store_snapshot
from tests.helpers import validate_envelope as validate

from evalctl.checks.multivariate import (
    RARE,
    UNSEEN,
    ClassifierTestOptions,
    auroc,
    category_counts,
    classifier_two_sample_test,
    delong_interval,
    encode,
    encode_pair,
    encoded_two_sample_test,
    fit_encoding,
)

KINDS = {"a": "numeric", "b": "numeric", "c": "categorical"}


def correlated(n: int, rho: float, seed: int) -> pl.DataFrame:
    """a, b standard normal with correlation rho; c a category independent of both."""
    rng = np.random.default_rng(seed)
    z1, z2 = rng.standard_normal(n), rng.standard_normal(n)
    return pl.DataFrame({"a": z1, "b": rho * z1 + np.sqrt(1 - rho * rho) * z2,
                         "c": rng.choice(["x", "y", "z"], n)})


# ---- the pure pieces --------------------------------------------------------------------------

def test_auroc_matches_sklearn_with_ties() -> None:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 500)
    scores = np.round(rng.random(500) + 0.3 * labels, 1)  # many ties
    assert auroc(scores, labels) == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)


def test_delong_interval_matches_a_bootstrap() -> None:
    rng = np.random.default_rng(1)
    labels = np.repeat([0, 1], 400)
    scores = rng.standard_normal(800) + 0.6 * labels
    se, low, high = delong_interval(scores, labels, 0.95)
    boot = []
    for _ in range(2000):
        i = np.concatenate([rng.choice(400, 400), 400 + rng.choice(400, 400)])
        boot.append(roc_auc_score(labels[i], scores[i]))
    assert se == pytest.approx(np.std(boot), rel=0.1)
    lo_b, hi_b = np.quantile(boot, [0.025, 0.975])
    assert low == pytest.approx(lo_b, abs=0.01) and high == pytest.approx(hi_b, abs=0.01)
    assert low < auroc(scores, labels) < high


def test_categories_use_the_reference_vocabulary_and_unseen_gets_its_own_code() -> None:
    ref = pl.DataFrame({"c": ["x", "x", "x", "y", "y", None]})
    cur = pl.DataFrame({"c": ["y", "new", None, "x"]})
    x_ref, x_cur, encoding = encode_pair(ref, cur, {"c": "categorical"})
    assert encoding.categorical == [True]
    assert x_ref[:, 0].tolist()[:5] == [0.0, 0.0, 0.0, 1.0, 1.0] and np.isnan(x_ref[5, 0])
    assert x_cur[0, 0] == 1.0 and x_cur[1, 0] == UNSEEN and np.isnan(x_cur[2, 0])
    assert x_cur[3, 0] == 0.0 and RARE != UNSEEN


def test_rare_reference_values_share_one_code_below_the_unseen_one() -> None:
    values = [f"v{i:03d}" for i in range(300)]
    # every value held at least twice (held once, a reference row's value is unseen), and
    # v299 still rarer than 252 others with the window's row pooled in
    ref = pl.DataFrame({"c": values * 2 + values[:260] + ["v000"] * 5})
    x_ref, x_cur, _ = encode_pair(ref, pl.DataFrame({"c": ["v299", "zzz"]}), {"c": "categorical"})
    assert x_ref.max() == RARE and x_ref[0, 0] == 0.0  # the most frequent value first
    assert x_cur[:, 0].tolist() == [RARE, UNSEEN]


def test_the_vocabulary_of_the_whole_reference_keeps_a_many_level_category_at_half() -> None:
    """Sampled from the same 3,000-level category: with the sample's own vocabulary every
    reference row is "seen" and many window rows are not, a false drift; with the whole
    reference's vocabulary (what drift --multivariate passes) there is none."""
    rng = np.random.default_rng(4)
    whole = pl.DataFrame({"c": rng.integers(0, 3000, 200_000).astype(str),
                          "a": rng.standard_normal(200_000)})
    ref, cur = whole.sample(2000, seed=1), whole.sample(2000, seed=2)
    kinds = {"c": "categorical", "a": "numeric"}
    counts = {"c": category_counts(whole.lazy(), "c").collect()}
    fair = classifier_two_sample_test(ref, cur, kinds, ClassifierTestOptions(), counts)
    assert abs(fair["auroc"] - 0.5) < 0.03 and fair["p_value"] > 0.01


def test_a_reference_that_is_its_own_vocabulary_is_coded_leave_one_out() -> None:
    """The reference sample is the whole reference (a reference within the row budget) and a
    category has more levels than the classifier's 252 codes: coded naively, every reference
    value is "seen" while a window from the same distribution meets unseen values a quarter
    of the time, and the test cries drift (reproduced below). Reference rows coded as if
    left out of the vocabulary's fit (a value held once is unseen) keep it at 0.5."""
    rng = np.random.default_rng(4)
    kinds = {"c": "categorical", "a": "numeric"}
    ref, cur = (pl.DataFrame({"c": rng.integers(0, 3000, 4000).astype(str),
                              "a": rng.standard_normal(4000)}) for _ in range(2))
    options = ClassifierTestOptions()
    fair = classifier_two_sample_test(ref, cur, kinds, options)  # vocabulary = the sample's
    assert abs(fair["auroc"] - 0.5) < 0.03 and fair["p_value"] > 0.01
    x_ref, x_cur, encoding = encode_pair(ref, cur, kinds)
    share_unseen = np.mean(x_cur[:, 0] == UNSEEN)
    assert np.mean(x_ref[:, 0] == UNSEEN) == pytest.approx(share_unseen, abs=0.03)
    # coded naively (the reference's own top values, every reference row "seen"): drift
    own = fit_encoding({"c": category_counts(ref.lazy(), "c").collect()}, kinds)
    naive = encoded_two_sample_test(encode(ref, own), encode(cur, own), own, options)
    assert share_unseen > 0.2 and naive["auroc"] > 0.6 and naive["p_value"] < 1e-6
    # only "seen" left out: the reference's top values still favour it
    half = encoded_two_sample_test(encode(ref, own, reference=True), encode(cur, own), own,
                                   options)
    assert half["auroc"] > 0.53 and half["p_value"] < 0.01
    # a value the reference holds once: unseen in its own row, known in a window's
    one = pl.DataFrame({"c": ["x", "x", "y"]})
    x_one, x_win, _ = encode_pair(one, pl.DataFrame({"c": ["y", "z"]}), {"c": "categorical"})
    assert x_one[:, 0].tolist() == [0.0, 0.0, UNSEEN] and x_win[:, 0].tolist() == [1.0, UNSEEN]


def test_a_correlation_that_flips_sign_is_detected() -> None:
    ref, cur = correlated(3000, 0.8, seed=1), correlated(3000, -0.8, seed=2)
    result = classifier_two_sample_test(ref, cur, KINDS, ClassifierTestOptions())
    assert result["auroc"] > 0.75 and result["ci_low"] > 0.7
    assert result["p_value"] < 1e-10
    top = [f["feature"] for f in result["importance"]]
    assert set(top[:2]) == {"a", "b"} and result["importance"][2]["importance"] < 0.02
    assert result["importance"][1]["importance"] > 0.05


def test_an_unchanged_sample_stays_at_half_and_is_not_significant() -> None:
    ref, cur = correlated(3000, 0.8, seed=1), correlated(3000, 0.8, seed=3)
    result = classifier_two_sample_test(ref, cur, KINDS, ClassifierTestOptions())
    assert abs(result["auroc"] - 0.5) < 0.03
    assert result["p_value"] > 0.05 and result["ci_low"] < 0.5
    assert result["rows_reference"] == result["rows_window"] == 3000
    assert result["importance"] == []  # no attribution without drift


def test_unchanged_samples_raise_few_false_alarms() -> None:
    """Fold AUROCs are correlated; the p-value must still hold its level under no drift."""
    p_values = []
    kinds = {"a": "numeric", "b": "numeric"}
    for seed in range(20):
        rng = np.random.default_rng(100 + seed)
        ref, cur = (pl.DataFrame({"a": rng.standard_normal(600), "b": rng.standard_normal(600)})
                    for _ in range(2))
        test = classifier_two_sample_test(ref, cur, kinds, ClassifierTestOptions(seed=seed))
        p_values.append(test["p_value"])
    assert sum(p < 0.01 for p in p_values) <= 1
    assert sum(p < 0.05 for p in p_values) <= 3


def test_the_test_is_deterministic_with_a_fixed_seed() -> None:
    ref, cur = correlated(1500, 0.5, seed=1), correlated(1500, -0.5, seed=2)
    options = ClassifierTestOptions(seed=7)
    assert (classifier_two_sample_test(ref, cur, KINDS, options)
            == classifier_two_sample_test(ref, cur, KINDS, options))


# ---- drift --multivariate ---------------------------------------------------------------------

def ingest_pair(cli, frame_file, rho_production: float, rows: tuple[int, int] = (4000, 4000)
                ) -> None:
    """churn: age and minutes correlated +0.8 in training, `rho_production` in production;
    the same normal marginals on both sides."""
    def frame(n: int, rho: float, seed: int, prefix: str) -> pl.DataFrame:
        pair = correlated(n, rho, seed)
        return make_frame(n, seed=seed, prefix=prefix).with_columns(
            age=45 + 12 * pair["a"], minutes=60 + 20 * pair["b"])

    cli("ingest", "--model", "churn", "--version", "v1", "--env", "training",
        str(frame_file(frame(rows[0], 0.8, 1, "t"), "t.parquet")))
    cli("ingest", "--model", "churn", "--version", "v1", "--env", "production",
        str(frame_file(frame(rows[1], rho_production, 2, "p"), "p.parquet")))


DRIFT = ["drift", "--model", "churn", "--current", "production", "--windows", "2",
         "--format", "json"]


def test_drift_multivariate_flags_a_flipped_correlation_no_marginal_shows(
        cli, frame_file) -> None:
    ingest_pair(cli, frame_file, -0.8)
    plain = cli(*DRIFT)
    assert plain.code == 0, plain.stderr
    assert all(r["status"] == "pass" for r in plain.json()["results"])
    result = cli(*DRIFT, "--multivariate")
    assert result.code == 1, result.stderr
    doc = result.json()
    validate(doc)
    joint = [r for r in doc["results"] if r.get("section") == "multivariate"]
    assert len(joint) == 2 and all(r["status"] == "fail" for r in joint)
    assert all(r["auroc"] > 0.7 and r["p_value"] < 1e-6 for r in joint)
    assert {f["feature"] for f in joint[0]["importance"][:2]} == {"age", "minutes"}
    univariate = [r for r in doc["results"] if r.get("section") is None]
    assert univariate and all(r["status"] == "pass" for r in univariate)
    settings = doc["inputs"]["multivariate"]
    assert settings["row_budget"] == 5_000 and settings["features"] == [
        "age", "country", "minutes"]
    assert joint[0]["rows_reference"] == 4000 and joint[0]["rows_window"] == 2000
    advice = [r for r in doc["recommendations"] if r.startswith("multivariate:")]
    assert len(advice) == 1 and "2 of 2 windows told apart" in advice[0]
    assert "driven most by" in advice[0] and "age" in advice[0]


@pytest.mark.parametrize("rho", [-0.8, 0.8])
def test_drift_multivariate_at_its_row_budget(cli, frame_file, rho: float) -> None:
    """Reference and windows larger than the 5,000-row budget, so both sides are sampled: the
    flipped correlation is still found with its two features on top, and an unchanged window
    stays at 0.5, not significant."""
    ingest_pair(cli, frame_file, rho, rows=(12_000, 24_000))
    result = cli(*DRIFT, "--multivariate")
    doc = result.json()
    validate(doc)
    joint = [r for r in doc["results"] if r.get("section") == "multivariate"]
    assert len(joint) == 2 and all(
        r["rows_reference"] == r["rows_window"] == 5_000 and r["rows"] == 12_000 for r in joint)
    if rho < 0:
        assert result.code == 1
        assert all(r["status"] == "fail" and r["auroc"] > 0.75 and r["p_value"] < 1e-10
                   for r in joint)
        assert all({f["feature"] for f in r["importance"][:2]} == {"age", "minutes"}
                   for r in joint)
    else:
        assert result.code == 0, result.stderr
        assert all(r["status"] == "pass" and abs(r["auroc"] - 0.5) < 0.03
                   and r["p_value"] > 0.01 and r["importance"] == [] for r in joint)


def test_drift_multivariate_passes_an_unchanged_window(cli, frame_file) -> None:
    ingest_pair(cli, frame_file, 0.8)
    result = cli(*DRIFT, "--multivariate")
    assert result.code == 0, result.stderr
    doc = result.json()
    validate(doc)
    joint = [r for r in doc["results"] if r.get("section") == "multivariate"]
    assert len(joint) == 2
    assert all(r["status"] == "pass" and abs(r["auroc"] - 0.5) < 0.05 for r in joint)
    assert all(r["importance"] == [] and r["top_features"] is None for r in joint)
    assert doc["recommendations"] == []


def test_drift_multivariate_no_false_alarm_on_a_many_level_category_in_a_small_reference(
        cli, frame_file) -> None:
    """The whole reference (4,000 rows, within the row budget) is the classifier's reference
    sample and `country` has 3,000 levels, drawn alike on both sides: no drift."""
    def frame(seed: int, prefix: str) -> pl.DataFrame:
        rng = np.random.default_rng(seed + 10)
        return make_frame(4000, seed=seed, prefix=prefix).with_columns(
            country=pl.Series(rng.integers(0, 3000, 4000)).cast(pl.String))

    cli("ingest", "--model", "churn", "--version", "v1", "--env", "training",
        str(frame_file(frame(1, "t"), "t.parquet")))
    cli("ingest", "--model", "churn", "--version", "v1", "--env", "production",
        str(frame_file(frame(2, "p"), "p.parquet")))
    result = cli(*DRIFT, "--multivariate")
    doc = result.json()
    joint = [r for r in doc["results"] if r.get("section") == "multivariate"]
    assert len(joint) == 2 and joint[0]["rows_reference"] == 4000
    assert all(r["status"] == "pass" and abs(r["auroc"] - 0.5) < 0.05 for r in joint), joint


def test_drift_multivariate_table_has_its_own_section(cli, frame_file) -> None:
    ingest_pair(cli, frame_file, -0.8)
    result = cli("drift", "--model", "churn", "--current", "production", "--windows", "2",
                 "--multivariate", "--format", "table")
    assert result.code == 1, result.stderr
    assert "drift · multivariate" in result.stdout and "auroc" in result.stdout


def test_missing_extra_is_exit_2_naming_it(cli, frame_file, workdir: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    ingest_pair(cli, frame_file, -0.8)
    before = store_snapshot(workdir / "store")
    monkeypatch.setitem(sys.modules, "sklearn", None)  # `import sklearn...` raises ImportError
    monkeypatch.setitem(sys.modules, "sklearn.ensemble", None)
    result = cli(*DRIFT, "--multivariate")
    assert result.code == 2
    assert "evalctl[multivariate]" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert store_snapshot(workdir / "store") == before
