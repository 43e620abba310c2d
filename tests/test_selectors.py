"""Selectors ENV[:VERSION][@RANGE]."""

from __future__ import annotations

from datetime import date

import pytest

from evalctl.errors import SelectorError
from evalctl.lake.selectors import parse_selector


def test_plain_env() -> None:
    sel = parse_selector("training")
    assert (sel.env, sel.version, sel.start, sel.end) == ("training", None, None, None)


def test_version_and_range() -> None:
    sel = parse_selector("production:v2@2026-11-01..2026-11-07")
    assert sel.version == "v2"
    assert (sel.start, sel.end) == (date(2026, 11, 1), date(2026, 11, 7))
    assert sel.covers(date(2026, 11, 7)) and not sel.covers(date(2026, 11, 8))


def test_single_day() -> None:
    sel = parse_selector("shadow@2026-11-03")
    assert sel.start == sel.end == date(2026, 11, 3)


def test_last_n_days_is_inclusive_of_as_of() -> None:
    sel = parse_selector("production@last-7d", as_of=date(2026, 11, 30))
    assert (sel.start, sel.end) == (date(2026, 11, 24), date(2026, 11, 30))
    one = parse_selector("production@last-1d", as_of=date(2026, 11, 30))
    assert one.start == one.end == date(2026, 11, 30)


@pytest.mark.parametrize(("text", "message"), [
    ("prod", "unknown env 'prod'"),
    ("production@2026-13-01", "is not a date"),
    ("production@2026-11-07..2026-11-01", "ends"),
    ("production@last-0d", "N >= 1"),
    ("production@yesterday", "is not a date"),
    ("", "expected ENV"),
    ("production:v1:v2", "expected ENV"),
    ("production@..", "a range needs a start, an end or both"),
    ("production@2026-11-01..soon", "'soon' is not a date"),
    ("production@last-1000000d", "last-1000000d reaches back before 1970"),  # was exit 4
    ("production@0001-01-01", "0001-01-01 is outside the plausible years 1970-2100"),
    ("production@2026-11-01..2101-01-01", "2101-01-01 is outside the plausible years"),
    ("production@..1969-12-31", "1969-12-31 is outside the plausible years"),
])
def test_bad_selectors(text: str, message: str) -> None:
    with pytest.raises(SelectorError, match=message):
        parse_selector(text)


def test_open_ended_ranges() -> None:
    since = parse_selector("production@2026-11-25..")
    assert (since.start, since.end) == (date(2026, 11, 25), None)
    assert since.covers(date(2027, 1, 1)) and not since.covers(date(2026, 11, 24))
    until = parse_selector("production:v1@..2026-11-03")
    assert (until.version, until.start, until.end) == ("v1", None, date(2026, 11, 3))
    assert until.covers(date(2020, 1, 1)) and not until.covers(date(2026, 11, 4))


def test_open_ended_range_selects_those_days(story) -> None:
    doc = story("slices", "--model", "tv-recommender", "--selector",
                "production@2026-11-25..").json()
    closed = story("slices", "--model", "tv-recommender", "--selector",
                   "production@2026-11-25..2026-11-30").json()
    assert doc["inputs"]["selection"]["rows"] == closed["inputs"]["selection"]["rows"] > 0


def test_last_n_days_reaches_back_to_1970() -> None:
    sel = parse_selector("production@last-3651d", as_of=date(1979, 12, 30))
    assert sel.start == date(1970, 1, 1)
    with pytest.raises(SelectorError, match="reaches back before 1970"):
        parse_selector("production@last-3652d", as_of=date(1979, 12, 30))
