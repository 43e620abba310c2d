"""Cell formatting and the columns each command shows, shared by the table and markdown."""

from __future__ import annotations

import math
from datetime import datetime, time
from typing import Any

from evalctl.reports import Report

# command -> [(result key, header)]; commands not listed show their scalar keys.
COLUMNS: dict[str, list[tuple[str, str]]] = {
    "init": [("created", "created"), ("path", "path")],
    "ingest": [("batch", "batch"), ("version", "version"), ("env", "env"), ("rows", "rows"),
               ("files", "files"), ("dates", "dates"), ("already_ingested", "already")],
    "ingest-actuals": [("batch", "batch"), ("rows", "rows"), ("files", "files"),
                       ("dates", "dates"), ("already_ingested", "already")],
    "catalog": [("model", "model"), ("version", "version"), ("env", "env"),
                ("first_date", "first"), ("last_date", "last"), ("days", "days"),
                ("rows", "rows"), ("batches", "batches")],
    "batches": [("batch", "batch"), ("kind", "kind"), ("model", "model"),
                ("version", "version"), ("env", "env"), ("rows", "rows"), ("files", "files"),
                ("created_at", "created")],
    "doctor": [("status", "status"), ("problem", "problem"), ("path", "path")],
    "skew/distribution": [("status", "status"), ("feature", "feature"), ("kind", "kind"),
                          ("method", "method"), ("score", "score"), ("threshold", "fail at"),
                          ("decided_by_text", "decided by"),
                          ("quality_alerts", "data quality"), ("summary", "reference → current")],
    "skew/transformation": [("status", "status"), ("feature", "feature"),
                            ("compared", "joined rows"), ("mismatch_rate", "mismatch"),
                            ("median_ratio", "median ratio"), ("median_offset", "median offset"),
                            ("hint", "looks like")],
    "skew/schema": [("status", "status"), ("summary", "schema of the exports")],
    "drift": [("status", "status"), ("feature", "feature"), ("method", "method"),
              ("score", "latest"), ("max_score", "max"), ("threshold", "fail at"),
              ("decided_by_text", "decided by"),
              ("onset", "onset"), ("windows_crossed", "crossed"), ("series", "trend")],
    "slices/declared": [("status", "status"), ("slice", "slice"), ("segment", "segment"),
                        ("n", "n"), ("value", "metric"), ("ci_low", "CI low"),
                        ("ci_high", "CI high"), ("gap_vs_overall", "vs overall"),
                        ("p_adjusted", "p (BH)"), ("compare_value", "before"),
                        ("change", "change"), ("relative_change", "vs trend"),
                        ("reason", "note")],
    "slices/discovered": [("status", "status"), ("segment", "discovered slice"), ("n", "n"),
                          ("share", "share"), ("value", "error"),
                          ("gap_vs_overall", "vs overall"), ("score", "score"),
                          ("p_adjusted", "p (BH)"), ("id", "segment id")],
    "monitor": [("status", "status"), ("model", "model"), ("window", "window"),
                ("check", "check"), ("feature", "feature"), ("value", "value"),
                ("decided_by_text", "decided by"),
                ("threshold", "threshold"), ("summary", "evidence")],
    "history": [("status", "latest"), ("check", "check"), ("feature", "feature"),
                ("latest", "value"), ("first_window", "from"), ("last_window", "to"),
                ("decided_by_text", "decided by"),
                ("windows_alerting", "alerting"), ("series", "trend")],
    "validate": [("status", "status"), ("slice", "slice"), ("segment", "segment"),
                 ("metric", "metric"), ("n", "n"), ("baseline", "baseline"),
                 ("candidate", "candidate"), ("delta", "delta"), ("why", "why")],
    "rca/change": [("status", "status"), ("metric", "metric"), ("baseline", "baseline"),
                   ("current", "current"), ("change", "change"), ("ci_low", "CI low"),
                   ("ci_high", "CI high"), ("n_baseline", "labelled before"),
                   ("n_current", "labelled after"), ("mode", "verdict")],
    "rca/causes": [("status", "status"), ("feature", "feature"), ("mode", "finding"),
                   ("explained_pct", "mix explains %"),
                   ("explained", "mix explains"), ("mix", "mix"), ("performance", "performance"),
                   ("interaction", "interaction"), ("drift_score", "drift"),
                   ("skew_baseline_score", "vs ref before"), ("skew_current_score", "vs ref after"),
                   ("top_segment", "top segment")],
    "rca/segments": [("status", "status"), ("effect", "effect"), ("segment", "segment"),
                     ("share_baseline", "share before"), ("share_current", "share after"),
                     ("metric_baseline", "metric there"), ("rest_baseline", "elsewhere"),
                     ("metric_current", "there after"), ("explained", "explains"),
                     ("explained_pct", "explains %"),
                     ("id", "segment id")],
    "rca/outputs": [("status", "status"), ("feature", "output"), ("drift_method", "method"),
                    ("drift_score", "drift"), ("skew_baseline_score", "vs ref before"),
                    ("skew_current_score", "vs ref after"), ("mode", "finding")],
    "export": [("status", "status"), ("rows", "rows"), ("format", "format"), ("file", "file"),
               ("where", "where"), ("segment", "segment"), ("only_errors", "only errors"),
               ("sample", "sample")],
    "estimate/windows": [("status", "status"), ("window_start", "window"), ("rows", "rows"),
                         ("labelled_rows", "labelled"), ("estimate", "estimated"),
                         ("lower", "band low"), ("upper", "band high"),
                         ("realized_value", "realized"),
                         ("proxy_means", "proxy means"), ("why", "why")],
    "estimate/proxies": [("status", "status"), ("rank", "rank"), ("proxy", "proxy"),
                         ("mean", "latest mean"), ("reference_mean", "reference"),
                         ("diff", "diff"), ("p_value", "p (Welch)"), ("psi", "PSI"),
                         ("corr_windows", "corr windows"), ("corr_rows", "corr rows"),
                         ("corr_label", "corr label")],
    "estimate/estimate": [("status", "status"), ("reason", "reason")],
}
SPARKS = "▁▂▃▄▅▆▇█"
STATUS_STYLE = {"pass": "green", "warn": "yellow", "fail": "bold red", "error": "magenta"}


def sections(report: Report) -> list[tuple[str | None, list[dict[str, Any]]]]:
    """Results grouped by their `section` key (in first-seen order); one table each."""
    groups: dict[str | None, list[dict[str, Any]]] = {}
    for row in report.results:
        groups.setdefault(row.get("section"), []).append(row)
    return list(groups.items())


def columns_for(report: Report, section: str | None = None,
                rows: list[dict[str, Any]] | None = None) -> list[tuple[str, str]]:
    """The (key, header) columns of a section: the command's declared columns without those
    that are empty in every row (e.g. `before` / `change` when nothing was compared), or
    every scalar key of the rows for commands without a declaration."""
    rows = rows if rows is not None else report.results
    key = f"{report.command}/{section}" if section else report.command
    if key in COLUMNS:
        return [(k, header) for k, header in COLUMNS[key]
                if k == "status" or any(row.get(k) is not None for row in rows)]
    keys: list[str] = []
    for row in rows:
        for key, value in row.items():
            if key not in keys and not isinstance(value, dict | list):
                keys.append(key)
    return [(k, k) for k in keys]


def format_keyed(key: str, value: Any) -> str:
    """Cells whose key needs a special look (series as sparklines, alerts as text)."""
    if key == "series" and isinstance(value, list):
        return sparkline([p.get("score") for p in value])
    if key == "quality_alerts" and isinstance(value, list):
        return "; ".join(f"{a['check']} {format_cell(a['value'])} ({a['status']})"
                         for a in value) or "ok"
    if key == "share" and isinstance(value, float):
        return f"{value:.1%}"
    if key in ("gap_vs_overall", "change", "relative_change", "delta") \
            and isinstance(value, float):
        return f"{value:+.4f}"
    if key == "mismatch_rate" and isinstance(value, float):
        return f"{value:.1%}"
    return format_cell(value)


def sparkline(values: list[Any]) -> str:
    """Values as ▁▂▃▄▅▆▇█ scaled between the series' own min and max (a gap for missing)."""
    finite = [v for v in values if isinstance(v, int | float) and math.isfinite(v)]
    if not finite:
        return " " * len(values)
    low, high = min(finite), max(finite)
    span = high - low
    out = []
    for v in values:
        if not (isinstance(v, int | float) and math.isfinite(v)):
            out.append(" ")
        elif span <= 0:
            out.append(SPARKS[0])
        else:
            out.append(SPARKS[min(int((v - low) / span * (len(SPARKS) - 1) + 0.5),
                                  len(SPARKS) - 1)])
    return "".join(out)


def format_cell(value: Any) -> str:
    """Round only here, at render time."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time() else \
            value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, float):
        if not math.isfinite(value):
            return "—"
        if value == 0 or 1e-3 <= abs(value) < 1e6:
            return f"{value:.4g}" if abs(value) < 1 else f"{value:,.3f}".rstrip("0").rstrip(".")
        return f"{value:.3g}"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, list):
        if len(value) > 3:
            return f"{format_cell(value[0])} … {format_cell(value[-1])} ({len(value)})"
        return ", ".join(format_cell(v) for v in value)
    return str(value)


def summary_line(report: Report) -> str:
    parts = [f"{k}: {format_cell(v)}" for k, v in report.summary.items()
             if not isinstance(v, dict | list)]
    return f"{report.command} · status {report.status.upper()}" + (
        " · " + " · ".join(parts) if parts else "")
