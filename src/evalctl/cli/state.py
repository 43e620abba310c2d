"""Per-invocation state shared by the global callback and the commands."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TextIO

from evalctl import progress
from evalctl.cli.feedback import LinesListener, LiveListener
from evalctl.clock import Clock, system_clock
from evalctl.errors import StoreError
from evalctl.lake.store import Store
from evalctl.workspace import Workspace, open_workspace


@dataclass
class AppState:
    """Global options plus the streams and clock, injectable by tests."""

    stdout: TextIO
    stderr: TextIO
    config_path: str | None = None
    store_path: str | None = None
    debug: bool = False
    quiet: bool = False
    verbose: bool = False
    color: bool = True
    command: str = ""
    exit_code: int = 0
    clock: Clock = system_clock
    _workspace: Workspace | None = field(default=None, repr=False)
    opened: list[Store] = field(default_factory=list, repr=False)

    def workspace(self) -> Workspace:
        """The library's workspace for --config / --store (or their env vars and defaults),
        opened once: every command calls one of its methods."""
        if self._workspace is None:
            self._workspace = open_workspace(self.config_path, self.store_path, self.clock)
            self.opened.append(self._workspace.store)
        return self._workspace

    def damage_behind(self, exc: BaseException) -> StoreError | None:
        """A damaged committed file that explains a failed read, if any store opened by this
        command has one."""
        return next((d for s in self.opened if (d := s.damage_behind(exc)) is not None), None)

    @contextlib.contextmanager
    def busy(self, message: str) -> Iterator[None]:
        """Show the work's phases on stderr while the block runs: a live status line (phase,
        counts, elapsed) at a terminal, timestamped lines with --verbose, else nothing."""
        listener: LinesListener | LiveListener
        if self.quiet:
            yield
            return
        if self.verbose:
            listener = LinesListener(self.stderr, self.command)
        elif is_terminal(self.stderr):
            listener = LiveListener(self.stderr, color=self.color, first=message)
        else:
            yield
            return
        completed = False
        try:
            with progress.listening(listener):
                progress.phase(message)
                yield
            completed = True
        finally:
            listener.finish(completed)

    def warn(self, message: str) -> None:
        """A note or warning on stderr (silenced by --quiet; errors never are)."""
        if not self.quiet:
            self.stderr.write(f"evalctl: {message}\n")
            self.stderr.flush()


def is_terminal(stream: object) -> bool:
    """Whether ``stream`` is a terminal (streams without ``isatty``, such as StringIO, are not)."""
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())
