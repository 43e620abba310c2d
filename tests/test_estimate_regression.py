"""Issue #21 items 3-5 for regression: direct loss estimation (`evalctl.stats.dle`), its
back-test (`evalctl.analyses.estimate_backtest`), `estimate` and `monitor` end to end."""

from __future__ import annotations

import sys
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from sklearn.metrics import mean_absolute_error, root_mean_squared_error
from tests.helpers import estimate_windows

from evalctl.analyses.estimate_backtest import backtest_summary, contradicted
from evalctl.analyses.estimate_regression import openmp_threads
from evalctl.errors import ConfigError
from evalctl.metrics.intervals import z_value
from evalctl.settings.checks import parse_estimate_settings
from evalctl.stats import dle

RIDES = """
  rides:
    task: regression
    id: request_id
    timestamp: ts
    score: eta
    label: actual
    features: {distance: numeric, zone: categorical}
    checks:
      monitor: {performance_reference: validation, metric: mae}
"""
ZONES = np.array(["north", "south", "airport"])
DAY0 = datetime(2026, 11, 1)


def rides(n: int, rng: np.random.Generator, *, shape: tuple[float, float] = (2.0, 2.0),
          noise: float = 1.0) -> dict[str, np.ndarray]:
    """Heteroscedastic errors: the model predicts eta = 3·d + zone effect exactly, the
    label's noise sd grows with the distance d (0.2 + 2d, times `noise`) and is larger at the
    airport. `shape` moves the distances (covariate shift: the MAE moves, the relation not);
    `noise` > 1 changes the relation itself (concept drift)."""
    d = rng.beta(*shape, n)
    zone = rng.integers(0, 3, n)
    eta = 3 * d + 0.5 * zone
    sd = (0.2 + 2.0 * d) * np.where(zone == 2, 1.5, 1.0) * noise
    return {"distance": d, "zone": ZONES[zone], "eta": eta,
            "actual": eta + rng.normal(size=n) * sd}


def matrix(data: dict[str, np.ndarray]) -> np.ndarray:
    zone = np.searchsorted(np.sort(ZONES), data["zone"]).astype(float)
    return np.column_stack([data["distance"], zone, data["eta"]])


# -- the engine --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def fitted() -> dle.LossModel:
    rng = np.random.default_rng(11)
    ref = rides(12_000, rng)
    with openmp_threads():  # as `estimate` runs it: one thread, fast on a busy host
        return dle.fit_loss_model(matrix(ref), [False, True, False], ref["actual"],
                                  ref["eta"], dle.DleOptions())


def test_bands_cover_the_realised_mae_and_rmse_in_200_seeded_windows(fitted) -> None:
    """95% bands; 200 windows of 400 rows, each with its own distance distribution."""
    rng = np.random.default_rng(12)
    windows, size = 200, 400
    parts = [rides(size, rng, shape=(1 + 3 * rng.random(), 1 + 3 * rng.random()))
             for _ in range(windows)]
    x = np.vstack([matrix(p) for p in parts])
    window = np.repeat(np.arange(windows), size)
    e = np.concatenate([p["actual"] - p["eta"] for p in parts])
    sums = dle.WindowSums.empty(windows, 3)
    sums.rows[:] = size
    with openmp_threads():
        dle.add_predictions(sums, fitted, x, window)
    est = dle.estimate_windows(sums, fitted.kappa, fitted.bias)
    z = z_value(0.95)
    bands = [dle.band_estimates(est, i, z) for i in range(windows)]
    for metric, realised in (("mae", np.bincount(window, np.abs(e)) / size),
                             ("rmse", np.sqrt(np.bincount(window, e * e) / size))):
        low = np.array([b[metric]["lower"] for b in bands])
        high = np.array([b[metric]["upper"] for b in bands])
        value = np.array([b[metric]["value"] for b in bands])
        assert np.mean((low <= realised) & (realised <= high)) >= 0.90, metric
        assert np.corrcoef(value, realised)[0, 1] > 0.8, metric  # it tracks the shift
        assert np.mean((high - low) / 2 / value) < 0.15, metric  # and the bands say something
        assert realised.max() / realised.min() > 1.5  # the windows really differ


def test_the_reference_estimate_is_out_of_fold_and_close_to_its_realised(fitted) -> None:
    ref = fitted.reference
    assert ref["mae_estimated"] == pytest.approx(ref["mae"], rel=0.03)
    assert ref["rmse_estimated"] == pytest.approx(ref["rmse"], rel=0.03)
    assert len(fitted.models["abs"]) == 3 and fitted.rows == 12_000
    assert 0.3 < fitted.kappa["abs"] < 1.0  # ~0.57 for normal noise: Var|e| / E|e|²
    assert 1.2 < fitted.kappa["sq"] < 3.0  # ~2 for normal noise: Var e² / (E e²)²


def test_calibration_error_is_the_systematic_part_only() -> None:
    rng = np.random.default_rng(5)
    p = rng.uniform(0.5, 2.0, 100_000)
    observed = p * rng.exponential(size=p.size)  # calibrated: only sampling noise
    assert dle.calibration_error(observed, p) < 1e-4
    skewed = observed * np.where(p > np.median(p), 1.2, 0.8)  # ±20% off by half
    assert dle.calibration_error(skewed, p) == pytest.approx(0.04, rel=0.25)


def test_the_window_sample_budget_is_capped_over_all_windows() -> None:
    from evalctl.analyses.estimate_regression import window_budget

    assert window_budget(20_000, 10) == 20_000
    assert window_budget(20_000, 720) == 1_388  # hourly windows over 30 days
    assert window_budget(20_000, 5_000) == 1_000


def test_folds_are_balanced_and_seeded() -> None:
    folds = dle.fold_of(10, 3, seed=4)
    assert sorted(np.bincount(folds)) == [3, 3, 4]
    assert (folds == dle.fold_of(10, 3, seed=4)).all()


def test_a_perfect_model_or_too_few_rows_is_a_value_error() -> None:
    x = np.arange(100.0).reshape(-1, 1)
    with pytest.raises(ValueError, match="no loss to learn"):
        dle.fit_loss_model(x, [False], x[:, 0], x[:, 0], dle.DleOptions())
    with pytest.raises(ValueError, match="need at least 30"):
        dle.fit_loss_model(x[:20], [False], x[:20, 0] + 1, x[:20, 0], dle.DleOptions())


def test_judge_window_uses_relative_rises_and_ceilings() -> None:
    est = {"mae": {"value": 1.3, "lower": 1.2, "upper": 1.4, "se": 0.05},
           "rmse": {"value": 1.5, "lower": 1.45, "upper": 1.55, "se": 0.03}}
    ref = {"mae": 1.0, "rmse": 1.45}
    alerts = dle.judge_window(est, ref, ("mae", "rmse"), {}, 0.02, 0.10)
    assert [(a["check"], a["status"]) for a in alerts] == [("mae", "fail")]
    assert alerts[0]["threshold"] == pytest.approx(1.1) and alerts[0]["value"] == 1.2
    capped = dle.judge_window(est, ref, ("rmse",), {"rmse": 1.49}, 0.5, 0.6)
    assert [(a["status"], a["threshold"]) for a in capped] == [("warn", 1.49)]


# -- the back-test -----------------------------------------------------------------------------

def test_contradicted_means_beyond_the_band_by_another_half_width() -> None:
    band = {"value": 1.0, "lower": 0.5, "upper": 1.5}
    assert not contradicted(band, 2.0)  # outside, but within a half-width of the edge
    assert contradicted(band, 2.01) and contradicted(band, -0.01)
    assert not contradicted(band, None) and not contradicted(band | {"lower": None}, 1.0)


def test_contradicted_measures_each_side_by_its_own_half_width() -> None:
    """One rule for every estimator: symmetric bands give |realised - value| > 2·z·SE (CBPE's
    rule); an asymmetric band (RMSE: the square roots of the MSE band) or one clipped at 0 or
    1 is measured on the realised value's side, brute-forced here over a grid."""
    rng = np.random.default_rng(5)
    for _ in range(2_000):
        value, se, z = rng.uniform(0, 1), rng.uniform(0.001, 0.3), 1.96
        realised = rng.uniform(-0.5, 1.5)
        symmetric = {"value": value, "lower": value - z * se, "upper": value + z * se}
        assert contradicted(symmetric, realised) == (abs(realised - value) > 2 * z * se)
        mse, mse_se = value, se
        rmse = {"value": np.sqrt(mse), "lower": np.sqrt(max(mse - z * mse_se, 0.0)),
                "upper": np.sqrt(mse + z * mse_se)}
        above = realised - rmse["value"] > 2 * (rmse["upper"] - rmse["value"])
        below = rmse["value"] - realised > 2 * (rmse["value"] - rmse["lower"])
        assert contradicted(rmse, realised) == (above or below)
    clipped = {"value": 0.98, "lower": 0.92, "upper": 1.0}  # 0.98 ± 0.06, clipped at 1
    assert not contradicted(clipped, 1.0) and contradicted(clipped, 0.85)
    assert not contradicted(clipped, 0.87)


def test_backtest_summary_matches_numpy() -> None:
    rng = np.random.default_rng(3)
    est, real = rng.random(30), rng.random(30)
    rows = [{"estimate": e, "realized_value": r, "lower": e - 0.2, "upper": e + 0.2,
             "contradicted": bool(abs(r - e) > 0.4)} for e, r in zip(est, real, strict=True)]
    got = backtest_summary(rows)
    assert got["mean_abs_error"] == pytest.approx(np.mean(np.abs(est - real)))
    assert got["max_abs_error"] == pytest.approx(np.max(np.abs(est - real)))
    assert got["band_coverage"] == pytest.approx(np.mean(np.abs(est - real) <= 0.2))
    assert got["contradicted"] == int(np.sum(np.abs(est - real) > 0.4))
    assert backtest_summary([]) == {"mean_abs_error": None, "max_abs_error": None,
                                    "band_coverage": None, "contradicted": 0}


# -- estimate end to end -----------------------------------------------------------------------

def frame(data: dict[str, np.ndarray], start: datetime, prefix: str,
          labelled: float = 1.0, seed: int = 0) -> pl.DataFrame:
    n = len(data["eta"])
    rng = np.random.default_rng(seed)
    actual = np.where(rng.random(n) < labelled, data["actual"], np.nan)
    distance = np.where(rng.random(n) < 0.02, np.nan, data["distance"])  # some nulls
    return pl.DataFrame({
        "request_id": [f"{prefix}{i}" for i in range(n)],
        "ts": [start + timedelta(days=1) * i / n for i in range(n)],
        "distance": distance, "zone": data["zone"], "eta": data["eta"], "actual": actual,
    }).with_columns(pl.col("distance", "actual").fill_nan(None))


@pytest.fixture
def rides_store(cli, frame_file, workdir: Path):
    """validation: 4,000 rows; production: 6 ordinary days (day 3 partly labelled), 2 days of
    concept drift (the noise triples), 1 day without labels yet."""
    with (workdir / "evalctl.yaml").open("a") as handle:
        handle.write(RIDES)
    rng = np.random.default_rng(21)
    ref = frame(rides(4000, rng), DAY0 - timedelta(days=30), "v")
    days = [frame(rides(600, rng, noise=3.0 if day in (6, 7) else 1.0), DAY0 + timedelta(
        days=day), f"p{day}-", labelled=0.0 if day == 8 else 0.7 if day == 3 else 1.0,
        seed=day) for day in range(9)]
    for env, df, name in (("validation", ref, "v.parquet"),
                          ("production", pl.concat(days), "p.parquet")):
        result = cli("ingest", "--model", "rides", "--version", "v1", "--env", env,
                     str(frame_file(df, name)))
        assert result.code == 0, result.stderr
    return cli, days


def windows_of(doc: dict) -> list[dict]:
    return estimate_windows(doc)


def test_estimate_reports_mae_and_rmse_beside_the_realised_values(rides_store) -> None:
    cli, days = rides_store
    result = cli("estimate", "--model", "rides", "--reference", "validation", "--current",
                 "production", "--window", "1d", "-f", "json")
    assert result.code == 0, result.stderr  # the drifted days warn (1 with --fail-on warn)
    doc = result.json()  # validated against estimate.v2.json
    assert doc["status"] == "warn"
    rows = windows_of(doc)
    assert len(rows) == 9 and doc["summary"]["metric"] == "mae"
    for row, day in zip(rows, days, strict=True):
        assert list(row["by_metric"]) == ["mae", "rmse"]
        labelled = day.filter(pl.col("actual").is_not_null())
        assert row["labelled_rows"] == labelled.height and row["rows"] == 600
        if not labelled.height:
            assert row["realized"] is None and row["contradicted"] is False
            continue
        y, p = labelled["actual"].to_numpy(), labelled["eta"].to_numpy()
        assert row["realized"] == pytest.approx(mean_absolute_error(y, p), rel=1e-9)
        assert row["by_metric"]["rmse"]["realized"] == pytest.approx(
            root_mean_squared_error(y, p), rel=1e-9)
        assert row["error"] == pytest.approx(row["estimated"] - row["realized"])
    ordinary = [r for i, r in enumerate(rows) if i < 6]
    assert all(not r["contradicted"] for r in ordinary)
    assert sum(r["in_band"] for r in ordinary) >= 5
    drifted = rows[6:8]
    assert all(r["contradicted"] and r["status"] == "warn" for r in drifted)
    assert "contradicts the estimate" in drifted[0]["why"]
    assert doc["summary"]["contradicted"] == 2 and doc["summary"]["labelled_windows"] == 8
    assert any("concept drift" in rec and "2 of 8 labelled windows" in rec
               for rec in doc["recommendations"])
    assert any("1 window(s) without labels yet" in rec for rec in doc["recommendations"])
    assert not any("estimated above" in rec for rec in doc["recommendations"])  # only realised
    model = doc["inputs"]["loss_model"]["v1"]
    assert model["rows"] == 4000 and model["folds"] == 3
    assert doc["inputs"]["reference_realized"]["mae"] > 0


def test_estimate_settings_for_regression_pick_the_metric_and_ceiling(rides_store,
                                                                      workdir: Path) -> None:
    cli, _ = rides_store
    text = (workdir / "evalctl.yaml").read_text().replace(
        "checks:\n", "checks:\n      estimate: {metric: rmse, max: {rmse: 0.5}, "
        "regression: {reference_rows: 1000, folds: 2}}\n")
    (workdir / "evalctl.yaml").write_text(text)
    doc = cli("estimate", "--model", "rides", "--current", "production@2026-11-01..2026-11-02",
              "-f", "json").json()
    assert doc["summary"]["metric"] == "rmse" and doc["status"] == "fail"
    assert doc["inputs"]["loss_model"]["v1"]["rows"] == 1000
    assert doc["inputs"]["thresholds"]["max"] == {"rmse": 0.5}
    assert all(r["decided_by"] is None and r["alerts"][0].startswith("rmse")
               for r in windows_of(doc))


def test_monitor_judges_the_estimated_mae_while_labels_are_missing(rides_store) -> None:
    cli, _ = rides_store
    doc = cli("monitor", "--model", "rides", "--date", "2026-11-09", "-f", "json").json()
    (perf,) = [r for r in doc["results"] if r.get("check") == "performance"]
    assert perf["source"] == "estimated" and perf["feature"] == "mae"
    assert perf["ci"][0] <= perf["value"] <= perf["ci"][1]
    assert perf["status"] in ("pass", "warn", "fail")


def test_missing_scikit_learn_is_exit_2_naming_the_extra(rides_store, monkeypatch) -> None:
    cli, _ = rides_store
    monkeypatch.setitem(sys.modules, "sklearn.ensemble", None)
    result = cli("estimate", "--model", "rides", "--current", "production")
    assert result.code == 2 and "evalctl[multivariate]" in result.stderr
    assert result.stderr.count("\n") == 1


def test_a_reference_without_labels_is_exit_2(cli, frame_file, workdir: Path) -> None:
    with (workdir / "evalctl.yaml").open("a") as handle:
        handle.write(RIDES)
    rng = np.random.default_rng(2)
    for env, name, labelled in (("validation", "v.parquet", 0.0), ("production", "p.parquet",
                                                                     1.0)):
        df = frame(rides(200, rng), DAY0, name[0], labelled=labelled)
        assert cli("ingest", "--model", "rides", "--version", "v1", "--env", env,
                   str(frame_file(df, name))).code == 0
    result = cli("estimate", "--model", "rides", "--current", "production")
    assert result.code == 2 and "--reference validation: version v1: 0 labelled" in \
        result.stderr


def test_regression_settings_are_validated() -> None:
    got = parse_estimate_settings("k", {"metric": "rmse", "max": {"mae": 3},
                                        "regression": {"window_rows": 500}})
    assert got.metric == "rmse" and got.maximum == {"mae": 3.0}
    assert got.dle == dle.DleOptions(window_rows=500)
    for raw, message in (({"max": {"accuracy": 1}}, "k.max: unknown metric 'accuracy'"),
                         ({"regression": {"trees": 5}}, "k.regression.trees: unknown key"),
                         ({"regression": {"folds": 1}}, "k.regression.folds: 1 is out of"),
                         ({"max": {"mae": -1}}, "k.max.mae: -1 is out of")):
        with pytest.raises(ConfigError, match=message):
            parse_estimate_settings("k", raw)


def test_the_readme_regression_story_runs_as_written(tmp_path: Path, monkeypatch) -> None:
    """README, `estimate` > Regression: the story's script and config, and what it claims."""
    import re

    from tests.helpers import REPO, run_cli

    readme = (REPO / "README.md").read_text()
    script, config = (re.search(rf"<!-- {tag} -->\n```\w+\n(.*?)```", readme, re.S)
                      for tag in ("regression-story", "regression-story-config"))
    assert script and config
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("EVALCTL_CONFIG", raising=False)
    monkeypatch.delenv("EVALCTL_STORE", raising=False)
    exec(compile(script.group(1), "README.md", "exec"), {})
    (tmp_path / "evalctl.yaml").write_text(config.group(1))
    assert run_cli("init", "store", "--no-config").code == 0
    for env in ("validation", "production"):
        assert run_cli("ingest", f"{env}.parquet", "--model", "rides", "--version", "v1",
                       "--env", env).code == 0
    doc = run_cli("estimate", "--model", "rides", "--current", "production", "--window", "1d",
                  "-f", "json").json()
    rows = windows_of(doc)
    assert [r["contradicted"] for r in rows] == [False] * 6 + [True, True, False]
    assert all(r["in_band"] for r in rows[:6]) and rows[8]["realized"] is None
    assert doc["inputs"]["reference_realized"]["mae"] == pytest.approx(4.60, abs=0.005)
    assert doc["inputs"]["loss_model"]["v1"]["sample_mae_estimated"] == pytest.approx(
        4.57, abs=0.005)
    assert doc["summary"]["contradicted"] == 2 and doc["status"] == "warn"
    perf = [r for r in run_cli("monitor", "--model", "rides", "--date", "2026-11-09", "-f",
                               "json").json()["results"] if r.get("check") == "performance"]
    assert perf[0]["source"] == "estimated"
