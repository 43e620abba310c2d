"""Issue #14 item 2: one JSON Schema per command (schema_version 2), one summary and input
vocabulary, RFC 3339 timestamps with `Z`, and one worst-first rule for results."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from tests.helpers import CliResult, run_cli, schema_registry, shaped, validate_envelope

from evalctl.reports.model import (
    RESULT_STATUSES,
    SCHEMA_NAMES,
    SUMMARY_COUNTERS,
    Report,
    worst_status,
)

SCHEMAS = Path(__file__).parents[1] / "src" / "evalctl" / "schemas"
COMMANDS = ["init", "ingest", "ingest-actuals", "catalog", "batches", "batches remove", "gc",
            "erase", "files", "doctor", "config check", "skew", "drift", "slices", "validate",
            "compare", "rca", "export", "estimate", "monitor", "history", "metrics",
            "report",
            "profiles build"]
# schemas of documents that are not reports: the alert payload and the stored monitor runs
DOCUMENT_SCHEMAS = {"alert-payload.v1.json", "monitor-run.v1.json"}
M = ["--model", "tv-recommender"]
LATE = "production@2026-11-15..2026-11-30"
STAMP = re.compile(r"\d{4}-\d{2}-\d{2}T")
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")


def file_of(command: str) -> Path:
    return SCHEMAS / f"{SCHEMA_NAMES.get(command, command.replace(' ', '-'))}.v2.json"


# -- the published schemas --------------------------------------------------------------------
def test_every_command_has_its_schema_and_nothing_else_ships() -> None:
    shipped = {p.name for p in SCHEMAS.glob("*.json")}
    assert shipped == {"report.schema.json"} | {file_of(c).name for c in COMMANDS} \
        | DOCUMENT_SCHEMAS


@pytest.mark.parametrize("command", COMMANDS)
def test_each_schema_is_valid_and_builds_on_the_envelope(command: str) -> None:
    schema = json.loads(file_of(command).read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$id"] == f"https://evalctl.dev/schemas/{file_of(command).name}"
    assert {"$ref": "report.schema.json"} in schema["allOf"]
    assert schema["properties"]["command"] == {"const": command}
    assert schema["$defs"]["result"]["properties"]["status"]["$ref"].endswith("result_status")
    assert schema["description"].startswith(f"evalctl {command}")


def test_the_envelope_schema_is_version_2_and_names_insufficient() -> None:
    envelope = json.loads((SCHEMAS / "report.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(envelope)
    assert envelope["properties"]["schema_version"] == {"const": 2}
    assert set(envelope["$defs"]["result_status"]["enum"]) == set(RESULT_STATUSES)
    assert envelope["$defs"]["status"]["enum"] == ["pass", "warn", "fail", "error"]
    assert envelope["$defs"]["counters"]["required"] == list(SUMMARY_COUNTERS)


# -- the rule in the report model -------------------------------------------------------------
def test_results_are_worst_first_by_one_rule_and_stable_within_a_status() -> None:
    statuses = ["pass", "insufficient", "warn", "pass", "error", "fail", "insufficient", "warn"]
    rows = [shaped("export", {"status": s, "rows": i}) for i, s in enumerate(statuses)]
    report = Report(command="export", model="m", status="fail", results=rows,
                    summary={"windows": 3, "fail": 99})
    assert [(r["status"], r["rows"]) for r in report.results] == [
        ("fail", 5), ("error", 4), ("warn", 2), ("warn", 7), ("insufficient", 1),
        ("insufficient", 6), ("pass", 0), ("pass", 3)]
    assert report.summary == {"results": 8, "fail": 1, "error": 1, "warn": 2,
                              "insufficient": 2, "pass": 2, "windows": 3}
    assert list(report.summary)[:6] == list(SUMMARY_COUNTERS)


def test_insufficient_never_sets_the_report_status() -> None:
    assert worst_status(["insufficient", "pass"]) == "pass"
    assert worst_status(["insufficient"]) == "pass"
    assert worst_status(["insufficient", "error"]) == "error"
    assert worst_status(["insufficient", "warn", "pass"]) == "warn"


def test_timestamps_are_rfc3339_with_z_and_dates_stay_dates() -> None:
    from datetime import UTC, date, datetime, timedelta, timezone

    doc = Report(command="estimate", model="m", status="pass", results=[shaped("estimate", {
        "section": "windows", "status": "pass", "window_start": datetime(2026, 11, 15),
        "window_end": datetime(2026, 11, 15, 1, 30, tzinfo=timezone(timedelta(hours=1))),
        "realized": datetime(2026, 11, 15, 0, 0, 0, 250000), "metric": date(2026, 11, 15)})],
        generated_at=datetime(2026, 11, 26, 10, 0, 0, 999, tzinfo=UTC)).to_dict()
    row = doc["results"][0]
    assert row["window_start"] == "2026-11-15T00:00:00Z"
    assert row["window_end"] == "2026-11-15T00:30:00Z"
    assert row["realized"] == "2026-11-15T00:00:00.250000Z"
    assert row["metric"] == "2026-11-15"
    assert doc["generated_at"] == "2026-11-26T10:00:00Z"
    assert doc["$schema"] == "https://evalctl.dev/schemas/estimate.v2.json"
    assert doc["schema_version"] == 2


# -- every command on the sample story --------------------------------------------------------
@pytest.fixture(scope="module")
def copy(story: Callable[..., CliResult], tmp_path_factory: pytest.TempPathFactory
         ) -> Callable[..., CliResult]:
    """A private copy of the story store: these runs remove, erase and write history."""
    root = tmp_path_factory.mktemp("schemas")
    store = root / "store"
    shutil.copytree(story.store, store)  # type: ignore[attr-defined]
    ids = root / "ids.csv"
    import polars as pl

    first = pl.read_parquet(story.data / "training.parquet")["request_id"][:3]  # type: ignore[attr-defined]
    ids.write_text("request_id\n" + "\n".join(first) + "\n")
    config = Path(__file__).parents[1] / "configs" / "evalctl.yaml"

    def invoke(*args: str) -> CliResult:
        return run_cli("--config", str(config), "--store", str(store), *args)

    invoke.root = root  # type: ignore[attr-defined]
    invoke.data = story.data  # type: ignore[attr-defined]
    return invoke


def story_runs(root: Path, data: Path, first_batch: str) -> list[tuple[str, list[str]]]:
    """(command, arguments) for every command, several modes each; mutating ones last."""
    return [
        ("catalog", ["catalog"]), ("batches", ["batches"]), ("doctor", ["doctor"]),
        ("files", ["files", *M, "--selector", "training"]),
        ("files", ["files", *M, "--actuals"]),
        ("config check", ["config", "check"]),
        ("skew", ["skew", *M, "--current", LATE]),
        ("profiles build", ["profiles", "build", *M]),
        ("skew", ["skew", *M, "--current", LATE]),
        ("skew", ["skew", *M, "--reference", "training:v2", "--current",
                  "production:v1@2026-11-01..2026-11-07", "--join-key", "request_id"]),
        ("drift", ["drift", *M, "--current", "production@2026-11-01..2026-11-30",
                   "--window", "1d"]),
        ("drift", ["drift", *M, "--current", LATE, "--windows", "3"]),
        ("slices", ["slices", *M, "--selector", LATE, "--top", "5", "--discover",
                    "--compare-to", "production@2026-11-01..2026-11-14"]),
        ("slices", ["slices", *M, "--selector", LATE]),
        ("validate", ["validate", *M, "--candidate", "v2", "--baseline", "v1"]),
        ("validate", ["validate", *M, "--candidate", "v2", "--baseline", "v1", "--top", "2"]),
        ("compare", ["compare", *M, "--champion", "v1", "--challenger", "v2", "--selector",
                     "production@2026-11-17..2026-11-30"]),
        ("rca", ["rca", *M, "--baseline", "production@2026-11-01..2026-11-14",
                 "--current", "production@2026-11-15..2026-11-25"]),
        ("estimate", ["estimate", *M, "--reference", "validation", "--current",
                      "production@2026-11-20..2026-11-30"]),
        ("export", ["export", *M, "--selector", LATE, "--segment", "age=[-inf,28)",
                    "--only-errors", "--out", str(root / "young.parquet")]),
        ("monitor", ["monitor", *M, "--date", "2026-11-16"]),
        ("monitor", ["monitor", *M, "--date", "2026-11-30"]),
        ("history", ["history", *M]),
        ("history", ["history", *M, "--check", "drift"]),
        ("metrics", ["metrics", *M]),
        ("report", ["report", *M, "--current", LATE]),
        ("ingest", ["ingest", str(data / "training.parquet"), *M, "--version", "v1",
                    "--env", "training"]),
        ("ingest-actuals", ["ingest-actuals", str(data / "actuals_late.csv"), *M]),
        ("erase", ["erase", *M, "--ids", str(root / "ids.csv"), "--dry-run"]),
        ("gc", ["gc", "--older-than", "30d", "--dry-run"]),
        ("gc", ["gc", "--older-than", "30d", "--env", "training"]),
        ("batches remove", ["batches", "remove", first_batch]),
        ("init", ["init", str(root / "fresh"), "--no-config"]),
    ]


def test_every_command_on_the_story_matches_its_schema(copy: Callable[..., CliResult]) -> None:
    first = _json(copy("batches", "-f", "json"))["results"][-1]["batch"]
    seen = set()
    for command, args in story_runs(copy.root, copy.data, first):  # type: ignore[attr-defined]
        result = copy(*args, "-f", "json")
        assert result.code in (0, 1), (args, result.stderr)
        doc = _json(result)
        assert doc["command"] == command
        assert doc["$schema"] == f"https://evalctl.dev/schemas/{file_of(command).name}"
        check_the_vocabulary(doc)
        seen.add(command)
    assert seen == set(COMMANDS)


def check_the_vocabulary(doc: dict[str, Any]) -> None:
    """What the issue asks of every report, beyond its schema."""
    ranks = [RESULT_STATUSES.index(r["status"]) for r in doc["results"]]
    assert ranks == sorted(ranks), doc["command"]
    counters = {s: sum(r["status"] == s for r in doc["results"]) for s in RESULT_STATUSES}
    assert list(doc["summary"])[:6] == list(SUMMARY_COUNTERS)
    assert doc["summary"] == doc["summary"] | {"results": len(doc["results"]), **counters}
    for side in ("reference", "current", "selection"):
        if isinstance(doc["inputs"].get(side), dict):
            assert {"selector", "rows", "versions", "dates", "warnings"} <= set(
                doc["inputs"][side])
    for text in strings(doc):
        if STAMP.match(text) and len(text) < 40:
            assert RFC3339.match(text), (doc["command"], text)


def strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in strings(v)]
    return []


def _json(result: CliResult) -> dict[str, Any]:
    return result.json()  # validated against the schema its `$schema` names


# -- edge cases -------------------------------------------------------------------------------
BAD = {"skew": ["skew", *M, "--current", "production:v9"],
       "drift": ["drift", *M, "--current", "production:v9"],
       "slices": ["slices", *M, "--selector", "production:v9"],
       "validate": ["validate", *M, "--candidate", "v9", "--baseline", "v1"],
       "compare": ["compare", *M, "--champion", "v1", "--challenger", "v9", "--selector",
                   "production"],
       "rca": ["rca", *M, "--baseline", "production:v9", "--current", "production"],
       "estimate": ["estimate", *M, "--current", "production:v9"],
       "export": ["export", *M, "--selector", "production:v9", "--out", "x.parquet"],
       "files": ["files", "--model", "nobody", "--selector", "training"],
       "history": ["history", "--model", "nobody"],
       "catalog": ["catalog", "--model", "nobody"]}


@pytest.mark.parametrize("command", sorted(BAD))
def test_the_error_envelope_is_valid_under_the_commands_schema(
        copy: Callable[..., CliResult], command: str) -> None:
    result = copy(*BAD[command], "-f", "json")
    assert result.code == 2, result.stderr
    doc = _json(result)
    assert doc["status"] == "error" and doc["results"] == [] and doc["summary"] == {}
    assert doc["$schema"] == f"https://evalctl.dev/schemas/{file_of(command).name}"


def test_an_error_before_a_command_names_the_envelope_schema() -> None:
    result = run_cli("no-such-command", "-f", "json")
    assert result.code == 2
    doc = json.loads(result.stdout)
    validate_envelope(doc)
    assert doc["$schema"] == "https://evalctl.dev/schemas/report.schema.json"


def test_the_schemas_refuse_what_scripts_must_not_see(copy: Callable[..., CliResult]) -> None:
    doc = _json(copy("drift", *M, "--current", LATE, "--window", "1d", "-f", "json"))
    row = next(r for r in doc["results"] if r["onset"])
    broken: list[dict[str, Any]] = [
        doc | {"schema_version": 1},
        doc | {"results": [row | {"onset": row["onset"].removesuffix("Z")}]},
        doc | {"results": [{k: v for k, v in row.items() if k != "onset"}]},
        doc | {"results": [row | {"status": "bad"}]},
        doc | {"summary": {"checked": 9}},
        doc | {"inputs": doc["inputs"] | {"current": {"selector": "production"}}},
        doc | {"error": {"kind": "input"}},
        doc | {"command": "skew"},
    ]
    for bad in broken:
        with pytest.raises(jsonschema.ValidationError):
            validate_envelope(bad)


def test_a_schema_resolves_offline_from_the_package() -> None:
    registry = schema_registry()
    for command in COMMANDS:
        uri = f"https://evalctl.dev/schemas/{file_of(command).name}"
        assert registry.contents(uri) == json.loads(file_of(command).read_text())


def test_the_readme_validation_example_runs(copy: Callable[..., CliResult], tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    found = re.search(r"<!-- json-schema-example -->\n```python\n(.*?)```", readme, re.S)
    assert found, "README has no json-schema-example block"
    monkeypatch.chdir(tmp_path)
    report = copy("skew", *M, "--current", LATE, "-f", "json")
    (tmp_path / "skew.json").write_text(report.stdout)
    exec(compile(found.group(1), "README.md", "exec"), {})
    (tmp_path / "skew.json").write_text(report.stdout.replace('"schema_version": 2',
                                                              '"schema_version": 1'))
    with pytest.raises(jsonschema.ValidationError):
        exec(compile(found.group(1), "README.md", "exec"), {})
