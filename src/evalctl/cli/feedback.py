"""What a person sees on stderr while a command works: a live status line at a terminal,
timestamped phase lines with --verbose, nothing with --quiet or in a pipe."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any, TextIO


class LinesListener:
    """--verbose: one timestamped line per phase (CI logs, cron mail), with elapsed time."""

    def __init__(self, stream: TextIO, command: str, clock: Any = time.monotonic) -> None:
        self.stream, self.command, self.clock = stream, command, clock
        self.started = clock()
        self.total: int | None = None
        self.done = 0

    def phase(self, name: str, total: int | None, unit: str = "files") -> None:
        self.total, self.done = total, 0
        steps = f" ({total:,} {unit if total != 1 else unit.rstrip('s')})" if total else ""
        self.line(f"{name}{steps}")

    def advance(self, steps: int) -> None:
        self.done += steps
        if self.total and self.done == self.total:
            self.line(f"  {self.done:,}/{self.total:,} done")

    def finish(self, completed: bool) -> None:
        if completed:
            self.line("finished")

    def line(self, text: str) -> None:
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        elapsed = self.clock() - self.started
        self.stream.write(f"{stamp} evalctl {self.command}: {text} [{elapsed:.1f}s]\n")
        self.stream.flush()


class LiveListener:
    """At a terminal: a transient spinner line with the phase, the elapsed time and, when the
    work is done in steps, a bar and `done/total`. Gone when the command ends."""

    def __init__(self, stream: TextIO, color: bool, first: str) -> None:
        # Rich only at a terminal (start-up time)
        from rich.console import Console

        # Rich only at a terminal (start-up time)
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        console = Console(file=stream, no_color=not color, highlight=False)
        self.progress = Progress(SpinnerColumn(), TextColumn("{task.description}"),
                                 TextColumn("{task.fields[count]}"), TimeElapsedColumn(),
                                 console=console, transient=True)
        self.task = self.progress.add_task(first, total=None, count="")
        self.total: int | None = None
        self.done = 0
        self.progress.start()

    def phase(self, name: str, total: int | None, unit: str = "files") -> None:
        self.total, self.done = total, 0
        self.progress.update(self.task, description=name, count=self._count())

    def advance(self, steps: int) -> None:
        self.done += steps
        self.progress.update(self.task, count=self._count())

    def _count(self) -> str:
        return f"{self.done:,}/{self.total:,}" if self.total else ""

    def finish(self, completed: bool) -> None:
        self.progress.stop()
