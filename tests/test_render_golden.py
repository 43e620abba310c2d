"""Rendered tables and markdown against golden files (refresh: pytest --update-golden).

The reports are fixed by hand, so a change here is a change of the renderers alone: columns,
number formats, sparklines, hidden empty columns, summary lines and recommendations.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from evalctl.render import render_markdown, render_table
from evalctl.reports import Report

STAMP = datetime(2026, 11, 26, tzinfo=UTC)


def slices_report(compared: bool) -> Report:
    rows = [
        {"section": "declared", "status": "pass", "slice": "overall", "segment": "all",
         "n": 33000, "value": 0.78187, "ci_low": 0.77741, "ci_high": 0.78627,
         "gap_vs_overall": 0.0, "p_adjusted": None, "reason": None},
        {"section": "declared", "status": "warn", "slice": "age", "segment": "[0, 25)",
         "n": 9846, "value": 0.61578, "ci_low": 0.60612, "ci_high": 0.62534,
         "gap_vs_overall": -0.16609, "p_adjusted": 0.0, "reason": None},
        {"section": "declared", "status": "pass", "slice": "country x device",
         "segment": "BR & tablet", "n": 12, "value": 0.5, "ci_low": 0.2538, "ci_high": 0.7462,
         "gap_vs_overall": -0.28187, "p_adjusted": None,
         "reason": "fewer than 30 labelled rows: not judged"},
        {"section": "discovered", "status": "warn", "segment": "age < 21 & device = mobile",
         "n": 3755, "share": 0.0782, "value": 0.38852, "gap_vs_overall": 0.16962,
         "score": 0.14671, "p_adjusted": 4.16e-133, "id": "age=[-inf,21)&device=mobile"},
    ]
    summary = {"metric": "accuracy", "overall": 0.78187, "segments": 48,
               "significantly_worse": 8}
    if compared:
        for row, before in zip(rows[:3], (0.8429, 0.6271, 0.8571), strict=True):
            row["compare_value"] = before
            row["change"] = row["value"] - before
            row["relative_change"] = None if row["slice"] == "overall" else \
                row["change"] - (0.78187 - 0.8429)
        summary |= {"emerged": 0, "worsened": 0}
    return Report(command="slices", model="tv-recommender", status="warn", results=rows,
                  summary=summary, generated_at=STAMP,
                  recommendations=["age = [0, 25): accuracy 0.616 (-0.166 vs overall)"])


def drift_report() -> Report:
    series = [{"window": f"2026-11-{d:02d}", "score": s}
              for d, s in enumerate([0.01, 0.02, 0.015, 0.3, 0.41, 0.38, None], start=1)]
    rows = [{"status": "fail", "feature": "age", "method": "psi", "score": 0.38,
             "max_score": 0.41, "threshold": 0.25, "onset": "2026-11-04",
             "windows_crossed": 3, "series": series},
            {"status": "pass", "feature": "country", "method": "jensen_shannon",
             "score": 0.0123, "max_score": 0.02, "threshold": 0.1, "onset": None,
             "windows_crossed": 0, "series": series[:3]}]
    return Report(command="drift", model="tv-recommender", status="fail", results=rows,
                  summary={"checked": 2, "fail": 1, "pass": 1}, generated_at=STAMP)


@pytest.mark.parametrize("name, report", [
    ("slices", slices_report(compared=False)),
    ("slices_compared", slices_report(compared=True)),
    ("drift", drift_report()),
])
def test_rendered_reports_match_golden_files(golden, name, report) -> None:
    golden(f"{name}.table.txt", render_table(report, width=120))
    golden(f"{name}.md", render_markdown(report))
