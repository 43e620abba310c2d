"""The clock: the one place evalctl reads "now".

A `Clock` is a callable returning an aware UTC `datetime`. `last-Nd` selectors count back from
its date, `monitor` judges the day before it and measures freshness against it, and reports
are stamped with it. Tests and notebooks pass `fixed_clock(...)` to get the same answer on any
day.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime

from evalctl.errors import InputError

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    """The machine's time, in UTC."""
    return datetime.now(UTC)


def fixed_clock(moment: datetime | date | str) -> Clock:
    """A clock stopped at ``moment`` (a datetime, a date meaning its midnight UTC, or an ISO
    string); a naive datetime is taken as UTC."""
    stopped = _as_utc(moment)
    return lambda: stopped


def today(clock: Clock | None = None) -> date:
    """The clock's date in UTC (what `last-Nd` counts back from)."""
    return now(clock).date()


def now(clock: Clock | None = None) -> datetime:
    """The clock's time as an aware UTC datetime, checked: a clock returning anything else is
    an input error, not a wrong date later."""
    moment = (clock or system_clock)()
    if not isinstance(moment, datetime):
        raise InputError(f"clock: expected a datetime, got {type(moment).__name__}")
    return _as_utc(moment)


def _as_utc(moment: datetime | date | str) -> datetime:
    if isinstance(moment, str):
        try:
            moment = datetime.fromisoformat(moment)
        except ValueError:
            raise InputError(f"clock: {moment!r} is not an ISO date or time "
                             "(2026-11-30 or 2026-11-30T08:00:00Z)") from None
    if not isinstance(moment, datetime):
        moment = datetime(moment.year, moment.month, moment.day, tzinfo=UTC)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def rfc3339(stamp: datetime, timespec: str = "auto") -> str:
    """A timestamp as RFC 3339 in UTC with `Z` (naive ones are UTC, as the lake reads them):
    the one format of every timestamp evalctl writes or prints in its JSON, stored files and
    logs. `timespec` as `datetime.isoformat`'s ("auto": fractional seconds only when there
    are any; "seconds": none)."""
    if stamp.tzinfo is not None:
        stamp = stamp.astimezone(UTC).replace(tzinfo=None)
    return stamp.isoformat(timespec=timespec) + "Z"


def parse_utc(text: str) -> datetime:
    """A stored timestamp back as a naive UTC datetime (the lake's): RFC 3339 with `Z`, the
    `+00:00` (or any other offset) older versions wrote, or no zone (UTC)."""
    moment = datetime.fromisoformat(text)
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


__all__ = ["Clock", "fixed_clock", "now", "parse_utc", "rfc3339", "system_clock", "today"]
