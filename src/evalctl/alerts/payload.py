"""What a notification says: the JSON payload (schema `alert-payload.v1.json`), its
Slack-compatible variant, and the `Idempotency-Key` receivers de-duplicate on."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from evalctl.alerts.rules import Decision
from evalctl.version import __version__

PAYLOAD_SCHEMA = "https://evalctl.dev/schemas/alert-payload.v1.json"
_SHOWN_RESULTS = 10  # Slack: the worst results listed in the message
_ICON = {"fail": ":red_circle:", "error": ":warning:", "warn": ":large_orange_circle:",
         "pass": ":large_green_circle:", "insufficient": ":white_circle:"}


def idempotency_key(model: str, window: str, check: str) -> str:
    """A stable key per (model, window, check): the same on every run and machine."""
    digest = hashlib.sha256("\x00".join((model, window, check)).encode("utf-8"))
    return digest.hexdigest()[:32]


@dataclass(frozen=True)
class ModelWindow:
    """One model's monitored window, as the payload describes it."""

    model: str
    window: str
    run_at: str  # RFC 3339, Z
    rows: list[dict[str, Any]]  # the window's results, every check
    recommendations: list[str]
    report: str | None  # a link or path to the full report


def build_payload(decision: Decision, seen: ModelWindow) -> dict[str, Any]:
    """The JSON payload of one notification (documented in the README, schema'd)."""
    mine = [r for r in seen.rows if r["check"] == decision.check]
    statuses: dict[str, list[str]] = {}
    for row in seen.rows:
        statuses.setdefault(row["check"], []).append(row["status"])
    failing_checks = sorted(c for c, s in statuses.items() if {"fail", "error", "warn"} & set(s))
    model_status = next((s for s in ("fail", "warn", "error") if any(
        s in v for v in statuses.values())), "pass")
    return {
        "$schema": PAYLOAD_SCHEMA,
        "schema_version": 1,
        "evalctl_version": __version__,
        "idempotency_key": idempotency_key(seen.model, seen.window, decision.check),
        "event": decision.event,
        "model": seen.model,
        "window": seen.window,
        "check": decision.check,
        "status": decision.status,
        "previous_status": decision.previous_status,
        "model_status": model_status,
        "failing_checks": failing_checks,
        "results": [_result(r) for r in mine if r["status"] in ("fail", "error", "warn")],
        "recommendations": list(seen.recommendations),
        "report": seen.report,
        "run_at": seen.run_at,
    }


def _result(row: dict[str, Any]) -> dict[str, Any]:
    value = row.get("value")
    threshold = row.get("threshold")
    return {"feature": row.get("feature"), "status": row["status"],
            "value": value if isinstance(value, int | float | str) else None,
            "threshold": threshold if isinstance(threshold, int | float) else None,
            "summary": row.get("summary") or row.get("reason")}


def slack_payload(payload: dict[str, Any]) -> dict[str, Any]:
    """The same notification for a Slack incoming webhook: `text` (shown in notifications)
    and mrkdwn `blocks`."""
    head = (f"{_ICON.get(payload['status'], '')} evalctl {payload['model']} "
            f"{payload['window']}: {payload['check']} "
            + ("resolved" if payload["event"] == "resolved" else payload["status"].upper())
            + (f" (was {payload['previous_status']})" if payload["previous_status"] else ""))
    lines = [f"• *{r['feature'] or payload['check']}* {r['status']}: {r['summary'] or ''}"
             for r in payload["results"][:_SHOWN_RESULTS]]
    hidden = len(payload["results"]) - _SHOWN_RESULTS
    if hidden > 0:
        lines.append(f"… and {hidden} more")
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*{head.strip()}*"}}]
    if lines:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)}})
    context = [f"model status: {payload['model_status']}"]
    if payload["failing_checks"]:
        context.append("alerting checks: " + ", ".join(payload["failing_checks"]))
    context += [f"→ {r}" for r in payload["recommendations"][:3]]
    if payload["report"]:
        context.append(f"report: {payload['report']}")
    blocks.append({"type": "context",
                   "elements": [{"type": "mrkdwn", "text": t[:300]} for t in context][:10]})
    return {"text": head.strip(), "blocks": blocks}
