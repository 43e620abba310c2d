"""Cell formatting and the columns each command shows, shared by the table and markdown."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import datetime, time
from typing import Any

from evalctl.reports import Report
from evalctl.reports.model import RESULT_STATUSES

ATOM, WORDS, TEXT, SPARK = "atom", "words", "text", "spark"


@dataclass(frozen=True)
class Column:
    """One column of a report table.

    `priority` 0 is always shown; when a table does not fit its width the columns with the
    highest number are dropped first (the rightmost of equal priority first). `kind` says how
    a cell may be laid out: `atom` cells (numbers, dates, statuses, names, ids) are never
    broken, `words` cells wrap at spaces inside the table, `text` (long free text) wraps or
    moves below the table, `spark` is a sparkline of at most SPARK_WIDTH characters."""

    key: str
    header: str
    priority: int = 1
    kind: str = ATOM


C = Column
# command[/section] -> its columns in display order; commands not listed show their scalar
# keys (kinds and priorities from GUESSED below).
COLUMNS: dict[str, list[Column]] = {
    "init": [C("created", "created", 0), C("path", "path", 0)],
    "ingest": [C("batch", "batch", 0), C("version", "version"), C("env", "env"),
               C("rows", "rows"), C("files", "files", 3), C("dates", "dates", 2, WORDS),
               C("already_ingested", "already", 2)],
    "ingest-actuals": [C("batch", "batch", 0), C("rows", "rows"), C("files", "files", 3),
                       C("dates", "dates", 2, WORDS), C("already_ingested", "already", 2)],
    "catalog": [C("model", "model", 0), C("version", "version", 0), C("env", "env", 0),
                C("first_date", "first"), C("last_date", "last"), C("days", "days", 3),
                C("rows", "rows"), C("batches", "batches", 2)],
    "batches": [C("batch", "batch", 0), C("kind", "kind", 2), C("model", "model", 3),
                C("version", "version"), C("env", "env"), C("rows", "rows"),
                C("files", "files", 3), C("created_at", "created", 2)],
    "doctor": [C("status", "status", 0), C("problem", "problem", 0, TEXT),
               C("path", "path", 1, TEXT)],
    "skew/distribution": [C("status", "status", 0), C("feature", "feature", 0),
                          C("kind", "kind", 3), C("method", "method", 2),
                          C("score", "score", 0), C("threshold", "fail at"),
                          C("decided_by_text", "decided by", 1, TEXT),
                          C("quality_alerts", "data quality", 2, TEXT),
                          C("summary", "reference → current", 2, TEXT)],
    "skew/transformation": [C("status", "status", 0), C("feature", "feature", 0),
                            C("compared", "joined rows", 2), C("mismatch_rate", "mismatch"),
                            C("median_ratio", "median ratio"),
                            C("median_offset", "median offset", 2),
                            C("hint", "looks like", 1, WORDS)],
    "skew/schema": [C("status", "status", 0), C("summary", "schema of the exports", 0, TEXT)],
    "drift": [C("status", "status", 0), C("feature", "feature", 0), C("method", "method", 3),
              C("score", "latest", 0), C("max_score", "max", 3), C("threshold", "fail at", 2),
              C("decided_by_text", "decided by", 1, TEXT), C("onset", "onset"),
              C("windows_crossed", "crossed", 2), C("series", "trend", 1, SPARK)],
    "slices/declared": [C("status", "status", 0), C("slice", "slice", 0, WORDS),
                        C("segment", "segment", 0), C("n", "n"), C("value", "metric", 0),
                        C("ci_low", "CI low", 2), C("ci_high", "CI high", 2),
                        C("gap_vs_overall", "vs overall"), C("p_adjusted", "p (BH)", 3),
                        C("compare_value", "before", 2), C("change", "change"),
                        C("relative_change", "vs trend", 2), C("reason", "note", 2, TEXT)],
    "slices/discovered": [C("status", "status", 0), C("segment", "discovered slice", 0, WORDS),
                          C("n", "n"), C("share", "share"), C("value", "error", 0),
                          C("gap_vs_overall", "vs overall"), C("score", "score", 2),
                          C("p_adjusted", "p (BH)", 2), C("id", "segment id", 3)],
    "monitor": [C("status", "status", 0), C("model", "model", 3), C("window", "window", 2),
                C("check", "check", 0), C("feature", "feature", 0, WORDS),
                C("value", "value", 0), C("decided_by_text", "decided by", 1, TEXT),
                C("threshold", "threshold"), C("summary", "evidence", 2, TEXT)],
    "history": [C("status", "latest", 0), C("check", "check", 0), C("feature", "feature", 0),
                C("latest", "value", 0), C("first_window", "from", 2),
                C("last_window", "to", 2), C("decided_by_text", "decided by", 1, TEXT),
                C("windows_alerting", "alerting"),
                C("series", "trend", 1, SPARK)],
    "validate": [C("status", "status", 0), C("slice", "slice", 0, WORDS),
                 C("segment", "segment", 0), C("metric", "metric", 0), C("n", "n", 2),
                 C("baseline", "baseline"), C("candidate", "candidate"), C("delta", "delta", 0),
                 C("why", "why", 2, TEXT)],
    "rca/change": [C("status", "status", 0), C("metric", "metric", 0),
                   C("baseline", "baseline", 0), C("current", "current", 0),
                   C("change", "change", 0), C("ci_low", "CI low", 2),
                   C("ci_high", "CI high", 2), C("n_baseline", "labelled before", 3),
                   C("n_current", "labelled after", 3), C("mode", "verdict")],
    "rca/causes": [C("status", "status", 0), C("feature", "feature", 0),
                   C("mode", "finding", 0), C("explained_pct", "mix explains %"),
                   C("explained", "mix explains"), C("mix", "mix", 2),
                   C("performance", "performance", 2), C("interaction", "interaction", 3),
                   C("drift_score", "drift", 2), C("skew_baseline_score", "vs ref before", 3),
                   C("skew_current_score", "vs ref after", 3),
                   C("top_segment", "top segment", 2, WORDS),
                   C("joint_importance", "joint importance", 2)],
    "rca/segments": [C("status", "status", 0), C("effect", "effect", 2),
                     C("segment", "segment", 0, WORDS), C("share_baseline", "share before", 2),
                     C("share_current", "share after"), C("metric_baseline", "metric there"),
                     C("rest_baseline", "elsewhere", 3), C("metric_current", "there after", 2),
                     C("explained", "explains"), C("explained_pct", "explains %"),
                     C("id", "segment id", 3)],
    "rca/outputs": [C("status", "status", 0), C("feature", "output", 0),
                    C("drift_method", "method", 3), C("drift_score", "drift"),
                    C("skew_baseline_score", "vs ref before", 2),
                    C("skew_current_score", "vs ref after", 2), C("mode", "finding")],
    "export": [C("status", "status", 0), C("rows", "rows", 0), C("format", "format", 2),
               C("file", "file"), C("where", "where", 2, TEXT), C("segment", "segment", 2),
               C("only_errors", "only errors", 3), C("sample", "sample", 3)],
    "estimate/windows": [C("status", "status", 0), C("window_start", "window", 0),
                         C("rows", "rows", 2), C("labelled_rows", "labelled", 2),
                         C("estimate", "estimated", 0), C("lower", "band low"),
                         C("upper", "band high"), C("realized_value", "realized"),
                         C("proxy_means", "proxy means", 3, TEXT), C("why", "why", 2, TEXT)],
    "estimate/proxies": [C("status", "status", 0), C("rank", "rank", 2),
                         C("proxy", "proxy", 0), C("mean", "latest mean"),
                         C("reference_mean", "reference"), C("diff", "diff"),
                         C("p_value", "p (Welch)", 2), C("psi", "PSI", 2),
                         C("corr_windows", "corr windows", 3), C("corr_rows", "corr rows", 3),
                         C("corr_label", "corr label", 2)],
    "estimate/estimate": [C("status", "status", 0), C("reason", "reason", 0, TEXT)],
}
# Columns of commands without a declaration (e.g. compare, whose headers are model versions):
# known keys get these; other keys are atoms of priority 1.
GUESSED: dict[str, Column] = {c.key: c for c in (
    C("status", "status", 0), C("slice", "slice", 0, WORDS), C("segment", "segment", 0),
    C("winner", "winner", 0), C("why", "why", 2, TEXT), C("summary", "summary", 2, TEXT),
    C("reason", "reason", 2, TEXT))}
SPARK_WIDTH = 24
# Columns that mean something only together (an interval's two ends) are dropped together.
DROPPED_TOGETHER = ({"ci_low", "ci_high"}, {"lower", "upper"})
SPARKS = "▁▂▃▄▅▆▇█"
STATUS_STYLE = {"pass": "green", "warn": "yellow", "fail": "bold red", "error": "magenta"}


def sections(report: Report) -> list[tuple[str | None, list[dict[str, Any]]]]:
    """Results grouped by their `section` key (in first-seen order); one table each."""
    groups: dict[str | None, list[dict[str, Any]]] = {}
    for row in report.results:
        groups.setdefault(row.get("section"), []).append(row)
    return list(groups.items())


def columns_for(report: Report, section: str | None = None,
                rows: list[dict[str, Any]] | None = None) -> list[Column]:
    """The columns of a section: the command's declared columns without those that are empty
    in every row (e.g. `before` / `change` when nothing was compared), or every scalar key of
    the rows for commands without a declaration."""
    rows = rows if rows is not None else report.results
    key = f"{report.command}/{section}" if section else report.command
    if key in COLUMNS:
        return [c for c in COLUMNS[key]
                if c.key == "status" or any(row.get(c.key) is not None for row in rows)]
    keys: list[str] = []
    for row in rows:
        for name, value in row.items():
            if name not in keys and name != "section" and not isinstance(value, dict | list):
                keys.append(name)
    return [replace(GUESSED[k], header=k) if k in GUESSED else C(k, k) for k in keys]


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
    """The status, then the summary's scalars; a status counter only when it is not 0."""
    parts = [f"{k}: {format_cell(v)}" for k, v in report.summary.items()
             if not isinstance(v, dict | list) and not (k in RESULT_STATUSES and v == 0)]
    return f"{report.command} · status {report.status.upper()}" + (
        " · " + " · ".join(parts) if parts else "")


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
