"""`evalctl history`: the monitor's stored results, as one series per (check, feature)."""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Any

from evalctl.errors import InputError
from evalctl.lake.results import read_history
from evalctl.lake.store import Store
from evalctl.reports import Report
from evalctl.reports.model import worst_status


def history_report(store: Store, model: str, *, check: str | None = None,
                   feature: str | None = None, since: date | None = None) -> Report:
    """Every stored window, grouped into series; the latest status of each series decides."""
    entries = read_history(store.storage, model, check=check, since=since)
    series: dict[tuple[str, str | None], list[dict[str, Any]]] = {}
    for entry in entries:
        for r in entry["results"]:
            if feature is not None and r.get("feature") != feature:
                continue
            value = r.get("value")
            series.setdefault((entry["check"], r.get("feature")), []).append(
                {"window": entry["date"].isoformat(), "status": r["status"],
                 "value": value if isinstance(value, int | float) else None,
                 "label": value if isinstance(value, str) else None,
                 "summary": r.get("summary"), "decided_by": r.get("decided_by"),
                 "decided_by_text": r.get("decided_by_text")})
    if not series:
        what = " ".join(f"{k}={v}" for k, v in (("check", check), ("feature", feature),
                                                ("since", since)) if v)
        suffix = f" with {what}" if what else ""
        raise InputError(f"no monitor history for model {model!r}{suffix}"
                         f" in {store.location} (run `evalctl monitor` first)")
    results = [_series_row(key, points) for key, points in sorted(
        series.items(), key=lambda kv: (kv[0][0], kv[0][1] or ""))]
    results.sort(key=lambda r: {"fail": 0, "error": 1, "warn": 2}.get(r["status"], 3))
    return Report(command="history", model=model,
                  status=worst_status([r["status"] for r in results]),
                  inputs={"check": check, "feature": feature,
                          "since": since.isoformat() if since else None},
                  results=results,
                  summary={"windows": len({e["date"] for e in entries})})


def _series_row(key: tuple[str, str | None], points: list[dict[str, Any]]) -> dict[str, Any]:
    check, feature = key
    latest = points[-1]
    crossed = sum(p["status"] in ("warn", "fail") for p in points)
    return {"check": check, "feature": feature, "status": latest["status"],
            "latest": latest["value"] if latest["value"] is not None else latest["label"],
            "first_window": points[0]["window"], "last_window": latest["window"],
            "windows": len(points), "windows_alerting": crossed,
            "summary": latest["summary"], "decided_by": latest["decided_by"],
            "decided_by_text": latest["decided_by_text"],
            "series": [{"window_start": p["window"], "score": p["value"],
                        "status": p["status"], "decided_by": p["decided_by"]}
                       for p in points]}


CSV_COLUMNS = ("model", "check", "feature", "window", "status", "value", "decided_by")


def history_csv(report: Report) -> str:
    """A history report as CSV for spreadsheets: one row per (check, feature, window), oldest
    window first; empty cells for no feature, no numeric value, no data-quality verdict."""

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    rows = [(report.model, r["check"], r["feature"], p["window_start"], p["status"],
             p["score"], (p["decided_by"] or {}).get("check"))
            for r in report.results for p in r["series"]]
    for row in sorted(rows, key=lambda r: (r[3], r[1], r[2] or "")):
        writer.writerow(["" if v is None else repr(v) if isinstance(v, float) else v
                         for v in row])
    return buffer.getvalue()
