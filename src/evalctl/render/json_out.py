"""JSON: written directly, never through Rich (which wraps at 80 columns when piped)."""

from __future__ import annotations

import json

from evalctl.reports import Report


def render_json(report: Report) -> str:
    return json.dumps(report.to_dict(), indent=2, allow_nan=False) + "\n"
