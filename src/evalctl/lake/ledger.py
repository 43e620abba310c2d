"""The ledger: commit records, written last, atomically and exclusively, validated on read.

Two kinds of record live in ``_ledger/``:

- ``<batch>.<generation>.json`` — a **batch record**: the files, rows and schema one ingest
  committed. A batch id is derived from the exports' content, so the same batch can be
  committed again after it was removed; each time is a new generation (1, 2, …). Stores of
  format 1 name generation 1 ``<batch>.json``; both names are read.
- ``<id>.tombstone.json`` — a **tombstone**: removes batch records (``batches remove``,
  ``gc``) and, for ``erase``, adds the rewritten generations of the batches it touched, in
  the same commit. A removed record stays in the ledger (history); its files are deleted by
  ``doctor --repair`` once the tombstone is older than the grace period.

A record is first written to a private temporary file, flushed to disk, then hard-linked to
its name. ``os.link`` fails when the target exists, so the first writer wins and no record is
ever overwritten; a reader sees either no record or a whole one. On object storage the same
promise comes from a create-if-absent put (``If-None-Match: *``; `evalctl.lake.storage`), and
reads stay bounded by a checkpoint of the ledger (`evalctl.lake.checkpoint`).
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from evalctl.clock import rfc3339
from evalctl.errors import StoreError
from evalctl.lake import checkpoint
from evalctl.lake.layout import ACTUALS, LEDGER, MARKER, PREDICTIONS
from evalctl.lake.lease import lease
from evalctl.lake.storage import Storage, as_storage
from evalctl.version import __version__

FORMAT = 2  # 1: batch records only; 2: generations and tombstones
RECORD_NAME = re.compile(r"^(?P<batch>[A-Za-z0-9_-]+?)(?:\.(?P<generation>[1-9][0-9]*))?\.json$")
TOMBSTONE_NAME = re.compile(r"^(?P<id>[A-Za-z0-9_-]+)\.tombstone\.json$")


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
    """The commit record of one ingest call (or of a batch rewritten by ``erase``)."""

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
    generation: int = 1

    @property
    def key(self) -> tuple[str, int]:
        return self.batch, self.generation

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> BatchRecord:
        data = dict(raw)
        data["files"] = tuple(FileEntry(**f) for f in data["files"])
        data["sources"] = tuple(data.get("sources", ()))
        return cls(**data)


@dataclass(frozen=True)
class Tombstone:
    """One lifecycle commit: the batch generations it removes and those it adds (erase)."""

    id: str
    reason: str  # "remove" | "gc" | "erase"
    created_at: str
    removes: tuple[tuple[str, int], ...]
    adds: tuple[BatchRecord, ...] = ()
    erased_rows: int = 0
    evalctl_version: str = __version__

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "tombstone", "id": self.id, "reason": self.reason,
                "created_at": self.created_at,
                "removes": [{"batch": b, "generation": g} for b, g in self.removes],
                "adds": [a.to_dict() for a in self.adds], "erased_rows": self.erased_rows,
                "evalctl_version": self.evalctl_version}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Tombstone:
        data = dict(raw)
        if data.pop("kind", None) != "tombstone":
            raise ValueError("not a tombstone")
        data["removes"] = tuple((str(r["batch"]), int(r["generation"]))
                                for r in data["removes"])
        data["adds"] = tuple(BatchRecord.from_dict(a) for a in data.get("adds", ()))
        return cls(**data)

    @classmethod
    def new(cls, reason: str, removes: list[tuple[str, int]],
            adds: tuple[BatchRecord, ...] = (), erased_rows: int = 0,
            now: datetime | None = None) -> Tombstone:
        stamp = (now or datetime.now(UTC)).astimezone(UTC)
        ident = f"{stamp:%Y%m%dT%H%M%S%f}-{uuid.uuid4().hex[:8]}"
        return cls(ident, reason, rfc3339(stamp, "microseconds"),
                   tuple(removes), adds, erased_rows)


@dataclass(frozen=True)
class Problem:
    """A ledger record that cannot be trusted, and why."""

    path: str  # relative to the store root
    problem: str


@dataclass(frozen=True)
class Ledger:
    """Every record and tombstone, with what validation found wrong with them."""

    records: tuple[BatchRecord, ...]  # every generation ever committed, oldest first
    tombstones: tuple[Tombstone, ...]  # oldest first
    problems: tuple[Problem, ...] = ()

    @property
    def removed_by(self) -> dict[tuple[str, int], Tombstone]:
        return {key: t for t in self.tombstones for key in t.removes}

    @property
    def live(self) -> list[BatchRecord]:
        removed = self.removed_by
        return [r for r in self.records if r.key not in removed]

    def next_generation(self, batch: str) -> int:
        """The generation a new ingest of ``batch`` commits: one past its removed ones, so
        concurrent ingests of the same export all aim at one name (the first wins) and a
        live generation makes the commit fail as "already ingested"."""
        removed = self.removed_by
        return 1 + max((r.generation for r in self.records
                        if r.batch == batch and r.key in removed), default=0)

    def next_free_generation(self, batch: str) -> int:
        """One past every generation of ``batch`` (for the rewritten batches of `erase`)."""
        return 1 + max((r.generation for r in self.records if r.batch == batch), default=0)

    def raise_problems(self, root: Path | str) -> None:
        """Refuse the store when a record broke a rule (StoreError naming the first one)."""
        if self.problems:
            first = self.problems[0]
            more = f" (and {len(self.problems) - 1} more)" if len(self.problems) > 1 else ""
            where = f"{root}/{first.path}"
            raise StoreError(f"{where}: {first.problem}{more}; the store is "
                             "refused until it is fixed (see `evalctl doctor`)",
                             file=where,
                             hint="run `evalctl doctor` to list every invalid ledger record")


def read_ledger(root: Path | Storage) -> Ledger:
    """Every record and tombstone with the problems validation found; never raises on a bad
    record (``doctor`` reports them all; readers refuse the store through `read_records`)."""
    return _validated(checkpoint.ledger_files(as_storage(root)).files)


def _validated(files: dict[str, Callable[[], Any]]) -> Ledger:
    """The ledger from its files (name -> a function loading the parsed JSON)."""
    records: list[BatchRecord] = []
    tombstones: list[Tombstone] = []
    problems: list[Problem] = []
    where: dict[tuple[str, int], str] = {}
    for base in sorted(files):
        name = f"{LEDGER}/{base}"
        parsed = _parse(base, files[base], name, problems)
        if isinstance(parsed, Tombstone):
            tombstones.append(parsed)
            for added in parsed.adds:
                _keep(added, name, records, where, problems)
        elif parsed is not None:
            _keep(parsed, name, records, where, problems)
    problems += _check_references(records, tombstones, where)
    records.sort(key=lambda r: (r.created_at, r.batch, r.generation))
    tombstones.sort(key=lambda t: (t.created_at, t.id))
    return Ledger(tuple(records), tuple(tombstones), tuple(problems))


def read_records(root: Path | Storage) -> list[BatchRecord]:
    """The live records (committed and not removed), oldest first; a ledger that fails
    validation is refused (StoreError naming the first bad record)."""
    storage = as_storage(root)
    ledger = read_ledger(storage)
    ledger.raise_problems(storage.location)
    return ledger.live


def _parse(base: str, load: Callable[[], Any], name: str,
           problems: list[Problem]) -> BatchRecord | Tombstone | None:
    as_tombstone = TOMBSTONE_NAME.match(base)
    as_record = RECORD_NAME.match(base)
    if not (as_tombstone or as_record):
        problems.append(Problem(name, "not a ledger record name (<batch>.<generation>.json "
                                      "or <id>.tombstone.json)"))
        return None
    try:
        raw = load()
        parsed: BatchRecord | Tombstone = (Tombstone.from_dict(raw) if as_tombstone
                                           else BatchRecord.from_dict(raw))
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
        problems.append(Problem(name, f"ledger record is unreadable ({exc})"))
        return None
    if as_tombstone and isinstance(parsed, Tombstone) and parsed.id != as_tombstone["id"]:
        problems.append(Problem(name, f"tombstone id {parsed.id!r} differs from its file name"))
        return None
    if as_record and isinstance(parsed, BatchRecord):
        generation = int(as_record["generation"] or 1)
        if (parsed.batch, parsed.generation) != (as_record["batch"], generation):
            problems.append(Problem(name, f"record of batch {parsed.batch!r} generation "
                                          f"{parsed.generation} is not named "
                                          f"{record_name(parsed.batch, parsed.generation)}"))
            return None
    return parsed


def _keep(record: BatchRecord, name: str, records: list[BatchRecord],
          where: dict[tuple[str, int], str], problems: list[Problem]) -> None:
    """Validate one batch record's content; keep it when it is sound."""
    found = _record_problem(record)
    if record.key in where:
        found = f"batch {record.batch} generation {record.generation} is also {where[record.key]}"
    if found:
        problems.append(Problem(name, found))
        return
    where[record.key] = name
    records.append(record)


def _record_problem(record: BatchRecord) -> str | None:
    if record.kind not in (PREDICTIONS, ACTUALS):
        return f"unknown kind {record.kind!r}"
    top = PREDICTIONS if record.kind == "predictions" else ACTUALS
    for entry in record.files:
        if not path_inside(entry.path, top):
            return f"file path {entry.path!r} is not a relative path inside {top}/"
    total = sum(f.rows for f in record.files)
    if total != record.rows:
        return f"rows {record.rows} != {total}, the sum of its files' rows"
    return None


def path_inside(relative: str, top: str) -> bool:
    """Whether a recorded path is relative, without `..`, and below ``top``."""
    path = PurePosixPath(relative)
    return (not path.is_absolute() and "\\" not in relative and ".." not in path.parts
            and len(path.parts) > 1 and path.parts[0] == top)


def _check_references(records: list[BatchRecord], tombstones: list[Tombstone],
                      where: dict[tuple[str, int], str]) -> list[Problem]:
    """Tombstones name existing records; no data file is listed by two live records."""
    problems = []
    removed_by: dict[tuple[str, int], str] = {}
    for tomb in tombstones:
        name = f"{LEDGER}/{tomb.id}.tombstone.json"
        for key in tomb.removes:
            if key not in where:
                problems.append(Problem(name, f"removes batch {key[0]} generation {key[1]}, "
                                              "which has no record"))
            elif key in removed_by:
                problems.append(Problem(name, f"removes batch {key[0]} generation {key[1]}, "
                                              f"which {removed_by[key]} already removes"))
            removed_by.setdefault(key, name)
    removed = {key for t in tombstones for key in t.removes}
    owner: dict[str, tuple[str, int]] = {}
    for record in records:
        if record.key in removed:
            continue
        for entry in record.files:
            other = owner.setdefault(entry.path, record.key)
            if other != record.key:
                problems.append(Problem(where[record.key], f"file {entry.path} is also listed "
                                                           f"by {where[other]}"))
    return problems


def record_name(batch: str, generation: int = 1) -> str:
    return f"{batch}.{generation}.json"


def record_path(root: Path, batch: str, generation: int = 1) -> Path:
    return root / LEDGER / record_name(batch, generation)


def commit_record(root: Path | Storage, record: BatchRecord) -> bool:
    """Write ``record`` exclusively as the batch's next generation. Returns False when another
    writer committed that generation first."""
    storage = as_storage(root)
    upgrade_format(storage)
    read = checkpoint.ledger_files(storage)
    record = replace(record, generation=_validated(read.files).next_generation(record.batch))
    return _publish(storage, record.to_dict(), record_name(record.batch, record.generation),
                    read)


def commit_tombstone(root: Path | Storage, tombstone: Tombstone) -> None:
    """Publish a tombstone (one atomic file: its removals and additions land together)."""
    storage = as_storage(root)
    upgrade_format(storage)
    name = f"{tombstone.id}.tombstone.json"
    if not _publish(storage, tombstone.to_dict(), name, None):
        raise StoreError(f"{storage.location}/{LEDGER}/{name}: a tombstone of that id already "
                         "exists")


def _publish(storage: Storage, payload: dict[str, Any], name: str,
             read: checkpoint.LedgerFiles | None) -> bool:
    """Publish a ledger file exclusively (first writer wins); False when it exists. On object
    storage a commit that leaves enough records outside the newest checkpoint writes a new
    one (``read``: the ledger as this commit read it)."""
    data = json.dumps(payload, indent=2, sort_keys=True).encode("utf-8")
    if not storage.put_exclusive(f"{LEDGER}/{name}", data):
        return False
    checkpoint.after_commit(storage, name, payload, read)
    return True


@contextmanager
def lifecycle_lock(root: Path | Storage) -> Iterator[None]:
    """Serialise removals, gc and erasure (ingests need no lock: they only add generations).
    The lock is taken on the ledger folder itself, so it creates no file; on object storage,
    which has no lock, a lease object (`evalctl.lake.lease`) stands for it."""
    storage = as_storage(root)
    if not storage.is_local:
        with lease(storage, "a removal, gc, erase or repair"):
            yield
        return
    fd = os.open(Path(storage.location) / LEDGER, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


# -- the store's format marker -----------------------------------------------------------------
def store_format(root: Path | Storage, content: bytes | None = None) -> int:
    """The format named by the store's marker (``content``: its bytes when already read); a
    newer one than this evalctl reads is refused."""
    storage = as_storage(root)
    marker = f"{storage.location}/{MARKER}" if not storage.is_local else \
        Path(storage.location) / MARKER
    try:
        raw = storage.read_bytes(MARKER) if content is None else content
        found = json.loads(raw.decode("utf-8")).get("format")
    except StoreError:
        raise
    except (OSError, ValueError, AttributeError) as exc:
        raise StoreError(f"{marker}: unreadable store marker ({exc})") from exc
    if not isinstance(found, int) or isinstance(found, bool) or found < 1:
        raise StoreError(f"{marker}: 'format' must be a positive integer, got {found!r}")
    if found > FORMAT:
        raise StoreError(f"{marker}: the store has format {found}, newer than the format "
                         f"{FORMAT} evalctl {__version__} reads; upgrade evalctl",
                         file=str(marker), hint="upgrade evalctl to read this store")
    return found


def upgrade_format(root: Path | Storage) -> None:
    """Before the first write of this evalctl, mark a format-1 store as format 2 (an older
    evalctl then refuses it instead of miscounting removed batches)."""
    storage = as_storage(root)
    if store_format(storage) >= FORMAT:
        return
    content = json.loads(storage.read_bytes(MARKER).decode("utf-8"))
    content.update(format=FORMAT, upgraded_by=__version__)
    if not storage.is_local:
        storage.put(MARKER, (json.dumps(content) + "\n").encode("utf-8"))
        return
    root = Path(storage.location)
    temp = root / f".{MARKER}.{uuid.uuid4().hex[:8]}.tmp"
    temp.write_text(json.dumps(content) + "\n", encoding="utf-8")
    os.replace(temp, root / MARKER)
