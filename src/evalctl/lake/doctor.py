"""Store health: a valid ledger, every committed file present with its checksum and row count,
orphans and stray files found, files of removed batches collected after the grace period.

Repair removes only leftovers older than the grace period (`EVALCTL_GRACE` or `--grace`,
default 7 days, as Delta Lake's VACUUM) and only while holding the store lock exclusively
(lake/locking.py): an ingest in flight holds it shared, so its staged and moved files are never
taken from it.

On object storage (`_examine_objects`) the same checks run on listings: a file's age is its
``LastModified``, repair holds the store's lease (lake/lease.py) instead of the lock, and
there are no staging folders or temporary files (ingests stage on the local disk). An ingest
holds no lease there, so the grace period alone protects its uploads until its commit: keep it
longer than the longest ingest.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import shlex
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from evalctl import progress
from evalctl.lake.durable import TEMP_SUFFIX
from evalctl.lake.layout import (
    ACTUALS,
    LEDGER,
    PREDICTIONS,
    PROFILES,
    RESULTS,
    STAGING,
    data_files,
    grace_period,
    merged_profile_files,
    profile_files,
)
from evalctl.lake.lease import lease
from evalctl.lake.ledger import BatchRecord, FileEntry, Ledger, read_ledger
from evalctl.lake.locking import exclusive_lock
from evalctl.lake.profiled import ProfileEntry, ProfileHealth, examine_profiles
from evalctl.lake.readers import file_sha256
from evalctl.lake.storage import ObjectInfo, Storage, as_storage

# (store root, live records, repair) -> findings: {"path", "problem", "status"}
DerivedCheck = Callable[[Path, list[BatchRecord], bool], list[dict[str, str]]]


@dataclass
class DoctorFindings:
    """What `doctor` found: damaged records and files, leftovers, collectable files."""

    checked_files: int = 0
    checked_batches: int = 0
    damaged: list[dict[str, str]] = field(default_factory=list)
    orphans: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # orphans younger than the grace period
    stray: list[str] = field(default_factory=list)  # files no evalctl command writes there
    pending: list[str] = field(default_factory=list)  # files of removed batches, in grace
    collected: list[str] = field(default_factory=list)  # files of removed batches, deleted
    repairs: dict[str, list[str]] = field(default_factory=dict)  # damaged batch -> commands
    repair_skipped: bool = False  # --repair refused: the ledger has invalid records
    unprofiled: list[dict[str, str]] = field(default_factory=list)  # no profile on the reference
    derived: list[dict[str, str]] = field(default_factory=list)  # merged reference profiles


def examine_store(root: Path | Storage, repair: bool = False, grace: timedelta | None = None,
                  now: datetime | None = None, derived: DerivedCheck | None = None
                  ) -> DoctorFindings:
    """Validate the ledger, verify live files; list (and with ``repair`` remove) orphans and
    the files of batches removed longer than the grace period ago. `derived` checks (and
    with ``repair`` rebuilds or deletes) the derived files of a local store — the merged
    reference profiles (`evalctl.profiles.merged.check_merged`; passed in, as the profiles
    package imports the lake)."""
    storage = as_storage(root)
    if not storage.is_local:
        return _examine_objects(storage, repair, grace, now)
    root = Path(storage.location)
    findings = DoctorFindings()
    ledger = read_ledger(root)
    repair = _verify_ledger(ledger, findings, repair,
                            lambda entry: verify_file(root, entry.path, entry.sha256,
                                                      entry.rows))
    health = _profile_health(root, ledger)
    findings.damaged += health.damaged
    findings.unprofiled += health.unprofiled
    grace = grace if grace is not None else grace_period()
    now = now or datetime.now(UTC)
    progress.phase("looking for leftovers")
    if repair:
        with exclusive_lock(root):  # no ingest stages or commits while we decide and remove
            # read again under the lock, once: removing leftovers changes no record
            locked = read_ledger(root)
            _leftovers(root, locked, findings, True, grace, now)
            if derived is not None:
                findings.derived += derived(root, locked.live, True)
    else:
        _leftovers(root, ledger, findings, False, grace, now)
        if derived is not None:
            findings.derived += derived(root, ledger.live, False)
    findings.stray += _stray_files(root)
    return findings


def _verify_ledger(ledger: Ledger, findings: DoctorFindings, repair: bool,
                   verify: Callable[[FileEntry], str | None]) -> bool:
    """Record the ledger's invalid records and verify every live file with `verify` (local
    or object storage), naming each damaged batch's repair commands. Returns whether repair
    may go on: not when a record was refused (its files would look like orphans)."""
    findings.damaged += [{"batch": "", "path": p.path, "problem": p.problem}
                         for p in ledger.problems]
    if ledger.problems and repair:
        repair, findings.repair_skipped = False, True
    progress.phase("verifying committed files", total=sum(len(r.files) for r in ledger.live))
    for record in ledger.live:
        findings.checked_batches += 1
        for entry in record.files:
            findings.checked_files += 1
            problem = verify(entry)
            progress.advance()
            if problem:
                findings.damaged.append({"batch": record.batch, "path": entry.path,
                                         "problem": problem})
                findings.repairs.setdefault(record.batch, repair_commands(record))
    return repair


def _leftovers(root: Path, ledger: Ledger, findings: DoctorFindings, repair: bool,
               grace: timedelta, now: datetime) -> None:
    """Files of removed batches, then orphans: data files no record names, staging folders,
    temporary files of interrupted ledger and results writes. With ``repair``, those older
    than ``grace`` are removed."""
    live = {entry.path for record in ledger.live for entry in record.files}
    known = live | _collect_removed(root, ledger, live, findings, repair, grace, now)
    known |= _collect_removed_profiles(root, ledger, findings, repair, grace, now)
    merged = merged_profile_files(root)  # checked by `derived`; their temporary files here
    known |= {p.relative_to(root).as_posix() for p in merged if p.suffix == ".parquet"}
    orphans = [p for p in data_files(root) + profile_files(root)
               if p.relative_to(root).as_posix() not in known]
    staging = root / STAGING
    if staging.is_symlink():
        findings.stray.append(STAGING)
    leftovers = sorted(staging.iterdir()) if staging.is_dir() and not staging.is_symlink() \
        else []
    temps = [p for top in (LEDGER, RESULTS) if (root / top).is_dir()
             for p in sorted((root / top).rglob(f"*{TEMP_SUFFIX}")) if _is_temp(p)]
    temps += [p for p in merged if _is_temp(p)]
    for path in orphans + leftovers + temps:
        name = path.relative_to(root).as_posix()
        findings.orphans.append(name)
        if not repair:
            continue
        if now - _modified(path) >= grace:
            _remove(path)
            findings.removed.append(name)
        else:
            findings.kept.append(name)


def _is_temp(path: Path) -> bool:
    """A temporary file of an interrupted evalctl write (hidden, `.tmp`), not a user's file."""
    return path.name.startswith(".") and path.name.endswith(TEMP_SUFFIX) and path.is_file() \
        and not path.is_symlink()


def _modified(path: Path) -> datetime:
    """When a leftover last changed: for a folder, its newest entry (a staging folder an
    ingest is still writing is young)."""
    newest = path.lstat().st_mtime
    if path.is_dir() and not path.is_symlink():
        for folder, _, files in os.walk(path):
            for name in [folder, *(os.path.join(folder, f) for f in files)]:
                with contextlib.suppress(FileNotFoundError):
                    newest = max(newest, os.lstat(name).st_mtime)
    return datetime.fromtimestamp(newest, UTC)


def repair_commands(record: BatchRecord) -> list[str]:
    """The commands that replace a damaged batch by a fresh copy of its exports (and erase
    again what was erased from it)."""
    sources = " ".join(shlex.quote(str(s.get("path"))) for s in record.sources) or "FILE..."
    again = (f"evalctl ingest {sources} --model {record.model} --version {record.version} "
             f"--env {record.env}" if record.kind == "predictions"
             else f"evalctl ingest-actuals {sources} --model {record.model}")
    commands = [f"evalctl batches remove {record.batch}", again]
    if "erased_at" in record.extra:  # the exports still hold the erased ids
        commands.append(f"evalctl erase --model {record.model} --ids FILE (the ids erased "
                        "from this batch before)")
    return commands


def _collect_removed(root: Path, ledger: Ledger, live: set[str], findings: DoctorFindings,
                     repair: bool, grace: timedelta, now: datetime) -> set[str]:
    """Files only removed records name: deleted (with ``repair``) once their tombstone is
    older than ``grace``, else listed as pending. Returns every such path."""
    removed_by = ledger.removed_by
    paths: set[str] = set()
    for record in ledger.records:
        tomb = removed_by.get(record.key)
        if tomb is None:
            continue
        due = now - datetime.fromisoformat(tomb.created_at) >= grace
        for entry in record.files:
            if entry.path in live or entry.path in paths:
                continue
            paths.add(entry.path)
            target = root / entry.path
            if not (target.exists() or target.is_symlink()):
                continue
            if repair and due and not _through_symlink(root, entry.path):
                target.unlink(missing_ok=True)
                findings.collected.append(entry.path)
            else:
                findings.pending.append(entry.path)
    return paths


def _profile_health(root: Path, ledger: Ledger) -> ProfileHealth:
    """Every live prediction file has exactly one sound profile on its model's current
    reference (when one is fitted); every profile a live record names is sound."""
    def verify(relative: str, entry: ProfileEntry) -> str | None:
        path = root / relative
        if path.is_symlink() or _through_symlink(root, entry.path):
            return "is a symlink"
        if not path.is_file():
            return "missing"
        return None if file_sha256(path) == entry.sha256 else "checksum mismatch"

    removed_by = ledger.removed_by
    removed = [(r, removed_by[r.key].created_at) for r in ledger.records if r.key in removed_by]
    return examine_profiles(root, ledger.live, removed, verify)


def _collect_removed_profiles(root: Path, ledger: Ledger, findings: DoctorFindings,
                              repair: bool, grace: timedelta, now: datetime) -> set[str]:
    """Profiles named by live records (kept), and those only removed batches name: deleted
    with ``repair`` once their tombstone is older than ``grace``, else pending."""
    health = _profile_health(root, ledger)
    for path, when in sorted(health.removed.items()):
        target = root / path
        if path in health.live or not (target.exists() or target.is_symlink()):
            continue
        if repair and now - datetime.fromisoformat(when) >= grace \
                and not _through_symlink(root, path):
            target.unlink(missing_ok=True)
            findings.collected.append(path)
        else:
            findings.pending.append(path)
    return health.live | set(health.removed)


def _through_symlink(root: Path, relative: str) -> bool:
    """Whether any folder between the store root and ``relative`` is a symlink (deleting
    through it would delete outside the store)."""
    path = root
    for part in Path(relative).parts[:-1]:
        path = path / part
        if path.is_symlink():
            return True
    return False


def _stray_files(root: Path) -> list[str]:
    """Files in the data and results folders that no evalctl command writes there (they are
    never read, and a DuckDB/Spark glob might pick them up)."""
    stray = []
    base = root / RESULTS
    if base.is_dir():
        stray += [p for p in sorted(base.rglob("*"))
                  if (p.is_file() or p.is_symlink()) and not _is_temp(p) and not
                  (p.name.startswith("run-") and p.suffix == ".json")
                  and p.relative_to(base).parts[1:2] != ("deliveries",)]  # monitor's alerts
    for path in data_files(root, pattern="*"):
        if path.suffix != ".parquet" and (path.is_file() or path.is_symlink()):
            stray.append(path)
    return sorted(p.relative_to(root).as_posix() for p in stray)


def verify_file(root: Path, relative: str, sha256: str, rows: int) -> str | None:
    """What is wrong with a committed file, or None when it is sound."""
    path = root / relative
    if path.is_symlink() or _through_symlink(root, relative):
        return "is a symlink (committed files are plain files inside the store)"
    if not path.is_file():
        return "missing"
    if file_sha256(path) != sha256:
        return "checksum mismatch"
    try:
        import pyarrow.parquet as pq  # imported on use: keeps CLI start-up fast

        actual = pq.ParquetFile(path).metadata.num_rows
    except Exception as exc:  # pyarrow raises several types for corrupt files
        return f"unreadable parquet ({type(exc).__name__})"
    if actual != rows:
        return f"row count {actual} != {rows} recorded"
    return None


def _examine_objects(storage: Storage, repair: bool, grace: timedelta | None,
                     now: datetime | None) -> DoctorFindings:
    """`examine_store` on object storage (see the module's docstring)."""
    findings = DoctorFindings()
    ledger = read_ledger(storage)
    repair = _verify_ledger(ledger, findings, repair,
                            lambda entry: _verify_object(storage, entry.path, entry.sha256,
                                                         entry.rows))

    def verify(relative: str, entry: ProfileEntry) -> str | None:
        try:
            data = storage.read_bytes(relative)
        except FileNotFoundError:
            return "missing"
        return None if hashlib.sha256(data).hexdigest() == entry.sha256 else \
            "checksum mismatch"

    removed_by = ledger.removed_by
    removed = [(r, removed_by[r.key].created_at) for r in ledger.records if r.key in removed_by]
    health = examine_profiles(storage, ledger.live, removed, verify)
    findings.damaged += health.damaged
    findings.unprofiled += health.unprofiled
    grace = grace if grace is not None else grace_period()
    now = now or datetime.now(UTC)
    progress.phase("looking for leftovers")
    if repair:
        with lease(storage, "doctor --repair"):
            _object_leftovers(storage, read_ledger(storage), findings, True, grace, now)
    else:
        _object_leftovers(storage, ledger, findings, False, grace, now)
    return findings


def _object_leftovers(storage: Storage, ledger: Ledger, findings: DoctorFindings,
                      repair: bool, grace: timedelta, now: datetime) -> None:
    """Files of removed batches (collected once their tombstone is older than ``grace``),
    orphans (no record names them; removed once their LastModified is older than ``grace``)
    and stray files, from one listing of each top folder."""
    listed: dict[str, ObjectInfo] = {}
    for top in (PREDICTIONS, ACTUALS, PROFILES, RESULTS):
        listed.update({o.path: o for o in storage.list(top)})
    live = {entry.path for record in ledger.live for entry in record.files}
    removed_by = ledger.removed_by
    health = examine_profiles(storage, ledger.live,
                              [(r, removed_by[r.key].created_at) for r in ledger.records
                               if r.key in removed_by], lambda _p, _e: None)
    known = live | health.live
    removed: dict[str, str] = dict(health.removed)
    for record in ledger.records:
        if record.key in removed_by:
            removed.update({e.path: removed_by[record.key].created_at for e in record.files})
    for path, when in sorted(removed.items()):
        if path in known:
            continue
        known.add(path)
        if path not in listed:
            continue
        if repair and now - datetime.fromisoformat(when) >= grace:
            storage.delete(path)
            findings.collected.append(path)
        else:
            findings.pending.append(path)
    for path, info in sorted(listed.items()):
        if path in known or path.split("/", 1)[0] == RESULTS:
            continue
        if "/_records/" in path and path.startswith(PROFILES):
            continue  # `profiles build` records
        if path.rsplit("/", 1)[-1].startswith("reference"):
            continue  # the frozen references and their pointer
        if not path.endswith(".parquet"):
            findings.stray.append(path)
            continue
        findings.orphans.append(path)
        if not repair:
            continue
        if now - info.modified >= grace:
            storage.delete(path)
            findings.removed.append(path)
        else:
            findings.kept.append(path)
    findings.stray += sorted(
        p for p in listed if p.startswith(f"{RESULTS}/") and
        not (p.rsplit("/", 1)[-1].startswith("run-") and p.endswith(".json")) and
        p.split("/")[2:3] != ["deliveries"])  # monitor's alerts
    findings.stray.sort()


def _verify_object(storage: Storage, relative: str, sha256: str, rows: int) -> str | None:
    """`verify_file` on object storage: one GET of the whole file."""
    try:
        data = storage.read_bytes(relative)
    except FileNotFoundError:
        return "missing"
    if hashlib.sha256(data).hexdigest() != sha256:
        return "checksum mismatch"
    try:
        import pyarrow.parquet as pq  # imported on use: keeps CLI start-up fast

        actual = pq.ParquetFile(io.BytesIO(data)).metadata.num_rows
    except Exception as exc:  # pyarrow raises several types for corrupt files
        return f"unreadable parquet ({type(exc).__name__})"
    if actual != rows:
        return f"row count {actual} != {rows} recorded"
    return None


def _remove(path: Path) -> None:
    """Remove a leftover; a symlink is unlinked, never followed."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
