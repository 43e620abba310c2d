"""The ledger: one JSON commit record per batch, written last, atomically and exclusively.

A record is first written to a private temporary file in ``_staging/``, flushed to disk, and
then hard-linked to ``_ledger/<batch>.json``. ``os.link`` fails when the target exists, so the
first writer wins and no record is ever overwritten; a reader sees either no record or a
whole one. Readers read only data files named by committed records.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from evalctl.errors import StoreError
from evalctl.lake.layout import LEDGER


@dataclass(frozen=True)
class FileEntry:
    """One committed data file."""

    path: str  # relative to the store root
    rows: int
    bytes: int
    sha256: str
    date: str
    labelled: int | None = None  # rows with an inline label (from the file's statistics)


@dataclass(frozen=True)
class BatchRecord:
    """The commit record of one ingest call."""

    batch: str
    kind: str  # "predictions" | "actuals"
    model: str
    version: str | None
    env: str | None
    rows: int
    files: tuple[FileEntry, ...]
    schema: dict[str, str]
    features: dict[str, str]
    sources: tuple[dict[str, Any], ...]
    created_at: str
    evalctl_version: str
    min_timestamp: str | None = None
    max_timestamp: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> BatchRecord:
        data = dict(raw)
        data["files"] = tuple(FileEntry(**f) for f in data["files"])
        data["sources"] = tuple(data.get("sources", ()))
        return cls(**data)


def read_records(root: Path) -> list[BatchRecord]:
    """Every committed record, oldest first (ties broken by batch id)."""
    folder = root / LEDGER
    records: list[BatchRecord] = []
    for path in sorted(folder.glob("*.json")):
        try:
            records.append(BatchRecord.from_dict(json.loads(path.read_text(encoding="utf-8"))))
        except (OSError, ValueError, TypeError, KeyError) as exc:
            raise StoreError(f"{path}: ledger record is unreadable ({exc})") from exc
    return sorted(records, key=lambda r: (r.created_at, r.batch))


def record_path(root: Path, batch: str) -> Path:
    return root / LEDGER / f"{batch}.json"


def commit_record(root: Path, record: BatchRecord, temp_path: Path) -> bool:
    """Write ``record`` exclusively. Returns False when another writer committed it first."""
    payload = json.dumps(record.to_dict(), indent=2, sort_keys=True).encode("utf-8")
    with open(temp_path, "wb") as handle:
        handle.write(payload)
        handle.flush()
        os.fsync(handle.fileno())
    target = record_path(root, record.batch)
    try:
        os.link(temp_path, target)
    except FileExistsError:
        return False
    finally:
        temp_path.unlink(missing_ok=True)
    _fsync_dir(target.parent)
    return True


def _fsync_dir(folder: Path) -> None:
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
