"""Issue #14 item 1: every result row has one declared shape (fields, table columns, JSON
Schema); a row that does not fit raises; the committed schemas agree with the shapes; the
renderers take their columns from the shapes; too-small segments are `insufficient`."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from tests.helpers import commands, schema_registry, shaped

from evalctl.render import cells as cells_module
from evalctl.render import render_markdown
from evalctl.render.cells import columns_for, sections
from evalctl.reports import Report
from evalctl.reports.model import RESULT_STATUSES, sort_worst_first
from evalctl.reports.shape import (
    COMMON,
    NUMBER,
    STATUS,
    STRING,
    WORST_FIRST,
    Column,
    Field,
    Shape,
    ShapeError,
    Status,
    Use,
    View,
    common,
)
from evalctl.reports.shapes import SHAPES, commands_with_shapes, shape_for

REPO = Path(__file__).parents[1]
SCHEMAS = REPO / "src" / "evalctl" / "schemas"
GOLDEN = Path(__file__).parent / "golden" / "commands"
ENVELOPE = json.loads((SCHEMAS / "report.schema.json").read_text())
ALL_TYPES = frozenset({"string", "integer", "number", "boolean", "array", "object", "null"})


def schema_of(command: str) -> dict[str, Any]:
    from evalctl.reports.model import SCHEMA_NAMES

    name = SCHEMA_NAMES.get(command, command.replace(" ", "-"))
    return json.loads((SCHEMAS / f"{name}.v2.json").read_text())


# -- the status vocabulary --------------------------------------------------------------------
def test_status_is_a_str_enum_written_as_its_value_in_the_one_worst_first_order() -> None:
    assert Status.FAIL == "fail" and json.dumps({"status": Status.INSUFFICIENT}) == \
        '{"status": "insufficient"}'
    assert tuple(WORST_FIRST) == RESULT_STATUSES == ("fail", "error", "warn", "insufficient",
                                                     "pass")
    assert set(Status) == set(WORST_FIRST)
    assert set(ENVELOPE["$defs"]["result_status"]["enum"]) == {s.value for s in Status}
    rows = [{"status": s, "score": v} for s, v in
            (("pass", 9.0), (Status.INSUFFICIENT, 1.0), ("fail", 0.1), (Status.FAIL, 0.5))]
    assert [(r["status"], r["score"]) for r in sort_worst_first(rows)] == [
        ("fail", 0.5), ("fail", 0.1), ("insufficient", 1.0), ("pass", 9.0)]


# -- rows that do not fit their shape ---------------------------------------------------------
def drift_row() -> dict[str, Any]:
    return shaped("drift", {"status": "fail", "feature": "age", "score": 0.4})


def test_a_row_that_fits_its_shape_is_accepted() -> None:
    report = Report(command="drift", model="m", status="fail", results=[drift_row()])
    assert report.results[0]["feature"] == "age"


def test_a_renamed_key_raises_naming_it() -> None:
    row = drift_row()
    row["max"] = row.pop("max_score")
    with pytest.raises(ShapeError, match=r"FeatureVerdict.*undeclared keys \['max'\].*"
                                         r"lacks \['max_score'\]"):
        Report(command="drift", model="m", status="fail", results=[row])


@pytest.mark.parametrize("change", ["missing", "extra"])
def test_a_missing_or_undeclared_key_raises(change: str) -> None:
    row = drift_row()
    if change == "missing":
        del row["series"]
    else:
        row["series_v2"] = []
    with pytest.raises(ShapeError, match="lacks" if change == "missing" else "undeclared"):
        Report(command="drift", model="m", status="fail", results=[row])


def test_optional_fields_may_be_left_out_but_not_misspelt() -> None:
    row = shaped("monitor", {"status": "pass", "check": "volume"})
    assert "method" not in row  # optional in monitor's use of CheckRow
    Report(command="monitor", model="m", status="pass", results=[row])
    with pytest.raises(ShapeError, match="methd"):
        Report(command="monitor", model="m", status="pass", results=[row | {"methd": "psi"}])


@pytest.mark.parametrize(("command", "section"), [("skew", "distributions"), ("drift", "x"),
                                                  ("no-such-command", None), ("skew", None)])
def test_an_undeclared_section_or_command_raises(command: str, section: str | None) -> None:
    with pytest.raises(ShapeError, match="no result shape"):
        shape_for(command, section)
    row = {"status": "pass"} | ({"section": section} if section else {})
    with pytest.raises(ShapeError):
        Report(command=command, model=None, status="pass", results=[row])


def test_a_shape_refuses_columns_that_are_not_fields_and_repeated_fields() -> None:
    fields = (Field("status", STATUS), Field("score", NUMBER))
    use = (Use("x", None, "status score", "status, score"),)
    with pytest.raises(ShapeError, match="not fields"):
        Shape("Bad", "", fields, (Column("scores", "score"),), use)
    with pytest.raises(ShapeError, match="repeat"):
        Shape("Bad", "", (*fields, Field("score", STRING)), (), use)
    with pytest.raises(ShapeError, match="'scores' is not a field"):
        Shape("Bad", "", fields, (), (Use("x", None, "status scores", ""),))
    with pytest.raises(ShapeError, match="column 'score' is not a column"):
        Shape("Bad", "", fields, (Column("status", "status"),),
              (Use("x", None, "status score", "status, score"),))


def test_a_use_takes_a_subset_of_fields_and_columns_with_its_own_headers() -> None:
    shape = Shape("S", "", (Field("status", STATUS), Field("score", NUMBER, "x", null=True),
                            Field("note", STRING)),
                  (Column("status", "status", 0), Column("score", "score", 1)),
                  (Use("a", None, "status score! ?note", "score=latest@0/words, status"),
                   Use("b", "s", "status score", "status")))
    a, b = shape.view("a", None), shape.view("b", "s")
    assert a.required == {"status", "score"} and a.keys == {"status", "score", "note"}
    assert a.json_schema()["properties"]["score"]["type"] == "number"
    assert b.json_schema()["properties"]["score"]["type"] == ["number", "null"]
    assert a.columns == (Column("score", "latest", 0, "words"), Column("status", "status", 0))
    assert b.columns == (Column("status", "status", 0),) and shape.rows_of == (("a", None),
                                                                             ("b", "s"))
    with pytest.raises(ShapeError, match="no use"):
        shape.view("c", None)
    assert common("status reason") == (COMMON["status"], COMMON["reason"])
    with pytest.raises(ShapeError, match="no common field"):
        common("status statuss")


def test_a_field_and_a_column_are_declared_once_for_every_command() -> None:
    """A handful of shared shapes, each serving several commands or sections; every field and
    column of a shape is used by one of them."""
    assert len(SHAPES) <= 7 and all(len(shape.uses) >= 2 for shape in SHAPES)
    for shape in SHAPES:
        used = {spec.strip("?!") for use in shape.uses for spec in use.fields.split()}
        assert used == {f.name for f in shape.fields}, shape.name
        shown = {part.strip().split("=")[0].split("@")[0].split("/")[0]
                 for use in shape.uses for part in use.columns.split(",")}
        assert shown == {c.key for c in shape.columns}, shape.name
    own = Counter((f.name, f.type, f.null, f.meaning) for shape in SHAPES for f in shape.fields
                  if f is not COMMON.get(f.name))
    assert [k for k, n in own.items() if n > 1] == [], "declared alike twice: put it in COMMON"
    assert all(any(f is field for s in SHAPES for f in s.fields) for field in COMMON.values())


# -- the declarations -------------------------------------------------------------------------
def test_every_command_declares_its_shapes_and_every_shape_is_used() -> None:
    published = {schema_of(p.name.removesuffix(".v2.json"))["properties"]["command"]["const"]
                 for p in SCHEMAS.glob("*.v2.json")}
    assert commands_with_shapes() == published >= set(commands())
    assert len({s.name for s in SHAPES}) == len(SHAPES)
    for shape in SHAPES:
        assert shape.rows_of and shape.columns, shape.name


VIEWS = [shape_for(c, s) for shape in SHAPES for c, s in shape.rows_of]


@pytest.mark.parametrize("shape", VIEWS, ids=lambda v: f"{v.command}-{v.section}")
def test_each_shape_generates_a_valid_json_schema(shape: View) -> None:
    schema = shape.json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    assert set(schema["properties"]) == {f.name for f in shape.fields}
    assert schema["additionalProperties"] is False and "status" in schema["required"]


def json_types(fragment: dict[str, Any]) -> frozenset[str]:
    """The JSON types a schema fragment admits (references into report.schema.json resolved)."""
    if "$ref" in fragment:
        if fragment["$ref"].endswith(".json"):  # another command's whole envelope
            return frozenset({"object"})
        name = fragment["$ref"].rsplit("/", 1)[-1]
        return json_types(ENVELOPE["$defs"][name])
    if "const" in fragment:
        return frozenset({_type_of(fragment["const"])})
    if "enum" in fragment:
        return frozenset(_type_of(v) for v in fragment["enum"])
    if "anyOf" in fragment or "oneOf" in fragment:
        return frozenset().union(*(json_types(f) for f in fragment.get("anyOf") or
                                   fragment["oneOf"]))
    kinds = fragment.get("type")
    if kinds is None:
        return ALL_TYPES
    return frozenset([kinds] if isinstance(kinds, str) else kinds)


def _type_of(value: Any) -> str:
    return {str: "string", bool: "boolean", int: "integer", float: "number",
            type(None): "null"}[type(value)]


def compatible(declared: frozenset[str], published: frozenset[str]) -> bool:
    widened = published | ({"integer"} if "number" in published else set())
    return declared <= widened


def published_result(command: str, section: str | None) -> tuple[dict[str, Any], set[str]]:
    """The committed schema's properties and required keys for one (command, section)."""
    schema = schema_of(command)
    if section == "multivariate":
        result = schema["$defs"]["multivariate"]
        return result["properties"], set(result["required"])
    result = schema["$defs"]["result"]
    required = set(result.get("required", []))
    for rule in result.get("allOf", []):
        if rule["if"]["properties"]["section"]["const"] == section:
            required |= set(rule["then"]["required"])
    return result["properties"], required


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: s.name)
def test_the_committed_schemas_agree_with_the_shape(shape: Shape) -> None:
    """Every key a command's schema names for this shape's rows is a field of its use with a
    compatible type; what the use requires, the schema requires; and every field of the
    shape is named by the schema of a command whose rows it describes."""
    named: set[str] = set()
    for command, section in shape.rows_of:
        view = shape_for(command, section)
        fields = {f.name: f for f in view.fields}
        properties, required = published_result(command, section)
        if command in ("skew", "rca", "slices", "estimate"):  # one schema for every section
            properties = {k: v for k, v in properties.items() if k in fields}
        named |= set(properties)
        unknown = set(properties) - set(fields)
        assert not unknown, f"{command}/{section}: schema keys {unknown} not in {shape.name}"
        assert required <= set(fields), (command, section, required - set(fields))
        assert view.required <= required, (command, section, view.required - required)
        for name, fragment in properties.items():
            declared = json_types(fields[name].json_schema())
            assert compatible(declared, json_types(fragment)), (command, name, declared,
                                                                json_types(fragment))
    assert named == {f.name for f in shape.fields}, \
        f"{shape.name}: fields no schema names: {set(f.name for f in shape.fields) - named}"


def test_every_schema_key_of_a_sectioned_command_belongs_to_one_of_its_shapes() -> None:
    for command in ("skew", "rca", "slices", "estimate"):
        keys = set(schema_of(command)["$defs"]["result"]["properties"])
        declared = {f.name for s in SHAPES for c, section in s.rows_of if c == command
                    for f in s.view(c, section).fields}
        assert keys == declared, (command, keys ^ declared)


# -- the sample story's results ---------------------------------------------------------------
GOLDEN_REPORTS = sorted(GOLDEN.glob("*.json"))


@pytest.mark.parametrize("path", GOLDEN_REPORTS, ids=lambda p: p.stem)
def test_every_story_result_validates_against_its_shapes_schema(path: Path) -> None:
    """The goldens are every command's JSON on the sample story (test_golden_commands.py
    checks them byte for byte); each row holds exactly its shape's keys, with their types."""
    doc = json.loads(path.read_text())
    registry = schema_registry()
    for row in doc["results"]:
        shape = shape_for(doc["command"], row.get("section"))
        schema = shape.json_schema() | {"$id": "https://evalctl.dev/schemas/row.json"}
        jsonschema.Draft202012Validator(schema, registry=registry).validate(row)


@pytest.mark.parametrize("path", GOLDEN_REPORTS, ids=lambda p: p.stem)
def test_table_columns_come_from_the_shapes(path: Path) -> None:
    doc = json.loads(path.read_text())
    report = Report(command=doc["command"], model=doc["model"], status=doc["status"],
                    inputs=doc["inputs"], results=doc["results"], summary=doc["summary"])
    text = render_markdown(report)
    for section, rows in sections(report):
        declared = shape_for(report.command, section).columns
        shown = columns_for(report, section, rows)
        assert [c for c in declared if c in shown] == shown  # the shape's, in its order
        header = "| " + " | ".join(c.header for c in shown) + " |"
        assert header in text.splitlines()
    assert not hasattr(cells_module, "COLUMNS") and not hasattr(cells_module, "GUESSED")


def test_a_header_renamed_on_the_shape_is_what_the_table_shows(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from dataclasses import replace

    from evalctl.reports import shapes

    drift = shapes.shape_for("drift", None)
    columns = tuple(replace(c, header="DRIFTING SINCE") if c.key == "onset" else c
                    for c in drift.columns)
    monkeypatch.setitem(shapes._BY_RESULT, ("drift", None), replace(drift, columns=columns))
    row = drift_row() | {"onset": "2026-11-04"}
    text = render_markdown(Report(command="drift", model="m", status="fail", results=[row]))
    assert "| DRIFTING SINCE |" in text and "| onset |" not in text


# -- insufficient -----------------------------------------------------------------------------
def test_validate_gives_too_small_segments_insufficient_never_pass() -> None:
    doc = json.loads((GOLDEN / "validate.json").read_text())
    smallest = doc["inputs"]["gate"]["min_slice_size"]
    small = [r for r in doc["results"] if r["slice"] != "overall" and r["n"] < smallest
             and r["delta"] is not None]
    assert small and all(r["status"] == "insufficient" for r in small)
    assert all(r["why"] == f"fewer than {smallest} rows: not gated" for r in small)
    assert doc["summary"]["insufficient"] == len(small)
    assert all(r["n"] >= smallest for r in doc["results"]
               if r["status"] == "pass" and r["slice"] != "overall")


def test_slices_gives_too_small_segments_insufficient_never_pass(story) -> None:  # noqa: ANN001
    doc = story("slices", "--model", "tv-recommender", "--selector",
                "production@2026-11-15..2026-11-25", "--min-size", "1500", "--top", "0").json()
    declared = [r for r in doc["results"] if r["section"] == "declared"]
    small = [r for r in declared if r["slice"] != "overall" and r["n"] < 1500]
    assert small and all(r["status"] == "insufficient" for r in small)
    assert all(r["reason"] == "fewer than 1500 labelled rows: not judged" for r in small)
    assert not any(r["significant_worse"] for r in small)
    assert all(r["n"] >= 1500 for r in declared
               if r["status"] in ("pass", "warn") and r["slice"] != "overall")
    assert doc["status"] in ("pass", "warn") and doc["summary"]["insufficient"] == len(small)


# -- descriptions -----------------------------------------------------------------------------
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: s.name)
def test_every_field_says_what_it_means(shape: Shape) -> None:
    """Every field has a description (its own, or the glossary's for its name) that says more
    than its name."""
    for f in shape.fields:
        assert f.meaning, f"{shape.name}.{f.name} has no description (reports/shapes)"
        assert f.meaning.strip() != f.name.replace("_", " "), (shape.name, f.name)


def test_a_field_without_a_description_is_caught() -> None:
    assert not Field("frobs", NUMBER).meaning and Field("frobs", NUMBER, "x").meaning == "x"
    assert Field("status", STATUS).meaning == Field("status", STATUS).json_schema()[
        "description"]


def _result_properties(doc: dict[str, Any], section: str | None) -> dict[str, Any]:
    key = "multivariate" if section == "multivariate" else "result"
    properties: dict[str, Any] = doc["$defs"][key]["properties"]
    return properties


@pytest.mark.parametrize("path", sorted(SCHEMAS.glob("*.v2.json")), ids=lambda p: p.stem)
def test_the_committed_schemas_carry_the_shapes_descriptions(
        path: Path, request: pytest.FixtureRequest) -> None:
    """Each result property of a command's schema has the description of its field in the
    shape (for a key several sections share, one of theirs); `pytest --update-golden` writes
    them from the shapes."""
    doc = json.loads(path.read_text())
    command = doc["properties"]["command"]["const"]
    meanings: dict[tuple[int, str], list[str]] = {}
    for shape in SHAPES:
        for c, section in shape.rows_of:
            if c == command:
                properties = _result_properties(doc, section)
                for f in shape_for(c, section).fields:
                    meanings.setdefault((id(properties), f.name), []).append(f.meaning)
    wrong = []
    for _, section in {r for s in SHAPES for r in s.rows_of if r[0] == command}:
        properties = _result_properties(doc, section)
        for name, fragment in properties.items():
            allowed = meanings.get((id(properties), name), [])
            if allowed and fragment.get("description") not in allowed:
                wrong.append(name)
                fragment["description"] = allowed[0]
    if wrong and request.config.getoption("--update-golden"):
        path.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
        return
    assert not wrong, f"{path.name}: descriptions differ from the shapes' for {sorted(wrong)}" \
        " (pytest --update-golden writes them)"
