"""The clock: fixed clocks from datetimes, dates and ISO strings; what `now` and `today` read."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from evalctl.clock import fixed_clock, now, system_clock, today
from evalctl.errors import InputError

PARIS = timezone(timedelta(hours=1))


@pytest.mark.parametrize(("moment", "expected"), [
    (datetime(2026, 11, 30, 8, tzinfo=UTC), datetime(2026, 11, 30, 8, tzinfo=UTC)),
    (datetime(2026, 11, 30, 8), datetime(2026, 11, 30, 8, tzinfo=UTC)),  # naive is UTC
    (datetime(2026, 12, 1, 0, 30, tzinfo=PARIS), datetime(2026, 11, 30, 23, 30, tzinfo=UTC)),
    (date(2026, 11, 30), datetime(2026, 11, 30, tzinfo=UTC)),  # a date is its midnight UTC
    ("2026-11-30", datetime(2026, 11, 30, tzinfo=UTC)),
    ("2026-11-30T08:00:00Z", datetime(2026, 11, 30, 8, tzinfo=UTC)),
    ("2026-12-01T00:30:00+01:00", datetime(2026, 11, 30, 23, 30, tzinfo=UTC)),
])
def test_a_fixed_clock_reads_its_moment_in_utc(moment: object, expected: datetime) -> None:
    clock = fixed_clock(moment)  # type: ignore[arg-type]
    assert now(clock) == expected and now(clock).tzinfo == UTC
    assert today(clock) == expected.date()
    assert now(clock) == now(clock)  # stopped


def test_today_is_the_utc_date_not_the_local_one() -> None:
    assert today(fixed_clock("2026-12-01T00:30:00+01:00")) == date(2026, 11, 30)


def test_bad_moments_are_input_errors() -> None:
    with pytest.raises(InputError, match="'yesterday' is not an ISO date or time"):
        fixed_clock("yesterday")
    with pytest.raises(InputError, match="expected a datetime, got str"):
        now(lambda: "2026-11-30")  # type: ignore[arg-type, return-value]


def test_the_default_is_the_system_clock() -> None:
    before = datetime.now(UTC)
    moment = now()
    assert before <= moment <= datetime.now(UTC) and moment.tzinfo == UTC
    assert system_clock().tzinfo == UTC
