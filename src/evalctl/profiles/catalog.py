"""Which profile belongs to which committed data file, on which reference.

A profile is visible only through a commit, like a data file:

- an ingest names its batch's profiles in its own ledger record (``extra.profiles``:
  reference hash and one entry per data file), so the batch and its profiles become visible
  in the same atomic commit, and a batch removal (a tombstone) removes both;
- `profiles build` publishes, for a batch generation committed without profiles on the
  current reference, ``profiles/model=<m>/ref=<hash>/_records/<batch>.<generation>.json``
  exclusively (first writer wins) after writing its profile files.

An entry counts only for a live batch generation and only when it names a file of that
generation (a generation rewritten by `erase` has new files and so no profiles yet).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from evalctl.lake.durable import write_exclusive
from evalctl.lake.layout import profile_record_file
from evalctl.lake.ledger import BatchRecord
from evalctl.profiles.format import FORMAT


@dataclass(frozen=True)
class ProfileEntry:
    """One data file's profile."""

    data: str  # the data file, relative to the store root
    path: str  # its profile, relative to the store root
    bytes: int
    sha256: str


def profiles_extra(reference: str, entries: list[ProfileEntry]) -> dict[str, Any]:
    """What an ingest adds to its ledger record's ``extra`` under ``profiles``."""
    return {"format": FORMAT, "reference": reference, "files": [asdict(e) for e in entries]}


def publish_record(root: Path, model: str, reference: str, record: BatchRecord,
                   entries: list[ProfileEntry]) -> bool:
    """Publish `profiles build`'s record of one batch generation; False when one exists."""
    target = root / profile_record_file(model, reference, record.batch, record.generation)
    target.parent.mkdir(parents=True, exist_ok=True)
    payload = {**profiles_extra(reference, entries), "batch": record.batch,
               "generation": record.generation}
    return write_exclusive(target, json.dumps(payload, indent=1, sort_keys=True).encode())


def batch_profiles(root: Path, model: str, reference: str, record: BatchRecord
                   ) -> dict[str, ProfileEntry] | None:
    """The profiles of one live batch generation on `reference`, by data file; None when it
    has none (or they do not name exactly its files)."""
    raw = record.extra.get("profiles")
    if not (isinstance(raw, dict) and raw.get("reference") == reference):
        path = root / profile_record_file(model, reference, record.batch, record.generation)
        if not path.is_file():
            return None
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
    try:
        entries = {e["data"]: ProfileEntry(**e) for e in raw["files"]}
    except (KeyError, TypeError):
        return None
    if set(entries) != {f.path for f in record.files}:
        return None
    return entries


def profile_index(root: Path, model: str, reference: str, records: list[BatchRecord]
                  ) -> dict[str, ProfileEntry]:
    """Every profiled data file of `records` (live batch generations) on `reference`."""
    index: dict[str, ProfileEntry] = {}
    for record in records:
        found = batch_profiles(root, model, reference, record)
        if found:
            index.update(found)
    return index
