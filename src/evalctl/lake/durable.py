"""Durable writes: flushed files, flushed folders, exclusive publication, unique temp names.

A rename or a hard link is only durable once the folder holding the new name is flushed
(``fsync`` on the folder); a new folder, once its parent is. Temporary files get unique names
(so a killed writer's leftover never collides with a later run), start with a dot and end in
``.tmp`` (so readers, which list ``run-*.json`` or read ledger-named files, never see them),
and are removed when the write fails.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from evalctl import temporaries
from evalctl.lake.layout import STAGING
from evalctl.lake.locking import shared_lock
from evalctl.temporaries import temporary

TEMP_SUFFIX = ".tmp"


def temp_path(target: Path) -> Path:
    """A unique hidden temporary name beside ``target``."""
    return target.with_name(f".{target.name}.{uuid.uuid4().hex[:12]}{TEMP_SUFFIX}")


def fsync_dir(folder: Path) -> None:
    """Flush a folder's entries (new names, renames) to disk; a no-op where unsupported."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def fsync_tree(root: Path, paths: list[Path]) -> None:
    """Flush the folders holding ``paths`` and every folder between them and ``root`` (made
    by ``mkdir(parents=True)`` for them, perhaps), deepest first."""
    folders = {folder for path in paths for folder in path.relative_to(root).parents}
    for folder in sorted(folders, key=lambda f: len(f.parts), reverse=True):
        fsync_dir(root / folder)


def write_exclusive(target: Path, payload: bytes) -> bool:
    """Publish ``payload`` at ``target`` only if no file has that name (first writer wins):
    written to a flushed temporary file, hard-linked to ``target``, folder flushed. Returns
    False when ``target`` already exists. A reader sees no file or the whole file."""
    temp = temp_path(target)
    with temporary(temp):  # removed even when a signal ends the process
        try:
            with open(temp, "wb") as handle:
                handle.write(payload)
                handle.flush()
                os.fsync(handle.fileno())
            os.link(temp, target)
        except FileExistsError:
            return False
        finally:
            temp.unlink(missing_ok=True)
    fsync_dir(target.parent)
    return True


@dataclass
class StagingArea:
    """A writer's private folder under ``_staging/`` and the files it has moved into
    partitions but not yet committed."""

    folder: Path
    moved: list[Path] = field(default_factory=list)
    # object storage: the files uploaded to their final names, not yet committed
    uploaded: list[str] = field(default_factory=list)

    def track(self, placed: list[Path | str]) -> None:
        """Remember files brought into place (paths moved locally, by `temporaries.rename`;
        keys uploaded)."""
        for item in placed:
            if isinstance(item, Path):
                self.moved.append(item)
            else:
                self.uploaded.append(item)

    def settle(self) -> None:
        """The files brought into place are committed (call inside the commit's
        `temporaries.committing` block): the store's now, removed neither by a failure later
        in the block nor by a signal."""
        temporaries.release(self.moved)
        self.moved.clear()
        self.uploaded.clear()


@contextmanager
def staging_area(root: Path, name: str) -> Iterator[StagingArea]:
    """Stage, move and commit inside this block. It holds the store lock shared, so a
    `doctor --repair` never removes the writer's files before they are committed; the staging
    folder is removed when the block ends (or a signal ends the process); and if the block
    fails, the files in ``moved`` are removed too: no committed record names them."""
    area = StagingArea(root / STAGING / name)
    with shared_lock(root), temporary(area.folder):
        try:
            yield area
        except BaseException:
            temporaries.take_back(area.moved)
            raise
        finally:
            shutil.rmtree(area.folder, ignore_errors=True)
