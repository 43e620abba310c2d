"""Store health: every committed file present with its checksum and row count; orphans found."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from evalctl.lake.layout import LEDGER, STAGING, data_files
from evalctl.lake.ledger import read_records
from evalctl.lake.readers import file_sha256


@dataclass
class DoctorFindings:
    """What `doctor` found: damaged committed files and uncommitted leftovers."""

    checked_files: int = 0
    checked_batches: int = 0
    damaged: list[dict[str, str]] = field(default_factory=list)
    orphans: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)


def examine_store(root: Path, repair: bool = False) -> DoctorFindings:
    """Verify committed files; list (and with ``repair`` remove) files no record names."""
    findings = DoctorFindings()
    records = read_records(root)
    committed: set[str] = set()
    for record in records:
        findings.checked_batches += 1
        for entry in record.files:
            committed.add(entry.path)
            findings.checked_files += 1
            problem = _verify(root / entry.path, entry.sha256, entry.rows)
            if problem:
                findings.damaged.append({"batch": record.batch, "path": entry.path,
                                         "problem": problem})
    orphans = [p for p in data_files(root) if p.relative_to(root).as_posix() not in committed]
    staging = root / STAGING
    leftovers = sorted(staging.iterdir()) if staging.is_dir() else []
    ledger_temps = sorted((root / LEDGER).glob("*.tmp")) if (root / LEDGER).is_dir() else []
    for path in orphans + leftovers + ledger_temps:
        findings.orphans.append(path.relative_to(root).as_posix())
        if repair:
            _remove(path)
            findings.removed.append(path.relative_to(root).as_posix())
    return findings


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
