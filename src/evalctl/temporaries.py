"""Temporary files and folders in flight, so that a process ended by a signal removes them.

Whoever creates a temporary output file or a staging folder registers it for as long as it
exists (`with temporary(path): …`). When SIGINT or SIGTERM ends the process (see
`evalctl.cli.signals`), everything registered is removed first. Symlinks are removed as links,
never followed.

A writer's data files moved into their partitions before its commit are registered too, by the
rename itself (`rename`), and released by the commit (`committing`, then `release`): an
ingest cut between the two leaves no uncommitted file behind, and a commit under way when the
signal comes is waited for, so its files, once committed, are never removed.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

_paths: set[Path] = set()
_placed: set[Path] = set()  # files renamed into the store, not committed yet (`rename`)
_lock = threading.Lock()
_gate = threading.Lock()  # held by a commit (`committing`) and, for good, by `remove_all`
GATE_WAIT = 10.0  # seconds a signal waits for a commit under way (a flush: milliseconds)


@contextlib.contextmanager
def temporary(path: Path) -> Iterator[Path]:
    """Register ``path`` (a file or a folder) while the block runs."""
    with _lock:
        _paths.add(path)
    try:
        yield path
    finally:
        with _lock:
            _paths.discard(path)


def rename(source: Path, target: Path) -> None:
    """Rename `source` to `target` (a file moved into the store, not committed yet) and
    register `target`, in one step: a signal never finds it moved but not registered."""
    with _lock:
        os.rename(source, target)
        _placed.add(target)


def take_back(paths: Iterable[Path]) -> None:
    """Remove files renamed into the store (`rename`) that will not be committed, and forget
    them (a failed or lost write)."""
    paths = list(paths)
    for path in paths:
        path.unlink(missing_ok=True)
    release(paths)


def release(paths: Iterable[Path]) -> None:
    """Files renamed into the store that are no longer temporary (committed, or removed
    already)."""
    with _lock:
        _placed.difference_update(paths)


@contextlib.contextmanager
def committing() -> Iterator[None]:
    """The commit of files renamed into the store (the block `release`s them once it has
    committed): a signal that comes meanwhile removes them only after the block. Keep the
    block to the commit's own write: a signal waits for it (up to `GATE_WAIT`)."""
    with _gate:
        yield


def remove_all() -> None:
    """Remove every registered path (called once, just before a forced exit). Files renamed
    into the store are removed once a commit under way has ended; the gate is then kept for
    good, so no commit follows and what is removed is exactly what no commit holds. A commit
    that takes longer than `GATE_WAIT` leaves them (`doctor --repair` collects them)."""
    placed = _gate.acquire(timeout=GATE_WAIT)
    _lock.acquire()  # both kept: the process ends next, and nothing is renamed in meanwhile
    paths = list(_paths) + (list(_placed) if placed else [])
    for path in paths:
        with contextlib.suppress(OSError):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink()
