"""`evalctl monitor` and `evalctl history` on the sample story and edge cases."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.helpers import make_frame
from tests.helpers import validate_envelope as validate

from evalctl.render.cells import sparkline

M = ["--model", "tv-recommender"]


def rows_of(doc: dict, check: str) -> list[dict]:
    return [r for r in doc["results"] if r["check"] == check]


@pytest.fixture(scope="module")
def monitored(story, tmp_path_factory):
    """Monitor three windows of the story (before, at and after the flood)."""
    out = tmp_path_factory.mktemp("alerts")
    docs = {}
    for day in ("2026-11-10", "2026-11-20", "2026-11-30"):
        result = story("monitor", *M, "--date", day, "--alerts", str(out / f"{day}.jsonl"))
        assert result.code == 1, result.stderr
        docs[day] = result.json()
    return docs, out


def test_monitor_runs_every_check(monitored) -> None:
    docs, _ = monitored
    doc = docs["2026-11-30"]
    validate(doc)
    assert {r["check"] for r in doc["results"]} >= {
        "volume", "freshness", "labels", "drift", "performance", "slices", "proxies",
        "retraining"}
    labels = rows_of(doc, "labels")[0]
    assert labels["coverage"] == 1.0 and 24 <= labels["latency_hours"] <= 72
    perf = rows_of(doc, "performance")[0]
    assert perf["status"] == "fail" and perf["source"] == "realised"
    drift = {r["feature"]: r for r in rows_of(doc, "drift")}
    assert drift["age"]["status"] == "fail" and drift["age"]["windows_crossed_in_a_row"] == 7
    decision = rows_of(doc, "retraining")[0]
    assert decision["value"] == "retrain now"
    assert decision["evidence"]["new_labels"] > 1000
    assert doc["recommendations"][0].startswith("retrain now")


def test_before_the_flood_only_the_unit_bug_alerts(monitored) -> None:
    docs, _ = monitored
    doc = docs["2026-11-10"]
    drift = {r["feature"]: r["status"] for r in rows_of(doc, "drift")}
    assert drift["watch_minutes_7d"] == "fail" and drift["age"] == "pass"
    assert rows_of(doc, "performance")[0]["status"] == "pass"
    assert rows_of(doc, "volume")[0]["status"] == "pass"


def test_rerunning_a_window_replaces_it_and_raises_no_new_alerts(story, monitored,
                                                                 tmp_path: Path) -> None:
    alerts = tmp_path / "again.jsonl"
    result = story("monitor", *M, "--date", "2026-11-30", "--alerts", str(alerts))
    assert result.code == 1 and alerts.read_text() == ""
    folder = story.store / "results" / "model=tv-recommender" / "check=drift" / \
        "date=2026-11-30"
    assert len(list(folder.glob("run-*.json"))) == 1


def test_alerts_are_json_lines(monitored) -> None:
    _, out = monitored
    lines = [json.loads(line) for line in (out / "2026-11-30.jsonl").read_text().splitlines()]
    assert lines and {"check", "feature", "window", "value", "threshold"} <= set(lines[0])
    assert any(a["check"] == "drift" and a["feature"] == "age" for a in lines)


def test_history_reads_the_series_back(story, monitored) -> None:
    result = story("history", *M, "--check", "drift", "--feature", "age")
    doc = result.json()
    validate(doc)
    (row,) = doc["results"]
    assert [p["window_start"] for p in row["series"]] == ["2026-11-10", "2026-11-20",
                                                          "2026-11-30"]
    assert [p["status"] for p in row["series"]] == ["pass", "fail", "fail"]
    assert result.code == 0  # history reports; it does not gate by default
    table = story("history", *M, "--check", "performance", "-f", "table").stdout
    assert "performance" in table and "█" in table  # scaled from zero: high and flat
    assert story("history", *M, "--since", "2026-11-15", "-f", "json").json()[
        "summary"]["windows"] == 2


def test_a_missing_day_is_a_broken_source(cli, frame_file) -> None:
    cli("ingest", "--model", "churn", "--version", "v1", "--env", "training",
        str(frame_file(make_frame(300, prefix="t"), "t.parquet")))
    cli("ingest", "--model", "churn", "--version", "v1", "--env", "production",
        str(frame_file(make_frame(300), "p.parquet")))
    doc = cli("monitor", "--date", "2026-11-09").json()
    volume = rows_of(doc, "volume")[0]
    assert volume["status"] == "fail" and "broken upstream" in volume["summary"]
    assert doc["status"] == "fail"


def test_history_without_runs_is_exit_2(cli) -> None:
    result = cli("history", "--model", "churn")
    assert result.code == 2 and "no monitor history" in result.stderr


def test_sparkline_scales_min_to_max() -> None:
    assert sparkline([0.8, 0.9, None, 1.0]) == "▁▅ █"
    assert sparkline([2.0, 2.0]) == "▁▁"


def test_a_drift_alert_raised_by_a_quality_check_says_so(cli, frame_file) -> None:
    from tests.helpers import missing_minutes

    missing_minutes(cli, frame_file)
    doc = cli("monitor", "--date", "2026-11-04").json()
    validate(doc)
    minutes = next(r for r in rows_of(doc, "drift") if r["feature"] == "minutes")
    assert minutes["status"] == "fail" and minutes["value"] < minutes["threshold"]
    assert minutes["decided_by"]["check"] == "null_rate_change"
    assert "set by the data-quality check null_rate_change" in minutes["summary"]
    assert "drifting" not in minutes["summary"]
    decision = rows_of(doc, "retraining")[0]
    assert decision["evidence"]["sustained_drift"] == []  # a pipeline matter, not a retrain
    assert decision["evidence"]["data_quality"] == ["minutes"]
    assert "performance was not judged" in decision["summary"]  # no validation reference
    assert any("no reason to retrain" in r for r in doc["recommendations"])
    table = cli("monitor", "--date", "2026-11-04", "-f", "table").stdout
    assert "decided by" in table
    history = cli("history", "--model", "churn", "--check", "drift", "--feature", "minutes")
    (series,) = history.json()["results"]
    assert series["decided_by"]["check"] == "null_rate_change"
    assert series["series"][-1]["decided_by"]["check"] == "null_rate_change"
    assert "decided by" in cli("history", "--model", "churn", "-f", "table").stdout


def test_a_window_without_rows_is_reported_not_passed(cli, frame_file) -> None:
    cli("ingest", "--model", "churn", "--version", "v1", "--env", "production",
        str(frame_file(make_frame(300), "p.parquet")))
    result = cli("monitor", "--date", "2026-11-20")
    doc = result.json()
    validate(doc)
    assert result.code == 1 and doc["status"] == "fail"
    decision = rows_of(doc, "retraining")[0]
    assert decision["status"] == "insufficient" and decision["value"] == "nothing to judge"
    assert "no production rows" in decision["reason"]
    assert doc["recommendations"][0].startswith("nothing to judge")
    assert "within tolerance" not in " ".join(doc["recommendations"])
    assert not any(r["status"] == "pass" for r in doc["results"]
                   if r["check"] not in ("freshness",))


def test_the_run_says_where_each_models_drift_came_from() -> None:
    """`inputs.engine`: profiles only when every model's drift merged them; the reason names
    each model's when there are several; nothing when no drift ran."""
    from evalctl.analyses.monitor import engine_inputs

    served = {"engine": "profiles", "engine_reason": "profiles on reference r cover it"}
    scanned = {"engine": "scan", "engine_reason": "--engine scan"}
    rows = "; labels, performance and slices read the window's rows"
    assert engine_inputs({}) == {}
    assert engine_inputs({"a": served}) == {
        "engine": "profiles", "engine_reason": "drift: profiles on reference r cover it" + rows}
    assert engine_inputs({"a": served, "b": scanned}) == {
        "engine": "scan",
        "engine_reason": "a drift: profiles on reference r cover it; b drift: --engine scan" + rows}
    assert engine_inputs({"a": served, "b": served})["engine"] == "profiles"
