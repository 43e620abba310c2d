"""Cell formatting and the columns each result shape shows, shared by the table and markdown.

The columns themselves are declared on the result shapes (`evalctl.reports.shapes`): one
declaration per shape, whatever the command and renderer."""

from __future__ import annotations

import math
from datetime import datetime, time
from typing import Any

from evalctl.clock import rfc3339
from evalctl.reports import Report
from evalctl.reports.model import RESULT_STATUSES
from evalctl.reports.shape import ATOM, SPARK, TEXT, WORDS, Column
from evalctl.reports.shapes import shape_for

__all__ = ["ATOM", "SPARK", "TEXT", "WORDS", "Column"]  # the table's vocabulary, re-exported

SPARK_WIDTH = 24
# Columns that mean something only together (an interval's two ends) are dropped together.
DROPPED_TOGETHER = ({"ci_low", "ci_high"}, {"lower", "upper"})
SPARKS = "▁▂▃▄▅▆▇█"
STATUS_STYLE = {"pass": "green", "warn": "yellow", "fail": "bold red", "error": "magenta",
                "insufficient": "dim"}


def sections(report: Report) -> list[tuple[str | None, list[dict[str, Any]]]]:
    """Results grouped by their `section` key (in first-seen order); one table each."""
    groups: dict[str | None, list[dict[str, Any]]] = {}
    for row in report.results:
        groups.setdefault(row.get("section"), []).append(row)
    return list(groups.items())


def columns_for(report: Report, section: str | None = None,
                rows: list[dict[str, Any]] | None = None) -> list[Column]:
    """The columns of a section: its shape's declared columns without those that are empty
    in every row (e.g. `before` / `change` when nothing was compared)."""
    rows = rows if rows is not None else report.results
    return [c for c in shape_for(report.command, section).columns
            if c.key == "status" or any(row.get(c.key) is not None for row in rows)]


def format_keyed(key: str, value: Any, row: dict[str, Any] | None = None) -> str:
    """Cells whose key needs a special look (series as sparklines, alerts as text); `row` gives
    a sparkline the threshold its scale includes."""
    if key == "series" and isinstance(value, list):
        threshold = (row or {}).get("threshold")
        return sparkline(squeeze([p.get("score") for p in value], SPARK_WIDTH),
                         include=threshold if isinstance(threshold, int | float) else 0.0)
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


def squeeze(values: list[Any], width: int) -> list[Any]:
    """At most `width` points: a longer series is cut into `width` runs of neighbouring
    windows and each run shows its largest value (the worst, for drift scores)."""
    if len(values) <= width:
        return values
    out = []
    for i in range(width):
        run = [v for v in values[i * len(values) // width:(i + 1) * len(values) // width]
               if _finite(v)]
        out.append(max(run) if run else None)
    return out


def sparkline(values: list[Any], include: float | None = None) -> str:
    """Values as ▁▂▃▄▅▆▇█ (a gap for missing), scaled between the series' min and max widened
    to `include` (the threshold, or zero), so that a flat series far above its threshold is
    drawn flat and high, not as dips."""
    finite = [v for v in values if _finite(v)]
    if not finite:
        return " " * len(values)
    bounds = finite + ([include] if include is not None else [])
    low, high = min(bounds), max(bounds)
    span = high - low
    out = []
    for v in values:
        if not _finite(v):
            out.append(" ")
        elif span <= 0:
            out.append(SPARKS[0])
        else:
            out.append(SPARKS[min(int((v - low) / span * (len(SPARKS) - 1) + 0.5),
                                  len(SPARKS) - 1)])
    return "".join(out)


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) \
        and math.isfinite(value)


def format_cell(value: Any) -> str:
    """Round only here, at render time."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time() else \
            rfc3339(value, timespec="seconds").replace("T", " ")  # RFC 3339's readable form
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
    """The status, then the summary's scalars; a status counter only when it is not 0."""
    parts = [f"{k}: {format_cell(v)}" for k, v in report.summary.items()
             if not isinstance(v, dict | list) and not (k in RESULT_STATUSES and v == 0)]
    return f"{report.command} · status {report.status.upper()}" + (
        " · " + " · ".join(parts) if parts else "")


def input_lines(report: Report) -> list[tuple[str, str]]:
    """(name, description) of every selection the report read, from its `inputs`: the
    selector, the versions it resolved to, its first and last date and its rows."""
    lines: list[tuple[str, str]] = []
    if isinstance(report.inputs.get("selector"), str):
        lines.append(("selection", report.inputs["selector"]))
    for name, side in _sides(report):
        lines.append((name, describe_side(side)))
    return lines


def input_warnings(report: Report) -> list[str]:
    """Each side's warnings (several versions, exports of different shapes), once each."""
    seen: list[str] = []
    for _, side in _sides(report):
        for warning in side.get("warnings") or []:
            if warning not in seen:
                seen.append(str(warning))
    return seen


def describe_side(side: dict[str, Any]) -> str:
    if "selector" in side:
        head = str(side["selector"]) + (" -> " + ", ".join(side["versions"])
                                        if side.get("versions") else "")
    else:
        head = str(side["version"]) + (f" ({', '.join(side['envs'])})" if side.get("envs")
                                       else "")
    parts = [head]
    dates = side.get("dates")
    if isinstance(dates, list) and len(dates) == 2:
        parts.append(dates[0] if dates[0] == dates[1] else f"{dates[0]}..{dates[1]}")
    if isinstance(side.get("rows"), int):
        parts.append(f"{side['rows']:,} rows")
    labelled = side.get("labelled")
    if isinstance(labelled, int) and labelled != side.get("rows"):
        parts.append(f"{labelled:,} labelled")
    return " · ".join(parts)


def _sides(report: Report) -> list[tuple[str, dict[str, Any]]]:
    """The selections in `inputs`: objects with a selector, or (compare) a version and rows."""
    def is_side(value: Any) -> bool:
        return isinstance(value, dict) and ("selector" in value or
                                             {"version", "rows"} <= value.keys())

    sides = []
    for name, value in report.inputs.items():
        if is_side(value):
            sides.append((name.replace("_", " "), value))
        elif isinstance(value, list) and value and all(is_side(v) for v in value):
            sides += [(name.removesuffix("s").replace("_", " "), v) for v in value]
    return sides


def lead_lines(report: Report) -> list[str]:
    """Output drift and the aggregate verdict across features, printed before the per-feature
    tables (skew, drift; monitor per model): `summary.output_drift` and `summary.features`."""
    verdicts = report.summary.get("features")
    if not isinstance(verdicts, dict | list):
        return []
    lines = []
    outputs = report.summary.get("output_drift") or []
    for verdict in verdicts if isinstance(verdicts, list) else [verdicts]:
        model = verdict.get("model")
        mine = [o for o in outputs if o.get("model") == model]
        prefix = f"{model} · " if model and not report.model else ""  # several models
        if mine:
            lines.append(prefix + "outputs: " + " · ".join(
                f"{o['feature']} {o['method']} {format_cell(o['score'])} ({o['status']})"
                for o in mine))
        lines.append(f"{prefix}features: {verdict['moved']} of {verdict['checked']} moved "
                     f"materially · {verdict['significant']} with BH-adjusted p < 0.05 "
                     "(reported, not deciding)")
        lines.append(f"{prefix}verdict: {verdict['verdict_text']}")
    return lines
