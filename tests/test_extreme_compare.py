"""`evalctl compare` on extreme and degenerate data, end to end from the CLI.

Regression values near the float maximum or below 1e-154 (their squares overflow or
underflow), one common row, identical models. Each run writes its report (exit 0/1) with nothing
on stderr and no RuntimeWarning; each number equals numpy's on the same rows or is null, and no
test claims significance it cannot measure.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from tests.helpers import REGRESSION_CONFIG, CliResult, make_frame, warning_free

DEMAND = REGRESSION_CONFIG
COMPARE = ["compare", "--champion", "v1", "--challenger", "v2", "--selector", "production"]


def two_models(cli: Callable[..., CliResult], workdir: Path, frame_file: Callable[..., Path],
               model: str, champion: pl.DataFrame, challenger: pl.DataFrame) -> None:
    (workdir / "evalctl.yaml").write_text(DEMAND)
    for version, env, frame in (("v1", "production", champion), ("v2", "shadow", challenger)):
        assert cli("ingest", str(frame_file(frame, f"{version}.parquet")), "--model", model,
                   "--version", version, "--env", env).code == 0


def overall(doc: dict) -> dict[str, dict]:
    return {r["version"]: r for r in doc["results"] if r["slice"] == "overall"}


def regression(n: int, label: np.ndarray, v1: np.ndarray, v2: np.ndarray
               ) -> tuple[pl.DataFrame, pl.DataFrame]:
    base = make_frame(n, seed=5).with_columns(pl.Series("label", label))
    return (base.with_columns(pl.Series("score", v1)), base.with_columns(pl.Series("score", v2)))


@pytest.mark.parametrize("scale", [1.5e308, 1e160])
@pytest.mark.parametrize("metric", ["rmse", "mae", "mape", "r2"])
def test_values_whose_squares_overflow_give_no_internal_error(cli, workdir, frame_file,
                                                              scale: float, metric: str) -> None:
    """R² died with exit 4 (LinAlgError: eigh of an inf/NaN covariance) and every moment
    metric printed 'invalid value encountered' warnings; the test of a model whose squared
    errors overflow is now unknown (null), never significant."""
    n = 400
    rng = np.random.default_rng(1)
    label = rng.normal(10.0, 2.0, n)
    v1 = np.where(np.arange(n) % 2 == 0, 1.0, -1.0) * scale * rng.uniform(0.5, 1.0, n)
    two_models(cli, workdir, frame_file, "demand", *regression(n, label, v1, label + 1.0))
    doc = warning_free(cli, *COMPARE, "--model", "demand", "--metric", metric).json()
    rows = overall(doc)
    assert rows["v2"]["p_value"] is None and not rows["v2"]["significant"]
    if metric == "mae":  # numpy's MAE, or null where its sum overflows (never inf)
        for version, scores in (("v1", v1), ("v2", label + 1.0)):
            with np.errstate(over="ignore"):
                expected = np.mean(np.abs(scores - label))
            value = rows[version]["value"]
            assert value == pytest.approx(expected, rel=1e-12) if np.isfinite(expected) \
                else value is None and "overflow" in rows[version]["reason"]


def test_squares_that_underflow_are_no_zero_variance(cli, workdir, frame_file) -> None:
    """Errors of ~1e-300 square to 0: the multiplier bootstrap saw a zero covariance and
    called a difference of 1e-300 significant (p = 0, 'v2 worse'), each model's MAE
    interval had zero width."""
    n = 400
    rng = np.random.default_rng(2)
    v1, v2 = rng.normal(0.0, 1e-300, n), rng.normal(0.0, 2e-300, n)
    two_models(cli, workdir, frame_file, "demand", *regression(n, np.zeros(n), v1, v2))
    doc = warning_free(cli, *COMPARE, "--model", "demand", "--metric", "mae").json()
    rows = overall(doc)
    assert rows["v1"]["value"] == pytest.approx(np.mean(np.abs(v1)), rel=1e-12)
    assert rows["v2"]["value"] == pytest.approx(np.mean(np.abs(v2)), rel=1e-12)
    assert rows["v2"]["delta"] == pytest.approx(np.mean(np.abs(v1)) - np.mean(np.abs(v2)),
                                                rel=1e-9)
    assert rows["v2"]["p_value"] is None and not rows["v2"]["significant"]
    for row in rows.values():
        assert row["ci_low"] is None and row["ci_high"] is None
    assert doc["summary"]["verdict"] == "keep_champion"


@pytest.mark.parametrize("metric", ["log_loss", "brier", "recall"])
def test_one_common_row_is_never_significant(cli, workdir, frame_file, metric: str) -> None:
    """A bootstrap of one row repeats it: every replicate equal, a zero-width interval and
    p = 0, so one row made 'v2 worse (p < 0.001)'."""
    row = make_frame(1, seed=3).with_columns(pl.lit(1).alias("label"),
                                             pl.lit(0.9).alias("score"),
                                             pl.lit(1).alias("predicted_label"))
    worse = row.with_columns(pl.lit(0.1).alias("score"), pl.lit(0).alias("predicted_label"))
    two_models(cli, workdir, frame_file, "churn", row, worse)
    doc = warning_free(cli, *COMPARE, "--model", "churn", "--metric", metric).json()
    challenger = overall(doc)["v2"]
    expected = {"log_loss": np.log(0.1) - np.log(0.9), "brier": 0.01 - 0.81, "recall": -1.0}
    assert challenger["delta"] == pytest.approx(expected[metric], rel=1e-12)
    assert challenger["p_value"] is None and not challenger["significant"]
    assert challenger["delta_ci_low"] is None and challenger["delta_ci_high"] is None


def test_a_huge_difference_reads_in_four_significant_digits(cli, workdir, frame_file) -> None:
    """MAEs near 1e160 differ by a 160-digit number, which `:+.4f` wrote out in full."""
    n = 400
    rng = np.random.default_rng(3)
    label = rng.normal(10.0, 2.0, n)
    v1, v2 = rng.normal(0.0, 1e160, n), rng.normal(0.0, 1e159, n)
    two_models(cli, workdir, frame_file, "demand", *regression(n, label, v1, v2))
    doc = warning_free(cli, *COMPARE, "--model", "demand", "--metric", "mae").json()
    delta = overall(doc)["v2"]["delta"]
    assert delta == pytest.approx(np.mean(np.abs(v1 - label)) - np.mean(np.abs(v2 - label)),
                                  rel=1e-9)
    assert f"({delta:+.4g}, p n/a)" in overall(doc)["v2"]["why"]
    assert all(len(word) < 20 for text in doc["recommendations"] for word in text.split())
