"""`monitor --prometheus FILE` and `evalctl metrics`: gauges that Prometheus' own parsers
read, with values equal to the report's."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)
from prometheus_client.parser import text_string_to_metric_families
from tests.helpers import STORY_CONFIG, run_cli

from evalctl.alerts.prometheus import FAMILIES, ModelRun, exposition, samples

M = ["--model", "tv-recommender"]


@pytest.fixture(scope="module")
def monitored(story, tmp_path_factory):
    """A copy of the story's store after `monitor --date 2026-11-30 --prometheus`."""
    root = tmp_path_factory.mktemp("prom")
    store = root / "store"
    shutil.copytree(story.store, store)
    prom = root / "textfile" / "evalctl.prom"
    prom.parent.mkdir()
    prom.write_text("old content\n")
    result = run_cli("--config", str(STORY_CONFIG),
                     "--store", str(store), "monitor", *M, "--date", "2026-11-30",
                     "--prometheus", str(prom), "-f", "json")
    assert result.code == 1, result.stderr
    return store, prom, result.json()


def by_labels(families) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for f in families for s in f.samples}


def test_the_textfile_parses_and_matches_the_report(monitored) -> None:
    _, prom, doc = monitored
    text = prom.read_text()
    assert not [p for p in prom.parent.iterdir() if p.name != "evalctl.prom"]  # no temp left
    got = by_labels(text_string_to_metric_families(text))
    families = {f.name: f.type for f in text_string_to_metric_families(text)}
    assert set(families) <= set(FAMILIES) and set(families.values()) == {"gauge"}
    m = "tv-recommender"
    for row in doc["results"]:
        labels = (("check", row["check"]), ("feature", row["feature"] or ""), ("model", m))
        code = {"pass": 0, "warn": 1, "fail": 2, "error": 3, "insufficient": -1}[row["status"]]
        assert got[("evalctl_check_status", labels)] == code
        if isinstance(row["value"], int | float) and not isinstance(row["value"], bool):
            assert got[("evalctl_check_score", labels)] == pytest.approx(row["value"],
                                                                          rel=1e-12)
        else:
            assert ("evalctl_check_score", labels) not in got
    volume = next(r for r in doc["results"] if r["check"] == "volume")
    labels_row = next(r for r in doc["results"] if r["check"] == "labels")
    perf = next(r for r in doc["results"] if r["check"] == "performance")
    assert got[("evalctl_rows", (("model", m),))] == volume["value"]
    assert got[("evalctl_label_coverage", (("model", m),))] == labels_row["coverage"]
    assert got[(f"evalctl_{perf['source']}_metric",
                (("metric", perf["feature"]), ("model", m)))] == pytest.approx(perf["value"])
    assert got[("evalctl_model_status", (("model", m),))] == 2
    assert got[("evalctl_window_timestamp_seconds", (("model", m),))] == 1795996800  # 11-30
    run_at = doc["inputs"]["run_at"]
    assert got[("evalctl_last_run_timestamp_seconds", (("model", m),))] == \
        datetime.fromisoformat(run_at.replace("Z", "+00:00")).timestamp()


def test_metrics_prints_the_same_as_openmetrics(monitored) -> None:
    store, prom, _ = monitored
    result = run_cli("--store", str(store), "metrics", *M)
    assert result.code == 0, result.stderr  # reports, never gates
    assert result.stdout.endswith("# EOF\n")
    from_history = by_labels(openmetrics_families(result.stdout))
    from_monitor = by_labels(text_string_to_metric_families(prom.read_text()))
    assert from_history == from_monitor
    assert result.stdout.removesuffix("# EOF\n") == prom.read_text()


def test_metrics_formats_and_files(monitored, tmp_path: Path) -> None:
    store, prom, _ = monitored
    out = tmp_path / "node" / "evalctl.prom"
    assert run_cli("--store", str(store), "metrics", "-o", str(out)).code == 0
    assert out.read_text() == prom.read_text()  # .prom: the textfile format
    doc = run_cli("--store", str(store), "metrics", "-f", "json").json()
    assert doc["command"] == "metrics" and doc["inputs"]["models"] == ["tv-recommender"]
    assert doc["summary"]["samples"] == len(doc["results"]) > 20
    assert exposition(doc["results"], openmetrics=False) == prom.read_text()
    gate = run_cli("--store", str(store), "metrics", "--fail-on", "fail", "-f", "json")
    assert gate.code == 1


def test_metrics_without_history_is_exit_2(cli) -> None:
    result = cli("metrics")
    assert result.code == 2 and "no monitor history" in result.stderr
    assert result.no_report()


def test_labels_are_escaped_and_non_finite_values_left_out() -> None:
    rows = [{"check": "slices", "feature": 'country="BR"\\x\nnew', "status": "warn",
             "value": 0.5, "threshold": float("nan")},
            {"check": "retraining", "feature": None, "status": "warn",
             "value": "retrain now", "threshold": None}]
    run = ModelRun("m", date(2026, 11, 30), datetime(2026, 12, 1, 6, tzinfo=UTC), rows)
    found = samples([run])
    text = exposition(found, openmetrics=True)
    families = list(openmetrics_families(text))
    got = by_labels(families)
    assert got[("evalctl_check_score", (("check", "slices"),
                                        ("feature", 'country="BR"\\x\nnew'), ("model", "m")))] \
        == 0.5
    assert not any(k[0] == "evalctl_check_threshold" for k in got)  # NaN: left out
    assert ("evalctl_check_status", (("check", "retraining"), ("feature", ""),
                                     ("model", "m"))) in got
    assert json.dumps(found)  # plain data
