"""The report envelope shared by every command (docs/contract.md, "Output")."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from evalctl.version import __version__

SCHEMA_VERSION = 1
STATUSES = ("pass", "warn", "fail", "error")
# Sorting rank: worst first. `error` sorts with `fail` just after it (it could not be judged).
_RANK = {"fail": 0, "error": 1, "warn": 2, "pass": 3}


def worst_status(statuses: list[str]) -> str:
    """The report status from its results: fail > warn > pass; errors alone make `error`."""
    present = set(statuses)
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
        return (_RANK.get(r.get("status", "pass"), 4), magnitude)

    return sorted(results, key=order)


@dataclass
class Report:
    """One command's answer. `results` are plain dicts (one per feature / slice / window)."""

    command: str
    model: str | None
    status: str
    inputs: dict[str, Any] = field(default_factory=dict)
    results: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    recommendations: list[str] = field(default_factory=list)
    generated_at: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON envelope; NaN/inf become null (their reason lives beside them)."""
        stamp = self.generated_at or datetime.now(UTC)
        return {
            "schema_version": SCHEMA_VERSION,
            "evalctl_version": __version__,
            "command": self.command,
            "model": self.model,
            "generated_at": stamp.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
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
        "schema_version": SCHEMA_VERSION,
        "evalctl_version": __version__,
        "command": command,
        "model": model,
        "generated_at": stamp.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "status": "error",
        "inputs": {},
        "results": [],
        "summary": {},
        "recommendations": [],
        "error": error,
    }


def _clean(value: Any) -> Any:
    """Make a value JSON-safe: non-finite floats -> None, dates -> ISO strings, tuples -> lists."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return _clean(value.item())
    return value
