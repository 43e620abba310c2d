"""Errors for machines: the JSON error envelope written where the report would have gone."""

from __future__ import annotations

import errno
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from evalctl.cli.output import check_output_path, write_atomic, write_stdout
from evalctl.cli.state import is_terminal
from evalctl.clock import Clock, now, system_clock
from evalctl.errors import EvalctlError, ExitCode
from evalctl.reports.model import error_envelope

# options of the global callback that take a value (so their value is not the command name)
_VALUED_GLOBALS = ("--config", "-c", "--store", "-s")
# OS reasons that mean "the store or file cannot be used as it stands" (exit 3), not a bug
STORE_ERRNOS = (errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM,
                errno.ENAMETOOLONG, errno.EIO, errno.ENOENT, errno.ENOTDIR, errno.EISDIR,
                errno.EMFILE, errno.ENFILE, errno.ELOOP)


@dataclass
class ErrorRequest:
    """What the command line asked for, read before parsing (a usage error may stop parsing)."""

    command: str | None
    model: str | None
    fmt: str | None
    output: str | None
    stdout: TextIO
    clock: Clock = system_clock

    @classmethod
    def from_args(cls, args: list[str], stdout: TextIO,
                  clock: Clock = system_clock) -> ErrorRequest:
        values: dict[str, str | None] = {"command": None, "model": None, "fmt": None,
                                         "output": None}
        names = {"--model": "model", "-m": "model", "--format": "fmt", "-f": "fmt",
                 "--output": "output", "-o": "output"}
        i = 0
        while i < len(args):
            arg = args[i]
            if arg == "--":
                break
            name, _, inline = arg.partition("=")
            if name in names and values[names[name]] is None:
                value = inline if inline else (args[i + 1] if i + 1 < len(args) else None)
                values[names[name]] = value
                i += 1 if inline else 2
                continue
            if arg.startswith("-f") and len(arg) > 2 and not arg.startswith("--"):
                values["fmt"] = values["fmt"] or arg[2:]
            elif arg in _VALUED_GLOBALS:
                i += 2
                continue
            elif not arg.startswith("-") and values["command"] is None:
                values["command"] = arg
            i += 1
        return cls(stdout=stdout, clock=clock, **values)

    def wants_json(self) -> bool:
        if self.fmt is not None:
            return self.fmt == "json"
        if self.output is not None and self.output != "-":
            return Path(self.output).suffix.lower() in ("", ".json")
        return not is_terminal(self.stdout)


def write_error(request: ErrorRequest, exc: EvalctlError, message: str, code: ExitCode) -> None:
    """In JSON mode, write the error envelope to --output (atomically) or stdout."""
    if not request.wants_json():
        return

    error = error_details(exc, message, code)
    try:
        stamp = now(request.clock)  # the clock reports are stamped with (tests fix it)
    except EvalctlError:  # a clock returning no datetime: the error at hand matters more
        stamp = system_clock()
    envelope = error_envelope(request.command, request.model, error, stamp)
    text = json.dumps(envelope, indent=2) + "\n"
    target = request.output if request.output not in (None, "-") else None
    if target is not None and error.get("key") not in ("--output", "--format"):
        try:
            check_output_path(Path(target), "--output")
            write_atomic(Path(target), text, "--output")
            return
        except EvalctlError:
            pass
    write_stdout(request.stdout, text)


def error_details(exc: EvalctlError, message: str, code: ExitCode) -> dict[str, object]:
    """The envelope's `error` object: what the raiser said, else what the message names."""
    found = _named_in(message)
    return {"kind": exc.kind, "message": message, "hint": exc.hint or _default_hint(code),
            "key": exc.key or found.get("key"), "file": exc.file or found.get("file"),
            "column": exc.column or found.get("column"), "exit_code": int(code)}


_CONFIG = re.compile(r"^(?P<file>\S+\.ya?ml): (?P<key>[^\s:]+):")
_FILE = re.compile(r"^(?P<file>\S+\.(?:csv|parquet|jsonl|ndjson|json|ya?ml|tsv))\b")
_COLUMN = re.compile(r"column '(?P<column>[^']+)'")
_OPTION = re.compile(r"^(?P<key>--[\w-]+)\b")


def _named_in(message: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for pattern in (_CONFIG, _FILE, _COLUMN, _OPTION):
        match = pattern.search(message)
        if match:
            for name, value in match.groupdict().items():
                found.setdefault(name, value)
    return found


def _default_hint(code: ExitCode) -> str | None:
    if code == ExitCode.STORE_DAMAGED:
        return "run `evalctl doctor` to see what is wrong with the store"
    if code == ExitCode.INTERNAL:
        return "rerun with --debug and report the traceback"
    return None


_OS_ERROR = re.compile(r"\(os error (\d+)\)")


def os_error_in(exc: Exception) -> str | None:
    """An OS error reported inside another library's exception (polars: '... (os error 30)')."""
    match = _OS_ERROR.search(str(exc))
    if match is None or int(match.group(1)) not in STORE_ERRNOS:
        return None
    return str(exc).splitlines()[0]


def describe_os_error(exc: OSError) -> str | None:
    """One line for an OS error that is the store's or a file's state, not a bug; else None."""
    if exc.errno not in STORE_ERRNOS:
        return None
    where = exc.filename if exc.filename is not None else "the store"
    code = errno.errorcode.get(exc.errno or 0, "")
    return f"{where}: {exc.strerror or 'cannot be used'} ({code})"
