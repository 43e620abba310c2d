"""Renderers: a report in, text out. Rendering never computes."""

from __future__ import annotations

from typing import TYPE_CHECKING

from evalctl.render.json_out import render_json
from evalctl.render.markdown import render_markdown

if TYPE_CHECKING:
    from evalctl.reports import Report

FORMATS = ("table", "json", "markdown", "html")


def render_table(report: Report, width: int | None = None) -> str:
    """The report as a Rich table (see `evalctl.render.table`); Rich is imported only when a
    table is asked for, which keeps JSON runs' start-up ~25 ms shorter."""
    # Rich only for tables (start-up time)
    from evalctl.render.table import render_table as render

    return render(report, width)


def render_html(report: Report) -> str:
    """The report as one self-contained HTML page (see `evalctl.render.html`); imported only
    when a page is asked for, like the table."""
    # start-up time: the HTML renderer only when asked for
    from evalctl.render.html import render_html as render

    return render(report)


__all__ = ["FORMATS", "render_html", "render_json", "render_markdown", "render_table"]
