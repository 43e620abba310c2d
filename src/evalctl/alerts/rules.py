"""Which checks a monitor run notifies about, and whether now is a quiet hour.

A check's status for one window is the worst of its results. With ``notify_on: change`` (the
default) a check notifies when its status differs from its status in the newest earlier
window stored in the history; with ``failing``, on every run where it is at least
``min_status``. Either way a check that was alerting and no longer is sends one `resolved`
notification. A check with no earlier window notifies when it is alerting. Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time
from typing import Any

# how loud a status is: `error` (the check could not be computed) alerts like a warning;
# `insufficient` (not judged) never alerts
LEVEL = {"pass": 0, "insufficient": 0, "warn": 1, "error": 1, "fail": 2}
_WORST = ("fail", "error", "warn", "insufficient", "pass")


@dataclass(frozen=True)
class Decision:
    """Notify about ``check``: ``event`` is `alert` or `resolved`."""

    check: str
    status: str
    previous_status: str | None
    event: str


def check_status(rows: list[dict[str, Any]]) -> str:
    """The worst status of one check's results (fail, error, warn, insufficient, pass)."""
    present = {r["status"] for r in rows}
    return next((s for s in _WORST if s in present), "pass")


def decide(current: dict[str, str], previous: dict[str, str | None], notify_on: str,
           min_status: str) -> list[Decision]:
    """The notifications of one model's window: ``current`` check -> status, ``previous``
    check -> status of the newest earlier window (None: none stored)."""
    floor = LEVEL[min_status]
    decisions = []
    for check, status in current.items():
        before = previous.get(check)
        alerting = LEVEL.get(status, 0) >= floor
        was_alerting = before is not None and LEVEL.get(before, 0) >= floor
        if alerting and (notify_on == "failing" or status != before):
            decisions.append(Decision(check, status, before, "alert"))
        elif not alerting and was_alerting:
            decisions.append(Decision(check, status, before, "resolved"))
    return decisions


def in_quiet_hours(moment: datetime, start: time, end: time, zone: str) -> bool:
    """Whether ``moment`` (aware) falls in [start, end) local time in ``zone``; an ``end``
    before ``start`` spans midnight (22:00-07:00)."""
    from zoneinfo import ZoneInfo  # the time-zone database, only when quiet hours are set

    local = moment.astimezone(ZoneInfo(zone)).time().replace(tzinfo=None)
    if start < end:
        return start <= local < end
    return local >= start or local < end
