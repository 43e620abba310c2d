"""A store as Spark executors reach it: its folder or ``s3://`` URL and the command's
`storage_options` (credentials included), pickled with a Spark job and opened again on each
executor through the storage layer (`evalctl.lake.storage`).

The options are never shown: they are left out of the repr, and executors open the store
with exactly the driver's mapping (not their own environment's), so the driver and every
executor read and write with the same credentials and endpoint.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from evalctl.lake.storage import ObjectStorage, Storage, as_storage
from evalctl.lake.store import Store


@dataclass(frozen=True)
class StoreSpec:
    """Where a store lives, as a Spark job carries it to executors."""

    location: str
    local: bool
    options: dict[str, str] = field(default_factory=dict, repr=False)

    @classmethod
    def of(cls, where: Path | Storage) -> StoreSpec:
        storage = as_storage(where)
        location = str(Path(storage.location).resolve()) if storage.is_local else \
            storage.location  # executors may run in another folder
        return cls(location, storage.is_local, dict(storage.options))

    def open(self) -> Store:
        """The store, opened on an executor (no marker check: the driver did it)."""
        if self.local:
            return Store(Path(self.location))
        return Store(ObjectStorage(self.location, self.options))


DOWNLOAD_CHUNK = 8 << 20  # bytes per read of a streamed download


@contextmanager
def kept_downloads(master: str) -> Iterator[Path | None]:
    """A folder where a Spark ingest keeps each ``s3://`` export downloaded once, for every
    task to read, under a local master (``local[...]``, ``local-cluster[...]``: the executors
    run on the driver's machine and see its disk), removed after the block; None under
    another master, whose executors cannot see one another's disks: there each task
    downloads the export for itself (N + 1 downloads of an export cut into N tasks)."""
    if not master.startswith("local"):
        yield None
        return
    folder = Path(tempfile.mkdtemp(prefix="evalctl-exports-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def download(url: str, options: dict[str, str], folder: Path) -> tuple[Path, str]:
    """An ``s3://`` export streamed to ``folder`` under its own file name (so its format is
    told by its extension, as for a local file) through the storage layer with `options`
    (resolved on the driver: `storage_options`),
    and its SHA-256 computed on the way: memory stays one chunk whatever the export's size.
    A missing object is the local reader's "no such file" (exit 2)."""
    import hashlib

    import obstore  # imported on use: the optional extra evalctl[s3]

    from evalctl.errors import InputError
    bucket, _, key = url.split("://", 1)[1].partition("/")
    source = ObjectStorage(f"s3://{bucket}", options)
    target = folder / (key.rsplit("/", 1)[-1] or "export")
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    try:
        with target.open("wb") as out:
            for chunk in obstore.get(source.store, key).stream(min_chunk_size=DOWNLOAD_CHUNK):
                digest.update(chunk)
                out.write(chunk)
    except Exception as exc:
        if source._not_found(exc):
            raise InputError(f"{url}: no such file", file=url) from None
        raise source.fail(exc, f"read {key}") from None
    return target, digest.hexdigest()
