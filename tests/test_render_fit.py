"""Tables fit their width: atoms are never broken, text wraps or moves below, columns are
dropped by priority with a note, sparklines keep their budget and an honest scale."""

from __future__ import annotations

import re
from typing import Any

import pytest
from tests.helpers import shaped

from evalctl.render import render_table
from evalctl.render.cells import (
    ATOM,
    SPARK,
    SPARK_WIDTH,
    TEXT,
    WORDS,
    Column,
    columns_for,
    format_keyed,
    sections,
    sparkline,
    squeeze,
)
from evalctl.render.fit import fit_columns, table_width
from evalctl.reports import Report


def cells_of(columns: list[Column], rows: list[dict[str, Any]]) -> dict[str, list[str]]:
    return {c.key: [format_keyed(c.key, r.get(c.key), r) for r in rows] for c in columns}


def test_text_moves_below_before_any_column_is_dropped() -> None:
    columns = [Column("status", "status", 0), Column("name", "name", 0),
               Column("extra", "extra", 3), Column("evidence", "evidence", 2, TEXT)]
    rows = [{"status": "pass", "name": "watch_minutes_7d", "extra": 12345.0,
             "evidence": "a long sentence " * 6}]
    cells = cells_of(columns, rows)
    wide = fit_columns(columns, cells, 120)
    assert [c.key for c, _ in wide.shown] == ["status", "name", "extra", "evidence"]
    assert table_width([w for _, w in wide.shown]) <= 120
    narrow = fit_columns(columns, cells, 45)
    assert [c.key for c in narrow.below] == ["evidence"] and not narrow.dropped
    tiny = fit_columns(columns, cells, 33)
    assert [c.key for c in tiny.dropped] == ["extra"]
    assert [c.key for c, _ in tiny.shown] == ["status", "name"]


def test_columns_drop_highest_priority_number_first_rightmost_first() -> None:
    columns = [Column("status", "status", 0), Column("a", "a", 2), Column("b", "b", 1),
               Column("c", "c", 2), Column("d", "d", 3)]
    rows = [{"status": "fail", "a": 1111111.0, "b": 2222222.0, "c": 3333333.0,
             "d": 4444444.0}]
    cells = cells_of(columns, rows)
    dropped = [c.key for c in fit_columns(columns, cells, 30).dropped]
    assert dropped == ["d", "c", "a"]


def test_a_moved_text_column_comes_back_when_dropping_made_room() -> None:
    columns = [Column("status", "status", 0), Column("wide", "wide", 3),
               Column("why", "why", 1, TEXT)]
    rows = [{"status": "pass", "wide": "x" * 40, "why": "short reason here"}]
    layout = fit_columns(columns, cells_of(columns, rows), 50)
    assert [c.key for c in layout.dropped] == ["wide"]
    assert not layout.below and [c.key for c, _ in layout.shown] == ["status", "why"]


def test_words_wrap_only_at_spaces_and_atoms_are_as_wide_as_their_widest_cell() -> None:
    columns = [Column("status", "status", 0), Column("slice", "slice", 0, WORDS),
               Column("n", "n", 1)]
    rows = [{"status": "warn", "slice": "country x device", "n": 123456789}]
    layout = fit_columns(columns, cells_of(columns, rows), 36)
    widths = {c.key: w for c, w in layout.shown}
    assert widths == {"status": 6, "slice": len("country x"), "n": len("123,456,789")}
    text = render_table(Report(command="validate", model=None, status="warn",
                               results=[shaped("validate", row) for row in rows]), width=36)
    assert "│ country x │" in text and "│ device    │" in text


def test_sparkline_scale_includes_the_threshold() -> None:
    flat_high = [8.09, 8.28, 8.11, 8.2]
    assert set(sparkline(flat_high, include=0.25)) <= {"▇", "█"}
    assert "▁" in sparkline(flat_high)  # the series' own min..max shows dips
    assert sparkline([0.0, 0.125, 0.25], include=0.25) == "▁▅█"
    row = {"threshold": 0.25, "series": [{"score": v} for v in flat_high]}
    assert "▁" not in format_keyed("series", row["series"], row)


def test_long_series_keep_the_sparkline_budget_with_each_runs_largest_value() -> None:
    values = [0.0] * 30
    values[7] = 1.0
    squeezed = squeeze(values, SPARK_WIDTH)
    assert len(squeezed) == SPARK_WIDTH and max(squeezed) == 1.0
    assert squeeze([1.0, None, 2.0], SPARK_WIDTH) == [1.0, None, 2.0]
    assert squeeze([None, None, 3.0, 1.0], 2) == [None, 3.0]


def wide_report() -> Report:
    """A report whose 120-column table cannot keep every column at 80 columns."""
    series = [{"window": f"2026-11-{d:02d}", "score": 8.09 + 0.19 * (d % 3) / 2}
              for d in range(1, 31)]
    rows = [{"status": "fail", "feature": "watch_minutes_7d", "method": "population_stability",
             "score": 8.2834, "max_score": 8.2834, "threshold": 0.25, "onset": "2026-11-01",
             "windows_crossed": 30, "series": series},
            {"status": "warn", "feature": "tenure_months", "method": "psi", "score": 0.40517,
             "max_score": 0.40517, "threshold": 0.25, "onset": "2026-11-15",
             "windows_crossed": 16, "series": series[:10]}]
    return Report(command="drift", model="tv-recommender", status="fail",
                  results=[shaped("drift", row) for row in rows], summary={})


def assert_fitted(report: Report, width: int) -> None:
    """Every line fits; every shown atom (number, date, status, name, sparkline) is whole on
    one line; the dropped columns are named in the note."""
    lines = render_table(report, width=width).splitlines()
    assert max(len(line) for line in lines) <= width
    flat = " ".join(" ".join(lines).split())
    for section, rows in sections(report):
        columns = columns_for(report, section, rows)
        cells = cells_of(columns, rows)
        layout = fit_columns(columns, cells, width)
        for column, _ in layout.shown:
            if column.kind in (ATOM, SPARK):
                for cell in cells[column.key]:
                    assert any(cell in line for line in lines), (column.key, cell)
        if layout.dropped:
            names = ", ".join(c.header for c in columns if c in layout.dropped)
            assert f"columns not shown at {width} columns: {names} (-f json has them all)" \
                in flat


@pytest.mark.parametrize("width", [80, 120])
def test_no_atom_is_ever_broken_across_lines(width: int) -> None:
    assert_fitted(wide_report(), width)


M = ["--model", "tv-recommender"]
STORY_COMMANDS = [
    ["skew", *M, "--current", "production@2026-11-15..2026-11-30"],
    ["skew", *M, "--reference", "training:v2", "--current",
     "production:v1@2026-11-01..2026-11-07", "--join-key", "request_id"],
    ["drift", *M, "--current", "production@2026-11-01..2026-11-30", "--window", "1d"],
    ["slices", *M, "--selector", "production@2026-11-15..2026-11-25", "--discover",
     "--compare-to", "production@2026-11-01..2026-11-14"],
    ["validate", *M, "--candidate", "v2", "--baseline", "v1", "--top", "5"],
    ["compare", *M, "--champion", "v1", "--challenger", "v2", "--selector",
     "production@2026-11-01..2026-11-25"],
    ["rca", *M, "--baseline", "production@2026-11-01..2026-11-14", "--current",
     "production@2026-11-15..2026-11-25"],
    ["estimate", *M, "--current", "production@2026-11-20..2026-11-30"],
]


@pytest.mark.parametrize("args", STORY_COMMANDS, ids=lambda a: a[0])
def test_story_reports_fit_80_and_120_columns(story, monkeypatch, args) -> None:
    doc = story(*args, "--fail-on", "never", "-f", "json").json()
    report = Report(command=doc["command"], model=doc["model"], status=doc["status"],
                    inputs=doc["inputs"], results=doc["results"], summary=doc["summary"],
                    recommendations=doc["recommendations"])
    for width in (80, 120):
        assert_fitted(report, width)
        monkeypatch.setenv("COLUMNS", str(width))
        table = story(*args, "--fail-on", "never", "-f", "table").stdout
        assert max(len(line) for line in table.splitlines()) <= width


def test_at_80_columns_the_drift_table_drops_columns_and_says_which() -> None:
    text = render_table(wide_report(), width=80)
    flat = " ".join(text.split())
    assert "columns not shown at 80 columns:" in flat and "method" in flat
    assert "2026-11-01" in text and "8.283" in text
    assert re.search(r"█{20}", text)  # high and flat, not drawn as dips


def test_an_interval_is_dropped_whole() -> None:
    columns = [Column("status", "status", 0), Column("value", "metric", 0),
               Column("ci_low", "CI low", 2), Column("ci_high", "CI high", 2)]
    rows = [{"status": "pass", "value": 0.7819, "ci_low": 0.7774, "ci_high": 0.7863}]
    cells = cells_of(columns, rows)
    assert not fit_columns(columns, cells, 38).dropped
    layout = fit_columns(columns, cells, 37)
    assert [c.key for c in layout.dropped] == ["ci_low", "ci_high"]
