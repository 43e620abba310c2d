"""`evalctl slices` on extreme and degenerate data, end to end from the CLI.

Features near the float maximum, ±inf, NaN, -0.0, all-null and constant columns; scores of
1e-300; one class; a single row. Every command must write its report (exit 0/1) with nothing on
stderr and no RuntimeWarning, and every number must equal an independent computation on the
same rows (numpy, scikit-learn) or be null with a reason.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from sklearn.metrics import accuracy_score, f1_score, log_loss
from tests.helpers import (
    CONFIG,
    MULTICLASS_CONFIG,
    CliResult,
    make_frame,
    make_multiclass_frame,
    warning_free,
)

SLICED = """\
store: store
models:
  churn:
    task: binary_classification
    id: request_id
    timestamp: ts
    prediction: predicted_label
    score: score
    label: label
    features:
      minutes: numeric
      flat: numeric
      empty: numeric
      country: categorical
    slices:
      - feature: minutes
      - feature: flat
      - feature: empty
      - features: [country, minutes]
"""
SLICES = ["slices", "--model", "churn", "--selector", "production", "--top", "0"]
ODD = (1e308, -1e308, 1.7e308, -np.inf, np.inf, np.nan, -0.0)


def store(cli: Callable[..., CliResult], workdir: Path, frame_file: Callable[..., Path],
          frame: pl.DataFrame) -> None:
    (workdir / "evalctl.yaml").write_text(SLICED)
    assert cli("ingest", str(frame_file(frame, "p.parquet")), "--model", "churn",
               "--version", "v1", "--env", "production").code == 0


def extreme_frame(n: int = 2000, flat: float = 3.0) -> pl.DataFrame:
    """`minutes` with 5% each of ±1e308, 1.7e308, ±inf, NaN and -0.0; `flat` constant;
    `empty` all null."""
    frame = make_frame(n, seed=11)
    rng = np.random.default_rng(11)
    minutes = frame["minutes"].to_numpy().copy()
    for value in ODD:
        minutes[rng.random(n) < 0.05] = value
    return frame.with_columns(pl.Series("minutes", minutes), pl.lit(flat).alias("flat"),
                              pl.lit(None, pl.Float64).alias("empty"))


def segments(doc: dict, slice_: str) -> dict[str, dict]:
    return {r["segment"]: r for r in doc["results"] if r["slice"] == slice_}


@pytest.mark.parametrize("flat", [3.0, 1e17, 1e308, -1.7e308, float(np.finfo(float).max)])
def test_a_constant_feature_is_one_segment_whatever_its_magnitude(cli, workdir, frame_file,
                                                                  flat: float) -> None:
    """Beyond 2**53 a constant plus 1 is the constant: its quantile edges did not increase
    and the command failed (exit 2, 'bins need at least two increasing edges')."""
    frame = extreme_frame(flat=flat)
    store(cli, workdir, frame_file, frame)
    doc = warning_free(cli, *SLICES).json()
    (only,) = segments(doc, "flat").values()
    assert only["n"] == frame.height
    assert only["value"] == pytest.approx(accuracy_score(frame["label"],
                                                         frame["predicted_label"]), abs=1e-12)
    assert only["segment"].startswith(f"[{flat:g}, ")


def test_extreme_values_fall_in_the_outer_bins_and_nan_is_missing(cli, workdir,
                                                                  frame_file) -> None:
    frame = extreme_frame()
    store(cli, workdir, frame_file, frame)
    doc = warning_free(cli, *SLICES, "--metric", "log_loss").json()
    minutes = frame["minutes"].to_numpy()
    finite = minutes[np.isfinite(minutes)]
    found = segments(doc, "minutes")
    low, high = f"{finite.min():g}", f"{finite.max():g}"
    expected = {f"< {low}": minutes == -np.inf, f"> {high}": minutes == np.inf,
                "(missing)": np.isnan(minutes)}
    for name, rows in expected.items():
        assert found[name]["n"] == rows.sum(), name
    assert sum(r["n"] for r in found.values()) == frame.height
    y, p = frame["label"].to_numpy(), frame["score"].to_numpy()
    for name, rows in expected.items():  # log loss of exactly those rows (sklearn)
        assert found[name]["value"] == pytest.approx(
            log_loss(y[rows], p[rows], labels=[0, 1]), rel=1e-9), name
    (empty,) = segments(doc, "empty").values()
    assert (empty["segment"], empty["n"]) == ("(missing)", frame.height)
    for row in doc["results"]:  # never a silent inf / NaN (the JSON would not even parse)
        assert row["value"] is None or np.isfinite(row["value"])


DEMAND = """\
store: store
models:
  demand:
    task: regression
    id: request_id
    timestamp: ts
    score: score
    label: label
    features: {country: categorical}
    slices:
      - feature: country
"""


def regression_store(cli: Callable[..., CliResult], workdir: Path,
                     frame_file: Callable[..., Path], label: np.ndarray, score: np.ndarray
                     ) -> pl.DataFrame:
    (workdir / "evalctl.yaml").write_text(DEMAND)
    frame = make_frame(len(label), seed=4).with_columns(pl.Series("label", label),
                                                        pl.Series("score", score))
    assert cli("ingest", str(frame_file(frame, "p.parquet")), "--model", "demand",
               "--version", "v1", "--env", "production").code == 0
    return frame


def demand_slices(cli: Callable[..., CliResult], metric: str) -> dict[str, dict]:
    doc = warning_free(cli, "slices", "--model", "demand", "--selector", "production",
                       "--top", "0", "--metric", metric).json()
    return {r["segment"]: r for r in doc["results"]}


R2_CASES = {  # label, score -> the reason R² is null (it said "constant label" for all three)
    "labels of ±1.5e308": (lambda n: np.where(np.arange(n) % 2 == 0, 1.5e308, -1.5e308),
                           lambda n: np.zeros(n), "overflow"),
    "labels of ~1e160": (lambda n: np.random.default_rng(1).normal(0, 1e160, n),
                         lambda n: np.random.default_rng(2).normal(0, 1e160, n), "overflow"),
    "labels of ~1e-300": (lambda n: np.random.default_rng(1).normal(0, 1e-300, n),
                          lambda n: np.zeros(n), "underflow"),
}


@pytest.mark.parametrize("case", list(R2_CASES))
def test_r2_of_labels_beyond_the_float_range_is_null_with_its_reason(cli, workdir, frame_file,
                                                                     case: str) -> None:
    """Sums of squares that overflow (inf) or underflow (0) made R² 'constant label in
    segment' (and at 1e160, 'overflow encountered in square' on stderr)."""
    label, score, word = R2_CASES[case]
    regression_store(cli, workdir, frame_file, label(400), score(400))
    for row in demand_slices(cli, "r2").values():
        assert row["value"] is None and word in row["reason"], row
        assert "constant" not in row["reason"]


def test_a_constant_label_is_still_called_constant(cli, workdir, frame_file) -> None:
    regression_store(cli, workdir, frame_file, np.full(400, 5.0),
                     np.random.default_rng(3).normal(5, 1, 400))
    assert {r["reason"] for r in demand_slices(cli, "r2").values()} == {
        "constant label in segment"}


def test_errors_of_1e_300_are_not_called_significantly_worse(cli, workdir, frame_file) -> None:
    """Their squares underflow to 0: the MAE's interval had zero width, so segments whose
    MAE was 1e-301 above the overall one were 'significantly worse' (warn)."""
    rng = np.random.default_rng(4)
    frame = regression_store(cli, workdir, frame_file, rng.normal(0, 1e-300, 400),
                             rng.normal(0, 1e-300, 400))
    found = demand_slices(cli, "mae")
    errors = np.abs(frame["score"].to_numpy() - frame["label"].to_numpy())
    for country in ("US", "BR", "DE"):
        rows = (frame["country"] == country).to_numpy()
        assert found[country]["value"] == pytest.approx(errors[rows].mean(), rel=1e-12)
    for row in found.values():
        assert row["status"] == "pass" and row["ci_low"] is None and row["ci_high"] is None


def test_discover_with_top_0_keeps_the_default_number_of_slices(cli, workdir,
                                                                frame_file) -> None:
    """`--top 0` (every declared segment) went to SliceLine as k = 0: exit 2, 'k, max_level
    and max_categories must be at least 1'."""
    store(cli, workdir, frame_file, extreme_frame())
    everything = warning_free(cli, *SLICES, "--discover").json()
    ten = warning_free(cli, *SLICES[:-2], "--top", "10", "--discover").json()
    found = [r for r in everything["results"] if r["section"] == "discovered"]
    assert found == [r for r in ten["results"] if r["section"] == "discovered"]
    assert everything["inputs"]["discovery"] == ten["inputs"]["discovery"]
    assert len([r for r in everything["results"] if r["section"] == "declared"]) > 11


@pytest.mark.parametrize("scale", [1e160, 1e-300])
def test_discovery_on_squared_errors_finds_the_same_slices_at_any_scale(cli, workdir,
                                                                        frame_file,
                                                                        scale: float) -> None:
    """Squared errors beyond ~1.3e154 are inf (exit 2: "error column '__error' holds infinite
    values") and below ~1.5e-154 are 0 (no slice at all); discovery now squares the label and
    prediction scaled by a power of two and finds the slices it finds at scale 1."""
    rng = np.random.default_rng(6)
    n = 3000
    frame = make_frame(n, seed=6)
    label = rng.normal(10.0, 2.0, n)
    noise = rng.normal(0.0, 1.0, n) * np.where(frame["country"] == "BR", 4.0, 1.0)
    (workdir / "evalctl.yaml").write_text(DEMAND)
    for day, factor in ((1, 1.0), (10, scale)):
        part = make_frame(n, seed=6, start=datetime(2026, 11, day), prefix=f"d{day}-")
        part = part.with_columns(pl.Series("label", label * factor),
                                 pl.Series("score", (label + noise) * factor))
        assert cli("ingest", str(frame_file(part, f"p{day}.parquet")), "--model", "demand",
                   "--version", "v1", "--env", "production").code == 0
    found = [warning_free(cli, "slices", "--model", "demand", "--selector",
                          f"production@2026-11-{day:02d}..2026-11-{day + 4:02d}",
                          "--discover").json() for day in (1, 10)]
    plain, scaled = ([r for r in doc["results"] if r["section"] == "discovered"]
                     for doc in found)
    assert [r["segment"] for r in plain] == [r["segment"] for r in scaled]
    assert "country = BR" in [r["segment"] for r in plain]
    for a, b in zip(plain, scaled, strict=True):
        assert (a["n"], a["significant_worse"]) == (b["n"], b["significant_worse"])
        assert b["score"] == pytest.approx(a["score"], rel=1e-12)
        assert b["p_value"] == pytest.approx(a["p_value"], rel=1e-9)
        if scale > 1:  # 1e320: beyond the float range, null (0 at 1e-300 squared is 1e-600)
            assert b["value"] is None
    squared = noise**2
    assert found[0]["inputs"]["discovery"]["mean_error"] == pytest.approx(squared.mean(),
                                                                          rel=1e-12)
    brazil = next(r for r in plain if r["segment"] == "country = BR")
    rows = (frame["country"] == "BR").to_numpy()
    assert brazil["value"] == pytest.approx(squared[rows].mean(), rel=1e-12)


def test_a_bootstrap_of_one_row_gives_no_interval(cli, workdir, frame_file) -> None:
    """ECE's and macro / weighted F1's bootstrap of a one-row segment repeats the row: an
    interval of zero width (which `--min-size 1` would read as 'significantly worse')."""
    (workdir / "evalctl.yaml").write_text(CONFIG + MULTICLASS_CONFIG)
    row = make_frame(1, seed=2)
    cards = make_multiclass_frame(1, seed=2)
    for model, frame in (("churn", row), ("cards", cards)):
        assert cli("ingest", str(frame_file(frame, f"{model}.parquet")), "--model", model,
                   "--version", "v1", "--env", "production").code == 0
    checks = (("churn", "ece", abs(row["label"][0] - row["score"][0])),
              ("cards", "macro_f1", f1_score(cards["card"], cards["predicted_card"],
                                             average="macro")),
              ("cards", "weighted_f1", f1_score(cards["card"], cards["predicted_card"],
                                                average="weighted")))
    for model, metric, expected in checks:
        doc = warning_free(cli, "slices", "--model", model, "--selector", "production",
                           "--metric", metric, "--min-size", "1").json()
        (overall,) = [r for r in doc["results"] if r["slice"] == "overall"]
        assert overall["n"] == 1 and overall["value"] == pytest.approx(expected, abs=1e-12)
        assert overall["ci_low"] is None and overall["ci_high"] is None, (model, metric)


def test_rmse_of_errors_whose_squares_underflow_is_null_not_0(cli, workdir, frame_file) -> None:
    """Errors of ~1e-300 square to 0: RMSE read 0 with the interval [0, 0] (below the MAE,
    which cannot be)."""
    rng = np.random.default_rng(5)
    regression_store(cli, workdir, frame_file, rng.normal(0, 1e-300, 400), np.zeros(400))
    for row in demand_slices(cli, "rmse").values():
        assert row["value"] is None and "underflow" in row["reason"], row
    for row in demand_slices(cli, "mae").values():
        assert row["value"] > 0
