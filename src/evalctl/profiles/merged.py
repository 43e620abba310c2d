"""The merged profile of the frozen monitoring reference: one more profile table, the merge of
the reference's file profiles, so a report whose `--reference` is the monitoring reference
reads one small table instead of merging N profiles on every run.

``profiles/model=<m>/ref=<hash>/reference-<digest>.parquet`` — a profile table of format
`FORMAT`, one bucket (the earliest), each feature row the merged values and its non-empty
cells' merged counts, sums, lows and highs (`evalctl.profiles.format.merged_table`).
``<digest>`` is 16 hex digits of the SHA-256 of the table's format and the profiles it
merges, in the order they are folded (the reference selection's order: version, date,
path): each one's data file, path, size and checksum. A report computes the digest from the
profiles the ledger names for its selection and reads the file of that name, if any: a file
merged from other profiles (a refit, a batch removed or rewritten, a profile rebuilt) or of
another format (those of format 1, before 2026-12-05) has another name and is never read.
The file is derived: a store without it (older stores, an interrupted build, object
storage) answers the same by merging the file profiles, and reading it gives the very bits
of that merge (its values are not folded again).

Written by `evalctl profiles build` once the reference's files are profiled (atomically: a
flushed temporary file renamed into place), rebuilt by `doctor --repair`, and deleted by
both once stale.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from evalctl.errors import StoreError
from evalctl.lake.durable import fsync_dir, temp_path
from evalctl.lake.layout import merged_profile_file, merged_profile_files
from evalctl.lake.ledger import BatchRecord, lifecycle_lock, read_ledger
from evalctl.lake.profiled import ProfileEntry, profile_index
from evalctl.lake.storage import Storage, as_storage
from evalctl.profiles.format import FORMAT, merged_table
from evalctl.profiles.reference import Reference, current_reference
from evalctl.temporaries import temporary

MERGED_FORMAT = 1  # the digest's recipe; a change renames every merged file


def sources_digest(profiles: Sequence[ProfileEntry]) -> str:
    """16 hex digits of the SHA-256 of profiles, in their order of folding."""
    content = {"format": FORMAT, "merged": MERGED_FORMAT,
               "profiles": [[p.data, p.path, p.bytes, p.sha256] for p in profiles]}
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class MergedSources:
    """What the merged profile of a reference is made of: its path and the profiles folded,
    in order."""

    path: str
    profiles: tuple[ProfileEntry, ...]


def reference_sources(root: Path | Storage, reference: Reference,
                      live: Iterable[BatchRecord]) -> MergedSources | None:
    """The profiles of the reference's frozen files in the order a report's selection of
    them folds them (`Store.select`: version, date, path), and the merged file's path; None
    when a batch the reference was fitted on is no longer live (removed, rewritten) or a
    file has no profile on it."""
    wanted = set(reference.batches)
    records = [r for r in live if r.kind == "predictions" and r.model == reference.model
               and (r.batch, r.generation) in wanted]
    frozen = set(reference.files)
    files = sorted((r.version or "", f.date, f.path) for r in records for f in r.files
                   if f.path in frozen)
    if len(records) != len(wanted) or len(files) != len(frozen):
        return None
    index = profile_index(root, reference.model, reference.hash, records)
    if any(path not in index for _, _, path in files):
        return None
    profiles = tuple(index[path] for _, _, path in files)
    return MergedSources(merged_profile_file(reference.model, reference.hash,
                                             sources_digest(profiles)), profiles)


def write_merged(root: Path | Storage, model: str, live: Iterable[BatchRecord]) -> str | None:
    """Write the merged profile of the model's current reference when its files are all
    profiled and it is not there yet, and delete the model's stale merged profiles (other
    references, other profiles; not temporary files: an interrupted write's are `doctor`'s).
    Returns the merged file's path relative to the store, or None (no reference, a reference
    batch gone, a file unprofiled, object storage: reports then merge the file profiles)."""
    storage = as_storage(root)
    if not storage.is_local:
        return None
    base = Path(storage.location)
    reference, sources = _drop_stale(base, model, live)
    if sources is None or reference is None:
        return None
    target = base / sources.path
    if not target.is_file():
        publish(target, _merge(base, reference, sources))
    return sources.path


def _merge(base: Path, reference: Reference, sources: MergedSources) -> pl.DataFrame:
    """The merged table of `sources`' profiles, each read as the format the ledger records."""
    return merged_table([str(base / p.path) for p in sources.profiles], reference.binning,
                        formats=[p.format for p in sources.profiles])


def drop_stale(root: Path | Storage, touched: Iterable[tuple[str, str]]) -> None:
    """Delete the merged profiles a commit just made stale (`batches remove`, `gc`, `erase`:
    a reference batch removed or rewritten), under the lifecycle lock so that a concurrent
    `profiles build` never loses the file it publishes. `touched`: the (model, batch) pairs
    the commit removed or rewrote; a model's merged profile is stale only when one of them is
    a batch its current reference was fitted on, so the ledger is read only then (a removal of
    production batches reads two small reference files, not the ledger). A report that
    computed the old digest just before finds the file gone and merges the file profiles,
    which stay until `doctor --repair` collects them after the grace period (the same bits
    either way)."""
    storage = as_storage(root)
    if not storage.is_local:
        return
    batches: dict[str, set[str]] = {}
    for model, batch in touched:
        batches.setdefault(model, set()).add(batch)
    with lifecycle_lock(storage):
        live: list[BatchRecord] | None = None
        for model in sorted(batches):
            try:
                reference = current_reference(storage, model)
                if reference is None or not batches[model] & {b for b, _ in reference.batches}:
                    continue  # its merged profile (if any) merges none of the touched batches
                live = read_ledger(storage).live if live is None else live
                _drop_stale(Path(storage.location), model, live)
            except StoreError:
                continue  # a damaged reference: `doctor` names it; the commit stands


def _drop_stale(base: Path, model: str, live: Iterable[BatchRecord]
                ) -> tuple[Reference | None, MergedSources | None]:
    """Delete the model's merged profiles other than its current reference's current one
    (not temporary files: an interrupted write's are `doctor`'s); return that reference and
    what its merged profile is made of (None when it has none: no reference, a reference
    batch gone, a file unprofiled)."""
    reference = current_reference(base, model)
    sources = None if reference is None else reference_sources(base, reference, live)
    for path in merged_profile_files(base, model):
        if path.suffix == ".parquet" and (sources is None or path != base / sources.path):
            path.unlink(missing_ok=True)
    return reference, sources


def publish(target: Path, table: pl.DataFrame) -> None:
    """Write a table at `target` as one atomic rename of a flushed temporary file (a crash
    leaves no file or the whole file, and perhaps a temporary file `doctor` collects)."""
    temp = temp_path(target)
    with temporary(temp):  # removed even when a signal ends the process
        try:
            table.write_parquet(temp, compression="snappy")  # as profiles (`profile_bytes`)
            with open(temp, "rb") as handle:
                os.fsync(handle.fileno())
            os.replace(temp, target)
        finally:
            temp.unlink(missing_ok=True)
    fsync_dir(target.parent)


def check_merged(root: Path, live: list[BatchRecord], repair: bool) -> list[dict[str, str]]:
    """`doctor`'s check of the merged reference profiles (`evalctl.lake.doctor`'s `derived`):
    each model's current one must equal a fresh merge of the profiles its digest names; any
    other is stale (never read). With ``repair`` a differing one is rewritten, a missing one
    written, a stale one deleted (derived files: no grace period)."""
    found: list[dict[str, str]] = []
    current: dict[str, tuple[Reference, MergedSources] | None] = {}
    for path in merged_profile_files(root):
        model = path.parent.parent.name.removeprefix("model=")
        if model not in current:
            current[model] = _current(root, model, live)
        name, state = path.relative_to(root).as_posix(), current[model]
        if path.suffix != ".parquet" or (state is not None and state[1].path == name):
            continue  # temporary files are orphans (`doctor`); the current one: below
        if repair:
            path.unlink(missing_ok=True)
        found.append({"path": name, "status": "pass" if repair else "warn",
                      "problem": "merged profile of a former reference, of former profiles "
                                 "or of an older format: never read" + (" (deleted)" if repair else
                                                 "; `doctor --repair` deletes it")})
    models = sorted(p.name.removeprefix("model=") for p in (root / "profiles").glob("model=*"))
    for model in models:
        state = current[model] if model in current else _current(root, model, live)
        if state is not None:
            found += _check_current(root, *state, repair)
    return found


def _current(root: Path, model: str, live: list[BatchRecord]
             ) -> tuple[Reference, MergedSources] | None:
    try:
        reference = current_reference(root, model)
    except StoreError:
        return None  # the reference's own check names it
    sources = None if reference is None else reference_sources(root, reference, live)
    return None if reference is None or sources is None else (reference, sources)


def _check_current(root: Path, reference: Reference, sources: MergedSources, repair: bool
                   ) -> list[dict[str, str]]:
    path = root / sources.path
    if not path.is_file() and not repair:
        return []  # derived: reports merge the profiles meanwhile
    try:
        fresh = _merge(root, reference, sources)
    except (StoreError, OSError, pl.exceptions.PolarsError):
        return []  # a damaged profile: the profile check names it
    problem = "merged reference profile missing (written)"
    if path.is_file():
        try:
            if pl.read_parquet(path).equals(fresh):
                return []
        except (OSError, pl.exceptions.PolarsError):
            pass
        problem = "merged reference profile differs from the merge of its profiles" + (
            " (rewritten)" if repair else "; `doctor --repair` rewrites it")
    if repair:
        path.unlink(missing_ok=True)
        publish(path, fresh)
    return [{"path": sources.path, "problem": problem, "status": "pass" if repair else "fail"}]
