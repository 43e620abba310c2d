"""Markdown, for CI comments."""

from __future__ import annotations

from evalctl.render.cells import columns_for, format_keyed, sections, summary_line
from evalctl.reports import Report

_ICON = {"pass": "✅ pass", "warn": "⚠️ warn", "fail": "❌ fail", "error": "💥 error"}


def render_markdown(report: Report) -> str:
    lines = [f"### evalctl {report.command}" + (f" · `{report.model}`" if report.model else ""),
             "", f"**{summary_line(report)}**", ""]
    for section, rows in sections(report):
        columns = columns_for(report, section, rows)
        if section:
            lines += [f"#### {section}", ""]
        lines.append("| " + " | ".join(h for _, h in columns) + " |")
        lines.append("| " + " | ".join("---" for _ in columns) + " |")
        for row in rows:
            cells = [_ICON.get(str(row.get(k)), str(row.get(k))) if k == "status"
                     else format_keyed(k, row.get(k)) for k, _ in columns]
            lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
        lines.append("")
    for rec in report.recommendations:
        lines.append(f"- {rec}")
    return "\n".join(lines).rstrip() + "\n"
