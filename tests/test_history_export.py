"""The monitor's history for dashboards: run files valid under their schema, the README's
DuckDB query (run as written there), and `history --format csv`."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
from pathlib import Path

import duckdb
import jsonschema
import pytest
from tests.helpers import REPO, STORY_CONFIG, run_cli, schema_registry

M = ["--model", "tv-recommender"]
DAYS = ("2026-11-14", "2026-11-15", "2026-11-30")


@pytest.fixture(scope="module")
def history(story, tmp_path_factory):
    """A copy of the story's store with three monitored windows (one run twice)."""
    store = tmp_path_factory.mktemp("history") / "store"
    shutil.copytree(story.store, store)
    for day in (*DAYS, DAYS[-1]):
        result = run_cli("--config", str(STORY_CONFIG), "--store", str(store), "monitor", *M,
                         "--date", day, "--no-notify", "-f", "json")
        assert result.code == 1, result.stderr
    doc = run_cli("--store", str(store), "--config", str(STORY_CONFIG), "history", *M,
                  "-f", "json").json()
    return store, doc


def points(doc: dict) -> dict[tuple[str, str, str], tuple[str, float | None]]:
    """(check, feature, window) -> (status, value) from history's JSON."""
    return {(r["check"], r["feature"] or "", p["window_start"]): (p["status"], p["score"])
            for r in doc["results"] for p in r["series"]}


def readme_sql() -> str:
    text = (REPO / "README.md").read_text()
    match = re.search(r"<!-- duckdb-history-example -->\n```sql\n(.*?)```", text, re.S)
    assert match, "README lost its DuckDB example"
    return match.group(1)


def test_run_files_validate_against_their_schema(history) -> None:
    store, _ = history
    registry = schema_registry()
    schema = registry.contents("https://evalctl.dev/schemas/monitor-run.v1.json")
    validator = jsonschema.Draft202012Validator(schema, registry=registry)
    files = sorted((store / "results").glob("model=*/check=*/date=*/run-*.json"))
    assert len(files) >= 3 * 8 - 2
    for path in files:
        doc = json.loads(path.read_text())
        validator.validate(doc)
        assert doc["$schema"] == schema["$id"]
        assert path.parent.name == f"date={doc['window']}"


def test_the_readme_duckdb_query_runs_and_agrees_with_history(history) -> None:
    store, doc = history
    sql = readme_sql().replace("'evalstore/results/", f"'{store}/results/")
    rows = duckdb.sql(sql).fetchall()
    got = {(check, feature or "", str(window)): (status, value)
           for model, check, window, feature, status, value, _ in rows}
    assert {r[0] for r in rows} == {"tv-recommender"}
    expected = points(doc)
    assert set(got) == set(expected)
    for key, (status, value) in expected.items():
        assert got[key][0] == status
        assert got[key][1] == pytest.approx(value) if value is not None else got[key][1] is None
    assert len(rows) == len(got)  # the re-run window counted once


def test_history_csv_is_the_series_flat(history, tmp_path: Path) -> None:
    store, doc = history
    base = ["--store", str(store), "--config", str(STORY_CONFIG), "history", *M]
    result = run_cli(*base, "--format", "csv")
    assert result.code == 0, result.stderr
    table = list(csv.DictReader(io.StringIO(result.stdout)))
    assert list(table[0]) == ["model", "check", "feature", "window", "status", "value",
                              "decided_by"]
    got = {(r["check"], r["feature"], r["window"]): (r["status"],
                                                     float(r["value"]) if r["value"] else None)
           for r in table}
    assert got == points(doc) and len(table) == len(got)
    assert [r["window"] for r in table] == sorted(r["window"] for r in table)
    out = tmp_path / "h.csv"
    assert run_cli(*base, "-o", str(out)).code == 0
    assert out.read_text() == result.stdout
    drift = run_cli(*base, "--check", "drift", "-f", "csv").stdout
    assert {r["check"] for r in csv.DictReader(io.StringIO(drift))} == {"drift"}
