"""SIGINT / SIGTERM: exit 130 / 143 with one line on stderr, no traceback, nothing partial.

Python runs signal handlers only between bytecodes, so a Ctrl-C that arrives while polars runs
a long native query would wait for the query to end. Two paths make it prompt:

- the Python handler raises `Interrupted`, which unwinds the command (its `finally` blocks
  remove temporary files) to the CLI boundary;
- a watchdog thread is woken at once by `signal.set_wakeup_fd`. If the handler has not run
  within `PROMPT` seconds (the main thread is inside native code), or the unwinding takes longer
  than `UNWIND` seconds, it removes the temporary output files registered here and ends the
  process with `os._exit`. The store needs no cleanup: an ingest cut anywhere leaves nothing
  visible (its record is written last).
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

from evalctl.errors import ExitCode, Interrupted

PROMPT = 0.5
UNWIND = 5.0
CODES = {signal.SIGINT: ExitCode.INTERRUPTED, signal.SIGTERM: ExitCode.TERMINATED}
MESSAGE = b"evalctl: interrupted\n"

_temporary: set[Path] = set()
_handled = threading.Event()
_lock = threading.Lock()


def install() -> None:
    """Take over SIGINT and SIGTERM for this process (call from the main thread, once)."""
    read_fd, write_fd = os.pipe()
    os.set_blocking(write_fd, False)
    signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
    for signum in CODES:
        signal.signal(signum, _raise)
    threading.Thread(target=_watch, args=(read_fd,), name="evalctl-signals", daemon=True).start()


@contextlib.contextmanager
def temporary(path: Path) -> Iterator[Path]:
    """Register ``path`` as a temporary file to remove if the process is ended by a signal."""
    with _lock:
        _temporary.add(path)
    try:
        yield path
    finally:
        with _lock:
            _temporary.discard(path)


def _raise(signum: int, _frame: FrameType | None) -> None:
    code = CODES.get(signal.Signals(signum), ExitCode.INTERRUPTED)
    if _handled.is_set():  # a second signal while unwinding: stop now
        _force_exit(code)
    _handled.set()
    raise Interrupted(code)


def _watch(read_fd: int) -> None:
    while True:
        try:
            data = os.read(read_fd, 1)
        except OSError:
            return
        if not data:
            return
        try:
            code = CODES[signal.Signals(data[0])]
        except (KeyError, ValueError):
            continue
        if _handled.wait(PROMPT):
            threading.Event().wait(UNWIND)  # the main thread is unwinding; give it time
        _force_exit(code)


def _force_exit(code: ExitCode) -> None:
    with _lock:
        for path in list(_temporary):
            with contextlib.suppress(OSError):
                path.unlink()
    with contextlib.suppress(OSError):
        os.write(2, MESSAGE)
    os._exit(int(code))
