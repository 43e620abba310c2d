"""The report envelope shared by every command (docs/contract.md, "Output")."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.resources import files
from typing import Any

from evalctl.clock import rfc3339
from evalctl.reports.shape import WORST_FIRST
from evalctl.reports.shapes import shape_for
from evalctl.version import __version__

SCHEMA_VERSION = 2
SCHEMA_BASE = "https://evalctl.dev/schemas/"
STATUSES = ("pass", "warn", "fail", "error")
# The one worst-first rule every command's results follow (docs/contract.md, "Output"): a
# failure, then a result that could not be computed, a warning, a result with too little data
# to judge (it never fails a report, but the reader should see it before the passes), a pass.
# (`reports.shape.Status` names them; plain strings here, as they are written.)
RESULT_STATUSES: tuple[str, ...] = tuple(str(status) for status in WORST_FIRST)
_RANK = {status: rank for rank, status in enumerate(RESULT_STATUSES)}
# The status counters every command's summary starts with, in this order.
SUMMARY_COUNTERS = ("results", *RESULT_STATUSES)
# Commands whose schema is not named after them: `report`'s would read like the envelope's
# own `report.schema.json`.
SCHEMA_NAMES = {"report": "health-report"}


def worst_status(statuses: list[str]) -> str:
    """The report status from its results: fail > warn > pass; errors alone make `error`;
    `insufficient` results never change it."""
    present = set(statuses) - {"insufficient"}
    for status in ("fail", "warn"):
        if status in present:
            return status
    if "error" in present:
        return "error" if present == {"error"} else "warn"
    return "pass"


def sort_worst_first(results: list[dict[str, Any]], key: str = "score") -> list[dict[str, Any]]:
    """Stable worst-first ordering: by status rank, then by descending `key` when present."""

    def order(r: dict[str, Any]) -> tuple[int, float]:
        value = r.get(key)
        magnitude = (-float(value) if isinstance(value, int | float) and math.isfinite(value)
                     else 0.0)
        return (_status_rank(r), magnitude)

    return sorted(results, key=order)


def _status_rank(result: dict[str, Any]) -> int:
    return _RANK.get(result.get("status", "pass"), len(_RANK))


def count_statuses(results: list[dict[str, Any]]) -> dict[str, int]:
    """The summary's status counters: `results` (how many) and one count per result status."""
    counts = {status: 0 for status in RESULT_STATUSES}
    for result in results:
        status = result.get("status")
        if status in counts:
            counts[status] += 1
    return {"results": len(results), **counts}


def schema_uri(command: str | None) -> str:
    """The `$schema` of a command's envelope: its own schema, shipped as
    `evalctl/schemas/<command>.v2.json` (spaces become `-`: `config-check.v2.json`); the
    envelope's own schema when there is none (an error before a command was recognised)."""
    name = SCHEMA_NAMES.get(command or "", (command or "").replace(" ", "-"))
    name = f"{name}.v{SCHEMA_VERSION}.json"
    if not command or not (files("evalctl") / "schemas" / name).is_file():
        name = "report.schema.json"
    return SCHEMA_BASE + name


@dataclass
class Report:
    """One command's answer. `results` are plain dicts (one per feature / slice / window), kept
    worst first (`RESULT_STATUSES` order; a command's own order within one status); each has
    the keys of its declared shape (`reports.shapes.shape_for(command, row["section"])`),
    checked here: with `EVALCTL_STRICT_SHAPES=1` (the test suite sets it) a key the shape does
    not declare, or one it requires and the row lacks, raises `ShapeError`; otherwise a
    missing required key is written as null and an undeclared one is kept, so a path the tests
    did not reach still gives the user a report instead of an internal error. `summary` starts
    with the status counters (`SUMMARY_COUNTERS`), then the command's own keys."""

    command: str
    model: str | None
    status: str
    inputs: dict[str, Any] = field(default_factory=dict)
    results: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    recommendations: list[str] = field(default_factory=list)
    generated_at: datetime | None = None

    def __post_init__(self) -> None:
        strict = os.environ.get("EVALCTL_STRICT_SHAPES") == "1"
        for i, row in enumerate(self.results):
            shape = shape_for(self.command, row.get("section"))
            if strict:
                shape.check(row)
            elif not shape.required <= row.keys():
                self.results[i] = row | {k: None for k in sorted(shape.required - row.keys())}
        self.results = sorted(self.results, key=_status_rank)
        extras = {k: v for k, v in self.summary.items() if k not in SUMMARY_COUNTERS}
        self.summary = {**count_statuses(self.results), **extras}

    def to_dict(self) -> dict[str, Any]:
        """The JSON envelope; NaN/inf become null (their reason lives beside them)."""
        stamp = self.generated_at or datetime.now(UTC)
        return {
            "$schema": schema_uri(self.command),
            "schema_version": SCHEMA_VERSION,
            "evalctl_version": __version__,
            "command": self.command,
            "model": self.model,
            "generated_at": rfc3339(stamp.replace(microsecond=0)),
            "status": self.status,
            "inputs": _clean(self.inputs),
            "results": _clean(self.results),
            "summary": _clean(self.summary),
            "recommendations": list(self.recommendations),
        }


def error_envelope(command: str | None, model: str | None, error: dict[str, Any],
                   generated_at: datetime | None = None) -> dict[str, Any]:
    """The envelope of a command that could not run: `status: "error"` and an `error` object
    (kind, message, hint, key, file, column, exit_code); nothing else is known."""
    stamp = generated_at or datetime.now(UTC)
    return {
        "$schema": schema_uri(command),
        "schema_version": SCHEMA_VERSION,
        "evalctl_version": __version__,
        "command": command,
        "model": model,
        "generated_at": rfc3339(stamp.replace(microsecond=0)),
        "status": "error",
        "inputs": {},
        "results": [],
        "summary": {},
        "recommendations": [],
        "error": error,
    }


def _clean(value: Any) -> Any:
    """Make a value JSON-safe: non-finite floats -> None, timestamps -> RFC 3339 with `Z`,
    dates -> `YYYY-MM-DD`, tuples -> lists. Exact plain types are looked up first (a report
    holds tens of thousands of them)."""
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return value
    if kind is dict:
        return {k if type(k) is str else str(k): _clean(v) for k, v in value.items()}
    if kind is list:
        return [_clean(v) for v in value]
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, datetime):
        return rfc3339(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return _clean(value.item())
    return value
