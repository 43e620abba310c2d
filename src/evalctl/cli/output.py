"""Writing a report: choose the format, write stdout or --output, decide the exit code."""

from __future__ import annotations

import contextlib
import os
import shutil
import unicodedata
from pathlib import Path
from typing import TextIO

from evalctl.cli.state import AppState, is_terminal
from evalctl.errors import ExitCode, InputError
from evalctl.lake.durable import fsync_dir, temp_path
from evalctl.lake.layout import ACTUALS, LEDGER, MARKER, PREDICTIONS, RESULTS, STAGING
from evalctl.lake.locking import LOCK_FILE
from evalctl.render import FORMATS, render_html, render_json, render_markdown, render_table
from evalctl.reports import Report
from evalctl.temporaries import temporary

FAIL_ON = ("fail", "warn", "never")
# what `-o FILE` writes, by the file's extension; a name without one gets JSON
EXTENSIONS = {".json": "json", ".md": "markdown", ".markdown": "markdown", ".txt": "table",
              ".html": "html", ".htm": "html", "": "json"}
# folders of a store that belong to evalctl: no report, alert or export is ever written there
STORE_FOLDERS = (PREDICTIONS, ACTUALS, RESULTS, LEDGER, STAGING, "profiles", "_reference")
# files of a store's root that belong to evalctl (replacing one breaks the store or its lock)
STORE_FILES = (MARKER, LOCK_FILE)
PLAIN_WIDTH = 120


def emit(state: AppState, report: Report, fmt: str | None, output: Path | None,
         fail_on: str = "fail") -> None:
    """Render ``report`` and set the process exit code from its status and ``fail_on``."""
    _check_fail_on(fail_on)
    output = to_file(output)
    chosen = choose_format(state, fmt, output)
    if output is not None:
        check_output_path(output, "--output")
    emit_text(state, render(state, report, chosen, output), output, report.status, fail_on)


def emit_text(state: AppState, text: str, output: Path | None, status: str,
              fail_on: str) -> None:
    """Write ``text`` (a rendering, or a text export such as CSV or OpenMetrics) to ``output``
    (checked already) or stdout, and set the exit code from ``status`` and ``fail_on``."""
    _check_fail_on(fail_on)
    if output is not None:
        write_atomic(output, text, "--output")
    else:
        write_stdout(state.stdout, text)
    state.exit_code = int(exit_code_for(status, fail_on))


def _check_fail_on(fail_on: str) -> None:
    if fail_on not in FAIL_ON:
        raise InputError(f"--fail-on: expected one of {', '.join(FAIL_ON)}, got {fail_on!r}",
                         key="--fail-on")


def render(state: AppState, report: Report, chosen: str, output: Path | None) -> str:
    if chosen == "json":
        return render_json(report)
    if chosen == "markdown":
        return render_markdown(report)
    if chosen == "html":
        return render_html(report)
    at_terminal = output is None and is_terminal(state.stdout)
    if at_terminal and state.color:
        return render_table(report, width=None)
    return render_table(report, width=terminal_width() if at_terminal else plain_width())


def to_file(output: Path | None) -> Path | None:
    """`-o -` means stdout, as for most Unix tools."""
    return None if output is None or str(output) == "-" else output


def plain_width() -> int:
    """Width of a table written to a file or a pipe: $COLUMNS when it is a whole number of at
    least 40 (as `ls` and git honour it), else PLAIN_WIDTH."""
    raw = os.environ.get("COLUMNS", "")
    return int(raw) if raw.isdigit() and int(raw) >= 40 else PLAIN_WIDTH


def terminal_width() -> int:
    return max(40, shutil.get_terminal_size((PLAIN_WIDTH, 24)).columns)


def exit_code_for(status: str, fail_on: str) -> ExitCode:
    if fail_on == "never":
        return ExitCode.OK
    failing = {"fail"} if fail_on == "fail" else {"fail", "warn"}
    return ExitCode.CHECK_FAILED if status in failing else ExitCode.OK


def choose_format(state: AppState, fmt: str | None, output: Path | None) -> str:
    """`-f` wins; else the output file's extension; else table at a terminal, JSON in a pipe.
    An extension evalctl cannot write, or one that contradicts `-f`, is a usage error."""
    if fmt is not None and fmt not in FORMATS:
        raise InputError(f"--format: expected one of {', '.join(FORMATS)}, got {fmt!r}",
                         key="--format")
    if output is not None:
        suffix = output.suffix.lower()
        implied = EXTENSIONS.get(suffix)
        if implied is None:
            known = ", ".join(s for s in EXTENSIONS if s)
            raise InputError(f"--output {output}: cannot write {suffix} files (use {known}, "
                             "or no extension for JSON)", key="--output", file=str(output))
        if fmt is not None and suffix and fmt != implied:
            raise InputError(f"--format {fmt} contradicts --output {output} ({suffix} is "
                             f"{implied})", key="--format")
        return fmt or implied
    if fmt is not None:
        return fmt
    return "table" if is_terminal(state.stdout) else "json"


def check_output_path(path: Path, option: str) -> None:
    """Refuse to write into a store's own folders (a stray file in `_ledger/` would make every
    later command refuse the store). Files beside those folders, in the store's root, are fine."""
    target = Path(os.path.abspath(path))
    for parent in target.parents:
        if (parent / MARKER).is_file():
            inside = target.relative_to(parent).parts
            if len(inside) > 1 and inside[0] in STORE_FOLDERS:
                raise InputError(f"{option} {path}: inside the store's {inside[0]}/ folder, "
                                 "which only evalctl writes (write beside it instead)",
                                 key=option, file=str(path))
            if len(inside) == 1 and inside[0] in STORE_FILES:
                raise InputError(f"{option} {path}: that is the store's own {inside[0]} "
                                 "(choose another name)", key=option, file=str(path))
            return


def write_atomic(path: Path, text: str, option: str) -> None:
    """Write ``text`` to ``path`` whole or not at all: a temporary file in the same folder,
    flushed to disk, renamed over the target; removed if anything (or a signal) stops it."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"{option} {path}: cannot write ({exc.strerror})", key=option,
                         file=str(path)) from exc
    temp = temp_path(path)
    with temporary(temp):
        try:
            with open(temp, "w", encoding="utf-8") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp, path)
        except BaseException as exc:
            with contextlib.suppress(OSError):
                temp.unlink()
            if isinstance(exc, OSError):
                raise InputError(f"{option} {path}: cannot write ({exc.strerror})",
                                 key=option, file=str(path)) from exc
            raise
    fsync_dir(path.parent)


def write_stdout(stream: TextIO, text: str) -> None:
    """Write to stdout; a stream that cannot encode the text (LANG=C, a Latin-1 pipe) gets
    ASCII stand-ins for evalctl's symbols instead of an encoding error."""
    encoding = getattr(stream, "encoding", None) or "utf-8"
    try:
        text.encode(encoding)
    except (UnicodeEncodeError, LookupError):
        text = ascii_text(text)
    stream.write(text)
    stream.flush()


_ASCII = {"→": "->", "←": "<-", "·": "|", "…": "...", "—": "-", "–": "-", "×": "x",
          "≥": ">=", "≤": "<=", "±": "+/-", "≈": "~", "Δ": "d", "✓": "ok", "✗": "x", "⚠": "!",
          "▲": "^", "▼": "v", "↑": "^", "↓": "v", "▁": "_", "▂": ".", "▃": ":", "▄": "-",
          "▅": "=", "▆": "+", "▇": "*", "█": "#", "•": "*"}


def ascii_text(text: str) -> str:
    """``text`` with evalctl's symbols and box drawing spelled in ASCII; anything else that
    is not ASCII becomes '?'."""
    out = []
    for char in text:
        if char in _ASCII:
            out.append(_ASCII[char])
        elif "\u2500" <= char <= "\u257f":  # box drawing: lines and corners
            out.append(_box(char))
        else:
            out.append(char)
    return "".join(out).encode("ascii", errors="replace").decode("ascii")


def _box(char: str) -> str:
    name = unicodedata.name(char, "")
    if " AND " in name:  # corners and junctions
        return "+"
    if "HORIZONTAL" in name:
        return "-"
    return "|" if "VERTICAL" in name else "+"
