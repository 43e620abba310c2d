"""Renderers: a report in, text out. Rendering never computes."""

from __future__ import annotations

from evalctl.render.json_out import render_json
from evalctl.render.markdown import render_markdown
from evalctl.render.table import render_table

FORMATS = ("table", "json", "markdown")

__all__ = ["FORMATS", "render_json", "render_markdown", "render_table"]
