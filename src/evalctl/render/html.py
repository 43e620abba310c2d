"""HTML: one self-contained page per report — inline CSS and SVG, the JSON envelope embedded.

No network reference of any kind (no fonts, scripts or images from elsewhere), so the file
works from a file:// URL offline and as a CI attachment. The page is complete without
JavaScript; a few lines of inline script only make the tables sortable. Charts are drawn per
*kind of result* (the families below), not per command; rows of any other kind are a plain
table of the columns `render.cells.columns_for` declares, formatted by `format_keyed`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from datetime import datetime
from html import escape
from typing import Any

from evalctl.clock import rfc3339
from evalctl.render import svg
from evalctl.render.cells import (
    columns_for,
    format_cell,
    format_keyed,
    input_lines,
    input_warnings,
    sections,
    summary_line,
)
from evalctl.reports import Report

# command[/section] -> the family of its rows, i.e. how they are charted (rows of a key not
# listed get only their table). One entry per result kind; repoint at result shapes here.
# result shape (evalctl.reports.shapes) -> how its rows are charted; a shape not listed gets
# its table only. Charts are written once per family of shapes, never per command.
# The charts drawn above a table, by the (command, section) of its rows: each chart is drawn
# from one shape's fields (a feature verdict's histogram or series, a segment's metric and
# interval, a window point's band, a check row's timeline), for the uses that carry them.
CHARTS: dict[tuple[str, str | None], str] = {
    ("skew", "distribution"): "feature_verdict", ("drift", None): "feature_verdict",
    ("slices", "declared"): "segment_metric", ("slices", "discovered"): "segment_metric",
    ("validate", None): "segment_metric", ("compare", None): "segment_comparison",
    ("rca", "causes"): "decomposition", ("estimate", "windows"): "window_point",
    ("monitor", None): "check_row", ("history", None): "check_row",
}
MAX_SEGMENTS = 25  # rows drawn in one leaderboard; the table below holds every row
CHART_CATEGORIES = 15  # categories drawn in one histogram; the rest join (other)
LABELS = {"fail": "FAIL", "warn": "WARN", "pass": "PASS", "error": "ERROR",
          "insufficient": "INSUFFICIENT"}


def render_html(report: Report) -> str:
    """The whole page: header (what was compared, status, recommendations), one section per
    result table with its charts, and the envelope as `<script type="application/json">`."""
    title = f"evalctl {report.command}" + (f" · {report.model}" if report.model else "")
    if report.command == "report":
        contents, parts = health_parts(report)
        body = [header_html(report, title, level=1, contents=contents), *parts]
    else:
        body = [header_html(report, title, level=1), *report_sections(report, level=2)]
    return page(title, "".join(body), report.to_dict())


def health_parts(report: Report) -> tuple[str, list[str]]:
    """`evalctl report`: a table of contents, and each part drawn as its own command's
    report (header, charts, tables) one level down, or the reason it could not be made; the
    parts' recommendations are the page's own (prefixed with the part), shown once at the
    top."""
    toc = ['<nav class="toc"><strong>Contents</strong><ol>']
    out = []
    for row in report.results:
        name = str(row["part"])
        anchor = f"part-{name}"
        counts = f" {escape(str(row['summary']))}" if row.get("summary") else ""
        toc.append(f'<li><a href="#{anchor}">{escape(name)}</a> {badge(row["status"])}'
                   f"{counts}</li>")
        envelope = row.get("report")
        if not isinstance(envelope, dict):
            out.append(f'<section class="part"><h2 id="{anchor}">{escape(name)} '
                       f'{badge(row["status"])}</h2><p class="reason">'
                       f'{escape(str(row.get("reason")))}</p></section>')
            continue
        part = part_report(envelope)
        out.append('<section class="part">')
        out.append(header_html(part, f"{name} · evalctl {part.command}", level=2,
                               anchor=anchor, recommendations=False))
        out += report_sections(part, level=3, prefix=f"{name}-")
        out.append("</section>")
    toc.append("</ol></nav>")
    return "".join(toc), out


def part_report(envelope: dict[str, Any]) -> Report:
    """A part's report back from its JSON envelope (rendering reads its data only)."""
    return Report(command=envelope["command"], model=envelope["model"],
                  status=envelope["status"], inputs=envelope["inputs"],
                  results=envelope["results"], summary=envelope["summary"],
                  recommendations=envelope["recommendations"])


def page(title: str, body: str, envelope: dict[str, Any]) -> str:
    data = json.dumps(envelope, separators=(",", ":"), allow_nan=False, ensure_ascii=False)
    data = data.replace("<", "\\u003c")  # no `</script>` or `<!--` can end the block early
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            "<meta name=\"color-scheme\" content=\"light dark\">"
            f"<title>{escape(title)}</title><style>{CSS}</style></head><body><main>"
            f"{body}</main>"
            f'<script type="application/json" id="evalctl-report">{data}</script>'
            f"<script>{SORT_JS}</script></body></html>\n")


def badge(status: Any) -> str:
    """A status as a coloured label whose text says it (colour never carries it alone)."""
    name = str(status)
    return f'<span class="badge {escape(name)}">{escape(LABELS.get(name, name))}</span>'


def header_html(report: Report, title: str, level: int, anchor: str | None = None,
                contents: str = "", recommendations: bool = True) -> str:
    """What was compared (selectors resolved to versions, dates, rows), the status and the
    summary, the input warnings, `contents` (a table of contents) and the recommendations."""
    ident = f' id="{escape(anchor)}"' if anchor else ""
    out = [f'<header class="report"><h{level}{ident}>{escape(title)} {badge(report.status)}'
           f"</h{level}>"]
    if report.generated_at is not None and level == 1:
        stamp = rfc3339(report.generated_at.replace(microsecond=0))
        out.append(f'<p class="meta">generated {escape(stamp)}</p>')
    lines = input_lines(report)
    if lines:
        out.append('<dl class="inputs">' + "".join(
            f"<dt>{escape(name)}</dt><dd>{escape(text)}</dd>" for name, text in lines) + "</dl>")
    for warning in input_warnings(report):
        out.append(f'<p class="warning">⚠ {escape(warning)}</p>')
    out.append(f'<p class="summary">{escape(summary_line(report))}</p>')
    out.append(contents)
    if report.recommendations and recommendations:
        out.append('<section class="recs"><h' + str(level + 1) + ">Recommendations</h"
                   + str(level + 1) + "><ul>" + "".join(
                       f"<li>{escape(r)}</li>" for r in report.recommendations) + "</ul>"
                   "</section>")
    out.append("</header>")
    return "".join(out)


def report_sections(report: Report, level: int, prefix: str = "") -> list[str]:
    """One `<section>` per result table: its charts (by family), then its table."""
    out = []
    for section, rows in sections(report):
        name = section or "results"
        out.append(f'<section class="results" id="{escape(prefix + name)}">'
                   f"<h{level}>{escape(name)}</h{level}>")
        family = CHARTS.get((report.command, section))
        if family is not None:
            out += DRAW[family](report, rows)
        out.append(table_html(report, section, rows))
        out.append("</section>")
    if not report.results:
        out.append('<p class="empty">No results.</p>')
    return out


def table_html(report: Report, section: str | None, rows: list[dict[str, Any]]) -> str:
    columns = columns_for(report, section, rows)
    head = "".join(f'<th scope="col">{escape(c.header)}</th>' for c in columns)
    body = []
    for row in rows:
        cells = []
        for c in columns:
            value = row.get(c.key)
            if c.key == "status":
                cells.append(f'<td data-sort="{_rank(value)}">{badge(value)}</td>')
                continue
            text = format_keyed(c.key, value, row) if c.key != "series" else \
                _series_text(value)
            sort = f' data-sort="{value!r}"' if isinstance(value, int | float) \
                and not isinstance(value, bool) and math.isfinite(value) else ""
            kinds = ["num"] if sort else []
            kinds += ["atom"] if c.kind == "atom" else []
            cls = f' class="{" ".join(kinds)}"' if kinds else ""
            cells.append(f"<td{cls}{sort}>{escape(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return ('<div class="scroll"><table class="sortable"><thead><tr>' + head +
            "</tr></thead><tbody>" + "".join(body) + "</tbody></table></div>")


def _rank(status: Any) -> int:
    return ["fail", "error", "warn", "insufficient", "pass"].index(status) \
        if status in ("fail", "error", "warn", "insufficient", "pass") else 5


def _series_text(series: Any) -> str:
    """A series cell in a table: its number of windows (the chart above draws it)."""
    return f"{len(series)} windows" if isinstance(series, list) else format_cell(series)


# -- families ------------------------------------------------------------------------------

def feature_verdicts(report: Report, rows: list[dict[str, Any]]) -> list[str]:
    """Per feature, a figure: the histogram overlay (rows with `histogram`) or the score over
    windows (rows with `series`), captioned with the measure, its threshold and alerts."""
    cards = []
    for row in rows:
        chart = _feature_chart(row)
        if chart is None:
            continue
        cards.append(f'<figure class="card">{chart}<figcaption>{_caption(row)}</figcaption>'
                     "</figure>")
    return ['<div class="cards">' + "".join(cards) + "</div>"] if cards else []


def _feature_chart(row: dict[str, Any]) -> str | None:
    feature = str(row.get("feature"))
    hist = row.get("histogram")
    if isinstance(hist, dict):
        if hist.get("labels"):
            labels, ref, cur = _top_categories(hist["labels"], hist["reference"],
                                               hist["current"])
        else:
            labels = _bin_labels(hist.get("edges") or [])
            ref, cur = hist["reference"], hist["current"]
        return svg.histogram_overlay(
            f"{feature}: reference vs current ({_measure(row)})", labels, ref, cur,
            desc="share of each side's values per bin of the reference")
    series = row.get("series")
    if isinstance(series, list) and series:
        points = [svg.Point(_window(p.get("window_start")), _number(p.get("score")),
                            str(p.get("status", "pass"))) for p in series]
        onset = next((i for i, p in enumerate(series)
                      if row.get("onset") and p.get("window_start") == row["onset"]), None)
        return svg.series_chart(f"{feature}: {row.get('method') or 'score'} per window",
                                points, warn=_number(row.get("warn")),
                                fail=_number(row.get("threshold")), onset=onset)
    return None


def _caption(row: dict[str, Any]) -> str:
    parts = [f"<strong>{escape(str(row.get('feature')))}</strong> {badge(row.get('status'))}",
             escape(_measure(row))]
    if row.get("decided_by_text"):
        parts.append("decided by " + escape(str(row["decided_by_text"])))
    for alert in row.get("quality_alerts") or []:
        parts.append(f"{escape(str(alert['check']))} {escape(format_cell(alert['value']))} "
                     f"{badge(alert['status'])}")
    if row.get("onset"):
        parts.append(f"onset {escape(_window(row['onset']))}")
    if row.get("reason"):
        parts.append(escape(str(row["reason"])))
    return " · ".join(parts)


def _measure(row: dict[str, Any]) -> str:
    text = f"{row.get('method')} {format_cell(row.get('score'))}"
    if row.get("threshold") is not None:
        text += f", fail at {format_cell(row['threshold'])}"
    return text


def _top_categories(labels: list[str], reference: list[int], current: list[int]
                    ) -> tuple[list[str], list[int], list[int]]:
    """At most CHART_CATEGORIES of the reference's top categories in a chart; the others
    join `(other)` there (the JSON keeps every one)."""
    keep = len(labels) - 2
    if keep <= CHART_CATEGORIES:
        return labels, reference, current
    def fold(counts: list[int]) -> list[int]:
        return [*counts[:CHART_CATEGORIES], sum(counts[CHART_CATEGORIES:-1]), counts[-1]]

    return [*labels[:CHART_CATEGORIES], "(other)", labels[-1]], fold(reference), fold(current)


def _bin_labels(edges: list[float]) -> list[str]:
    """Right-closed bins around the inner edges: ≤ e0, (e0, e1], …, > em."""
    if not edges:
        return ["all"]
    cells = [format_cell(float(e)) for e in edges]
    return [f"≤{cells[0]}", *(f"≤{c}" for c in cells[1:]), f">{cells[-1]}"]


def segment_metrics(report: Report, rows: list[dict[str, Any]]) -> list[str]:
    """A leaderboard per metric: each segment's value with its interval's whisker against the
    overall value (validate: the candidate, its baseline as a hollow mark)."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(str(row.get("metric") or report.summary.get("metric") or "metric"),
                          []).append(row)
    charts = []
    for metric, members in groups.items():
        overall = next((r for r in members if r.get("slice") == "overall"), None)
        value_key = "candidate" if report.command == "validate" else "value"
        reference = _number(overall.get(value_key)) if overall else \
            _overall_value(report, metric, members)
        shown = [r for r in members if r is not overall][:MAX_SEGMENTS]
        intervals = [_segment_interval(report, r) for r in shown]
        other = "baseline" if report.command == "validate" else None
        more = f" ({len(shown)} of {len(members) - (overall is not None)} shown)" \
            if len(members) - (overall is not None) > len(shown) else ""
        title = f"{metric} per segment{more}, with its interval, against the overall value"
        charts.append(_wide(svg.interval_chart(
            title, intervals, reference=reference, reference_label="overall",
            other_label=f"{other} (hollow)" if other else None), title))
    return charts


def _overall_value(report: Report, metric: str, rows: list[dict[str, Any]]) -> float | None:
    """The whole selection's value of `metric` when no row holds it: the summary's overall
    for the report's metric, the mean error for discovered slices, else none."""
    if metric == report.summary.get("metric"):
        return _number(report.summary.get("overall"))
    if rows and rows[0].get("section") == "discovered":
        discovery = report.inputs.get("discovery")
        return _number(discovery.get("mean_error")) if isinstance(discovery, dict) else None
    return None


def _segment_interval(report: Report, row: dict[str, Any]) -> svg.Interval:
    discovered = row.get("section") == "discovered" or row.get("slice") is None
    label = str(row.get("segment")) if discovered else f"{row['slice']}={row.get('segment')}"
    if report.command == "validate":
        ci = row.get("candidate_ci") or [None, None]
        return svg.Interval(label, _number(row.get("candidate")), _number(ci[0]),
                            _number(ci[1]), str(row.get("status")),
                            other=_number(row.get("baseline")))
    return svg.Interval(label, _number(row.get("value")), _number(row.get("ci_low")),
                        _number(row.get("ci_high")), str(row.get("status")))


def segment_comparisons(report: Report, rows: list[dict[str, Any]]) -> list[str]:
    """A forest plot per challenger: each segment's difference from the champion with its
    interval, against no difference (0). Rows are long format: one per segment and model, a
    challenger's row carrying its `delta` and interval against the champion."""
    by_challenger: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        if row.get("role") == "challenger":
            by_challenger.setdefault(str(row.get("version")), []).append(row)
    charts = []
    for name, mine in by_challenger.items():
        intervals = []
        for row in mine[:MAX_SEGMENTS]:
            if _number(row.get("delta")) is None:
                continue
            label = "overall" if row.get("slice") == "overall" else \
                f"{row.get('slice')}={row.get('segment')}"
            intervals.append(svg.Interval(label, _number(row.get("delta")),
                                          _number(row.get("delta_ci_low")),
                                          _number(row.get("delta_ci_high")),
                                          str(row.get("status"))))
        if not intervals:
            continue
        metric = report.summary.get("metric") or "metric"
        title = (f"{name} minus {report.summary.get('champion', 'champion')}: {metric} per "
                 "segment, with its interval (forest plot)")
        charts.append(_wide(svg.interval_chart(title, intervals, reference=0.0,
                                               reference_label="no difference"), title))
    return charts


def decompositions(report: Report, rows: list[dict[str, Any]]) -> list[str]:
    """Per cause (worst first, at most four): the metric's change split into mix,
    performance and interaction, as a waterfall from before to after."""
    base, cur = _number(report.summary.get("baseline")), _number(report.summary.get("current"))
    if base is None or cur is None:
        return []
    metric = str(report.summary.get("metric") or "metric")
    cards = []
    for row in rows[:4]:
        terms = [(name, _number(row.get(name))) for name in
                 ("mix", "performance", "interaction")]
        steps = [(name, value) for name, value in terms if value is not None]
        if not steps:
            continue
        chart = svg.waterfall(f"{metric} change by {row.get('feature')}: mix, performance, "
                              "interaction", ("before", base), steps, ("after", cur))
        caption = (f"<strong>{escape(str(row.get('feature')))}</strong> "
                   f"{badge(row.get('status'))} · top segment "
                   f"{escape(str(row.get('top_segment') or '—'))}")
        cards.append(f'<figure class="card">{chart}<figcaption>{caption}</figcaption>'
                     "</figure>")
    return ['<div class="cards">' + "".join(cards) + "</div>"] if cards else []


def window_points(report: Report, rows: list[dict[str, Any]]) -> list[str]:
    """The estimate per window with its band, the realised value where labels exist (hollow
    marks) and the reference's realised value."""
    metric = report.summary.get("metric") or "metric"
    ordered = sorted((r for r in rows if r.get("metric") == metric),  # the headline metric's
                     key=lambda r: str(r.get("window_start")))
    points = [svg.Point(_window(r.get("window_start")), _number(r.get("estimated")),
                        str(r.get("status")), _number(r.get("lower")), _number(r.get("upper")),
                        _number(r.get("realized"))) for r in ordered]
    title = (f"estimated {metric} per window with its band; realised (hollow, dashed) where "
             "labels exist; the reference's realised value")
    chart = svg.series_chart(title, points,
                             reference=_number(report.inputs.get("reference_realized")))
    return [_wide(chart, title)]


def check_rows(report: Report, rows: list[dict[str, Any]]) -> list[str]:
    """The timeline of checks: one row per check (and feature), one column per window."""
    def windows_of(row: dict[str, Any]) -> list[tuple[str, str]]:
        if isinstance(row.get("series"), list):
            return [(_window(p.get("window_start")), str(p.get("status")))
                    for p in row["series"]]
        return [(_window(row.get("window")), str(row.get("status")))]

    all_windows = sorted({w for row in rows for w, _ in windows_of(row)})
    several_models = len({row.get("model") for row in rows}) > 1
    keys = ("model", "check", "feature") if several_models else ("check", "feature")
    grid = []
    for row in rows:
        by_window = dict(windows_of(row))
        label = " · ".join(str(row[k]) for k in keys if row.get(k))
        grid.append((label, [by_window.get(w) for w in all_windows]))
    title = "status of each check per window (F fail, W warn, ✓ pass, E error, ? insufficient)"
    return [_wide(svg.timeline(title, all_windows, grid), title)]


DRAW: dict[str, Callable[[Report, list[dict[str, Any]]], list[str]]] = {
    "feature_verdict": feature_verdicts,
    "segment_metric": segment_metrics,
    "segment_comparison": segment_comparisons,
    "decomposition": decompositions,
    "window_point": window_points,
    "check_row": check_rows,
}


def _number(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def _window(value: Any) -> str:
    """A window's start as a day when it starts at midnight, else to the minute."""
    if isinstance(value, datetime):
        value = rfc3339(value)
    text = str(value)
    if text.endswith("T00:00:00Z"):
        return text[:10]
    return text.replace("T", " ")[:16] if "T" in text else text


def _wide(chart: str, caption: str) -> str:
    return f'<figure class="wide">{chart}<figcaption>{escape(caption)}</figcaption></figure>'



CSS = """
:root{--bg:#fff;--fg:#1d2127;--muted:#5d6670;--line:#d5dae0;--panel:#f5f7f9;
--ref:#8d99a6;--cur:#2f6fdf;--fail:#c62828;--warn:#a86200;--pass:#2e7d32;--err:#8e24aa;
--band:rgba(47,111,223,.16);--onset:#6a1b9a}
@media (prefers-color-scheme:dark){:root{--bg:#15181c;--fg:#e4e7eb;--muted:#9aa4ae;
--line:#343a42;--panel:#1d2126;--ref:#7d8894;--cur:#6ea0ff;--fail:#ff6b6b;--warn:#f0b34a;
--pass:#66c06b;--err:#d67be8;--band:rgba(110,160,255,.2);--onset:#c59cf0}}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);
font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
main{max-width:1180px;margin:0 auto;padding:20px 24px 48px}
h1{font-size:1.6em;margin:.2em 0}h2{font-size:1.3em;margin:1.4em 0 .4em;
border-bottom:1px solid var(--line);padding-bottom:.2em}h3{font-size:1.1em;margin:1em 0 .3em}
.meta,.summary{color:var(--muted)}.summary{font-weight:600}
dl.inputs{display:grid;grid-template-columns:max-content 1fr;gap:2px 12px;margin:.6em 0}
dl.inputs dt{font-weight:600}dl.inputs dd{margin:0;font-variant-numeric:tabular-nums}
.warning{color:var(--warn);margin:.2em 0}
.recs{background:var(--panel);border-left:4px solid var(--cur);padding:4px 14px;
margin:10px 0}.recs ul{margin:.3em 0;padding-left:1.2em}
.badge{display:inline-block;font-size:.72em;font-weight:700;letter-spacing:.04em;
padding:1px 7px;border-radius:9px;border:1.5px solid currentColor;vertical-align:middle}
.badge.fail{color:var(--fail)}.badge.warn{color:var(--warn)}.badge.pass{color:var(--pass)}
.badge.error{color:var(--err)}.badge.insufficient{color:var(--muted)}
nav.toc{background:var(--panel);padding:6px 16px;margin:12px 0}
nav.toc ol{margin:.3em 0}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(420px,1fr));gap:14px}
figure{margin:0}figure.card{border:1px solid var(--line);border-radius:6px;padding:6px 8px}
figure.wide{margin:10px 0;max-width:780px}figcaption{font-size:.9em;padding:2px 4px}
svg.chart{width:100%;height:auto;display:block}
svg .grid{stroke:var(--line);stroke-width:1}svg .axis{stroke:var(--muted);stroke-width:1}
svg text{fill:var(--fg);font-size:11px}svg .tick{fill:var(--muted);font-size:10px}
svg .ref{fill:var(--ref)}svg .cur{fill:var(--cur)}
svg .line{fill:none;stroke:var(--cur);stroke-width:2}
svg .realized{fill:none;stroke:var(--fg);stroke-width:1.5;stroke-dasharray:4 3}
svg .band{fill:var(--band)}
svg .limit{stroke-width:1.5;stroke-dasharray:6 4}svg .limit.fail{stroke:var(--fail)}
svg .limit.warn{stroke:var(--warn)}svg .refline{stroke:var(--muted);stroke-width:1.5;
stroke-dasharray:3 3}svg text.refline{fill:var(--muted);stroke:none}
svg text.fail{fill:var(--fail)}svg text.warn{fill:var(--warn)}svg text.pass{fill:var(--pass)}
svg text.error{fill:var(--err)}
svg .onset{stroke:var(--onset);stroke-width:1.5}svg text.onset{fill:var(--onset)}
svg .mark{stroke:var(--bg);stroke-width:1}svg .mark.fail{fill:var(--fail)}
svg .mark.warn{fill:var(--warn)}svg .mark.pass,svg .mark.insufficient{fill:var(--pass)}
svg .mark.error{fill:var(--err)}svg .mark.hollow{fill:var(--bg);stroke:var(--fg);
stroke-width:1.5}
svg .whisker{stroke:var(--muted);stroke-width:2}svg .whisker.fail{stroke:var(--fail)}
svg .whisker.warn{stroke:var(--warn)}
svg .wf.total{fill:var(--ref)}svg .wf.up{fill:var(--pass)}svg .wf.down{fill:var(--fail)}
svg .cell{fill:var(--line)}svg .cell.fail{fill:var(--fail)}svg .cell.warn{fill:var(--warn)}
svg .cell.pass{fill:var(--pass)}svg .cell.error{fill:var(--err)}
svg .cell-text{fill:var(--bg);font-size:11px;font-weight:700}
.scroll{overflow-x:auto;margin:10px 0}
table{border-collapse:collapse;width:100%;font-size:.9em}
th,td{border-bottom:1px solid var(--line);padding:3px 8px;text-align:left;vertical-align:top}
th{background:var(--panel);position:sticky;top:0;cursor:pointer}
td.num{text-align:right;font-variant-numeric:tabular-nums}td.atom{white-space:nowrap}
@media print{body{font-size:11px}main{max-width:none;padding:0}
.cards{grid-template-columns:repeat(2,1fr)}figure,tr{break-inside:avoid}
th{position:static}.scroll{overflow:visible}nav.toc{display:none}}
@media (max-width:700px){.cards{grid-template-columns:1fr}}
"""

# Optional: the page is complete without it. Click a column header to sort by it.
SORT_JS = """
document.querySelectorAll("table.sortable th").forEach(function(th,i){
th.addEventListener("click",function(){var body=th.closest("table").tBodies[0];
var rows=Array.prototype.slice.call(body.rows),up=th.dataset.dir!=="asc";
th.dataset.dir=up?"asc":"desc";rows.sort(function(a,b){
var x=a.cells[i],y=b.cells[i],p=x.dataset.sort,q=y.dataset.sort;
var r=(p!==undefined&&q!==undefined)?(parseFloat(p)-parseFloat(q))
:x.textContent.localeCompare(y.textContent);return up?r:-r;});
rows.forEach(function(r){body.appendChild(r);});});});
"""
