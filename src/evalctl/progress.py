"""Progress from the library: phases and step counts, shown by whoever listens.

Library code says what it is doing (``progress.phase("verifying checksums", total=120)``,
then ``progress.advance()`` per file) and never prints. The CLI installs a listener for the
length of one command: a live status line at a terminal, timestamped lines with
``--verbose``, nothing otherwise. Without a listener every call is a no-op, so notebooks and
tests pay nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Protocol


class Listener(Protocol):
    """Receives what the library is doing."""

    def phase(self, name: str, total: int | None, unit: str) -> None: ...

    def advance(self, steps: int) -> None: ...


_listener: ContextVar[Listener | None] = ContextVar("evalctl_progress", default=None)


@contextmanager
def listening(listener: Listener) -> Iterator[None]:
    """Send progress to ``listener`` inside the block."""
    token = _listener.set(listener)
    try:
        yield
    finally:
        _listener.reset(token)


def phase(name: str, total: int | None = None, unit: str = "files") -> None:
    """A new phase of the work begins; ``total`` steps (counted in ``unit``) when it is done
    in steps."""
    listener = _listener.get()
    if listener is not None:
        listener.phase(name, total, unit)


def advance(steps: int = 1) -> None:
    """``steps`` more steps of the current phase are done."""
    listener = _listener.get()
    if listener is not None:
        listener.advance(steps)
