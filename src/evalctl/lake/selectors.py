"""Dataset selectors ``ENV[:VERSION][@RANGE]``, parsed in one place.

Examples: ``training``, ``production:v2``, ``production@2026-11-01..2026-11-07``,
``production@last-7d``, ``shadow:v2@2026-11-15``. A range is inclusive of both dates;
``last-Nd`` is the N days ending on the as-of date (unless ``--as-of``: today in UTC, read
from the clock, evalctl.clock), so ``last-1d`` is the as-of date alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

from evalctl.clock import Clock, today
from evalctl.config import PLAUSIBLE_YEARS
from evalctl.errors import SelectorError

ENVS = ("training", "validation", "production", "shadow")
_SELECTOR = re.compile(r"^(?P<env>[a-z]+)(?::(?P<version>[^@:\s]+))?(?:@(?P<range>\S+))?$")
_LAST = re.compile(r"^last-(?P<n>\d+)d$")


@dataclass(frozen=True)
class Selector:
    """A parsed selector: which env, optionally which version and which inclusive date range."""

    text: str
    env: str
    version: str | None = None
    start: date | None = None
    end: date | None = None

    def covers(self, day: date) -> bool:
        """Whether a partition date falls inside the selector's range."""
        return (self.start is None or day >= self.start) and (self.end is None or day <= self.end)


def parse_selector(text: str, as_of: date | None = None, clock: Clock | None = None
                   ) -> Selector:
    """Parse ``ENV[:VERSION][@RANGE]``; every error names the selector and what was expected.
    ``last-Nd`` ends on ``as_of``, else on the clock's UTC date (default: the system clock)."""
    match = _SELECTOR.match(text.strip())
    if not match:
        raise SelectorError(f"selector {text!r}: expected ENV[:VERSION][@RANGE], "
                            "e.g. production:v2@2026-11-01..2026-11-07")
    env = match["env"]
    if env not in ENVS:
        raise SelectorError(f"selector {text!r}: unknown env {env!r} (valid: {', '.join(ENVS)})")
    spec = match["range"]
    start, end = _parse_range(text, spec, as_of, clock) if spec else (None, None)
    for day in (start, end):
        if day is not None:
            check_plausible_date(f"selector {text!r}", day)
    return Selector(text=text.strip(), env=env, version=match["version"], start=start, end=end)


def _parse_range(text: str, spec: str, as_of: date | None, clock: Clock | None
                 ) -> tuple[date | None, date | None]:
    last = _LAST.match(spec)
    if last:
        days = int(last["n"])
        if days < 1:
            raise SelectorError(f"selector {text!r}: last-Nd needs N >= 1")
        anchor = as_of or today(clock)
        if days > (anchor - date(PLAUSIBLE_YEARS[0], 1, 1)).days + 1:
            raise SelectorError(f"selector {text!r}: last-{days}d reaches back before "
                                f"{PLAUSIBLE_YEARS[0]}; give a smaller N or a date range")
        return anchor - timedelta(days=days - 1), anchor
    if ".." in spec:  # either end may be left open: 2026-11-01.. / ..2026-11-07
        left, _, right = spec.partition("..")
        if not left and not right:
            raise SelectorError(f"selector {text!r}: a range needs a start, an end or both "
                                "(2026-11-01..2026-11-07, 2026-11-01.., ..2026-11-07)")
        start = _parse_date(text, left) if left else None
        end = _parse_date(text, right) if right else None
    else:
        start = end = _parse_date(text, spec)
    if start is not None and end is not None and end < start:
        raise SelectorError(f"selector {text!r}: range ends ({end}) before it starts ({start})")
    return start, end


def check_plausible_date(what: str, day: date) -> None:
    """Refuse a date outside the plausible years (1970-2100): `what` names the option or
    selector, e.g. ``--date`` (monitor) or ``--as-of``."""
    first, last = PLAUSIBLE_YEARS
    if not first <= day.year <= last:
        raise SelectorError(f"{what}: {day.isoformat()} is outside the plausible years "
                            f"{first}-{last}")


def _parse_date(text: str, value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise SelectorError(f"selector {text!r}: {value!r} is not a date (YYYY-MM-DD) "
                            "or last-Nd") from None
