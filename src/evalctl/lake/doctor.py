"""Store health: every committed file present with its checksum and row count; orphans found.

Repair removes only leftovers older than the grace period (`EVALCTL_GRACE`, default 7 days, as
Delta Lake's VACUUM) and only while holding the store lock exclusively (lake/locking.py): an
ingest in flight holds it shared, so its staged and moved files are never taken from it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from evalctl.lake.durable import TEMP_SUFFIX
from evalctl.lake.layout import LEDGER, RESULTS, STAGING, data_files, grace_period
from evalctl.lake.ledger import BatchRecord, read_records
from evalctl.lake.locking import exclusive_lock
from evalctl.lake.readers import file_sha256


@dataclass
class DoctorFindings:
    """What `doctor` found: damaged committed files and uncommitted leftovers."""

    checked_files: int = 0
    checked_batches: int = 0
    damaged: list[dict[str, str]] = field(default_factory=list)
    orphans: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # orphans younger than the grace period


def examine_store(root: Path, repair: bool = False,
                  now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> DoctorFindings:
    """Verify committed files; list files no record names and, with ``repair``, remove those
    older than the grace period (`layout.grace_period`), holding the store lock exclusively
    so that no ingest is writing meanwhile."""
    findings = DoctorFindings()
    records = read_records(root)
    for record in records:
        findings.checked_batches += 1
        for entry in record.files:
            findings.checked_files += 1
            problem = _verify(root / entry.path, entry.sha256, entry.rows)
            if problem:
                findings.damaged.append({"batch": record.batch, "path": entry.path,
                                         "problem": problem})
    if not repair:
        findings.orphans = [_name(root, p) for p in _leftovers(root, records)]
        return findings
    grace = grace_period()
    with exclusive_lock(root):  # no ingest stages or commits while we decide and remove
        for path in _leftovers(root, read_records(root)):
            findings.orphans.append(_name(root, path))
            if now() - _modified(path) >= grace:
                _remove(path)
                findings.removed.append(_name(root, path))
            else:
                findings.kept.append(_name(root, path))
    return findings


def _leftovers(root: Path, records: list[BatchRecord]) -> list[Path]:
    """Data files no record names, staging folders, and temporary files of interrupted
    ledger, results and export writes."""
    committed = {entry.path for record in records for entry in record.files}
    orphans = [p for p in data_files(root) if p.relative_to(root).as_posix() not in committed]
    staging = root / STAGING
    leftovers = sorted(staging.iterdir()) if staging.is_dir() else []
    temps = [p for top in (LEDGER, RESULTS) if (root / top).is_dir()
             for p in sorted((root / top).rglob(f"*{TEMP_SUFFIX}"))]
    return orphans + leftovers + temps


def _modified(path: Path) -> datetime:
    """When a leftover last changed: for a folder, its newest entry (a staging folder an
    ingest is still writing is young)."""
    newest = path.stat().st_mtime
    if path.is_dir():
        for folder, _, files in os.walk(path):
            for name in [folder, *(os.path.join(folder, f) for f in files)]:
                with contextlib.suppress(FileNotFoundError):
                    newest = max(newest, os.stat(name).st_mtime)
    return datetime.fromtimestamp(newest, UTC)


def _name(root: Path, path: Path) -> str:
    return path.relative_to(root).as_posix()


def _verify(path: Path, sha256: str, rows: int) -> str | None:
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


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
