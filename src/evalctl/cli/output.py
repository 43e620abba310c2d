"""Writing a report: choose the format, write stdout or --output, decide the exit code."""

from __future__ import annotations

import os
from pathlib import Path

from evalctl.cli.state import AppState
from evalctl.errors import ExitCode, InputError
from evalctl.render import FORMATS, render_json, render_markdown, render_table
from evalctl.reports import Report

FAIL_ON = ("fail", "warn", "never")


def emit(state: AppState, report: Report, fmt: str | None, output: Path | None,
         fail_on: str = "fail") -> None:
    """Render ``report`` and set the process exit code from its status and ``fail_on``."""
    chosen = _choose_format(state, fmt, output)
    if fail_on not in FAIL_ON:
        raise InputError(f"--fail-on: expected one of {', '.join(FAIL_ON)}, got {fail_on!r}")
    if chosen == "json":
        text = render_json(report)
    elif chosen == "markdown":
        text = render_markdown(report)
    else:
        styled = output is None and _isatty(state.stdout)
        text = render_table(report, width=None if styled else plain_width())
    if output is not None:
        try:
            output.parent.mkdir(parents=True, exist_ok=True)
            output.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise InputError(f"--output {output}: cannot write ({exc.strerror})") from exc
    else:
        state.stdout.write(text)
        state.stdout.flush()
    state.exit_code = int(exit_code_for(report.status, fail_on))


PLAIN_WIDTH = 120


def plain_width() -> int:
    """Width of a table written to a file or a pipe: $COLUMNS when it is a whole number of at
    least 40 (as `ls` and git honour it), else PLAIN_WIDTH."""
    raw = os.environ.get("COLUMNS", "")
    return int(raw) if raw.isdigit() and int(raw) >= 40 else PLAIN_WIDTH


def exit_code_for(status: str, fail_on: str) -> ExitCode:
    if fail_on == "never":
        return ExitCode.OK
    failing = {"fail"} if fail_on == "fail" else {"fail", "warn"}
    return ExitCode.CHECK_FAILED if status in failing else ExitCode.OK


def _choose_format(state: AppState, fmt: str | None, output: Path | None) -> str:
    if fmt is not None:
        if fmt not in FORMATS:
            raise InputError(f"--format: expected one of {', '.join(FORMATS)}, got {fmt!r}")
        return fmt
    if output is not None:
        return {".md": "markdown", ".txt": "table"}.get(output.suffix.lower(), "json")
    return "table" if _isatty(state.stdout) else "json"


def _isatty(stream: object) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())
