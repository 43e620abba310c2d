"""Rich tables for people at a terminal."""

from __future__ import annotations

import io

from rich.console import Console
from rich.table import Table
from rich.text import Text

from evalctl.render.cells import (
    STATUS_STYLE,
    columns_for,
    format_keyed,
    sections,
    summary_line,
)
from evalctl.reports import Report


def render_table(report: Report, width: int | None = None) -> str:
    """The report as a Rich table, returned as text (with ANSI styles when ``width`` is None).

    Nothing is printed here: the console writes to a null file and only records, so the caller
    writes the text exactly once. With ``width=None`` the width is the terminal's (Rich measures
    the standard streams, or honours $COLUMNS)."""
    console = Console(record=True, width=width, file=_Null(),
                      force_terminal=width is None,
                      color_system="standard" if width is None else None)
    title = f"evalctl {report.command}" + (f" · {report.model}" if report.model else "")
    for section, rows in sections(report):
        columns = columns_for(report, section, rows)
        table = Table(title=title + (f" · {section}" if section else ""), title_justify="left",
                      header_style="bold")
        for key, header in columns:
            table.add_column(header, overflow="fold", no_wrap=key == "series")
        for row in rows:
            table.add_row(*(_cell(key, row.get(key)) for key, _ in columns))
        console.print(table)
    if not report.results:
        console.print(Text(title, style="bold"))
        console.print("(no results)")
    console.print(Text(summary_line(report), style=STATUS_STYLE.get(report.status, "")))
    for rec in report.recommendations:
        console.print(f"→ {rec}")
    return console.export_text(styles=width is None)


def _cell(key: str, value: object) -> Text | str:
    if key == "status" and isinstance(value, str):
        return Text(value, style=STATUS_STYLE.get(value, ""))
    return format_keyed(key, value)


class _Null(io.StringIO):
    """Swallows the console's own output: the recorded export is what we return."""

    def write(self, _: str) -> int:
        return 0
