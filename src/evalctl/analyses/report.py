"""`evalctl report`: a model's health on one page — skew, drift, slices, estimate and the
latest monitor verdict — built from the same library functions as those commands.

The monitor is not run again: its verdict is read from the results history, as `evalctl
history` reads it. A part that cannot be computed on this data (no labels for slices, no
labelled reference for the estimate, no monitor run yet) becomes a result that says why,
and the rest of the page goes on; the current selection itself must exist (skew reads it
first, and a selector that matches nothing is an input error, as everywhere).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from evalctl import api
from evalctl.config import ModelConfig
from evalctl.errors import InputError
from evalctl.lake.selectors import Selector
from evalctl.lake.store import Store
from evalctl.reports import Report
from evalctl.reports.model import worst_status

PARTS = ("skew", "drift", "slices", "estimate", "monitor")


@dataclass(frozen=True)
class HealthRequest:
    """What one health page compares: the current selection against the reference (skew,
    drift) and the labelled reference the estimate calibrates on; `window` for drift and
    the estimate (None: the config's); `stamp` is every part's `generated_at`."""

    reference: Selector
    current: Selector
    estimate_reference: Selector
    window: str | None = None
    stamp: datetime | None = None


def health_report(store: Store, model: ModelConfig, request: HealthRequest) -> Report:
    """One result per part, each holding that command's whole report (its JSON envelope)."""
    runs: dict[str, Callable[[], Report]] = {
        "skew": lambda: api.skew(store, model, request.reference, request.current),
        "drift": lambda: api.drift(store, model, request.reference, request.current,
                                   window=request.window),
        "slices": lambda: api.slices(store, model, request.current),
        "estimate": lambda: api.estimate(store, model, request.estimate_reference,
                                         request.current, window=request.window),
        "monitor": lambda: api.history(store, model.name),
    }
    skew = runs["skew"]()  # the current selection must exist: an input error stops here
    parts: dict[str, Report | str] = {"skew": skew}
    for name in PARTS[1:]:
        try:
            parts[name] = runs[name]()
        except InputError as exc:
            parts[name] = str(exc)
    for part in parts.values():
        if isinstance(part, Report):
            part.generated_at = request.stamp
    results = [part_result(name, part) for name, part in parts.items()]
    recommendations = [f"{name}: {rec}" for name, part in parts.items()
                       if isinstance(part, Report) for rec in part.recommendations]
    return Report(
        command="report", model=model.name,
        status=worst_status([r["status"] for r in results]),
        inputs={"reference": skew.inputs["reference"], "current": skew.inputs["current"],
                "estimate_reference": request.estimate_reference.text,
                "window": request.window},
        results=results,
        summary={"parts": [r["part"] for r in results]},
        recommendations=recommendations)


def part_result(name: str, part: Report | str) -> dict[str, Any]:
    """A part as a result: its status and its report; or why it could not be made (the
    monitor not run yet is `insufficient`, any other part `error`)."""
    if isinstance(part, str):
        status = "insufficient" if name == "monitor" else "error"
        return {"part": name, "status": status, "summary": None, "reason": part,
                "report": None}
    return {"part": name, "status": part.status, "summary": counts_text(part.summary),
            "reason": None, "report": part.to_dict()}


def counts_text(summary: dict[str, Any]) -> str:
    """``2 fail · 1 warn · 7 pass of 10``: a part's status counters in words."""
    counts = [f"{summary[s]} {s}" for s in ("fail", "error", "warn", "insufficient", "pass")
              if summary.get(s)]
    return " · ".join(counts) + f" of {summary.get('results', 0)}"
