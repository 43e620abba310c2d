"""A store as Spark executors reach it: its folder or ``s3://`` URL and the command's
`storage_options` (credentials included), pickled with a Spark job and opened again on each
executor through the storage layer (`evalctl.lake.storage`).

The options are never shown: they are left out of the repr, and executors open the store
with exactly the driver's mapping (not their own environment's), so the driver and every
executor read and write with the same credentials and endpoint.
"""

from __future__ import annotations

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
