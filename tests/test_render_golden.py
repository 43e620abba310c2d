"""Rendered tables and markdown against golden files (refresh: pytest --update-golden).

The reports are fixed by hand (their values are taken from the sample story), so a change here
is a change of the renderers alone: columns, number formats, sparklines, hidden empty columns,
the inputs header and its warnings, columns dropped or moved below at 80 and 120 columns,
summary lines and recommendations.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from tests.helpers import shaped

from evalctl.render import render_markdown, render_table
from evalctl.reports import Report

STAMP = datetime(2026, 11, 26, tzinfo=UTC)


TRAINING = {"selector": "training", "rows": 81000, "versions": ["v1", "v2"],
            "dates": ["2026-09-01", "2026-11-07"],
            "warnings": ["training mixes 2 model versions (v1 60,000 rows, v2 21,000 rows); "
                         "name one to compare a single model, e.g. training:v1",
                         "training: 21,000 of 81,000 rows carry no score (their export lacked "
                         "it: batch cd86736c v2)"]}
LATE_NOVEMBER = {"selector": "production@2026-11-15..2026-11-30", "rows": 48000,
                 "versions": ["v1"], "dates": ["2026-11-15", "2026-11-30"], "warnings": []}


def slices_report(compared: bool) -> Report:
    rows = [
        {"section": "declared", "status": "pass", "slice": "overall", "segment": "all",
         "n": 33000, "value": 0.78187, "ci_low": 0.77741, "ci_high": 0.78627,
         "gap_vs_overall": 0.0, "p_adjusted": None, "reason": None},
        {"section": "declared", "status": "warn", "slice": "age", "segment": "[0, 25)",
         "n": 9846, "value": 0.61578, "ci_low": 0.60612, "ci_high": 0.62534,
         "gap_vs_overall": -0.16609, "p_adjusted": 0.0, "reason": None},
        {"section": "declared", "status": "insufficient", "slice": "country x device",
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
    inputs: dict = {"selection": {"selector": "production@2026-11-15..2026-11-25",
                                  "rows": 33000, "labelled": 33000}, "metric": "accuracy"}
    if compared:
        inputs["compare_to"] = {"selector": "production@2026-11-01..2026-11-14"}
    return Report(command="slices", model="tv-recommender", status="warn",
                  results=[shaped("slices", row) for row in rows],
                  inputs=inputs,
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
    return Report(command="drift", model="tv-recommender", status="fail",
                  results=[shaped("drift", row) for row in rows],
                  inputs={"reference": TRAINING | {"warnings": TRAINING["warnings"][:1]},
                          "current": LATE_NOVEMBER, "window": "1d"},
                  summary={"windows": 7}, generated_at=STAMP)


def skew_report() -> Report:
    def row(status: str, feature: str, kind: str, method: str, score: float, threshold: float,
            summary: str, alerts: list[dict] | None = None) -> dict:
        return {"section": "distribution", "status": status, "feature": feature, "kind": kind,
                "method": method, "score": score, "threshold": threshold,
                "quality_alerts": alerts or [], "summary": summary}

    rows = [
        row("fail", "watch_minutes_7d", "numeric", "psi", 8.2791, 0.25,
            "mean 412.1 -> 2.478e+04, std 386.9 -> 2.358e+04",
            [{"check": "out_of_range", "value": 0.7661, "status": "fail"}]),
        row("fail", "age", "numeric", "psi", 0.34884, 0.25,
            "mean 44.56 -> 38.11, std 12.64 -> 15.13"),
        row("pass", "device", "categorical", "jensen_shannon", 0.090871, 0.2,
            "largest share changes: mobile 29.5% -> 39.2%, tv 40.8% -> 33.3%, "
            "web 19.8% -> 17.4%"),
        {"section": "schema", "status": "pass", "summary": "same columns"},
    ]
    return Report(command="skew", model="tv-recommender", status="fail",
                  inputs={"reference": TRAINING, "current": LATE_NOVEMBER},
                  results=[shaped("skew", row) for row in rows],
                                    generated_at=STAMP,
                  recommendations=["2 column(s) differ from training: watch_minutes_7d, age"])


def monitor_report() -> Report:
    def row(status: str, check: str, feature: str | None, value: object,
            threshold: float | None, summary: str) -> dict:
        return {"status": status, "model": "tv-recommender", "window": "2026-11-30",
                "check": check, "feature": feature, "value": value, "threshold": threshold,
                "summary": summary}

    rows = [
        row("fail", "drift", "watch_minutes_7d", 8.2834, 0.25,
            "watch_minutes_7d: psi 8.28, drifting for 7 day(s)"),
        row("fail", "performance", "accuracy", 0.77167, 0.82059,
            "realised accuracy 0.7717 [0.7563, 0.7863] vs reference 0.8406 (tolerance 0.02)"),
        row("warn", "slices", "country x device=FR & mobile", 0.661, 0.8733,
            "country x device=FR & mobile: accuracy 0.661 vs 0.873 in validation (-0.212; "
            "-0.143 beyond the overall change, significant)"),
        row("warn", "retraining", None, "retrain now", None,
            "retrain now: performance below tolerance; drift sustained ≥ 3 days in "
            "watch_minutes_7d, age; 62,514 labelled rows since the training window"),
        row("pass", "volume", None, 3000, 3000.0,
            "3,000 rows vs usual 3,000 (+0%; warn at ±50%)"),
    ]
    return Report(command="monitor", model="tv-recommender", status="fail",
                  inputs={"models": ["tv-recommender"], "windows": 1},
                  results=[shaped("monitor", row) for row in rows],
                  summary={"new_alerts": 2}, generated_at=STAMP)


REPORTS = [
    ("slices", slices_report(compared=False)),
    ("slices_compared", slices_report(compared=True)),
    ("drift", drift_report()),
    ("skew", skew_report()),
    ("monitor", monitor_report()),
]


@pytest.mark.parametrize("name, report", REPORTS)
@pytest.mark.parametrize("width", [80, 120])
def test_rendered_tables_match_golden_files(golden, name, report, width) -> None:
    text = render_table(report, width=width)
    assert max(len(line) for line in text.splitlines()) <= width
    golden(f"{name}.{width}.table.txt", text)


@pytest.mark.parametrize("name, report", REPORTS)
def test_rendered_markdown_matches_golden_files(golden, name, report) -> None:
    golden(f"{name}.md", render_markdown(report))
