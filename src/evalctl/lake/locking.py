"""The store lock: ingests share it, `doctor --repair` holds it alone.

An advisory ``fcntl.flock`` on ``<store>/_lock``. Every ingest holds it *shared* from the moment
it creates its staging folder until its record is committed and its leftovers are removed, so
any number of ingests run side by side; `doctor --repair` holds it *exclusively* while it
decides what is an orphan and removes it, so it never deletes the files of an ingest in flight.
Neither side waits forever: after ``EVALCTL_LOCK_WAIT`` (default 30s) the caller gives up with
a StoreBusyError (exit 3) naming who holds the lock. The kernel releases a lock when its holder
dies, so a killed process never leaves the store locked.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import timedelta
from pathlib import Path

from evalctl.errors import StoreError
from evalctl.lake.layout import env_duration

LOCK_FILE = "_lock"
LOCK_WAIT = timedelta(seconds=30)
LOCK_WAIT_ENV = "EVALCTL_LOCK_WAIT"
_POLL_SECONDS = 0.05


class StoreBusyError(StoreError):
    """The store lock could not be taken in time: another process is writing or repairing."""


def lock_wait() -> timedelta:
    """How long to wait for the store lock: `EVALCTL_LOCK_WAIT` when set, else ``LOCK_WAIT``."""
    return env_duration(LOCK_WAIT_ENV, LOCK_WAIT, "0s, 30s or 5m")


def shared_lock(root: Path) -> AbstractContextManager[None]:
    """Held by a writer (ingest) for its whole write; many writers hold it at once."""
    return _flock(root, exclusive=False, busy="a `doctor --repair` is running on this store; "
                  "nothing was ingested, try again when it has finished")


def exclusive_lock(root: Path) -> AbstractContextManager[None]:
    """Held by `doctor --repair` while it removes leftovers: no writer runs meanwhile."""
    return _flock(root, exclusive=True, busy="a writer is active (an ingest or another repair "
                  "holds the store lock); nothing was removed, try again when it has finished")


@contextmanager
def _flock(root: Path, *, exclusive: bool, busy: str) -> Iterator[None]:
    path = root / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise StoreError(f"{path}: cannot open the store lock ({exc.strerror or exc})") from exc
    try:
        _acquire(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH,
                 lock_wait().total_seconds(), f"{root}: {busy}")
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def _acquire(fd: int, mode: int, wait: float, busy: str) -> None:
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(fd, mode | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise StoreBusyError(busy) from None
            time.sleep(_POLL_SECONDS)
