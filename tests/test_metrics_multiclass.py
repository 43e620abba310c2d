"""Multiclass metrics per slice against scikit-learn; bootstrap against a row bootstrap."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from sklearn import metrics as skm

from evalctl.metrics import column_slice, compute_metrics


def make_frame(n: int = 1200, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 4, n)
    pred = np.where(rng.random(n) < 0.6, y, rng.integers(0, 4, n))
    group = rng.choice(["a", "b"], n).astype(object)
    group[:15], y[:15] = "single", 2  # one class in the labels
    group[15] = "one"
    labels = pl.Series(y).scatter([20, 21, 22], None)
    preds = pl.Series(pred).scatter([23, 24], None)
    return pl.DataFrame({"y": labels, "p": preds, "g": group.astype(str)})


def lookup(out: pl.DataFrame, slice_name: str, segment: str) -> dict[str, dict]:
    rows = out.filter((pl.col("slice") == slice_name) & (pl.col("segment") == segment))
    return {r["metric"]: r for r in rows.iter_rows(named=True)}


@pytest.fixture(scope="module")
def data() -> tuple[pl.DataFrame, pl.DataFrame]:
    df = make_frame()
    out = compute_metrics(df, "multiclass_classification", label="y", prediction="p",
                          slices=[column_slice("g")])
    return df, out


def test_metrics_match_sklearn(data):
    df, out = data
    g = df["g"].to_numpy()
    keep = df["y"].is_not_null().to_numpy() & df["p"].is_not_null().to_numpy()
    for slice_name, segment, mask in [("overall", "all", np.ones(df.height, bool))] + [
        ("g", s, g == s) for s in np.unique(g)
    ]:
        y, p = df["y"].to_numpy()[mask & keep], df["p"].to_numpy()[mask & keep]
        got = lookup(out, slice_name, segment)
        assert got["accuracy"]["value"] == pytest.approx(skm.accuracy_score(y, p))
        assert got["macro_f1"]["value"] == pytest.approx(skm.f1_score(y, p, average="macro"))
        assert got["weighted_f1"]["value"] == pytest.approx(
            skm.f1_score(y, p, average="weighted"))
        assert got["accuracy"]["n"] == len(y)


def test_counts(data):
    _, out = data
    got = lookup(out, "overall", "all")["accuracy"]
    assert (got["n_missing_label"], got["n_excluded"]) == (3, 2)


def test_string_and_mixed_class_types():
    df = pl.DataFrame({"y": ["cat", "dog", "dog", "bird", "cat"],
                       "p": ["cat", "dog", "cat", "bird", "bird"]})
    got = lookup(compute_metrics(df, "multiclass_classification", label="y", prediction="p"),
                 "overall", "all")
    assert got["macro_f1"]["value"] == pytest.approx(
        skm.f1_score(df["y"], df["p"], average="macro"))
    mixed = pl.DataFrame({"y": [1, 2, 2, 3], "p": ["1", "2", "3", "3"]})
    got = lookup(compute_metrics(mixed, "multiclass_classification", label="y", prediction="p"),
                 "overall", "all")
    assert got["accuracy"]["value"] == pytest.approx(0.75)


def test_bootstrap_interval_close_to_row_bootstrap(data):
    df, out = data
    clean = df.drop_nulls()
    y, p = clean["y"].to_numpy(), clean["p"].to_numpy()
    rng = np.random.default_rng(0)
    draws = [skm.f1_score(y[i], p[i], average="macro")
             for i in rng.integers(0, len(y), size=(400, len(y)))]
    low, high = np.quantile(draws, [0.025, 0.975])
    got = lookup(out, "overall", "all")["macro_f1"]
    assert got["ci_low"] == pytest.approx(low, abs=0.01)
    assert got["ci_high"] == pytest.approx(high, abs=0.01)
    assert got["ci_method"] == "bootstrap (confusion cells)"


# -- one-vs-rest macro ROC AUC from the class probabilities (issue #21 item 1) ----------------

def scored_frame(n: int = 900, seed: int = 1, classes: int = 3) -> pl.DataFrame:
    """Rounded Dirichlet probabilities (ties), labels drawn from them, some null labels."""
    rng = np.random.default_rng(seed)
    probs = np.round(rng.dirichlet(np.ones(classes), n), 2)
    probs[:, -1] = 1.0 - probs[:, :-1].sum(axis=1)
    y = (rng.random(n)[:, None] > np.cumsum(probs, axis=1)).sum(axis=1).clip(0, classes - 1)
    labels = pl.Series(y.astype(str)).scatter([3, 4, 5], None)
    return pl.DataFrame({"y": labels, "p": probs.argmax(axis=1).astype(str),
                         "g": rng.choice(["a", "b"], n),
                         **{f"s{c}": probs[:, c] for c in range(classes)}})


def scores_of(classes: int) -> dict[str, str]:
    return {str(c): f"s{c}" for c in range(classes)}


def test_macro_roc_auc_equals_scikit_learn_per_segment() -> None:
    df = scored_frame()
    out = compute_metrics(df, "multiclass_classification", label="y", prediction="p",
                          scores=scores_of(3), slices=[column_slice("g")])
    for slice_name, segment, rows in [("overall", "all", df),
                                      *(("g", g, df.filter(pl.col("g") == g)) for g in "ab")]:
        labelled = rows.filter(pl.col("y").is_not_null())
        want = skm.roc_auc_score(labelled["y"].to_numpy(), labelled.select(
            "s0", "s1", "s2").to_numpy(), multi_class="ovr", average="macro",
            labels=["0", "1", "2"])
        got = lookup(out, slice_name, segment)["macro_roc_auc"]
        assert got["value"] == pytest.approx(want, abs=1e-12)
        assert got["ci_low"] < got["value"] < got["ci_high"]


def test_macro_roc_auc_interval_with_two_classes_is_the_binary_delong_interval() -> None:
    df = scored_frame(classes=2, seed=2).filter(pl.col("y").is_not_null())
    multi = compute_metrics(df, "multiclass_classification", label="y", prediction="p",
                            scores=scores_of(2), metrics=["macro_roc_auc"])
    binary = compute_metrics(df.with_columns(pl.col("y").cast(pl.Int8)),
                             "binary_classification", label="y", score="s1",
                             metrics=["roc_auc"])
    got, want = multi.row(0, named=True), binary.row(0, named=True)
    for key in ("value", "ci_low", "ci_high"):
        assert got[key] == pytest.approx(want[key], rel=1e-9)


def test_macro_roc_auc_interval_covers_in_repeated_samples() -> None:
    """The DeLong-style interval of the macro AUC: ~95% coverage over 200 samples of 300 rows
    from one population (its AUC taken from 200,000 rows)."""
    population = scored_frame(n=200_000, seed=3)
    truth = skm.roc_auc_score(population["y"].drop_nulls().to_numpy(), population.filter(
        pl.col("y").is_not_null()).select("s0", "s1", "s2").to_numpy(), multi_class="ovr")
    rng = np.random.default_rng(4)
    hits = 0
    for _ in range(200):
        sample = population[rng.integers(0, population.height, 300)]
        row = compute_metrics(sample, "multiclass_classification", label="y", prediction="p",
                              scores=scores_of(3), metrics=["macro_roc_auc"]).row(0, named=True)
        hits += row["ci_low"] <= truth <= row["ci_high"]
    assert 0.9 <= hits / 200 <= 0.99


def test_macro_roc_auc_is_null_where_a_class_has_no_label() -> None:
    df = scored_frame(n=300).with_columns(
        pl.when(pl.col("g") == "a").then(pl.col("y").replace("2", "0")).otherwise(pl.col("y"))
        .alias("y"))
    out = compute_metrics(df, "multiclass_classification", label="y", prediction="p",
                          scores=scores_of(3), slices=[column_slice("g")])
    row = lookup(out, "g", "a")["macro_roc_auc"]
    assert row["value"] is None and "a class has no label" in row["reason"]
    assert lookup(out, "g", "b")["macro_roc_auc"]["value"] is not None


def test_macro_roc_auc_needs_the_probability_columns() -> None:
    from evalctl.errors import InputError

    with pytest.raises(InputError, match="needs a score column"):
        compute_metrics(scored_frame(n=50), "multiclass_classification", label="y",
                        prediction="p", metrics=["macro_roc_auc"])
