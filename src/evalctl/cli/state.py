"""Per-invocation state shared by the global callback and the commands."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TextIO

from evalctl import progress
from evalctl.cli.feedback import LinesListener, LiveListener
from evalctl.config import Config, ModelConfig, load_config
from evalctl.errors import InputError, StoreError
from evalctl.lake.selectors import Selector, parse_selector
from evalctl.lake.store import Store


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
    _config: Config | None = field(default=None, repr=False)
    opened: list[Store] = field(default_factory=list, repr=False)

    @property
    def config(self) -> Config:
        if self._config is None:
            self._config = load_config(self.config_path)
        return self._config

    def store(self) -> Store:
        root = self.store_path or os.environ.get("EVALCTL_STORE") or self.config.store
        if root is None:
            raise InputError("no store given: pass --store, set EVALCTL_STORE, or set `store:` "
                             "in evalctl.yaml / configs/evalctl.yaml")
        store = Store.open(Path(root))
        self.opened.append(store)
        return store

    def damage_behind(self, exc: BaseException) -> StoreError | None:
        """A damaged committed file that explains a failed read, if any store opened by this
        command has one."""
        return next((d for s in self.opened if (d := s.damage_behind(exc)) is not None), None)

    def model(self, store: Store, name: str) -> ModelConfig:
        if self.config.path is None:
            raise InputError(f"--model {name}: no config found (pass --config, set "
                             "EVALCTL_CONFIG, or create evalctl.yaml)")
        return store.resolve_model(self.config.model(name))

    def selector(self, text: str, as_of: date | None = None) -> Selector:
        return parse_selector(text, as_of=as_of)

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
        elif _isatty(self.stderr):
            listener = LiveListener(self.stderr, color=self.color)
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


def _isatty(stream: object) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())
