"""Rich tables for people at a terminal."""

from __future__ import annotations

import io
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from evalctl.render.cells import (
    ATOM,
    SPARK,
    STATUS_STYLE,
    WORDS,
    Column,
    columns_for,
    format_keyed,
    input_lines,
    input_warnings,
    lead_lines,
    sections,
    summary_line,
)
from evalctl.render.fit import Layout, fit_columns
from evalctl.reports import Report


def render_table(report: Report, width: int | None = None) -> str:
    """The report as Rich tables, returned as text (with ANSI styles when ``width`` is None).

    Nothing is printed here: the console writes to a null file and only records, so the caller
    writes the text exactly once. With ``width=None`` the width is the terminal's (Rich measures
    the standard streams, or honours $COLUMNS). Tables are fitted to that width (see
    `evalctl.render.fit`)."""
    console = Console(record=True, width=width, file=_Null(),
                      force_terminal=width is None,
                      color_system="standard" if width is None else None)
    title = f"evalctl {report.command}" + (f" · {report.model}" if report.model else "")
    console.print(Text(title, style="bold"))
    _print_inputs(console, report)
    for line in lead_lines(report):
        console.print(Text(line))
    for section, rows in sections(report):
        if section:
            console.print(Text(f"{report.command} · {section}", style="bold"))
        _print_section(console, columns_for(report, section, rows), rows)
    if not report.results:
        console.print("(no results)")
    console.print(Text(summary_line(report), style=STATUS_STYLE.get(report.status, "")))
    for rec in report.recommendations:
        console.print(f"→ {rec}")
    text = console.export_text(styles=width is None)
    if width is None:
        return text
    return "".join(line.rstrip() + "\n" for line in text.splitlines())


def _print_inputs(console: Console, report: Report) -> None:
    """What was compared: one line per selection, then its warnings as `! ...` lines."""
    lines = input_lines(report)
    if lines:
        grid = Table.grid(padding=(0, 2))
        grid.add_column(no_wrap=True, style="bold")
        grid.add_column()
        for name, description in lines:
            grid.add_row(name, description)
        console.print(grid)
    for warning in input_warnings(report):
        console.print(Text(f"! {warning}", style="yellow"))


def _print_section(console: Console, columns: list[Column], rows: list[dict[str, Any]]) -> None:
    cells = {c.key: [format_keyed(c.key, row.get(c.key), row) for row in rows]
             for c in columns}
    layout = fit_columns(columns, cells, console.width)
    table = Table(header_style="bold")
    for column, width in layout.shown:
        table.add_column(Text(column.header, no_wrap=False), width=width,
                         no_wrap=column.kind in (ATOM, SPARK), overflow="fold")
    for i, row in enumerate(rows):
        table.add_row(*(_cell(c.key, row.get(c.key), cells[c.key][i]) for c, _ in layout.shown))
    console.print(table)
    _print_below(console, layout, columns, rows, cells)
    if layout.dropped:
        names = ", ".join(c.header for c in columns if c in layout.dropped)
        console.print(Text(f"columns not shown at {console.width} columns: {names} "
                           "(-f json has them all)", style="dim"))


def _print_below(console: Console, layout: Layout, columns: list[Column],
                 rows: list[dict[str, Any]], cells: dict[str, list[str]]) -> None:
    """Free text that did not fit beside the atoms, under the table: one line per row,
    labelled by the row's naming cells (e.g. its feature, or slice · segment)."""
    naming = [c for c in columns if c.priority == 0 and c.kind in (ATOM, WORDS)
              and c.key != "status" and not _numeric(rows, c.key)]
    for column in layout.below:
        grid = Table.grid(padding=(0, 2))
        grid.add_column(no_wrap=True)
        grid.add_column()
        for i, row in enumerate(rows):
            if row.get(column.key) in (None, []):
                continue
            label = " · ".join(cells[c.key][i] for c in naming if row.get(c.key) is not None)
            grid.add_row(label, cells[column.key][i])
        if grid.row_count:
            console.print(Text(column.header, style="bold"))
            console.print(grid)


def _numeric(rows: list[dict[str, Any]], key: str) -> bool:
    return any(isinstance(row.get(key), int | float) for row in rows)


def _cell(key: str, value: object, text: str) -> Text | str:
    if key == "status" and isinstance(value, str):
        return Text(value, style=STATUS_STYLE.get(value, ""))
    return text


class _Null(io.StringIO):
    """Swallows the console's own output: the recorded export is what we return."""

    def write(self, _: str) -> int:
        return 0
