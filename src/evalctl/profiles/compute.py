"""Profile data files: one streamed scan per file, every column at once, per time bucket.

`profile_file` is the one function that turns rows into a partial state on a reference (one
file's rows -> its profile table); ingest (`batch_profiles`, then `catch_up` after its commit)
and `profiles build` (`profile_lacking`) call it; it counts with `summarize`'s counters
(`count_windows`), as the scan path does, so a profile, a merge of profiles and a scan give
the same counts, and writes the table straight from them (`counted_table`).

The scan is `Store.scan` of that one file (the same reading rules as every report: types the
config changed since are read as the config says) and the counting is `summarize`'s, so a
profile holds exactly the counts the scan path would; only the order in which floats are
added differs. Columns the file lacks are counted as nulls (as a scan of several files does)
and marked not present. Categorical columns that the scan reads as the file stores them are
looked up per entry of the file's Parquet dictionaries instead of per value
(`evalctl.stats.levels`: the same counts, tests/test_stats_levels.py).
"""

from __future__ import annotations

import hashlib
import io
import os
import uuid
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from evalctl import progress
from evalctl.config import ModelConfig
from evalctl.lake.durable import StagingArea, fsync_tree
from evalctl.lake.layout import profile_path
from evalctl.lake.ledger import BatchRecord, FileEntry, lifecycle_lock
from evalctl.lake.profiled import ProfileEntry, file_profiles, profiles_extra, publish_record
from evalctl.lake.selectors import Selector
from evalctl.lake.storage import Storage
from evalctl.lake.store import Selection, Store
from evalctl.profiles.format import counted_table
from evalctl.profiles.parts import PART_ROWS
from evalctl.profiles.reference import Reference, current_reference, staleness
from evalctl.stats.binning import Binning
from evalctl.stats.levels import LevelCodes, codable
from evalctl.stats.query import feature_problems
from evalctl.stats.summarize import count_windows

_TRUNCATE = {"1d": "1d", "1h": "1h"}


def profile_file(store: Store, model: ModelConfig, reference: Reference, version: str,
                 env: str, entry: FileEntry) -> pl.DataFrame:
    """The profile table of one (moved or committed) prediction file."""
    return profile_on(store, model, reference.binning, reference.granularity, version, env,
                      entry)


def profile_on(store: Store, model: ModelConfig, binning: Binning, granularity: str,
               version: str, env: str, entry: FileEntry) -> pl.DataFrame:
    """The profile table of one prediction file on any binning (`profile_file` on the frozen
    reference's; the Spark engine's scan path on the bins it fitted for one report)."""
    selector = Selector(text=env, env=env)
    selection = Selection(selector, ((version, env, entry),))
    lf = store.scan(model, selector, with_actuals=False, selection=selection)
    schema = lf.collect_schema()
    present = [f for f in binning.kinds if f in schema]
    missing = [pl.lit(None, dtype=pl.Float64 if kind == "numeric" else pl.String).alias(f)
               for f, kind in binning.kinds.items() if f not in schema]
    if missing:
        lf = lf.with_columns(missing)
    bucket = pl.col(model.timestamp).dt.truncate(_TRUNCATE[granularity])
    # read in slices of `PART_ROWS` rows (four whole row groups of ingest's files): polars'
    # streaming engine reads ahead of the counting, and a whole file's read-ahead grew with
    # the file (build: 414 MiB at 5M rows, 653 MiB at 20M, 30 files each; 553 MiB in slices)
    slices = [lf.slice(start, PART_ROWS) for start in range(0, entry.rows, PART_ROWS)]
    codes = _level_codes(store, entry, schema, binning)
    # no heap trim per file: the next file's counting reuses the heap this one freed
    return counted_table(count_windows(lf, binning, by=bucket, parts=slices, codes=codes,
                                       release=False), present)


def _level_codes(store: Store, entry: FileEntry, schema: pl.Schema, binning: Binning
                 ) -> LevelCodes | None:
    """The level codes of the file's categorical features read from its Parquet dictionaries
    (`evalctl.stats.levels`: ~0.15 s less CPU per 1M rows than polars' String -> Enum cast
    of every value), for the features the scan reads as the file stores them (`schema`, the
    scan's: not those whose type the config changed since, nor missing ones) in a type that
    can be coded; None when there are none (object storage: none)."""
    problems = feature_problems(schema, binning)
    wanted = [f for f in binning.categorical if f in schema and f not in problems]
    reader = store.dictionary_reader(entry) if wanted else None
    if reader is None:
        return None
    stored = reader.schema
    coded = [f for f in wanted if f in stored.names and codable(stored.field(f).type)
             and _as_stored(stored.field(f).type) == schema[f]]
    if not coded:
        return None
    return LevelCodes({f: binning.categorical[f] for f in coded},
                      reader.batches(coded, PART_ROWS), source=str(reader.path))


def _as_stored(dtype: Any) -> pl.DataType:
    """The polars type of a column stored under the Arrow type `dtype`."""
    import pyarrow as pa

    return pl.Series(pa.array([], type=dtype)).dtype


def profile_bytes(table: pl.DataFrame) -> bytes:
    """A profile table as the zstd Parquet file `write_profiles` stores (the same bytes).
    No column statistics: no reader prunes by them (a profile is one row group, read
    whole), and leaving them out makes writing ~15% cheaper. zstd level 1, not polars'
    default 3: the same size on profiles (random floats and runs of nulls: 21.3 MB for the
    30 daily profiles of 1M rows either way) for ~12% less CPU writing them."""
    buffer = io.BytesIO()
    table.write_parquet(buffer, compression="zstd", compression_level=1, statistics=False)
    return buffer.getvalue()


def write_profiles(store: Store, model: ModelConfig, reference: Reference, version: str,
                   env: str, entries: list[FileEntry], staging: Path,
                   computed: Mapping[str, bytes] | None = None
                   ) -> tuple[list[ProfileEntry], list[Path | str]]:
    """Profile `entries` (one scan each), write each profile in `staging` (flushed), then,
    once every one is written, rename them to their place (folders flushed; on object
    storage: upload them). Returns the entries and the paths moved into place (the keys
    uploaded). A profile that fails to compute or write leaves nothing outside `staging`.

    `computed`: profiles already computed elsewhere (the Spark engine; ingest's thread), as
    the Parquet bytes `profile_bytes` makes, by data file; those are written as they are."""
    profiled: list[ProfileEntry] = []
    staged: list[tuple[Path, str]] = []
    staging.mkdir(parents=True, exist_ok=True)
    for n, entry in enumerate(entries):
        temp = staging / f"profile-{n:04d}.parquet"
        if computed is not None and entry.path in computed:
            data = computed[entry.path]  # (ingest: waits until the thread has this one)
        else:
            data = profile_bytes(profile_file(store, model, reference, version, env, entry))
        with open(temp, "wb") as handle:  # durable before it is named in a commit
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        relative = profile_path(entry.path, model.name, reference.hash)
        # the checksum of the bytes written (not of the file read back: they are flushed)
        profiled.append(ProfileEntry(data=entry.path, path=relative, bytes=len(data),
                                     sha256=hashlib.sha256(data).hexdigest()))
        staged.append((temp, relative))
        progress.advance()
    moved: list[Path | str] = []
    if not store.is_local:
        for temp, relative in staged:
            moved.append(relative)
            store.storage.publish([(temp, relative)])
        return profiled, moved
    for temp, relative in staged:
        target = store.root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        temp.rename(target)
        moved.append(target)
    fsync_tree(store.root, [m for m in moved if isinstance(m, Path)])
    return profiled, moved


class Computing(Mapping[str, bytes]):
    """Profiles being computed (`BatchProfiles.start`), by data file: looking one up waits
    for it (and raises what computing it raised)."""

    def __init__(self, futures: dict[str, Future[bytes]]) -> None:
        self._futures = futures

    def __getitem__(self, path: str) -> bytes:
        return self._futures[path].result()

    def __contains__(self, path: object) -> bool:  # without waiting
        return path in self._futures

    def __iter__(self) -> Iterator[str]:
        return iter(self._futures)

    def __len__(self) -> int:
        return len(self._futures)


@dataclass(frozen=True)
class BatchProfiles:
    """Ingest's profiles of one batch on the model's current reference, in two steps:
    `start` reads the batch's moved files (ingest runs it in a thread while it checksums
    and flushes them: the two overlap) and `write` stores the profiles before the commit."""

    store: Store
    model: ModelConfig
    reference: Reference
    version: str
    env: str

    def compute_one(self, entry: FileEntry) -> bytes:
        """One file's profile as `profile_bytes` (reads only: thread-safe)."""
        return profile_bytes(profile_file(self.store, self.model, self.reference,
                                          self.version, self.env, entry))

    def start(self, entries: list[FileEntry], pool: Executor) -> Computing:
        """Each file's profile (`compute_one`), file by file in `pool`, in the order of
        `entries`: `write` takes each profile as soon as it is ready, so writing and flushing
        a profile overlaps computing the next (ingest: 1M rows in 30 daily files, ~0.2 s of
        its wall time)."""
        return Computing({e.path: pool.submit(self.compute_one, e) for e in entries})

    def write(self, entries: list[FileEntry], staging: Path, computed: Mapping[str, bytes]
              ) -> tuple[dict[str, Any], list[Path | str]]:
        """Write the computed profiles into place: the ledger record's ``extra.profiles``
        and the profile files moved into place."""
        progress.phase(f"writing {len(entries)} profile(s) on reference "
                       f"{self.reference.hash}", total=len(entries))
        profiled, moved = write_profiles(self.store, self.model, self.reference, self.version,
                                         self.env, entries, staging, computed)
        return profiles_extra(self.reference.hash, profiled), moved


def batch_profiles(store: Store, model: ModelConfig, version: str, env: str
                   ) -> BatchProfiles | None:
    """Ingest's hook: how to profile a batch of predictions on the model's current
    reference; None when the model has none (none configured, none fitted yet, or stale:
    `profiles build` then fits it and profiles what is stored)."""
    if model.profiles.reference is None:
        return None
    reference = current_reference(store.storage, model.name)
    if reference is None or staleness(reference, model) is not None:
        return None
    return BatchProfiles(store, model, reference, version, env)


@dataclass(frozen=True)
class Profiled:
    """What `profile_lacking` did."""

    batches: int  # batches profiled
    files: int  # data files profiled
    rows: int  # rows read to profile them
    already: int  # live batches that had profiles on the reference at the first look


# profiles computed elsewhere (the Spark engine) for the files of a to-do list, as the
# Parquet bytes `profile_bytes` makes, by data file: looked up in the to-do list's order, one
# at a time, so the mapping can compute them in rounds as they are asked for
Precompute = Callable[[list[tuple[BatchRecord, list[FileEntry]]]], Mapping[str, bytes]]


def profile_lacking(store: Store, model: ModelConfig, reference: Reference, area: StagingArea,
                    only: str | None = None, precompute: Precompute | None = None
                    ) -> Profiled:
    """Profile every live prediction batch of the model (or just batch `only`) that lacks
    profiles on `reference`, each committed by its own record; then look at the ledger again,
    until a look finds nothing (batches committed meanwhile are profiled too). The caller
    holds the lifecycle lock and `area` (a staging area). `precompute`: compute the profiles
    of the batches elsewhere (`profiles build --engine spark`); the driver writes and commits
    them here, batch by batch, as it reads them from the mapping."""
    batches = files = rows = 0
    already: int | None = None
    root = store.storage
    while True:
        store.refresh()
        records = [r for r in store.prediction_records(model.name)
                   if only is None or r.batch == only]
        todo = [(r, lacking) for r in records
                if (lacking := lacking_files(root, model.name, reference.hash, r))]
        if already is None:
            already = len(records) - len(todo)
        if not todo:
            return Profiled(batches, files, rows, already)
        entries = [f for _, lacking in todo for f in lacking]
        progress.phase(f"profiling {len(todo)} batch(es) on reference {reference.hash}",
                       total=len(entries))
        computed = precompute(todo) if precompute is not None else None
        for record, lacking in todo:
            written, moved = write_profiles(store, model, reference, record.version or "",
                                            record.env or "", lacking,
                                            area.folder / f"{record.batch}.{record.generation}",
                                            computed)
            area.track(moved)
            publish_record(root, model.name, reference.hash, record, written)
            area.moved.clear()  # committed: a later failure must not take them away
            area.uploaded.clear()
        batches, files = batches + len(todo), files + len(entries)
        rows += sum(f.rows for f in entries)


def lacking_files(root: Storage, model: str, reference: str, record: BatchRecord
                  ) -> list[FileEntry]:
    """The files of a batch generation without a profile on `reference`."""
    found = file_profiles(root, model, reference, record)
    return [f for f in record.files if f.path not in found]


def catch_up(store: Store, model: ModelConfig, batch: str) -> int:
    """Ingest's hook after its commit: when the batch lacks profiles on the model's current
    reference — a `profiles build` published a new one while the ingest ran, after the
    ingest had read the old one — profile it now, under the lifecycle lock (so after that
    build's own last look). Returns the files profiled (0 almost always)."""
    if model.profiles.reference is None:
        return 0
    root = store.storage
    reference = current_reference(root, model.name)
    if reference is None or staleness(reference, model) is not None:
        return 0  # `profiles build` fits it, and profiles what is stored
    record = next((r for r in store.prediction_records(model.name) if r.batch == batch), None)
    if record is None or not lacking_files(root, model.name, reference.hash, record):
        return 0
    with root.staging(f"profiles-{uuid.uuid4().hex[:8]}") as area, lifecycle_lock(root):
        reference = current_reference(root, model.name)
        if reference is None or staleness(reference, model) is not None:
            return 0
        return profile_lacking(store, model, reference, area, only=batch).files
