"""Wording that cannot mislead (issue #12, item 9): direction-aware changes, one unit for
"explains", a reason when a share exceeds the whole change."""

from __future__ import annotations

import re

import numpy as np
import polars as pl
import pytest
from tests.helpers import make_frame

from evalctl.analyses.performance import LOWER_IS_BETTER, gap_text, moved_text
from evalctl.analyses.rca_findings import explains_text

M = ["--model", "tv-recommender"]


@pytest.mark.parametrize("metric", sorted(LOWER_IS_BETTER))
def test_a_lower_is_better_metric_that_rises_rose(metric: str) -> None:
    assert moved_text(metric, 0.3725, 0.5207) == f"{metric} rose 0.3725 → 0.5207"
    assert moved_text(metric, 0.5207, 0.3725) == f"{metric} fell 0.5207 → 0.3725"


def test_signed_gaps_read_as_worse_or_better() -> None:
    assert gap_text(-0.1483) == "0.148 worse"
    assert gap_text(0.02, digits=2) == "0.02 better"
    assert gap_text(0.0) == "no different"


def test_validate_says_log_loss_worsened_not_dropped(cli, frame_file) -> None:
    base = make_frame(600, seed=3)
    flip = pl.Series(np.random.default_rng(1).random(base.height) < 0.4)
    worse = base.with_columns(pl.when(flip).then(1 - pl.col("score")).otherwise(pl.col("score"))
                              .alias("score"))
    worse = worse.with_columns((pl.col("score") >= 0.5).cast(pl.Int64).alias("predicted_label"))
    for version, frame in (("v1", base), ("v2", worse)):
        cli("ingest", "--model", "churn", "--version", version, "--env", "validation",
            str(frame_file(frame, f"{version}.parquet")))
    doc = cli("validate", "--model", "churn", "--candidate", "v2", "--baseline", "v1").json()
    failed = {r["metric"]: r for r in doc["results"]
              if r["slice"] == "overall" and r["status"] == "fail"}
    log_loss = failed["log_loss"]
    assert log_loss["candidate"] > log_loss["baseline"]
    rise = log_loss["candidate"] - log_loss["baseline"]
    assert log_loss["why"].startswith(f"worsened by {rise:.4f}")
    assert f"log_loss rose {log_loss['baseline']:.4f} → {log_loss['candidate']:.4f}" in \
        log_loss["why"]
    assert "accuracy fell" in failed["accuracy"]["why"]
    text = " ".join([*(r.get("why") or "" for r in doc["results"]), *doc["recommendations"]])
    assert "dropped" not in text


def test_explains_beyond_the_whole_change_says_why() -> None:
    text = explains_text(1.4, "its performance and interaction terms (+0.0100, +0.0020)",
                         "accuracy")
    assert text.startswith("explains 140% of the change — more than all of it because its "
                           "performance and interaction terms (+0.0100, +0.0020) moved "
                           "accuracy the other way")
    assert "offsetting" in text
    assert explains_text(0.72, "x", "accuracy") == "explains 72% of the change"
    assert "the other way" in explains_text(-0.3, "x", "accuracy")
    assert explains_text(-0.001, "x", "accuracy") == "explains under 1% of the change"


def test_rca_states_explains_in_percent_everywhere(story) -> None:
    doc = story("rca", *M, "--baseline", "production@2026-11-01..2026-11-14", "--current",
                "production@2026-11-15..2026-11-25").json()
    assert not any("explained" in r for r in doc["results"])  # the old fraction is gone
    assert "explained" not in doc["summary"]
    age = next(r for r in doc["results"] if r.get("section") == "causes")
    (segment,) = [r for r in doc["results"] if r.get("section") == "segments"]
    assert age["feature"] == "age" and 50 < segment["explained_pct"] < age["explained_pct"]
    if age["explained_pct"] > 100:  # at this scale the mix over-explains: offsetting terms
        assert "more than all of it because its performance and interaction terms" in \
            age["finding"]
    assert doc["summary"]["explained_pct"] == age["explained_pct"]
    whole, part = f"{age['explained_pct']:.0f}%", f"{segment['explained_pct']:.0f}%"
    assert whole in age["finding"]
    assert f"{segment['segment']} alone explains {part}" in age["finding"]
    assert f"explains {part} of the change" in segment["finding"]
    rec = next(r for r in doc["recommendations"] if r.startswith(segment["segment"]))
    assert f"explains {part}" in rec
    # no bare fraction for "explains" anywhere in the words
    words = " ".join([*doc["recommendations"], *(r.get("finding", "") for r in doc["results"])])
    assert not re.search(r"explains 0\.\d", words)
    table = story("rca", *M, "--baseline", "production@2026-11-01..2026-11-14", "--current",
                  "production@2026-11-15..2026-11-25", "-f", "table").stdout
    assert "explains %" in table
