"""Issue #21 items 1, 2, 4, 5 (multiclass): multiclass CBPE, its back-test, `scores:`.

The engine (`stats.cbpe_multiclass`) is checked against scikit-learn on realised labels and,
on data whose probabilities are calibrated by construction (Dirichlet probabilities, labels
drawn from them), its 95% band must cover the realised value in >= 90% of 200+ windows.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from sklearn.metrics import f1_score, roc_auc_score
from tests.helpers import CARDS, MULTICLASS_CONFIG, estimate_windows, make_multiclass_frame
from tests.helpers import validate_envelope as validate

from evalctl.analyses.estimate import estimate_overall
from evalctl.lake import Store, parse_selector
from evalctl.settings.load import load_config
from evalctl.stats import cbpe_multiclass as mc

K = 3


def dirichlet_windows(windows: int, size: int, seed: int, concentration: float = 1.0
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """window index, probabilities (n, K), argmax prediction, label ~ Categorical(probs)."""
    rng = np.random.default_rng(seed)
    n = windows * size
    probs = rng.dirichlet(np.full(K, concentration), size=n)
    probs = np.round(probs, 3)  # ties in the scores, as exports have
    probs[:, -1] = 1.0 - probs[:, :-1].sum(axis=1)
    probs = np.clip(probs, 0.0, 1.0)
    probs /= probs.sum(axis=1, keepdims=True)
    label = (rng.random(n)[:, None] > np.cumsum(probs, axis=1)).sum(axis=1).clip(0, K - 1)
    return np.repeat(np.arange(windows), size), probs, probs.argmax(axis=1), label


def one_hot(label: np.ndarray) -> np.ndarray:
    return np.equal.outer(label, np.arange(K)).astype(float)


def test_realised_metrics_equal_scikit_learn() -> None:
    """With one-hot labels the engine gives accuracy, macro F1 (classes present in labels or
    predictions) and one-vs-rest macro AUC exactly as scikit-learn does, ties included."""
    win, probs, pred, label = dirichlet_windows(4, 300, seed=1)
    pred[:50] = 2  # some wrong, forced predictions
    label[win == 3] = np.where(label[win == 3] == 1, 0, label[win == 3])  # class 1 absent
    pred[win == 3] = np.where(pred[win == 3] == 1, 2, pred[win == 3])
    got = mc.estimate_metrics(win, probs, one_hot(label), pred, np.ones(len(win)), 4)
    for w in range(4):
        m = win == w
        assert got["accuracy"][0][w] == pytest.approx(np.mean(pred[m] == label[m]))
        assert got["macro_f1"][0][w] == pytest.approx(
            f1_score(label[m], pred[m], average="macro", zero_division=0))
        assert got["accuracy"][1][w] == 0.0 and got["macro_f1"][1][w] == 0.0
        if w < 3:
            assert got["macro_roc_auc"][0][w] == pytest.approx(
                roc_auc_score(label[m], probs[m], multi_class="ovr", average="macro"))
    assert np.isnan(got["macro_roc_auc"][0][3])  # a class without labels: AUC undefined


def test_weighted_rows_equal_repeated_rows() -> None:
    """A group of identical rows with weight w is w rows (values and standard errors)."""
    win, probs, pred, _ = dirichlet_windows(2, 40, seed=2)
    weight = np.random.default_rng(3).integers(1, 4, size=len(win)).astype(float)
    grouped = mc.estimate_metrics(win, probs, probs, pred, weight, 2)
    rep = np.repeat(np.arange(len(win)), weight.astype(int))
    rows = mc.estimate_metrics(win[rep], probs[rep], probs[rep], pred[rep],
                               np.ones(len(rep)), 2)
    for metric, (value, se) in grouped.items():
        np.testing.assert_allclose(value, rows[metric][0], rtol=1e-9)
        np.testing.assert_allclose(se, rows[metric][1], rtol=1e-9)


def test_results_do_not_depend_on_row_order_and_realised_match() -> None:
    """Shuffled rows give the same bits; `estimate_with_realised` gives `estimate_metrics` of
    the probabilities over all rows and of the one-hot labels over the labelled rows."""
    win, probs, pred, label = dirichlet_windows(5, 300, seed=12)
    label[::7] = -1  # unlabelled rows
    weight = np.ones(len(win))
    est, real = mc.estimate_with_realised(win, probs, probs, pred, weight, label, 5)
    shuffle = np.random.default_rng(13).permutation(len(win))
    est2, real2 = mc.estimate_with_realised(win[shuffle], probs[shuffle], probs[shuffle],
                                            pred[shuffle], weight, label[shuffle], 5)
    known = label >= 0
    alone = mc.estimate_metrics(win[known], probs[known], one_hot(label[known]), pred[known],
                                weight[known], 5)
    for m in mc.ESTIMATED_METRICS:
        assert np.array_equal(est[m][0], est2[m][0]) and np.array_equal(est[m][1], est2[m][1])
        assert np.array_equal(real[m][0], real2[m][0])
        np.testing.assert_allclose(real[m][0], alone[m][0], rtol=1e-12)
    np.testing.assert_allclose(est["accuracy"][0], mc.estimate_metrics(
        win, probs, probs, pred, weight, 5)["accuracy"][0], rtol=1e-12)


def test_standard_errors_match_the_spread_of_drawn_labels() -> None:
    """The delta-method SE of each metric is the spread of its realised value over label
    draws from q (brute force: 2,000 draws of one window's labels)."""
    win, probs, pred, _ = dirichlet_windows(1, 400, seed=4)
    est = mc.estimate_metrics(win, probs, probs, pred, np.ones(len(win)), 1)
    rng = np.random.default_rng(5)
    draws = {m: [] for m in mc.ESTIMATED_METRICS}
    cum = np.cumsum(probs, axis=1)
    for _ in range(2000):
        label = (rng.random(len(win))[:, None] > cum).sum(axis=1).clip(0, K - 1)
        real = mc.estimate_metrics(win, probs, one_hot(label), pred, np.ones(len(win)), 1)
        for m in draws:
            draws[m].append(real[m][0][0])
    for m, values in draws.items():
        assert est[m][1][0] == pytest.approx(np.std(values), rel=0.1), m
        assert est[m][0][0] == pytest.approx(np.mean(values), abs=0.6 * np.std(values)), m


def test_band_covers_the_realised_value_in_most_windows() -> None:
    """Calibrated probabilities by construction: the 95% band (calibrated on a labelled
    reference) covers the realised accuracy, macro F1 and macro AUC in >= 90% of 240 windows."""
    _, ref_probs, _, ref_label = dirichlet_windows(1, 60_000, seed=6)
    calibrator = mc.fit_calibrators(ref_probs, ref_label, np.ones(len(ref_label)))
    win, probs, pred, label = dirichlet_windows(240, 400, seed=7)
    q = calibrator.apply(probs)
    est = mc.estimate_metrics(win, probs, q, pred, np.ones(len(win)), 240)
    real = mc.estimate_metrics(win, probs, one_hot(label), pred, np.ones(len(win)), 240)
    for metric in mc.ESTIMATED_METRICS:
        value, se = est[metric]
        inside = np.abs(real[metric][0] - value) <= 1.96 * se
        assert inside.mean() >= 0.90, (metric, inside.mean())
        assert inside.mean() <= 0.995, (metric, inside.mean())  # not a vacuous band


def test_calibration_corrects_overconfident_probabilities() -> None:
    """Probabilities sharpened after the fact (over-confident): uncalibrated, the estimate
    is biased; calibrated on the reference, the band covers the realised accuracy again."""
    _, ref_true, _, ref_label = dirichlet_windows(1, 60_000, seed=8)
    win, true, _, label = dirichlet_windows(60, 500, seed=9)

    def sharpen(p: np.ndarray) -> np.ndarray:
        s = p ** 3
        return s / s.sum(axis=1, keepdims=True)

    ref_probs, probs = sharpen(ref_true), sharpen(true)
    pred = probs.argmax(axis=1)
    real = mc.estimate_metrics(win, probs, one_hot(label), pred, np.ones(len(win)), 60)
    raw = mc.estimate_metrics(win, probs, probs, pred, np.ones(len(win)), 60)
    q = mc.fit_calibrators(ref_probs, ref_label, np.ones(len(ref_label))).apply(probs)
    fixed = mc.estimate_metrics(win, probs, q, pred, np.ones(len(win)), 60)
    bias_raw = np.mean(raw["accuracy"][0] - real["accuracy"][0])
    bias_fixed = np.mean(fixed["accuracy"][0] - real["accuracy"][0])
    assert bias_raw > 0.05 and abs(bias_fixed) < 0.01
    assert np.all(np.isclose(q.sum(axis=1), 1.0))


def test_concept_drift_window_falls_far_outside_the_band() -> None:
    """Labels drawn from other probabilities (the classes permuted): the estimate cannot see
    it, the realised accuracy is far beyond twice the band."""
    win, probs, pred, _ = dirichlet_windows(1, 2000, seed=10)
    shifted = np.roll(probs, 1, axis=1)
    label = (np.random.default_rng(11).random(len(win))[:, None]
             > np.cumsum(shifted, axis=1)).sum(axis=1).clip(0, K - 1)
    est = mc.estimate_metrics(win, probs, probs, pred, np.ones(len(win)), 1)
    real = mc.estimate_metrics(win, probs, one_hot(label), pred, np.ones(len(win)), 1)
    value, se = est["accuracy"]
    assert abs(real["accuracy"][0][0] - value[0]) > 2 * 1.96 * se[0]


def test_a_class_without_reference_labels_cannot_be_calibrated() -> None:
    probs = np.full((10, K), 1 / K)
    with pytest.raises(ValueError, match="class 2"):
        mc.fit_calibrators(probs, np.array([0, 1] * 5), np.ones(10))


# -- end to end: scores: in the config, ingest, estimate --------------------------------------

def _ingest(cli, frame_file, df: pl.DataFrame, name: str, env: str) -> None:
    result = cli("ingest", "--model", "cards", "--version", "v1", "--env", env,
                 str(frame_file(df, name)))
    assert result.code == 0, result.stderr


@pytest.fixture
def cards(cli, frame_file, workdir: Path):
    """Validation (labelled, 10 days); production: 4 days as calibrated, 2 days of concept
    drift, 2 days without labels yet."""
    with (workdir / "evalctl.yaml").open("a") as handle:
        handle.write(MULTICLASS_CONFIG)
    _ingest(cli, frame_file, make_multiclass_frame(8000, seed=1, start=datetime(2026, 10, 1),
                                                   days=10, prefix="v"), "val.parquet",
            "validation")
    normal = make_multiclass_frame(4000, seed=2, start=datetime(2026, 11, 1), days=4)
    drifted = make_multiclass_frame(2000, seed=3, start=datetime(2026, 11, 5), days=2,
                                    prefix="d", drift=True)
    late = make_multiclass_frame(2000, seed=4, start=datetime(2026, 11, 7), days=2,
                                 prefix="u").with_columns(pl.lit(None, pl.String).alias("card"))
    _ingest(cli, frame_file, pl.concat([normal, drifted, late]), "prod.parquet", "production")
    return cli, pl.concat([normal, drifted, late])


def test_estimate_multiclass_end_to_end(cards) -> None:
    cli, prod = cards
    result = cli("estimate", "--model", "cards", "--current", "production", "-f", "json")
    assert result.code == 0, result.stderr
    doc = result.json()
    validate(doc)
    assert doc["inputs"]["classes"] == list(CARDS)
    rows = estimate_windows(doc)
    assert len(rows) == 8 and all(set(r["by_metric"]) == set(mc.ESTIMATED_METRICS)
                                  for r in rows)
    days = prod.with_columns(pl.col("ts").dt.date().alias("day")).partition_by(
        "day", maintain_order=True)
    for row, day in zip(rows[:6], days[:6], strict=True):  # realised = scikit-learn
        y, pred = day["card"].to_numpy(), day["predicted_card"].to_numpy()
        ordered = sorted(CARDS)  # scikit-learn wants the labels sorted, columns alike
        probs = day.select(CARDS[c] for c in ordered).to_numpy()
        realized = {m: r["realized"] for m, r in row["by_metric"].items()}
        assert realized["accuracy"] == pytest.approx(np.mean(y == pred))
        assert realized["macro_f1"] == pytest.approx(
            f1_score(y, pred, average="macro", zero_division=0))
        assert realized["macro_roc_auc"] == pytest.approx(roc_auc_score(
            y, probs, multi_class="ovr", average="macro", labels=ordered))
    assert [r["contradicted"] for r in rows] == [False] * 4 + [True] * 2 + [False] * 2
    assert all(r["by_metric"]["accuracy"]["in_band"] for r in rows[:4])
    assert all(r["status"] == "warn" and "contradicts" in r["why"] for r in rows[4:6])
    assert all(r["realized"] is None and r["estimated"] is not None for r in rows[6:])
    for row in rows:  # each metric's row: its own verdict, its own back-test included
        for metric, m in row["by_metric"].items():
            beyond = m["realized"] is not None and (
                m["realized"] - m["estimated"] > 2 * (m["upper"] - m["estimated"])
                or m["estimated"] - m["realized"] > 2 * (m["estimated"] - m["lower"]))
            assert m["status"] == ("warn" if beyond else "pass"), (row["window_start"], metric)
            assert (m["why"] or "").startswith(f"realised {metric} ") == beyond
    summary = doc["summary"]
    assert summary["labelled_windows"] == 6 and summary["contradicted"] == 2
    assert summary["band_coverage"] == pytest.approx(4 / 6)
    (rec,) = [r for r in doc["recommendations"] if "concept drift" in r]
    assert "contradicts it in 2" in rec and "first 2026-11-05" in rec


def test_estimate_multiclass_table_and_overall(cards, workdir: Path) -> None:
    cli, _ = cards
    table = cli("estimate", "--model", "cards", "--current", "production", "-f", "table")
    assert table.code == 0 and "macro_f1" not in table.stderr
    model = load_config(workdir / "evalctl.yaml").model("cards")
    store = Store.open(workdir / "store")
    got = estimate_overall(store, model, parse_selector("validation"),
                           parse_selector("production@2026-11-07..2026-11-08"), "macro_f1")
    assert got["value"] is not None and got["low"] < got["value"] < got["high"]
    assert got["n"] == 2000
    assert "cannot be estimated" in estimate_overall(
        store, model, parse_selector("validation"), parse_selector("production"),
        "roc_auc")["reason"]


def test_reference_missing_a_class_exits_2(cli, frame_file, workdir: Path) -> None:
    with (workdir / "evalctl.yaml").open("a") as handle:
        handle.write(MULTICLASS_CONFIG)
    val = make_multiclass_frame(600, seed=1, start=datetime(2026, 10, 1), prefix="v")
    _ingest(cli, frame_file, val.with_columns(
        pl.when(pl.col("card") == "upmarket_card").then(pl.lit("prepaid_card"))
        .otherwise(pl.col("card")).alias("card")), "val.parquet", "validation")
    _ingest(cli, frame_file, make_multiclass_frame(600, seed=2), "prod.parquet", "production")
    result = cli("estimate", "--model", "cards", "--current", "production")
    assert result.code == 2
    assert "no labelled row of class 'upmarket_card'" in result.stderr


def test_skew_and_drift_check_each_class_probability(cards) -> None:
    cli, _ = cards
    for argv in (("skew", "--reference", "validation", "--current", "production"),
                 ("drift", "--reference", "validation", "--current", "production")):
        result = cli(argv[0], "--model", "cards", *argv[1:], "-f", "json")
        assert result.code in (0, 1), result.stderr
        checked = {r.get("feature") for r in result.json()["results"]}
        assert set(CARDS.values()) | {"predicted_card"} <= checked, (argv[0], checked)


def test_actuals_outside_the_classes_are_refused(cards, frame_file, workdir: Path) -> None:
    cli, _ = cards
    before = sorted(p.relative_to(workdir).as_posix() for p in (workdir / "store").rglob("*"))
    path = frame_file(pl.DataFrame({"request_id": ["m00001"], "card": ["gold_card"]}),
                      "late.parquet")
    result = cli("ingest-actuals", "--model", "cards", str(path))
    assert result.code == 2
    assert "column 'card': 'gold_card' is not one of the classes" in result.stderr
    assert sorted(p.relative_to(workdir).as_posix()
                  for p in (workdir / "store").rglob("*")) == before


@pytest.mark.parametrize(("change", "message"), [
    ("    score_scale: unbounded\n    scores: {a: pa, b: pb}\n",
     "models.cards.score_scale: scores are class probabilities"),
    ("    scores: {a: p_prepaid, b: request_id}\n", "already the id"),
    ("    scores: [p_a, p_b]\n", "expected a mapping of at least two classes"),
    ("    scores: {a: _p, b: p_b}\n", "names starting with '_' are reserved"),
])
def test_scores_are_validated_at_load(workdir: Path, change: str, message: str) -> None:
    from evalctl.errors import ConfigError

    text = MULTICLASS_CONFIG.replace(
        "    scores: {prepaid_card: p_prepaid, highstreet_card: p_highstreet, upmarket_card: "
        "p_upmarket}\n", "") + change
    (workdir / "evalctl.yaml").write_text("store: store\nmodels:\n" + text)
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        load_config(workdir / "evalctl.yaml")


def test_scores_are_model_outputs(workdir: Path) -> None:
    (workdir / "evalctl.yaml").write_text("store: store\nmodels:\n" + MULTICLASS_CONFIG)
    model = load_config(workdir / "evalctl.yaml").model("cards")
    assert model.classes == tuple(CARDS)
    assert model.output_columns == ["predicted_card", *CARDS.values()]
    assert model.settings.estimate.metrics == mc.ESTIMATED_METRICS


def test_monitor_estimates_multiclass_performance_while_labels_are_missing(cards) -> None:
    """Day 2026-11-08 has no labels: monitor judges the estimated accuracy; day 2026-11-02 is
    labelled: it judges the realised one."""
    cli, prod = cards
    late = cli("monitor", "--model", "cards", "--date", "2026-11-08", "-f", "json")
    validate(late.json())
    (perf,) = [r for r in late.json()["results"] if r["check"] == "performance"]
    assert perf["source"] == "estimated" and perf["feature"] == "accuracy", perf
    day = prod.filter(pl.col("ts").dt.date() == datetime(2026, 11, 8).date())
    assert perf["ci"][0] < perf["value"] < perf["ci"][1]
    assert perf["value"] == pytest.approx(  # the model's own mean top probability, calibrated
        day.select(pl.max_horizontal(*CARDS.values())).mean().item(), abs=0.03)
    labelled = cli("monitor", "--model", "cards", "--date", "2026-11-02", "-f", "json")
    (perf,) = [r for r in labelled.json()["results"] if r["check"] == "performance"]
    assert perf["source"] == "realised"


def test_the_readme_multiclass_story_runs_as_written(tmp_path: Path, monkeypatch) -> None:
    """The README's multiclass walkthrough: its script, its config and its commands."""
    import re
    import shlex

    from tests.helpers import REPO, run_cli

    readme = (REPO / "README.md").read_text()
    found = re.search(r"<!-- multiclass-example -->\n```python\n(.*?)```\n\n```yaml\n(.*?)```"
                      r"\n\n```console\n(.*?)```", readme, re.S)
    assert found, "README has no multiclass-example blocks"
    script, config, console = found.groups()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("EVALCTL_CONFIG", "cards.yaml")
    exec(compile(script, "README.md", "exec"), {})
    (tmp_path / "cards.yaml").write_text(config)
    commands = [shlex.split(line[2:])[1:] for line in console.splitlines()
                if line.startswith("$ evalctl ")]
    assert [c[0] for c in commands] == ["init", "ingest", "ingest", "estimate", "monitor"]
    for argv in commands:
        result = run_cli(*argv)
        assert result.code == 0, (argv, result.stderr)
    table = run_cli(*commands[3])
    shown = [line for line in console.splitlines() if line.startswith(("│ warn", "│ pass"))]
    assert len(shown) == 8
    for line in shown:  # each window's day, estimate and band as printed
        day, estimate, low, high = (line.split("│")[i].strip() for i in (2, 5, 6, 7))
        assert re.search(rf"{day}.*{estimate}.*{low}.*{high}", table.stdout), line
    doc = run_cli(*commands[3][:-2], "-f", "json").json()
    assert doc["summary"]["contradicted"] == 2 and doc["summary"]["labelled_windows"] == 6
    monitor = run_cli(*commands[4]).json()
    (perf,) = [r for r in monitor["results"] if r["check"] == "performance"]
    assert perf["source"] == "estimated"
    assert "estimated accuracy 0.6832 [0.6564, 0.7101] vs reference 0.6753" in perf["summary"]


def test_slices_report_the_macro_auc_and_default_metrics_skip_the_probabilities(cards) -> None:
    cli, prod = cards
    days = "production@2026-11-01..2026-11-04"
    auc = cli("slices", "--model", "cards", "--selector", days, "--metric", "macro_roc_auc",
              "-f", "json")
    assert auc.code in (0, 1), auc.stderr
    (overall,) = [r for r in auc.json()["results"] if r["slice"] == "overall"]
    rows = prod.filter(pl.col("ts") < datetime(2026, 11, 5))
    ordered = sorted(CARDS)
    assert overall["value"] == pytest.approx(roc_auc_score(
        rows["card"].to_numpy(), rows.select(CARDS[c] for c in ordered).to_numpy(),
        multi_class="ovr", labels=ordered))
    plain = cli("slices", "--model", "cards", "--selector", days, "-f", "json")
    assert plain.code in (0, 1), plain.stderr
