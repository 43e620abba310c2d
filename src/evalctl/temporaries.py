"""Temporary files and folders in flight, so that a process ended by a signal removes them.

Whoever creates a temporary output file or a staging folder registers it for as long as it
exists (`with temporary(path): …`). When SIGINT or SIGTERM ends the process (see
`evalctl.cli.signals`), everything registered is removed first. Symlinks are removed as links,
never followed.
"""

from __future__ import annotations

import contextlib
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

_paths: set[Path] = set()
_lock = threading.Lock()


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


def remove_all() -> None:
    """Remove every registered path (called once, just before a forced exit)."""
    with _lock:
        paths = list(_paths)
    for path in paths:
        with contextlib.suppress(OSError):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink()
