"""Profile data files: one streamed scan per file (or per group of small files of a batch),
every column at once, per time bucket.

`count_files` is the one function that turns rows into partial states on a reference (each
file's rows -> its counters -> its profile table); ingest (`batch_profiles`, then `catch_up`
after its commit) and `profiles build` (`profile_lacking`) call it, `profile_file` and
`profile_on` are its one-file forms; it counts with `summarize`'s counters (`count_windows`),
as the scan path does, so a profile, a merge of profiles and a scan give the same counts,
and writes the table straight from them (`counted_table`).

The scan is `Store.scan` of those files (the same reading rules as every report: types the
config changed since are read as the config says) and the counting is `summarize`'s, so a
profile holds exactly the counts the scan path would; only the order in which floats are
added differs. Columns the file lacks are counted as nulls (as a scan of several files does)
and marked not present. Categorical columns that the scan reads as the file stores them are
looked up per entry of the file's Parquet dictionaries instead of per value
(`evalctl.stats.levels`: the same counts, tests/test_stats_levels.py).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from evalctl import progress, temporaries
from evalctl.config import ModelConfig
from evalctl.errors import StoreError
from evalctl.lake.durable import StagingArea, fsync_tree
from evalctl.lake.layout import profile_path
from evalctl.lake.ledger import BatchRecord, FileEntry, lifecycle_lock
from evalctl.lake.profiled import ProfileEntry, file_profiles, profiles_extra, publish_record
from evalctl.lake.selectors import Selector
from evalctl.lake.storage import Storage
from evalctl.lake.store import DictionaryReader, Selection, Store
from evalctl.profiles.format import counted_table
from evalctl.profiles.parts import PART_ROWS
from evalctl.profiles.reference import (
    Reference,
    current_reference,
    current_reference_hash,
    staleness,
)
from evalctl.stats.binning import Binning
from evalctl.stats.levels import LevelCodes, codable
from evalctl.stats.query import feature_problems
from evalctl.stats.summarize import WindowCounters, count_windows, warm_locators

if TYPE_CHECKING:  # the worker imports this module to count
    from evalctl.profiles.worker import Worker

_TRUNCATE = {"1d": "1d", "1h": "1h"}
GROUP_FILES = 8  # daily files counted together at most (`file_groups`)
AHEAD = 4  # files the profiling threads count ahead of the writer before they write them too


def _counting_threads() -> int:
    """Ingest counts two groups of files at once where it may use two cores: numpy's counting
    holds the GIL for part of its time only (`bincount`, `ufunc.at`; the cell codes'
    arithmetic and polars' reads do not), so two threads keep a second core busy after the
    write (paired runs: 5M rows 1.38x -> 1.28x the ingest without profiles). More would
    mostly wait for the GIL, and each holds a group's counters; on one core, one."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else \
        os.cpu_count() or 1
    return 2 if cores >= 2 else 1


COUNTING_THREADS = _counting_threads()


def warm(binning: Binning) -> None:
    """What counting does once per process: import the Parquet and compute modules the
    dictionary reads use and build the numeric features' cell locators."""
    import pyarrow.compute  # noqa: F401
    import pyarrow.parquet  # noqa: F401

    warm_locators(binning)


def profile_file(store: Store, model: ModelConfig, reference: Reference, version: str,
                 env: str, entry: FileEntry) -> pl.DataFrame:
    """The profile table of one (moved or committed) prediction file."""
    return profile_on(store, model, reference.binning, reference.granularity, version, env,
                      entry)


def profile_on(store: Store, model: ModelConfig, binning: Binning, granularity: str,
               version: str, env: str, entry: FileEntry) -> pl.DataFrame:
    """The profile table of one prediction file on any binning (`profile_file` on the frozen
    reference's; the Spark engine's scan path on the bins it fitted for one report)."""
    return count_files(store, model, binning, granularity, version, env, [entry])[0].table()


@dataclass
class Counted:
    """One data file's counters, per time bucket, and the features its column holds: its
    profile table (`table`) or that table's Parquet bytes (`data`, made once, by whichever
    thread asks first: ingest's profiling thread when it runs ahead of the writer, else the
    writer)."""

    windows: dict[Any, WindowCounters] | None
    present: list[str]
    _data: bytes | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def table(self) -> pl.DataFrame:
        assert self.windows is not None, "turned into bytes already"
        return counted_table(self.windows, self.present)

    def data(self) -> bytes:
        with self._lock:
            if self._data is None:
                self._data = profile_bytes(self.table())
                self.windows = None  # the counters are ~3x the bytes: not held twice
            return self._data


def count_files(store: Store, model: ModelConfig, binning: Binning, granularity: str,
                version: str, env: str, entries: list[FileEntry]) -> list[Counted]:
    """The counters of data files of one batch (one `count_windows` of all of them, which
    splits its batches at the files' boundaries), in the order given. Files of one batch
    (one ledger record) share their stored types, so `Store.scan` reads them as one list, in
    that order, which is what tells their rows apart (every caller passes one record's
    files; a row count that does not add up is a StoreError). Small files are read
    by one query (`file_groups` makes such groups: one query each cost ~4 ms more CPU and
    left polars no file to decode while a file was counted), a larger one in slices of
    `PART_ROWS` rows (four whole row groups of ingest's files): polars' streaming engine
    reads ahead of the counting, and a whole file's read-ahead grew with the file (build:
    414 MiB at 5M rows, 653 MiB at 20M, 30 files each; 553 MiB in slices)."""
    selector = Selector(text=env, env=env)
    selection = Selection(selector, tuple((version, env, entry) for entry in entries))
    lf = store.scan(model, selector, with_actuals=False, selection=selection)
    schema = lf.collect_schema()
    present = [f for f in binning.kinds if f in schema]
    missing = [pl.lit(None, dtype=pl.Float64 if kind == "numeric" else pl.String).alias(f)
               for f, kind in binning.kinds.items() if f not in schema]
    if missing:
        lf = lf.with_columns(missing)
    bucket = pl.col(model.timestamp).dt.truncate(_TRUNCATE[granularity])
    rows = sum(entry.rows for entry in entries)
    slices = [lf.slice(start, PART_ROWS) for start in range(0, rows, PART_ROWS)]
    codes = _level_codes(store, entries, schema, binning)
    names = [store.storage.url(e.path) for e in entries]  # as errors name a read file
    # no heap trim per file: the next file's counting reuses the heap this one freed
    windows = count_windows(lf, binning, by=bucket, parts=slices, codes=codes, release=False,
                            files=list(zip(names, (e.rows for e in entries), strict=True)))
    per_file: list[dict[Any, WindowCounters]] = [{} for _ in entries]
    for (file, key), counters in windows.items():  # sorted by file, then bucket
        per_file[file][key] = counters
    return [Counted(counted, present) for counted in per_file]


def file_groups(entries: list[FileEntry], granularity: str) -> list[list[FileEntry]]:
    """The files in groups that `count_files` reads together, in order: consecutive files
    of at most `PART_ROWS` rows in all and at most `GROUP_FILES` files (a daily profile's
    counters are ~2 MiB a file; hourly ones are 24 times that, so hourly files go one by
    one); a larger file alone."""
    most = GROUP_FILES if granularity == "1d" else 1
    groups: list[list[FileEntry]] = []
    rows = 0
    for entry in entries:
        if groups and len(groups[-1]) < most and rows + entry.rows <= PART_ROWS:
            groups[-1].append(entry)
            rows += entry.rows
        else:
            groups.append([entry])
            rows = entry.rows
    return groups


def _level_codes(store: Store, entries: list[FileEntry], schema: pl.Schema, binning: Binning
                 ) -> LevelCodes | None:
    """The level codes of the files' categorical features read from their Parquet
    dictionaries (`evalctl.stats.levels`: ~0.15 s less CPU per 1M rows than polars' String
    -> Enum cast of every value), for the features the scan reads as every file stores them
    (`schema`, the scan's: not those whose type the config changed since, nor missing ones)
    in a type that can be coded; None when there are none (object storage: none)."""
    problems = feature_problems(schema, binning)
    wanted = [f for f in binning.categorical if f in schema and f not in problems]
    readers = [store.dictionary_reader(entry) for entry in entries] if wanted else []
    if not readers or any(reader is None for reader in readers):
        return None
    opened = [reader for reader in readers if reader is not None]
    coded = [f for f in wanted if all(_codable_as(r.schema, f, schema) for r in opened)]
    if not coded:
        return None
    return LevelCodes({f: binning.categorical[f] for f in coded},
                      _file_batches(opened, entries, coded), source=str(opened[0].path))


def _codable_as(stored: Any, feature: str, schema: pl.Schema) -> bool:
    """Whether a file stores `feature` in a type that can be coded and that the scan reads
    as it is stored."""
    if feature not in stored.names or not codable(stored.field(feature).type):
        return False
    return _as_stored(stored.field(feature).type) == schema[feature]


def _file_batches(readers: list[DictionaryReader], entries: list[FileEntry],
                  columns: list[str]) -> Iterator[Any]:
    """The files' `columns` as Arrow batches, one file after another; a file holding other
    rows than its entry records is a StoreError naming it."""
    for reader, entry in zip(readers, entries, strict=True):
        rows = 0
        for batch in reader.batches(columns, PART_ROWS):
            rows += batch.num_rows
            yield batch
        if rows != entry.rows:
            raise StoreError(f"{reader.path}: holds {rows} rows, {entry.rows} recorded "
                             "(changed while read?); run `evalctl doctor`",
                             file=str(reader.path))


def _as_stored(dtype: Any) -> pl.DataType:
    """The polars type of a column stored under the codable Arrow type `dtype` (`codable`:
    Int8 or a text type). Not by polars' own Arrow conversion: its first call imports pandas
    where pandas is installed (~0.18 s of CPU, on every ingest's profiling path)."""
    import pyarrow as pa

    return pl.Int8() if dtype == pa.int8() else pl.String()


def profile_bytes(table: pl.DataFrame) -> bytes:
    """A profile table as the snappy Parquet file `write_profiles` stores (the same bytes).
    No column statistics: no reader prunes by them (a profile is one row group, read
    whole), and leaving them out makes writing ~15% cheaper. Snappy, not zstd: a profile is
    mostly random floats, which no codec shrinks (30 daily profiles of 1M rows: 22.5 MB,
    against 21.3 MB with zstd level 1), and snappy is the cheapest to write and to read
    (`drift` over 30 daily windows reads 30 profiles: ~10 ms less wall time, ~15 ms less
    CPU than zstd); every Parquet reader reads it."""
    buffer = io.BytesIO()
    table.write_parquet(buffer, compression="snappy", statistics=False)
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
    here = _GroupByGroup(BatchProfiles(store, model, reference, version, env),
                         [e for e in entries if computed is None or e.path not in computed])
    for n, entry in enumerate(entries):
        temp = staging / f"profile-{n:04d}.parquet"
        if computed is not None and entry.path in computed:
            data = computed[entry.path]  # (ingest: waits until the thread has this one)
        else:
            data = here.data(entry)
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
    try:
        if not store.is_local:
            for temp, relative in staged:
                moved.append(relative)
                store.storage.publish([(temp, relative)])
            return profiled, moved
        for temp, relative in staged:
            target = store.root / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            temporaries.rename(temp, target)  # removed if a signal comes before the commit
            moved.append(target)
        fsync_tree(store.root, [m for m in moved if isinstance(m, Path)])
    except BaseException:  # the caller never learns of these: take them back here
        _take_back(store, moved)
        raise
    return profiled, moved


def _take_back(store: Store, placed: list[Path | str]) -> None:
    """Remove profiles `write_profiles` put in place before it failed (an object store that
    refuses the deletes too leaves them to `doctor --repair`, as orphans no record names)."""
    temporaries.take_back(p for p in placed if isinstance(p, Path))
    for relative in (p for p in placed if isinstance(p, str)):
        with contextlib.suppress(Exception):
            store.storage.delete(relative)


class _GroupByGroup:
    """Profiles computed where they are written (`profiles build`), a group of files
    (`file_groups`) at a time: the counters of one group are held at once."""

    def __init__(self, batch: BatchProfiles, entries: list[FileEntry]) -> None:
        self._count = batch.count
        self._groups = {e.path: group
                        for group in file_groups(entries, batch.reference.granularity)
                        for e in group}
        self._held: dict[str, Counted] = {}

    def data(self, entry: FileEntry) -> bytes:
        if entry.path not in self._held:
            group = self._groups[entry.path]
            self._held = dict(zip((e.path for e in group), self._count(group), strict=True))
        return self._held.pop(entry.path).data()


class Computing(Mapping[str, bytes]):
    """Profiles being computed (`BatchProfiles.start`), by data file: looking one up waits
    for the counting of its group of files (and raises what counting them raised), then
    gives its Parquet bytes (`Counted.data`, made in the caller's thread unless the
    profiling thread ran ahead and made them)."""

    def __init__(self, where: dict[str, tuple[Future[list[Counted]], int]] | None = None
                 ) -> None:
        self._where = dict(where or {})
        self.counted = 0  # files the profiling threads have counted
        self.taken = 0  # files looked up
        self._lock = threading.Lock()

    def note_counted(self, files: int) -> int:
        """Note that a profiling thread counted `files` more files; how many counted files
        the writer has not taken yet."""
        with self._lock:
            self.counted += files
            return self.counted - self.taken

    def add(self, path: str, future: Future[list[Counted]], index: int) -> None:
        self._where[path] = (future, index)

    def __getitem__(self, path: str) -> bytes:
        future, index = self._where[path]
        data = future.result()[index].data()
        with self._lock:
            self.taken += 1
        return data

    def __contains__(self, path: object) -> bool:  # without waiting
        return path in self._where

    def __iter__(self) -> Iterator[str]:
        return iter(self._where)

    def __len__(self) -> int:
        return len(self._where)


@dataclass(frozen=True)
class BatchProfiles:
    """Ingest's profiles of one batch on the model's current reference, in two steps:
    `start` counts the batch's moved files (ingest runs it in a thread while it checksums
    and flushes them: the two overlap) and `write` stores the profiles before the commit."""

    store: Store
    model: ModelConfig
    reference: Reference
    version: str
    env: str
    worker: Worker | None = None  # a profiling process that counts some groups (`worker`)

    def warm(self) -> None:
        """What counting does once per process, done ahead (`warm`; ingest runs it in its
        profiling thread while polars writes the batch: ~0.08 s of CPU off the first group's
        count)."""
        warm(self.reference.binning)

    def count(self, entries: list[FileEntry]) -> list[Counted]:
        """The counters of a group of the batch's files (`count_files`; reads only:
        thread-safe)."""
        return count_files(self.store, self.model, self.reference.binning,
                           self.reference.granularity, self.version, self.env, entries)

    def start(self, entries: list[FileEntry], pool: Executor) -> Computing:
        """Count the files (`count`) group by group (`file_groups`) in `pool`, in the order
        of `entries`. `write` takes each profile as soon as its group is counted and turns
        it into its table and bytes in its own thread while the pool counts the next group
        (ingest: 1M rows in 30 daily files, ~0.3 s of its wall time), unless the pool is
        more than `AHEAD` files ahead: then the pool makes the bytes itself, so that memory
        holds the counters of a few files, not of the batch."""
        computing = Computing()
        for group in file_groups(entries, self.reference.granularity):
            future = pool.submit(self._count_ahead, group, computing)
            for index, entry in enumerate(group):
                computing.add(entry.path, future, index)
        return computing

    def _count_ahead(self, group: list[FileEntry], computing: Computing) -> list[Counted]:
        counted = self._counted_by_worker(group)
        if counted is not None:
            computing.note_counted(len(counted))
            return counted
        counted = self.count(group)
        if computing.note_counted(len(counted)) > AHEAD:
            for one in counted:
                one.data()
        return counted

    def _counted_by_worker(self, group: list[FileEntry]) -> list[Counted] | None:
        """The group's profiles from the profiling process, when there is one, it has loaded
        and no other thread is using it; else None (count here)."""
        worker = self.worker
        if worker is None or not worker.lock.acquire(blocking=False):
            return None
        try:
            data = worker.count(group) if worker.ready() else None
        finally:
            worker.lock.release()
        if data is None or len(data) != len(group):
            return None
        return [Counted(None, [], _data=one) for one in data]

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
            with temporaries.committing():
                publish_record(root, model.name, reference.hash, record, written)
                area.settle()  # committed: a later failure or a signal must not take them
        batches, files = batches + len(todo), files + len(entries)
        rows += sum(f.rows for f in entries)


def lacking_files(root: Storage, model: str, reference: str, record: BatchRecord
                  ) -> list[FileEntry]:
    """The files of a batch generation without a profile on `reference`."""
    found = file_profiles(root, model, reference, record)
    return [f for f in record.files if f.path not in found]


def catch_up(store: Store, model: ModelConfig, batch: str, profiled: str | None = None) -> int:
    """Ingest's hook after its commit: when the batch lacks profiles on the model's current
    reference — a `profiles build` published a new one while the ingest ran, after the
    ingest had read the old one — profile it now, under the lifecycle lock (so after that
    build's own last look). Returns the files profiled (0 almost always).

    `profiled`: the reference the ingest's commit named profiles on; while the model's
    pointer still names it, there is nothing to catch up, and only the pointer is read (not
    the reference's ~30k edges: ~10 ms of every ingest)."""
    if model.profiles.reference is None:
        return 0
    root = store.storage
    if profiled is not None and current_reference_hash(root, model.name) == profiled:
        return 0
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
