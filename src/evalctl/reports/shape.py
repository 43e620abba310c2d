"""Typed result shapes: what one result row of a report may hold, and how it is shown.

Every result of every command belongs to exactly one `Shape` (the shapes are declared in
`evalctl.reports.shapes`). A shape declares its fields (name, JSON type, nullable, required,
a short description) and its table columns (key, header, priority, kind). `Report` checks
every row against its shape when it is built, so a renamed or forgotten key fails at once
instead of making a table column vanish; the renderers take their columns from the shape;
`Shape.json_schema()` is the JSON Schema of one row, which tests hold against the command's
committed schema (`evalctl/schemas/<command>.v2.json`).

A handful of shapes serve every command (`evalctl.reports.shapes`); a command's rows are a
`Use` of one: which of its fields they have and which of its columns their table shows.
Adding a field to a result is one line in its shape's `fields` table, ``auroc  number?  …``
(or, when several shapes declare it alike, one in `COMMON` below, taken with `common(...)`),
its name in the `Use`s whose rows have it (and in their columns to show it), plus the same
property in the command's schema.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass, field, replace
from enum import StrEnum
from functools import cached_property
from typing import Any

from evalctl.errors import EvalctlError


class Status(StrEnum):
    """A result's status. A `StrEnum`: `Status.FAIL == "fail"` and it is written as "fail"."""

    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"
    ERROR = "error"
    INSUFFICIENT = "insufficient"  # too little data to judge; never fails a report


# The one worst-first rule (docs/contract.md, "Output"): a failure, a result that could not be
# computed, a warning, a result with too little data to judge, a pass.
WORST_FIRST: tuple[Status, ...] = (Status.FAIL, Status.ERROR, Status.WARN, Status.INSUFFICIENT,
                                   Status.PASS)

# Field types, as JSON Schema fragments (`report.schema.json` defines the shared ones).
STRING, INTEGER, NUMBER, BOOLEAN = "string", "integer", "number", "boolean"
ARRAY, OBJECT, DATE, TIMESTAMP = "array", "object", "date", "timestamp"
STATUS, SCALAR, ANY = "status", "scalar", "any"
_ENVELOPE = "report.schema.json#/$defs/"
_TYPES: dict[str, dict[str, Any]] = {
    STRING: {"type": "string"}, INTEGER: {"type": "integer"}, NUMBER: {"type": "number"},
    BOOLEAN: {"type": "boolean"}, ARRAY: {"type": "array"}, OBJECT: {"type": "object"},
    DATE: {"$ref": _ENVELOPE + "date"}, TIMESTAMP: {"$ref": _ENVELOPE + "timestamp"},
    STATUS: {"$ref": _ENVELOPE + "result_status"},
    SCALAR: {"type": ["integer", "number", "string"]}, ANY: {}}

# Column kinds: `atom` cells (numbers, dates, statuses, names, ids) are never broken, `words`
# cells wrap at spaces inside the table, `text` (long free text) wraps or moves below the
# table, `spark` is a sparkline.
ATOM, WORDS, TEXT, SPARK = "atom", "words", "text", "spark"


class ShapeError(EvalctlError):
    """A result row does not match its declared shape: a bug in evalctl (exit 4)."""


@dataclass(frozen=True)
class Field:
    """One key of a result row: its JSON type (one of the constants above, or a tuple of the
    plain ones for a key of several types), whether it may be null, whether every row has it,
    and what it means (`description`; GLOSSARY's when empty)."""

    name: str
    type: str | tuple[str, ...]
    description: str = ""
    null: bool = False
    optional: bool = False

    def json_schema(self) -> dict[str, Any]:
        base = dict(_TYPES[self.type]) if isinstance(self.type, str) else \
            {"type": [_TYPES[t]["type"] for t in self.type]}
        if self.null and self.type != ANY:
            if "type" in base:
                kinds = base["type"] if isinstance(base["type"], list) else [base["type"]]
                base["type"] = [*kinds, "null"]
            else:
                base = {"anyOf": [base, {"type": "null"}]}
        meaning = self.meaning
        return base | ({"description": meaning} if meaning else {})

    @property
    def meaning(self) -> str:
        """The description: the shape's own, else the glossary's for the name."""
        return self.description or GLOSSARY.get(self.name, "")


def table(text: str) -> list[tuple[str, str]]:
    """A text table -> its entries, each (its first word, the rest in one line). An entry starts
    on a line that is not indented further than the table's first line and goes on over the
    lines indented further; blank lines are skipped. Declarations with a line each (the
    glossary, a shape's fields) are written as such tables rather than as rows of calls."""
    entries: list[list[str]] = []
    for line in textwrap.dedent(text).splitlines():
        if not line.strip():
            continue
        if line[0].isspace():
            if not entries:
                raise ShapeError(f"table starts with an indented line: {line.strip()!r}")
            entries[-1].append(line.strip())
        else:
            entries.append(line.split())
    return [(words[0], " ".join(words[1:])) for words in (" ".join(e).split() for e in entries)]


def fields(text: str) -> tuple[Field, ...]:
    """Field declarations from a `table`: ``name type description``, where type is one of the
    type constants above (``integer|string`` for several) and ``type?`` may be null; no
    description: the GLOSSARY's."""
    declared: list[Field] = []
    for name, rest in table(text):
        kind, _, description = rest.partition(" ")
        types = tuple(kind.rstrip("?").split("|"))
        if not kind or any(t not in _TYPES for t in types):
            raise ShapeError(f"field {name!r}: type {kind!r} is not one of {sorted(_TYPES)}")
        declared.append(Field(name, types[0] if len(types) == 1 else types, description,
                              null=kind.endswith("?")))
    return tuple(declared)


def columns(specs: str) -> tuple[Column, ...]:
    """Column declarations, comma-separated ``key=header@priority/kind`` (header: the key,
    priority: 1, kind: atom when not given), as a `Use` writes its columns."""
    declared: list[Column] = []
    for spec in filter(None, (part.strip() for part in specs.split(","))):
        key, header, priority, kind = _column_spec(spec)
        declared.append(Column(key, header or key, 1 if priority is None else priority,
                               kind or ATOM))
    return tuple(declared)


def common(names: str) -> tuple[Field, ...]:
    """The shared declarations of `names` (space-separated), for a shape's `fields`."""
    unknown = [name for name in names.split() if name not in COMMON]
    if unknown:
        raise ShapeError(f"no common field {unknown} (evalctl/reports/shape.py COMMON)")
    return tuple(COMMON[name] for name in names.split())


# What a field means when its shape does not say more: one meaning per name across shapes.
GLOSSARY: dict[str, str] = dict(table("""
    status                 the result's status: fail, error, warn, insufficient or pass
    reason                 why a value is null or the result was not judged; null otherwise
    section                which table of the report the result belongs to
    feature                the feature (input column) the result is about
    role                   output: the model's score or prediction column (listed first within its
        status); feature: an input feature
    p_test                 the test behind p_value: Kolmogorov-Smirnov (numeric) or chi-square of
        homogeneity (categorical)
    kind                   what the row is about: numeric, categorical, output, schema; predictions
        or actuals (batches)
    method                 the measure or test used
    score                  the measure's value; null when it cannot be computed
    threshold              the value at which the result fails
    warn                   the value at which the result warns
    decided_by             the check that set the status when it is not the measure's own threshold
    decided_by_text        decided_by in words
    summary                the result in words
    model                  the model's name
    version                the model version
    env                    the environment
    batch                  the batch id (one ingest call)
    generation             the batch's generation
    rows                   rows counted
    files                  data files
    path                   a path inside the store
    first_date             first partition date
    last_date              last partition date
    metric                 the performance metric
    value                  the metric's (or check's) value
    n                      rows of the segment
    ci_low                 the interval's lower end
    ci_high                the interval's upper end
    ci_method              how the interval was computed
    p_value                the test's p-value
    p_adjusted             the p-value adjusted for multiple tests
    significant            whether the adjusted p-value is below alpha
    slice                  the slice's name; overall for the whole selection
    segment                the segment of the slice (all for overall)
    id                     the segment's id (export --segment takes it)
    predicates             the segment's conditions, one per feature
    why                    the reason for the status in words
    series                 the value per window, oldest first
    windows                number of windows
    window_start           the window's first instant (RFC 3339, Z)
    window_end             the instant after the window's last (RFC 3339, Z)
    baseline               the baseline's value
    current                the current side's value (or, in skew, its summary)
    n_baseline             labelled rows of the baseline
    n_current              labelled rows of the current
    change                 current minus baseline, signed so that negative is worse
    mix                    the part of the change due to the segments' shares moving
    performance            the part of the change due to the metric moving within segments
    interaction            the part of the change due to both moving together
    mode                   the finding's kind
    finding                the finding in words
    reference              what the result is measured against (a selector, or its summary)
    drift_method           the drift measure
    drift_score            its value, baseline vs current
    drift_threshold        its failing value
    drift_status           its status
    drift_summary          the drift in words
    drift_decided_by       decided_by of the drift
    drift_decided_by_text  drift_decided_by in words
    skew_baseline_score    skew of the baseline against the reference
    skew_baseline_status   its status
    skew_current_score     skew of the current selection against the reference
    skew_current_status    its status
    explained_pct          percent of the metric's change explained
    labelled_rows          rows with ground truth
    check                  the monitor check
    action                 what the command does (or would do) to the batch
    created                whether the store was created
    sources                the ingested files
    dates                  the partition dates written
    already_ingested       the export was already in
    dropped_columns        columns of the export that were not kept
    date                   the partition date
    bytes                  file size
    sha256                 file checksum
    problem                what is wrong
    support                rows that count for the metric
    n_missing_label        rows without ground truth (excluded)
    share                  share of the selection's rows
    candidate              the candidate's value
    candidate_ci           the candidate's interval
    baseline_ci            the baseline's interval
    statistic              the test statistic
    proxy                  the proxy column
    rank                   the proxy's rank (best first)
"""))


# Fields several shapes declare alike (type, nullability, meaning), declared once; a shape
# takes them by name with `common(...)` and declares the rest itself.
COMMON: dict[str, Field] = {f.name: f for f in fields("""
    section          string
    status           status
    reason           string?
    feature          string
    kind             string
    method           string
    score            number?     the measure's value; null when it cannot be computed (reason says
        why)
    threshold        number?
    decided_by       object?
    decided_by_text  string?
    metric           string
    baseline         number?
    change           number?
    ci_low           number?
    ci_high          number?
    ci_method        string?
    p_value          number?
    p_test           string
    role             string
    check            string
    model            string
    onset            timestamp?  first window of the run of crossing windows that is still going on
        (RFC 3339, Z); null when not drifting
    series           array
    windows          integer
    labelled_rows    integer
    slice            string
    segment          string
    id               string
    predicates       array
""")}


@dataclass(frozen=True)
class Column:
    """One column of a report table.

    `priority` 0 is always shown; when a table does not fit its width the columns with the
    highest number are dropped first (the rightmost of equal priority first). `kind` says how
    a cell may be laid out (ATOM, WORDS, TEXT, SPARK above)."""

    key: str
    header: str
    priority: int = 1
    kind: str = ATOM


@dataclass(frozen=True)
class Use:
    """The rows of one (command, section) of a shape (section None: the command's unsectioned
    rows): which of the shape's fields they have and which of its columns their table shows.

    `fields` names them, space-separated, in the shape's vocabulary: ``?name`` may be absent,
    ``name!`` is never null in these rows although the shape lets it be. `columns` lists the
    table's columns in order, comma-separated: ``key``, or ``key=header@priority/kind`` where
    this table differs from the column's declaration in the shape (each part optional)."""

    command: str
    section: str | None
    fields: str
    columns: str


@dataclass(frozen=True)
class Shape:
    """One kind of result row, shared by the commands whose results are of that kind: every
    field and column declared once, and the results that have it (`uses`: each a `Use`, the
    fields and columns of one command's rows). `view(command, section)` is what those rows are
    checked against and rendered with."""

    name: str
    description: str
    fields: tuple[Field, ...]
    columns: tuple[Column, ...]
    uses: tuple[Use, ...]
    _views: dict[tuple[str, str | None], View] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        names = [f.name for f in self.fields]
        if len(set(names)) != len(names) or "status" not in names:
            raise ShapeError(f"shape {self.name}: fields repeat or lack `status`")
        unknown = [c.key for c in self.columns if c.key not in names]
        if unknown:
            raise ShapeError(f"shape {self.name}: columns {unknown} are not fields")
        # every use's view, made once (a use naming an undeclared field raises): `view` then
        # looks it up (the views of every shape are asked for as evalctl loads: start-up time)
        object.__setattr__(self, "_views", {(u.command, u.section): self._view_of(u)
                                            for u in self.uses})

    @property
    def rows_of(self) -> tuple[tuple[str, str | None], ...]:
        return tuple((use.command, use.section) for use in self.uses)

    def view(self, command: str, section: str | None) -> View:
        """The fields and columns of `command`'s rows of `section`."""
        found = self._views.get((command, section))
        if found is None:
            raise ShapeError(f"shape {self.name} has no use for {command!r} {section!r}")
        return found

    def _view_of(self, use: Use) -> View:
        command, section = use.command, use.section
        fields = {f.name: f for f in self.fields}
        columns = {c.key: c for c in self.columns}
        chosen: list[Field] = []
        for spec in use.fields.split():
            name = spec.strip("?!")
            if name not in fields:
                raise ShapeError(f"shape {self.name}, {command} {section}: {name!r} is not a "
                                 "field")
            chosen.append(replace(fields[name], optional=spec.startswith("?"),
                                  null=fields[name].null and not spec.endswith("!")))
        shown: list[Column] = []
        for spec in filter(None, (part.strip() for part in use.columns.split(","))):
            key, header, priority, kind = _column_spec(spec)
            if key not in columns or key not in use.fields.replace("?", " ").replace("!", " ")\
                    .split():
                raise ShapeError(f"shape {self.name}, {command} {section}: column {key!r} is "
                                 "not a column of the shape or a field of the use")
            base = columns[key]
            shown.append(Column(key, header or base.header,
                                base.priority if priority is None else priority,
                                kind or base.kind))
        return View(self.name, self.description, tuple(chosen), tuple(shown), command, section)


def _column_spec(spec: str) -> tuple[str, str | None, int | None, str | None]:
    """``key=header@priority/kind`` -> its parts (None where not given)."""
    match = re.fullmatch(r"([a-z_0-9]+)(?:=([^@/]+))?(?:@(\d))?(?:/([a-z]+))?", spec)
    if match is None:
        raise ShapeError(f"column spec {spec!r} is not key=header@priority/kind")
    key, header, priority, kind = match.groups()
    return key, header, None if priority is None else int(priority), kind


@dataclass(frozen=True)
class View:
    """The rows of one (command, section) of a shape: their fields (optional and nullable as
    in these rows) and their table's columns. `shape_for(command, section)` returns it."""

    name: str
    description: str
    fields: tuple[Field, ...]
    columns: tuple[Column, ...]
    command: str
    section: str | None

    @cached_property
    def keys(self) -> frozenset[str]:
        return frozenset(f.name for f in self.fields)

    @cached_property
    def required(self) -> frozenset[str]:
        return frozenset(f.name for f in self.fields if not f.optional)

    def check(self, row: dict[str, Any]) -> None:
        """Raise ShapeError when `row` has a key the shape does not declare or lacks one it
        requires (types are held against `json_schema()` by the tests)."""
        keys = row.keys()
        extra, missing = keys - self.keys, self.required - keys
        if extra or missing:
            raise ShapeError(
                f"a {self.name} result " + "; ".join(
                    part for part in (f"has undeclared keys {sorted(extra)}" if extra else "",
                                      f"lacks {sorted(missing)}" if missing else "") if part)
                + " (evalctl/reports/shapes)")

    def json_schema(self) -> dict[str, Any]:
        """The JSON Schema of one row of these results, from the field declarations."""
        return {"title": self.name, "description": self.description, "type": "object",
                "required": [f.name for f in self.fields if not f.optional],
                "properties": {f.name: f.json_schema() for f in self.fields},
                "additionalProperties": False}
