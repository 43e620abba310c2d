"""Markdown, for CI comments."""

from __future__ import annotations

from evalctl.render.cells import (
    columns_for,
    format_keyed,
    input_lines,
    input_warnings,
    lead_lines,
    sections,
    summary_line,
)
from evalctl.reports import Report

_ICON = {"pass": "✅ pass", "warn": "⚠️ warn", "fail": "❌ fail", "error": "💥 error",
         "insufficient": "⚪ insufficient"}


def render_markdown(report: Report) -> str:
    lines = [f"### evalctl {report.command}" + (f" · `{report.model}`" if report.model else ""),
             ""]
    lines += [f"- **{name}** {description}" for name, description in input_lines(report)]
    lines += [f"- ! {warning}" for warning in input_warnings(report)]
    if len(lines) > 2:
        lines.append("")
    lines += [f"**{summary_line(report)}**", ""]
    lines += [f"- {line}" for line in lead_lines(report)] + ([""] if lead_lines(report) else [])
    for section, rows in sections(report):
        columns = columns_for(report, section, rows)
        if section:
            lines += [f"#### {section}", ""]
        lines.append("| " + " | ".join(c.header for c in columns) + " |")
        lines.append("| " + " | ".join("---" for _ in columns) + " |")
        for row in rows:
            cells = [_ICON.get(str(row.get(c.key)), str(row.get(c.key))) if c.key == "status"
                     else format_keyed(c.key, row.get(c.key), row) for c in columns]
            lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
        lines.append("")
    for rec in report.recommendations:
        lines.append(f"- {rec}")
    return "\n".join(lines).rstrip() + "\n"
