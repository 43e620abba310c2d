"""`evalctl estimate` on extreme and degenerate data, end to end from the CLI.

CBPE on scores of 1e-300 and ties everywhere, proxies near the float maximum / NaN / ±inf /
all null, direct loss estimation on errors whose squares leave the float range. Each run
writes its report (exit 0/1) with nothing on stderr and no RuntimeWarning, or, where the
estimate cannot be learnt, exits 2 with one line naming the reference; numbers equal an
independent computation on the same rows.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from sklearn.isotonic import IsotonicRegression
from tests.helpers import (
    REGRESSION_CONFIG,
    CliResult,
    estimate_windows,
    make_frame,
    warning_free,
)

DEMAND = REGRESSION_CONFIG  # its slices are not read by `estimate`
ESTIMATE = ["estimate", "--reference", "validation", "--current", "production"]


def reference_and_current(cli: Callable[..., CliResult], workdir: Path,
                          frame_file: Callable[..., Path], model: str,
                          reference: pl.DataFrame, current: pl.DataFrame) -> None:
    (workdir / "evalctl.yaml").write_text(DEMAND)
    for env, frame in (("validation", reference), ("production", current)):
        assert cli("ingest", str(frame_file(frame, f"{env}.parquet")), "--model", model,
                   "--version", "v1", "--env", env).code == 0


def frames(transform: Callable[[pl.DataFrame], pl.DataFrame]
           ) -> tuple[pl.DataFrame, pl.DataFrame]:
    reference = make_frame(1200, seed=3)
    current = make_frame(900, seed=4, start=datetime(2026, 11, 10), days=3, prefix="p")
    return transform(reference), transform(current)


def extreme_scores(frame: pl.DataFrame) -> pl.DataFrame:
    """Scores of 1e-300 or 1 - 1e-16 (the positive class more likely for the latter)."""
    rng = np.random.default_rng(frame.height)
    high = rng.random(frame.height) < 0.5
    label = np.where(high, rng.random(frame.height) < 0.8, rng.random(frame.height) < 0.3)
    return frame.with_columns(pl.Series("score", np.where(high, 1 - 1e-16, 1e-300)),
                              pl.Series("label", label.astype(int)),
                              pl.Series("predicted_label", high.astype(int)))


def tied_scores(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(pl.lit(0.5).alias("score"))


@pytest.mark.parametrize("transform", [extreme_scores, tied_scores])
def test_cbpe_accuracy_equals_isotonic_calibration_by_hand(cli, workdir, frame_file,
                                                           transform) -> None:
    reference, current = frames(transform)
    reference_and_current(cli, workdir, frame_file, "churn", reference, current)
    doc = warning_free(cli, *ESTIMATE, "--model", "churn", "--window", "1d").json()
    calibrate = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(
        reference["score"].to_numpy(), reference["label"].to_numpy())
    days = current["ts"].dt.date().to_numpy()
    for row in estimate_windows(doc):
        rows = days == np.datetime64(row["window_start"][:10])
        p = calibrate.predict(current["score"].to_numpy()[rows])
        predicted = current["predicted_label"].to_numpy()[rows]
        expected = np.mean(np.where(predicted == 1, p, 1 - p))
        accuracy = row["by_metric"]["accuracy"]
        assert accuracy["estimated"] == pytest.approx(expected, abs=1e-12)
        assert accuracy["lower"] <= accuracy["estimated"] <= accuracy["upper"]
        realised = np.mean(predicted == current["label"].to_numpy()[rows])
        assert accuracy["realized"] == pytest.approx(realised, abs=1e-12)


PROXIES = {  # what `clicked` holds in both selections
    "near the float maximum": lambda n, rng: np.where(rng.random(n) < 0.5, 1e308, -1e308),
    "NaN and ±inf": lambda n, rng: rng.choice([np.nan, np.inf, -np.inf], n),
    "all null": lambda n, rng: np.full(n, np.nan),
    "constant": lambda n, rng: np.full(n, 1.0),
    "1e-300": lambda n, rng: rng.normal(0.0, 1e-300, n),
}


@pytest.mark.parametrize("case", list(PROXIES))
def test_extreme_proxies_warn_nothing_and_report_no_inf(cli, workdir, frame_file,
                                                        case: str) -> None:
    rng = np.random.default_rng(7)
    reference, current = frames(lambda f: f.with_columns(
        pl.Series("clicked", PROXIES[case](f.height, rng)).fill_nan(
            None if case == "all null" else np.nan)))
    reference_and_current(cli, workdir, frame_file, "churn", reference, current)
    doc = warning_free(cli, *ESTIMATE, "--model", "churn", "--window", "1d").json()
    (proxy,) = [r for r in doc["results"] if r["section"] == "proxies"]
    for window in proxy["series"]:
        for key in ("mean", "reference_mean", "diff", "t", "p_value", "psi"):
            assert window[key] is None or np.isfinite(window[key]), (key, window)
    if case == "constant":
        assert [w["mean"] for w in proxy["series"]] == [1.0, 1.0, 1.0]


@pytest.mark.parametrize("scale", [1e160, 5e306, 1e-300])
def test_dle_on_errors_whose_squares_leave_the_float_range_is_one_clear_line(
        cli, workdir, frame_file, scale: float) -> None:
    """Squared errors of inf (errors beyond ~1.3e154) or all 0 (below ~1.5e-154) reached
    scikit-learn, whose own message ('Input y contains infinity ...', "loss='poisson'
    requires ... sum(y) > 0") came after numpy's overflow warnings."""
    rng = np.random.default_rng(9)

    def regression(frame: pl.DataFrame) -> pl.DataFrame:
        label = rng.normal(10.0, 2.0, frame.height)
        return frame.with_columns(pl.Series("label", label * scale), pl.Series(
            "score", (label + rng.normal(0.0, 1.0, frame.height)) * scale))

    reference, current = frames(regression)
    reference_and_current(cli, workdir, frame_file, "demand", reference, current)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = cli(*ESTIMATE, "--model", "demand", "-f", "json")
    assert not [w for w in caught if issubclass(w.category, RuntimeWarning)]
    assert result.code == 2 and result.no_report()
    (line,) = result.stderr.splitlines()
    assert line.startswith("evalctl: error: --reference validation: version v1: the errors")
    assert "square beyond the float range" in line
