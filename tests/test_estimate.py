"""`evalctl estimate` end to end: the sample story, unlabelled windows, proxies, bad input."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from tests.helpers import STORY_CONFIG, estimate_windows, make_frame
from tests.helpers import validate_envelope as validate

from evalctl import api
from evalctl.analyses.estimate import estimate_overall
from evalctl.errors import ConfigError
from evalctl.lake import Store, parse_selector
from evalctl.settings.checks import parse_estimate_settings
from evalctl.settings.load import load_config
from evalctl.settings.sections import EstimateSettings, ProxyRule

M = ["--model", "tv-recommender"]
WINDOW_KEYS = {"window_start", "window_end", "rows", "labelled_rows", "estimated", "realized",
               "status", "proxies"}


def windows(doc: dict) -> list[dict]:
    return estimate_windows(doc)


def own_verdict(metric: str, upper: float, reference: float) -> tuple[str, str | None]:
    """A metric's own status in estimate's long format, by the README's rule (no `min` in the
    story's config): fail below reference - 0.05, warn below reference - 0.02, else pass."""
    for level, drop in (("fail", 0.05), ("warn", 0.02)):
        if upper < reference - drop:
            return level, f"{metric} ≤ {upper:.3f} < ref {reference:.3f} - {drop:g}"
    return "pass", None


def test_story_daily_estimates_sit_beside_the_realised_metrics(story) -> None:
    result = story("estimate", *M, "--reference", "validation", "--current",
                   "production@2026-11-20..2026-11-30", "--window", "1d")
    assert result.code == 1, result.stderr  # accuracy fell ~0.06 below validation's
    doc = result.json()
    validate(doc)
    rows = windows(doc)
    assert [r["window_start"][:10] for r in rows][::5] == ["2026-11-20", "2026-11-25",
                                                           "2026-11-30"]
    for r in rows:
        assert WINDOW_KEYS <= set(r)
        assert set(r["by_metric"]) == {"accuracy", "precision", "recall", "f1", "roc_auc"}
        acc = r["by_metric"]["accuracy"]
        assert acc["lower"] <= acc["estimated"] <= acc["upper"] and acc["se"] > 0
        assert r["labelled_rows"] == r["rows"]  # Nov 26-30 through the late actuals
        assert abs(acc["estimated"] - acc["realized"]) < 0.06  # 600 rows a day
        assert acc["error"] == acc["estimated"] - acc["realized"]
        for name, m in r["by_metric"].items():  # the window's keys repeat on every metric's
            same = WINDOW_KEYS - {"estimated", "realized", "by_metric", "status"}
            assert {k: m[k] for k in same} == {k: r[k] for k in same}
            assert m["in_band"] == (m["lower"] <= m["realized"] <= m["upper"])
            if name != "accuracy":  # its own status: its band top against its thresholds
                assert (m["status"], m["why"]) == own_verdict(
                    name, m["upper"], doc["inputs"]["reference_realized"][name])
        assert r["status"] in ("warn", "fail")
        decided = r["decided_by"]
        if decided is not None:  # another metric set the status: which, its band top, limit
            assert decided["check"] != "accuracy" and decided["status"] == r["status"]
            assert r["alerts"][0].startswith(decided["check"])
            assert decided["value"] == r["by_metric"][decided["check"]]["upper"]
            assert decided["value"] < decided["threshold"]
            assert r["decided_by_text"] == r["alerts"][0]
    assert list(doc["inputs"]["calibration"]) == ["v1"]  # v2's validation rows not used
    assert doc["inputs"]["reference"]["versions_used"] == ["v1"]
    assert doc["summary"]["labelled_windows"] == 11
    assert doc["summary"]["band_coverage"] >= 0.8


def test_story_last_five_days_estimate_is_close_to_the_realised_accuracy(story) -> None:
    """The sample README's claim (0.777 estimated vs 0.779 realised at full size)."""
    doc = story("estimate", *M, "--current", "production@2026-11-26..2026-11-30",
                "--windows", "1", "-f", "json").json()
    (window,) = windows(doc)
    acc = window["by_metric"]["accuracy"]
    assert abs(acc["estimated"] - acc["realized"]) < 0.02
    assert acc["in_band"] is True
    assert window["rows"] == 3000 and window["labelled_rows"] == 3000


def test_story_before_the_flood_passes(story) -> None:
    result = story("estimate", *M, "--current", "production@2026-11-01..2026-11-14",
                   "--windows", "7", "-f", "json")
    assert result.code == 0, result.stderr
    doc = result.json()
    assert doc["status"] == "pass" and len(windows(doc)) == 7
    assert doc["summary"]["mean_abs_error"] < 0.02


def test_story_proxy_is_tracked_and_ranked(story) -> None:
    doc = story("estimate", *M, "--current", "production@2026-11-01..2026-11-30",
                "--window", "7d", "-f", "json").json()
    (proxy,) = [r for r in doc["results"] if r.get("section") == "proxies"]
    assert proxy["proxy"] == "clicked" and proxy["rank"] == 1
    assert proxy["corr_label"] > 0.3  # clicks follow watching
    assert proxy["psi"] is not None and proxy["p_value"] is not None
    assert len(proxy["series"]) == len(windows(doc))
    assert all(w["proxy_means"] == [w["proxies"]["clicked"]["mean"]] for w in windows(doc))
    assert proxy["labelled_rows"] > 0 and proxy["corr_rows"] is not None


def test_story_table_and_markdown(story) -> None:
    table = story("estimate", *M, "--current", "production@2026-11-25..2026-11-30",
                  "-f", "table", "--fail-on", "never")
    assert table.code == 0
    for text in ("estimated", "realized", "labelled", "clicked", "PSI"):
        assert text in table.stdout
    markdown = story("estimate", *M, "--current", "production@2026-11-25..2026-11-30",
                     "-f", "markdown").stdout
    assert "#### windows" in markdown and "#### proxies" in markdown


def test_story_version_mismatch_is_an_input_error(story) -> None:
    result = story("estimate", *M, "--reference", "validation:v2", "--current",
                   "production@2026-11-20..2026-11-30")
    assert result.code == 2 and result.no_report()
    assert result.stderr.count("\n") == 1 and "no rows of version v1" in result.stderr


@pytest.mark.parametrize(("args", "message"), [
    (["--window", "3x"], "--window"),
    (["--windows", "0"], "--windows"),
    (["--current", "production@2027-01-01"], "matched no data"),
])
def test_story_bad_arguments_exit_2(story, args: list[str], message: str) -> None:
    base = {"--current": "production@2026-11-20..2026-11-30"}
    opts = dict(zip(args[::2], args[1::2], strict=True))
    flat = [x for k, v in (base | opts).items() for x in (k, v)]
    result = story("estimate", *M, *flat)
    assert result.code == 2 and message in result.stderr
    assert result.stderr.count("\n") == 1


# -- a small churn store: unlabelled windows, thresholds, regression ---------------------------

def _ingest(cli, frame_file, df: pl.DataFrame, name: str, env: str, model: str = "churn"
            ) -> None:
    result = cli("ingest", str(frame_file(df, name)), "--model", model, "--version", "v1",
                 "--env", env)
    assert result.code == 0, result.stderr


@pytest.fixture
def churn(cli, frame_file):
    """Validation (labelled) and 6 production days whose last 2 have no labels yet."""
    _ingest(cli, frame_file, make_frame(4000, seed=1, start=datetime(2026, 10, 1), days=10,
                                        prefix="v"), "val.parquet", "validation")
    prod = make_frame(3000, seed=2, start=datetime(2026, 11, 1), days=6, prefix="p")
    late = pl.col("ts") >= datetime(2026, 11, 5)
    prod = prod.with_columns(pl.when(late).then(None).otherwise(pl.col("label")).alias("label"))
    _ingest(cli, frame_file, prod, "prod.parquet", "production")
    return cli


def test_unlabelled_windows_carry_only_the_estimate(churn) -> None:
    result = churn("estimate", "--model", "churn", "--current",
                   "production@2026-11-01..2026-11-06", "-f", "json")
    assert result.code == 0, result.stderr
    doc = result.json()
    validate(doc)
    rows = windows(doc)
    assert len(rows) == 6
    for r in rows[:4]:
        assert r["realized"] is not None and r["labelled_rows"] == r["rows"]
    for r in rows[4:]:
        assert r["realized"] is None and r["in_band"] is None and r["labelled_rows"] == 0
        assert r["by_metric"]["accuracy"]["estimated"] is not None
    assert any("without labels" in rec for rec in doc["recommendations"])


def test_concept_drift_is_flagged_only_where_labels_exist(cli, frame_file) -> None:
    """P(label | score) changes in production: the estimate cannot see it (it stays near the
    validation accuracy) but, where labels exist, the report flags the misses."""
    _ingest(cli, frame_file, make_frame(6000, seed=3, start=datetime(2026, 10, 1), days=10,
                                        prefix="v"), "val.parquet", "validation")
    prod = make_frame(6000, seed=4, start=datetime(2026, 11, 1), days=6, prefix="p")
    drawn = np.random.default_rng(5).random(prod.height) < prod["score"].to_numpy() / 2
    _ingest(cli, frame_file, prod.with_columns(label=pl.Series(drawn.astype(int))),
            "prod.parquet", "production")
    doc = cli("estimate", "--model", "churn", "--current", "production", "-f", "json").json()
    rows = windows(doc)
    assert all(r["by_metric"]["accuracy"]["estimated"] - r["by_metric"]["accuracy"]["realized"]
               > 0.08 for r in rows)
    assert doc["summary"]["band_coverage"] == 0.0
    assert all(r["status"] == "warn" and "contradicts" in r["why"] for r in rows)
    (rec,) = [rec for rec in doc["recommendations"] if "concept drift" in rec]
    hint = rec[rec.index("evalctl estimate"):]
    assert hint == ("evalctl estimate --model churn --reference production@2026-11-01..2026-11-06"
                    " --current production")
    recalibrated = cli(*hint.split()[1:], "-f", "json")
    assert recalibrated.code in (0, 1), recalibrated.stderr
    assert recalibrated.json()["summary"]["band_coverage"] > 0.5  # calibrated on the new P


def test_config_thresholds_gate_the_estimate(churn, workdir: Path) -> None:
    config = load_config(workdir / "evalctl.yaml")
    store = Store.open(workdir / "store")
    model = config.model("churn")
    model = replace(model, settings=replace(model.settings, estimate=parse_estimate_settings(
        "checks.estimate", {"min": {"accuracy": 0.95}, "proxies": {"clicked": {"min": 0.9}}})))
    report = api.estimate(store, model, parse_selector("validation"),
                          parse_selector("production@2026-11-01..2026-11-06"), windows=3)
    assert report.status == "fail"
    first = [r for r in report.results if r.get("section") == "windows"][0]
    assert "accuracy ≤" in first["why"] and "(+1 more)" in first["why"]
    assert any("clicked mean" in a for a in first["alerts"])
    (proxy,) = [r for r in report.results if r.get("section") == "proxies"]
    assert proxy["status"] == "warn"


def test_reference_without_labels_exits_2(churn) -> None:
    result = churn("estimate", "--model", "churn", "--reference",
                   "production@2026-11-05..2026-11-06", "--current", "production")
    assert result.code == 2 and "no labelled rows" in result.stderr
    assert result.stderr.count("\n") == 1


REGRESSION = """
  rides:
    task: regression
    id: request_id
    timestamp: ts
    score: eta
    label: actual
    features: {distance: numeric}
    proxies: [rating]
  rides-bare:
    task: regression
    id: request_id
    timestamp: ts
    score: eta
    label: actual
    features: {distance: numeric}
"""


def test_regression_estimates_the_loss_and_tracks_proxies(cli, frame_file,
                                                          workdir: Path) -> None:
    with (workdir / "evalctl.yaml").open("a") as handle:
        handle.write(REGRESSION)
    rng = np.random.default_rng(0)
    for env, start, prefix in (("validation", datetime(2026, 10, 1), "v"),
                               ("production", datetime(2026, 11, 1), "p")):
        n = 600
        df = pl.DataFrame({"request_id": [f"{prefix}{i}" for i in range(n)],
                           "ts": [start + timedelta(hours=i / 10) for i in range(n)],
                           "distance": rng.gamma(2, 3, n), "eta": rng.normal(20, 5, n),
                           "actual": rng.normal(20, 5, n), "rating": rng.integers(1, 6, n)})
        for model in ("rides", "rides-bare"):
            _ingest(cli, frame_file, df, f"{prefix}.parquet", env, model)
    result = cli("estimate", "--model", "rides", "--current", "production", "-f", "json")
    assert result.code == 0, result.stderr
    doc = result.json()
    validate(doc)
    assert not [r for r in doc["results"] if r.get("section") == "estimate"]
    assert doc["summary"]["metric"] == "mae"  # direct loss estimation (test_estimate_regression)
    (proxy,) = [r for r in doc["results"] if r.get("section") == "proxies"]
    assert proxy["proxy"] == "rating" and proxy["corr_rows"] is None
    bare = cli("estimate", "--model", "rides-bare", "--current", "production", "-f", "json")
    assert bare.code == 0, bare.stderr
    assert {r["section"] for r in bare.json()["results"]} == {"windows"}


def test_parse_estimate_settings() -> None:
    assert parse_estimate_settings("k", None) == EstimateSettings()
    got = parse_estimate_settings("k", {"metrics": ["accuracy"], "min": {"roc_auc": 0.8},
                                        "warn_drop": 0.01, "proxies": {"clicked": {"min": 0.3}}},
                                  ["clicked"])
    assert got.metrics == ("accuracy",) and got.minimum == {"roc_auc": 0.8}
    assert got.proxies == {"clicked": ProxyRule(0.3, None)} and got.fail_drop == 0.05
    bad = [({"metric": "r2"}, "k.metric: unknown metric 'r2'"),
           ({"metrics": "accuracy"}, "k.metrics: expected a list"),
           ({"metrics": 5}, "k.metrics: expected a list"),
           ({"min": {"auc": 0.8}}, "k.min: unknown metric 'auc'"),
           ({"confidence": 2}, "k.confidence: 2 is out of range"),
           ({"colour": 1}, "k.colour: unknown key"),
           ({"warn_drop": 0.1, "fail_drop": 0.05}, "k.warn_drop"),
           ({"window": "2x"}, "k.window"),
           ({"proxies": {"views": {"min": 1}}}, "k.proxies.views: not a proxy"),
           ({"proxies": {"clicked": {"low": 1}}}, "k.proxies.clicked.low: unknown key"),
           ({"min_rows": 0}, "k.min_rows")]
    for raw, message in bad:
        with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
            parse_estimate_settings("k", raw, ["clicked"])


def test_estimate_overall_serves_the_monitor(story) -> None:
    store = Store.open(story.store)
    model = store.resolve_model(load_config(STORY_CONFIG).model("tv-recommender"))
    days = parse_selector("production@2026-11-26..2026-11-30")
    got = estimate_overall(store, model, parse_selector("validation:v1"), days, "accuracy")
    assert got["low"] <= got["value"] <= got["high"] and got["n"] == 3000
    assert estimate_overall(store, model, parse_selector("validation:v1"), days,
                            "log_loss")["value"] is None
    assert "no rows of version" in estimate_overall(
        store, model, parse_selector("validation:v2"), days, "accuracy")["reason"]


def test_window_without_a_standard_error_is_not_called_contradicted() -> None:
    """A window whose estimate has a value but no standard error (variance undefined) has no
    band: it is reported without one and never compared against the realised value (this
    used to raise TypeError on `value - None`)."""
    from evalctl.analyses.estimate_binary import ESTIMATOR
    from evalctl.analyses.estimators import WindowEstimates, _window_result

    nan = float("nan")
    real = {"accuracy": np.array([0.2])}
    bound = {"window_start": "2026-11-01", "window_end": "2026-11-02", "rows": 500,
             "labelled_rows": 500}
    settings = EstimateSettings(metrics=("accuracy",))

    def row(se: float) -> dict:
        fitted = WindowEstimates({"accuracy": (np.array([0.9]), np.array([se]))}, real,
                                 {"accuracy": 0.9})
        return _window_result(ESTIMATOR, 0, bound, fitted, {}, settings, 1.96)

    without = row(nan)
    assert without["estimate"] == 0.9 and without["realized_value"] == 0.2
    assert without["lower"] is None and without["upper"] is None
    assert not any("contradicts" in why for why in without["alerts"])
    with_se = row(0.01)
    assert with_se["status"] == "warn" and with_se["contradicted"]
    assert any("contradicts the estimate [0.8804, 0.9196]: P(label | model output)" in why
               for why in with_se["alerts"])


def test_decided_by_names_another_metric_only_when_it_set_the_status() -> None:
    from evalctl.analyses.estimate_backtest import decided_by as _decided_by

    recall = {"status": "fail", "why": "recall ≤ 0.72 < ref 0.81 - 0.05", "check": "recall",
              "value": 0.72, "threshold": 0.76}
    accuracy_warn = {"status": "warn", "why": "accuracy ≤ 0.79 < ref 0.84 - 0.02",
                     "check": "accuracy", "value": 0.79, "threshold": 0.82}
    accuracy_fail = {**accuracy_warn, "status": "fail"}
    assert _decided_by([recall, accuracy_warn], "accuracy") == {
        "check": "recall", "value": 0.72, "threshold": 0.76, "status": "fail"}
    assert _decided_by([accuracy_fail, recall], "accuracy") is None
    assert _decided_by([recall, accuracy_fail], "accuracy") is None  # accuracy fails itself
    assert _decided_by([], "accuracy") is None
    proxy = _decided_by([{"status": "warn", "why": "clicked mean 0.1 < min 0.3"}], "accuracy")
    assert proxy is not None and proxy["check"] == "proxy" and proxy["threshold"] is None
