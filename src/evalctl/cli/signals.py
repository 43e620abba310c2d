"""SIGINT / SIGTERM: exit 130 / 143 with one line on stderr, no traceback, nothing partial.

The signal is acted on by a watchdog thread, never by raising in the main thread: Python runs
signal handlers between bytecodes, which may be inside a callback that polars made from native
code, and an exception raised there makes polars panic (a Rust backtrace, and the wrong exit
code). `signal.set_wakeup_fd` wakes the watchdog at once, even while the main thread is inside
a long native query; it removes the registered temporary files and folders
(`evalctl.temporaries`), restores the terminal's cursor, writes `evalctl: interrupted`, and ends
the process with `os._exit`. The store needs no cleanup: a writer cut anywhere leaves nothing
visible (a batch's ledger record is written last) and the store lock dies with the process; the
data and profile files a local writer had moved into place before its commit are registered
temporaries too (`temporaries.rename`), removed unless a commit under way holds them.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from types import FrameType

from evalctl import temporaries
from evalctl.errors import ExitCode

CODES = {signal.SIGINT: ExitCode.INTERRUPTED, signal.SIGTERM: ExitCode.TERMINATED}
MESSAGE = b"evalctl: interrupted\n"
# at a terminal: clear a progress line left half-drawn and show the cursor Rich hid
TERMINAL_RESET = b"\r\x1b[2K\x1b[?25h"

_lock = threading.Lock()


def install() -> None:
    """Take over SIGINT and SIGTERM for this process (call from the main thread, once)."""
    read_fd, write_fd = os.pipe()
    os.set_blocking(write_fd, False)
    signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
    for signum in CODES:
        signal.signal(signum, _note)
    threading.Thread(target=_watch, args=(read_fd,), name="evalctl-signals", daemon=True).start()


def _note(_signum: int, _frame: FrameType | None) -> None:
    """The Python-level handler does nothing: its only job is to make the C-level handler
    write the signal number to the wakeup fd, which the watchdog reads."""


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
        _exit(code)


def _exit(code: ExitCode) -> None:
    with _lock:  # a second signal while the first is handled changes nothing
        temporaries.remove_all()
        with contextlib.suppress(OSError, ValueError):
            if sys.stderr is not None and sys.stderr.isatty():
                os.write(2, TERMINAL_RESET)
            os.write(2, MESSAGE)
        os._exit(int(code))
