"""Which profile belongs to which committed data file, on which reference (README:
"Profiles"; the profiles themselves are computed by `evalctl.profiles`).

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
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from evalctl.lake.layout import current_reference_file, profile_record_file, profiles_dir
from evalctl.lake.ledger import BatchRecord
from evalctl.lake.storage import Storage, as_storage
from evalctl.profiles.format import FORMAT


@dataclass(frozen=True)
class ProfileEntry:
    """One data file's profile."""

    data: str  # the data file, relative to the store root
    path: str  # its profile, relative to the store root
    bytes: int
    sha256: str
    # its table's layout (`evalctl.profiles.format`): recorded once per set of entries
    # (``format`` beside ``files``), not per entry
    format: int = FORMAT


def profiles_extra(reference: str, entries: list[ProfileEntry]) -> dict[str, Any]:
    """What an ingest adds to its ledger record's ``extra`` under ``profiles`` (profiles
    written now: of today's format)."""
    return {"format": FORMAT, "reference": reference,
            "files": [{k: v for k, v in asdict(e).items() if k != "format"} for e in entries]}


def _entries(named: dict[str, Any]) -> list[ProfileEntry]:
    """A set's entries, each with the set's format (1 when the set predates formats: none
    did, but a set without one is read as the first)."""
    version = named.get("format", 1)
    return [ProfileEntry(**{**e, "format": version}) for e in named["files"]]


def publish_record(root: Path | Storage, model: str, reference: str, record: BatchRecord,
                   entries: list[ProfileEntry]) -> bool:
    """Publish `profiles build`'s record of one batch generation; False when one exists."""
    target = profile_record_file(model, reference, record.batch, record.generation)
    payload = {**profiles_extra(reference, entries), "batch": record.batch,
               "generation": record.generation}
    storage = as_storage(root)
    storage.cache.pop(f"profile-records:{model}", None)
    return storage.put_exclusive(target, json.dumps(payload, indent=1, sort_keys=True).encode())


def file_profiles(root: Path | Storage, model: str, reference: str, record: BatchRecord
                  ) -> dict[str, ProfileEntry]:
    """The profiles on `reference` of one live batch generation's files, by data file: those
    its ledger record names (an ingest's) and those a `profiles build` record adds (for a
    generation committed without them, or rewritten by `erase`, whose record keeps the
    entries of its unchanged files)."""
    files = {f.path for f in record.files}
    found: dict[str, ProfileEntry] = {}
    for named in _named_sets(root, model, record, reference):
        if named.get("reference") != reference:
            continue
        try:
            entries = _entries(named)
        except (KeyError, TypeError):
            continue
        found.update({e.data: e for e in entries if e.data in files and e.data not in found})
    return found


def batch_profiles(root: Path | Storage, model: str, reference: str, record: BatchRecord
                   ) -> dict[str, ProfileEntry] | None:
    """The profiles of every file of one live batch generation on `reference`, by data
    file; None when some file has none."""
    found = file_profiles(root, model, reference, record)
    return found if len(found) == len(record.files) else None


def _named_sets(root: Path | Storage, model: str, record: BatchRecord, reference: str | None
                ) -> list[dict[str, Any]]:
    """The profile sets the commits of a batch generation name: its ledger record's, then the
    `profiles build` records of it (on `reference`, or on any reference when None)."""
    raw = record.extra.get("profiles")
    sets: list[dict[str, Any]] = [raw] if isinstance(raw, dict) else []
    storage = as_storage(root)
    name = f"{record.batch}.{record.generation}.json"
    if storage.is_local:
        pattern = f"ref={reference if reference else '*'}/_records/{name}"
        paths = [p.relative_to(storage.location).as_posix() for p in
                 sorted((Path(storage.location) / profiles_dir(model)).glob(pattern))]
    else:
        paths = [p for p in _object_records(storage, model) if p.endswith(f"/_records/{name}")
                 and (reference is None or f"/ref={reference}/" in p)]
    for path in paths:
        try:
            loaded = json.loads(storage.read_bytes(path).decode("utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(loaded, dict):
            sets.append(loaded)
    return sets


def _object_records(storage: Storage, model: str) -> list[str]:
    """The `profiles build` records of a model on object storage: one listing of the model's
    profiles folder, kept for the command (`publish_record` drops it)."""
    key = f"profile-records:{model}"
    if key not in storage.cache:
        storage.cache[key] = [o.path for o in storage.list(profiles_dir(model), ".json")
                              if "/_records/" in o.path]
    found: list[str] = storage.cache[key]
    return found


def profile_index(root: Path | Storage, model: str, reference: str, records: list[BatchRecord]
                  ) -> dict[str, ProfileEntry]:
    """Every profiled data file of `records` (live batch generations) on `reference`."""
    index: dict[str, ProfileEntry] = {}
    for record in records:
        index.update(file_profiles(root, model, reference, record))
    return index


def current_hash(root: Path | Storage, model: str) -> str | None:
    """The hash the model's reference pointer names (None when no reference is fitted)."""
    try:
        found = json.loads(as_storage(root).read_bytes(current_reference_file(model))
                           .decode("utf-8")).get("hash")
    except (OSError, ValueError, AttributeError):
        return None
    return str(found) if found else None


def named_profiles(root: Path | Storage, model: str, record: BatchRecord
                   ) -> list[tuple[str, ProfileEntry]]:
    """Every (reference, profile) that a batch generation's commits name for its files, on
    any reference (`erase` keeps `extra` on the rewritten generation, with its old files)."""
    files = {f.path for f in record.files}
    found = []
    for named in _named_sets(root, model, record, None):
        try:
            found += [(str(named["reference"]), e) for e in _entries(named)
                      if e.data in files]
        except (KeyError, TypeError):
            continue
    return found


@dataclass
class ProfileHealth:
    """What `doctor` finds about profiles: damaged or doubled ones, live files without a
    profile on their model's current reference, and every profile path a record names."""

    damaged: list[dict[str, str]]
    unprofiled: list[dict[str, str]]
    live: set[str]  # profiles named for live batch generations
    removed: dict[str, str]  # profile path -> its batch's tombstone time (removed batches)


def examine_profiles(root: Path | Storage, live: list[BatchRecord],
                     removed: list[tuple[BatchRecord, str]],
                     verify: Callable[[str, ProfileEntry], str | None]) -> ProfileHealth:
    """Check that every live prediction file has exactly one profile on its model's current
    reference, and that every profile a live record names is sound (`verify`)."""
    health = ProfileHealth([], [], set(), {})
    for record, when in removed:
        if record.kind == "predictions":
            for _, entry in named_profiles(root, record.model, record):
                health.removed.setdefault(entry.path, when)
    for record in live:
        if record.kind != "predictions":
            continue
        current = current_hash(root, record.model)
        named = named_profiles(root, record.model, record)
        on_current: dict[str, int] = {}
        for reference, entry in named:
            health.live.add(entry.path)
            if reference == current:
                on_current[entry.data] = on_current.get(entry.data, 0) + 1
            problem = verify(entry.path, entry)
            if problem:
                health.damaged.append({"batch": record.batch, "path": entry.path,
                                       "problem": f"profile {problem}"})
        if current is None:
            continue
        for data in record.files:
            count = on_current.get(data.path, 0)
            if count != 1:
                health.unprofiled.append({
                    "batch": record.batch, "path": data.path, "model": record.model,
                    "problem": f"no profile on the current reference {current}" if not count
                    else f"{count} profiles on the current reference {current}"})
    return health
