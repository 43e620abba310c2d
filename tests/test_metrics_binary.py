"""Binary metrics per slice, cross-checked against scikit-learn and brute-force numpy."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest
from sklearn import metrics as skm

from evalctl.errors import InputError
from evalctl.metrics import (
    OUTPUT_SCHEMA,
    binned_slice,
    column_slice,
    compute_metrics,
    crossed_slice,
)

Z95 = 1.959963984540054
AGE_EDGES = [0, 30, 60, 90]


def make_frame(n: int = 3000, seed: int = 0) -> pl.DataFrame:
    """Scores rounded to 0.1 (heavy ties, exact 0 and 1), null labels, NaN scores, a tier slice
    with a single-class segment ("gold": positives only) and a one-row segment ("solo")."""
    rng = np.random.default_rng(seed)
    label = (rng.random(n) < 0.35).astype(float)
    score = np.round(np.clip(rng.normal(0.35 + 0.25 * label, 0.2), 0, 1), 1)
    label[rng.random(n) < 0.05] = np.nan
    score[rng.random(n) < 0.03] = np.nan
    tier = np.full(n, "std", dtype=object)
    gold = np.flatnonzero((label == 1) & np.isfinite(score))[:25]
    tier[gold] = "gold"
    tier[np.flatnonzero((tier == "std") & np.isfinite(score) & np.isfinite(label))[0]] = "solo"
    return pl.DataFrame({
        "y": pl.Series(label, nan_to_null=True),
        "s": score,
        "country": rng.choice(["BR", "US", "DE"], n),
        "device": rng.choice(["tv", "phone"], n),
        "age": rng.uniform(0, 90, n),
        "tier": tier.astype(str),
    })


SLICES = [
    column_slice("country"), column_slice("device"), crossed_slice("country", "device"),
    binned_slice("age", AGE_EDGES), column_slice("tier"),
]


def row_segments(df: pl.DataFrame) -> dict[str, np.ndarray]:
    """Segment label of every row for each slice, computed without evalctl."""
    country, device = df["country"].to_numpy(), df["device"].to_numpy()
    age = df["age"].to_numpy()
    labels = ["[0, 30)", "[30, 60)", "[60, 90]"]
    bins = np.array([labels[min(int(a // 30), 2)] for a in age])
    return {
        "overall": np.full(df.height, "all"), "country": country, "device": device,
        "country x device": np.char.add(np.char.add(country.astype(str), " & "),
                                        device.astype(str)),
        "age": bins, "tier": df["tier"].to_numpy(),
    }


@pytest.fixture(scope="module")
def data() -> tuple[pl.DataFrame, pl.DataFrame]:
    df = make_frame()
    return df, compute_metrics(df, "binary_classification", label="y", score="s", slices=SLICES)


def lookup(out: pl.DataFrame, slice_name: str, segment: str) -> dict[str, dict]:
    rows = out.filter((pl.col("slice") == slice_name) & (pl.col("segment") == segment))
    return {r["metric"]: r for r in rows.iter_rows(named=True)}


def segments(df: pl.DataFrame):
    y_all, s_all = df["y"].to_numpy(), df["s"].to_numpy()
    for slice_name, labels in row_segments(df).items():
        for segment in np.unique(labels):
            mask = labels == segment
            valid = mask & np.isfinite(y_all) & np.isfinite(s_all)
            yield slice_name, str(segment), mask, y_all[valid].astype(int), s_all[valid]


def expected_values(y: np.ndarray, s: np.ndarray) -> dict[str, float | None]:
    pred = (s >= 0.5).astype(int)
    both = len(np.unique(y)) == 2
    clipped = np.clip(s, 1e-15, 1 - 1e-15)
    ece_bins = np.minimum(np.floor(s * 10), 9)
    ece = sum(abs((y - s)[ece_bins == b].sum()) for b in range(10)) / len(y)
    return {
        "accuracy": skm.accuracy_score(y, pred),
        "precision": skm.precision_score(y, pred, zero_division=np.nan),
        "recall": skm.recall_score(y, pred, zero_division=np.nan),
        "f1": skm.f1_score(y, pred, zero_division=np.nan),
        "positive_rate": pred.mean(),
        "roc_auc": skm.roc_auc_score(y, s) if both else None,
        "average_precision": skm.average_precision_score(y, s) if y.any() else None,
        "log_loss": skm.log_loss(y, clipped, labels=[0, 1]),
        "brier": skm.brier_score_loss(y, s, labels=[0, 1]),
        "ece": ece,
    }


def test_every_metric_matches_sklearn_per_segment(data):
    df, out = data
    checked = 0
    for slice_name, segment, _, y, s in segments(df):
        got = lookup(out, slice_name, segment)
        for metric, want in expected_values(y, s).items():
            value = got[metric]["value"]
            if want is None or (isinstance(want, float) and math.isnan(want)):
                assert value is None and got[metric]["reason"], (slice_name, segment, metric)
            else:
                assert value == pytest.approx(want, rel=1e-9, abs=1e-12), (segment, metric)
                checked += 1
    assert checked > 150


def test_counts_of_missing_labels_and_nan_scores(data):
    df, out = data
    y_all, s_all = df["y"].to_numpy(), df["s"].to_numpy()
    for slice_name, segment, mask, y, _ in segments(df):
        row = lookup(out, slice_name, segment)["accuracy"]
        assert row["n"] == len(y)
        assert row["n_missing_label"] == int((mask & np.isnan(y_all)).sum())
        assert row["n_excluded"] == int((mask & np.isfinite(y_all) & np.isnan(s_all)).sum())


def test_undefined_metrics_are_null_with_reason(data):
    _, out = data
    gold = lookup(out, "tier", "gold")
    assert gold["roc_auc"]["value"] is None
    assert gold["roc_auc"]["reason"] == "single class in segment"
    assert gold["recall"]["value"] is not None
    solo = lookup(out, "tier", "solo")
    assert solo["roc_auc"]["reason"] == "single class in segment"
    assert solo["log_loss"]["value"] is not None
    assert solo["log_loss"]["ci_low"] is None  # one row: no variance
    for column in ("value", "ci_low", "ci_high"):
        values = out[column].drop_nulls()
        assert values.is_finite().all()
    assert (out.filter(pl.col("value").is_null())["reason"].is_not_null()).all()
    assert (out.filter(pl.col("value").is_not_null())["reason"].is_null()).all()


def test_no_predicted_positives_gives_reason():
    df = pl.DataFrame({"y": [0, 1, 0, 1], "s": [0.1, 0.2, 0.3, 0.4]})
    out = compute_metrics(df, "binary_classification", label="y", score="s")
    row = lookup(out, "overall", "all")
    assert row["precision"]["value"] is None
    assert row["precision"]["reason"] == "no predicted positives in segment"
    assert row["recall"]["value"] == 0.0


def test_output_shape_and_order(data):
    _, out = data
    assert out.schema == pl.Schema(OUTPUT_SCHEMA)
    assert out["slice"].unique(maintain_order=True).to_list() == [
        "overall", "country", "device", "country x device", "age", "tier"]
    assert out.filter(pl.col("slice") == "age")["segment"].unique(maintain_order=True).to_list() \
        == ["[0, 30)", "[30, 60)", "[60, 90]"]
    assert out.filter(pl.col("slice") == "overall")["metric"].to_list()[:3] == [
        "accuracy", "precision", "recall"]
    assert set(out["ci_method"]) >= {"wilson", "delong", "delta", "normal"}


def delong_brute(y: np.ndarray, s: np.ndarray) -> tuple[float, float]:
    pos, neg = s[y == 1], s[y == 0]
    psi = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
    v10, v01 = psi.mean(axis=1), psi.mean(axis=0)
    var = v10.var(ddof=1) / len(pos) + v01.var(ddof=1) / len(neg)
    return float(psi.mean()), math.sqrt(var)


def test_delong_interval_matches_brute_force(data):
    df, out = data
    for slice_name, segment, _, y, s in segments(df):
        if len(np.unique(y)) < 2 or min((y == 1).sum(), (y == 0).sum()) < 2:
            continue
        auc, se = delong_brute(y, s)
        row = lookup(out, slice_name, segment)["roc_auc"]
        assert row["ci_low"] == pytest.approx(max(auc - Z95 * se, 0.0), abs=1e-9)
        assert row["ci_high"] == pytest.approx(min(auc + Z95 * se, 1.0), abs=1e-9)


def test_wilson_and_mean_intervals(data):
    from scipy.stats import binomtest

    df, out = data
    for slice_name, segment, _, y, s in list(segments(df))[:8]:
        got = lookup(out, slice_name, segment)
        pred = (s >= 0.5).astype(int)
        ci = binomtest(int((pred == y).sum()), len(y)).proportion_ci(method="wilson")
        assert (got["accuracy"]["ci_low"], got["accuracy"]["ci_high"]) == pytest.approx(
            (ci.low, ci.high), abs=1e-12)
        loss = (s - y) ** 2
        half = Z95 * loss.std(ddof=1) / math.sqrt(len(loss))
        assert got["brier"]["ci_low"] == pytest.approx(max(loss.mean() - half, 0), abs=1e-12)


def test_f1_delta_interval_against_numeric_gradient(data):
    df, out = data
    y, s = next((y, s) for name, _, _, y, s in segments(df) if name == "overall")
    pred = (s >= 0.5).astype(int)
    cells = np.array([((pred == 1) & (y == 1)).sum(), ((pred == 1) & (y == 0)).sum(),
                      ((pred == 0) & (y == 1)).sum(), ((pred == 0) & (y == 0)).sum()], float)
    n, p = cells.sum(), cells / cells.sum()

    def f1(q: np.ndarray) -> float:
        return 2 * q[0] / (2 * q[0] + q[1] + q[2])

    grad = np.array([(f1(p + h) - f1(p - h)) / 2e-7 for h in np.eye(4) * 1e-7])
    se = math.sqrt(grad @ ((np.diag(p) - np.outer(p, p)) / n) @ grad)
    row = lookup(out, "overall", "all")["f1"]
    assert row["ci_high"] - row["value"] == pytest.approx(Z95 * se, rel=1e-5)


def test_average_precision_logit_interval(data):
    _, out = data
    row = lookup(out, "overall", "all")["average_precision"]
    ap, n = row["value"], row["support"]
    tau = 1 / math.sqrt(n * ap * (1 - ap))
    eta = math.log(ap / (1 - ap))
    assert row["ci_low"] == pytest.approx(1 / (1 + math.exp(-(eta - Z95 * tau))), rel=1e-12)


def test_ece_bootstrap_is_seeded_and_brackets_value(data):
    df, out = data
    again = compute_metrics(df, "binary_classification", label="y", score="s",
                            slices=SLICES, metrics=["ece"])
    other = compute_metrics(df, "binary_classification", label="y", score="s",
                            slices=SLICES, metrics=["ece"], seed=7)
    mine = out.filter(pl.col("metric") == "ece")
    # same seed: same draws (float sums may differ in the last bit between runs); a one-row
    # segment has no interval (its bootstrap would repeat the row)
    assert mine["ci_low"].is_null().to_list() == (mine["n"] < 2).to_list()
    drawn = mine["ci_low"].drop_nulls().to_list()
    assert drawn == pytest.approx(again["ci_low"].drop_nulls().to_list(), rel=1e-12)
    assert drawn != pytest.approx(other["ci_low"].drop_nulls().to_list(), rel=1e-6)
    ok = mine.filter(pl.col("n") > 50)
    assert ((ok["ci_low"] <= ok["value"] + 0.02) & (ok["value"] <= ok["ci_high"] + 0.02)).all()


def test_given_prediction_and_threshold():
    df = make_frame(800, seed=3).drop_nulls("y").filter(pl.col("s").is_not_nan())
    rng = np.random.default_rng(1)
    df = df.with_columns(pred=pl.Series(rng.integers(0, 2, df.height)))
    y, s = df["y"].to_numpy().astype(int), df["s"].to_numpy()
    out = compute_metrics(df, "binary_classification", label="y", score="s", prediction="pred")
    got = lookup(out, "overall", "all")
    assert got["f1"]["value"] == pytest.approx(skm.f1_score(y, df["pred"].to_numpy()))
    assert got["roc_auc"]["value"] == pytest.approx(skm.roc_auc_score(y, s))
    out = compute_metrics(df, "binary_classification", label="y", score="s", threshold=0.3)
    want = skm.recall_score(y, (s >= 0.3).astype(int))
    assert lookup(out, "overall", "all")["recall"]["value"] == pytest.approx(want)
    only = compute_metrics(df, "binary_classification", label="y", prediction="pred")
    assert "roc_auc" not in only["metric"].to_list()


def test_boolean_columns_and_continuous_scores():
    rng = np.random.default_rng(5)
    y = rng.random(2000) < 0.4
    s = rng.random(2000) * 0.5 + 0.3 * y
    df = pl.DataFrame({"y": y, "s": s, "g": rng.integers(0, 3, 2000)})
    out = compute_metrics(df, "binary_classification", label="y", score="s",
                          slices=[column_slice("g")])
    for g in range(3):
        mask = df["g"].to_numpy() == g
        got = lookup(out, "g", str(g))
        assert got["roc_auc"]["value"] == pytest.approx(skm.roc_auc_score(y[mask], s[mask]))
        assert got["average_precision"]["value"] == pytest.approx(
            skm.average_precision_score(y[mask], s[mask]))


def test_scores_outside_unit_interval():
    df = pl.DataFrame({"y": [0, 1, 0, 1, 1], "s": [-0.5, 1.5, 0.2, 0.9, 0.4]})
    got = lookup(compute_metrics(df, "binary_classification", label="y", score="s"),
                 "overall", "all")
    for metric in ("log_loss", "brier", "ece"):
        assert got[metric]["value"] is None
        assert got[metric]["reason"] == "scores outside [0, 1] in segment"
    assert got["roc_auc"]["value"] == pytest.approx(skm.roc_auc_score(
        [0, 1, 0, 1, 1], [-0.5, 1.5, 0.2, 0.9, 0.4]))


def test_all_labels_missing_gives_empty_segments():
    df = pl.DataFrame({"y": [None, None], "s": [0.2, 0.7]}, schema={"y": pl.Int8, "s": pl.Float64})
    out = compute_metrics(df, "binary_classification", label="y", score="s")
    assert out["value"].null_count() == out.height
    assert set(out["reason"]) == {"no labelled rows in segment"}
    assert out["n_missing_label"].to_list() == [2] * out.height


@pytest.mark.parametrize("kwargs, message", [
    ({"label": "nope", "score": "s"}, "label column 'nope' not found"),
    ({"label": "y"}, "needs a score or a prediction"),
    ({"label": "y", "score": "s", "metrics": ["auc"]}, "unknown metric 'auc'"),
    ({"label": "y", "prediction": "s", "metrics": ["roc_auc"]}, "needs a score column"),
    ({"label": "txt", "score": "s"}, "must be numeric or boolean"),
    ({"label": "three", "score": "s"}, "binary values must be 0/1"),
    ({"label": "y", "score": "s", "confidence": 1.5}, "confidence must be between"),
])
def test_bad_input_raises_input_error(kwargs, message):
    df = pl.DataFrame({"y": [0, 1], "s": [0.1, 0.9], "txt": ["a", "b"], "three": [0, 3]})
    with pytest.raises(InputError, match=message):
        compute_metrics(df, "binary_classification", **kwargs)


def test_unknown_task_and_empty_input():
    df = pl.DataFrame({"y": [0, 1], "s": [0.1, 0.9]})
    with pytest.raises(InputError, match="unknown task"):
        compute_metrics(df, "clustering", label="y", score="s")
    with pytest.raises(InputError, match="no rows"):
        compute_metrics(df.clear(), "binary_classification", label="y", score="s")


def test_confidence_interval_coverage():
    """200 simulated data sets (one segment each): Wilson and DeLong cover the truth ~95 %."""
    from scipy.stats import norm

    rng = np.random.default_rng(11)
    sims, n = 200, 200
    label = rng.random((sims, n)) < 0.5
    score = rng.normal(label * 1.0, 1.0)  # binormal: AUC = Phi(1 / sqrt(2))
    pred = np.where(rng.random((sims, n)) < 0.8, label, ~label)  # accuracy 0.8
    df = pl.DataFrame({"y": label.ravel(), "s": score.ravel(), "p": pred.ravel(),
                       "sim": np.repeat(np.arange(sims), n)})
    out = compute_metrics(df, "binary_classification", label="y", score="s", prediction="p",
                          slices=[column_slice("sim")], metrics=["accuracy", "roc_auc"])
    sims_only = out.filter(pl.col("slice") == "sim")
    for metric, truth in (("accuracy", 0.8), ("roc_auc", norm.cdf(1 / math.sqrt(2)))):
        rows = sims_only.filter(pl.col("metric") == metric)
        covered = rows.select(
            ((pl.col("ci_low") <= float(truth)) & (pl.col("ci_high") >= float(truth))).mean()
        ).item()
        assert 0.9 <= covered <= 0.99, (metric, covered)
