"""What was compared is always shown: each side's selector, versions, dates and rows in the
JSON inputs, the table and the markdown, with warnings when a selection mixes versions or
exports of different shapes."""

from __future__ import annotations

from datetime import datetime

import jsonschema
import pytest
from tests.helpers import make_frame
from tests.helpers import validate_envelope as validate

SKEW = ["skew", "--model", "churn", "--reference", "training", "--current", "production",
        "--fail-on", "never"]


def ingest(cli, frame_file, frame, name: str, version: str, env: str) -> None:
    result = cli("ingest", "--model", "churn", "--version", version, "--env", env,
                 str(frame_file(frame, name)))
    assert result.code == 0, result.stderr


def test_inputs_state_versions_dates_rows_and_warn_about_mixed_versions(cli, frame_file):
    ingest(cli, frame_file, make_frame(300, seed=1, prefix="a"), "t1.parquet", "v1", "training")
    ingest(cli, frame_file, make_frame(100, seed=2, prefix="b", start=datetime(2026, 11, 10),
                                       days=2), "t2.parquet", "v2", "training")
    ingest(cli, frame_file, make_frame(200, seed=3, prefix="c"), "p.parquet", "v1",
           "production")
    doc = cli(*SKEW, "-f", "json").json()
    validate(doc)
    reference, current = doc["inputs"]["reference"], doc["inputs"]["current"]
    assert reference["versions"] == ["v1", "v2"] and reference["rows"] == 400
    assert reference["dates"] == ["2026-11-01", "2026-11-11"]
    assert reference["warnings"] == [
        "training mixes 2 model versions (v1 300 rows, v2 100 rows); "
        "name one to compare a single model, e.g. training:v1"]
    assert current == {"selector": "production", "rows": 200, "versions": ["v1"],
                       "dates": ["2026-11-01", "2026-11-04"], "warnings": []}

    table = cli(*SKEW, "-f", "table").stdout
    lines = table.splitlines()
    assert lines[1].split() == ["reference", "training", "->", "v1,", "v2", "·",
                                "2026-11-01..2026-11-11", "·", "400", "rows"]
    assert lines[2].split()[:4] == ["current", "production", "->", "v1"]
    assert "! training mixes 2 model versions" in table
    markdown = cli(*SKEW, "-f", "markdown").stdout
    assert "- **reference** training -> v1, v2 · 2026-11-01..2026-11-11 · 400 rows" in markdown
    assert "- ! training mixes 2 model versions" in markdown


def test_a_version_and_a_range_resolve_without_warnings(cli, frame_file) -> None:
    ingest(cli, frame_file, make_frame(300, seed=1, prefix="a"), "t1.parquet", "v1", "training")
    ingest(cli, frame_file, make_frame(100, seed=2, prefix="b"), "t2.parquet", "v2", "training")
    ingest(cli, frame_file, make_frame(200, seed=3, prefix="c"), "p.parquet", "v1",
           "production")
    doc = cli("drift", "--model", "churn", "--reference", "training:v2", "--current",
              "production@2026-11-02..2026-11-03", "--fail-on", "never", "-f", "json").json()
    validate(doc)
    assert doc["inputs"]["reference"]["versions"] == ["v2"]
    assert doc["inputs"]["reference"]["warnings"] == []
    assert doc["inputs"]["current"]["dates"] == ["2026-11-02", "2026-11-03"]


def test_exports_of_different_shapes_are_a_warning(cli, frame_file) -> None:
    ingest(cli, frame_file, make_frame(300, seed=1, prefix="a"), "full.parquet", "v1",
           "training")
    ingest(cli, frame_file, make_frame(100, seed=2, prefix="b").drop("label", "clicked"),
           "bare.parquet", "v1", "training")
    ingest(cli, frame_file, make_frame(200, seed=3, prefix="c"), "p.parquet", "v1",
           "production")
    doc = cli(*SKEW, "-f", "json").json()
    validate(doc)
    (warning,) = doc["inputs"]["reference"]["warnings"]
    batch = next(b["batch"] for b in cli("batches", "-f", "json").json()["results"]
                 if b["rows"] == 100)
    assert warning == (f"training: 100 of 400 rows carry no clicked, label (their export "
                       f"lacked it: batch {batch[:8]} v1)")
    assert f"! {warning}" in " ".join(cli(*SKEW, "-f", "table").stdout.split())


def test_the_story_training_reference_mixes_v1_and_v2(story) -> None:
    doc = story("skew", "--model", "tv-recommender", "--current",
                "production@2026-11-15..2026-11-30", "--fail-on", "never", "-f", "json").json()
    validate(doc)
    reference = doc["inputs"]["reference"]
    assert reference["selector"] == "training" and reference["versions"] == ["v1", "v2"]
    assert reference["warnings"][0].startswith("training mixes 2 model versions")


def test_the_schema_checks_the_sides() -> None:
    side = {"selector": "training", "rows": 10, "versions": ["v1"],
            "dates": ["2026-11-01", "2026-11-02"], "warnings": []}
    counters = {"results": 0, "fail": 0, "error": 0, "warn": 0, "insufficient": 0, "pass": 0}
    envelope = {"$schema": "https://evalctl.dev/schemas/skew.v2.json", "schema_version": 2,
                "evalctl_version": "0", "command": "skew", "model": "m",
                "generated_at": "2026-11-26T10:00:00Z", "status": "pass",
                "inputs": {"reference": side, "current": side}, "results": [],
                "summary": counters, "recommendations": []}
    validate(envelope)
    for bad in ({"rows": 10}, side | {"warnings": "none"}, side | {"dates": ["2026-11-01"]},
                side | {"dates": ["2026-11-01T00:00:00", "2026-11-02"]}):
        with pytest.raises(jsonschema.ValidationError):
            validate(envelope | {"inputs": {"reference": side, "current": bad}})


def test_slices_state_both_selections(story) -> None:
    args = ["slices", "--model", "tv-recommender", "--selector",
            "production@2026-11-15..2026-11-25", "--compare-to",
            "production@2026-11-01..2026-11-14", "--top", "2"]
    doc = story(*args, "-f", "json").json()
    validate(doc)
    selection, earlier = doc["inputs"]["selection"], doc["inputs"]["compare_to"]
    assert selection["versions"] == ["v1"] and selection["warnings"] == []
    assert selection["dates"] == ["2026-11-15", "2026-11-25"] and selection["labelled"] > 0
    assert earlier["dates"] == ["2026-11-01", "2026-11-14"] and earlier["rows"] > 0
    lines = story(*args, "-f", "table").stdout.splitlines()
    assert lines[1].startswith("selection   production@2026-11-15..2026-11-25 -> v1 · "
                               "2026-11-15..2026-11-25 · ")
    assert lines[2].startswith("compare to  production@2026-11-01..2026-11-14 -> v1 · ")


def test_export_states_its_selection(cli, frame_file, workdir) -> None:
    ingest(cli, frame_file, make_frame(200, seed=3, prefix="c"), "p.parquet", "v1",
           "production")
    doc = cli("export", "--model", "churn", "--selector", "production@2026-11-02..",
              "--out", str(workdir / "out.parquet"), "-f", "json").json()
    validate(doc)
    assert doc["inputs"]["selection"]["versions"] == ["v1"]
    assert doc["inputs"]["selection"]["dates"] == ["2026-11-02", "2026-11-04"]
