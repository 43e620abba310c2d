"""Profile data files: every column at once, per time bucket, per data file.

A profile is a data file's partial state on a reference (its profile table). Ingest counts
its batch's profiles from the rows while it writes them (`BatchProfiles.tap`: the write's
query feeds the counting too, so nothing is read back) and falls back to reading a file back
(`profile_file`) only when a day's rows went to several files; `profiles build`
(`profile_lacking`) and `catch_up` read each file back. Both count with `summarize`'s counters
(`window_counters`), as the scan path does, so a profile, a merge of profiles and a scan give
the same counts, and write the table straight from them (`counted_table`).

Bit for bit the same whichever way: floats summed in another order differ in their last bits,
so `FixedSlices` feeds each window's rows to its counters in consecutive slices of exactly
`SLICE_ROWS` rows, whatever batches polars delivers them in. A file's rows in the same order
(the write keeps each day's rows in the export's order) then give the same sums, moments and
table whether they were counted during the write or read back from the file.

The read-back scan is `Store.scan` of that one file (the same reading rules as every report:
types the config changed since are read as the config says). Columns the file lacks are
counted as nulls (as a scan of several files does) and marked not present.
"""

from __future__ import annotations

import io
import os
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from evalctl import progress
from evalctl.config import ModelConfig
from evalctl.errors import InputError
from evalctl.lake.durable import StagingArea, fsync_tree
from evalctl.lake.layout import profile_path
from evalctl.lake.ledger import BatchRecord, FileEntry, lifecycle_lock
from evalctl.lake.profiled import ProfileEntry, file_profiles, profiles_extra, publish_record
from evalctl.lake.readers import file_sha256
from evalctl.lake.selectors import Selector
from evalctl.lake.storage import Storage
from evalctl.lake.store import Selection, Store
from evalctl.profiles.format import counted_table
from evalctl.profiles.reference import Reference, current_reference, staleness
from evalctl.stats.binning import Binning
from evalctl.stats.summarize import (
    BATCH_ROWS,
    WindowCounters,
    row_query,
    window_counters,
    window_parts,
)

_TRUNCATE = {"1d": "1d", "1h": "1h"}

# rows of one window counted at a time (`FixedSlices`): large enough that numpy's per-call
# cost is small, small enough that the rows waiting for a full slice stay small
SLICE_ROWS = 65_536
MORSEL_ROWS = 10_000  # `evalctl.lake.ingest.STREAMING_CHUNK_ROWS`

# polars errors that mean the rows do not fit the reference (as `summarize` treats them)
_INPUT_ERRORS = (pl.exceptions.ColumnNotFoundError, pl.exceptions.SchemaError,
                 pl.exceptions.InvalidOperationError)


class FixedSlices:
    """Every window's counters, fed in consecutive slices of exactly `SLICE_ROWS` of the
    window's rows (the last one shorter) whatever the batches `add` gets: the counts, sums and
    moments then depend only on each window's rows and their order. Holds fewer than
    `SLICE_ROWS` waiting rows per window (one or two windows open at a time when the rows come
    in time order, as exports and data files usually do)."""

    def __init__(self, schema: pl.Schema, binning: Binning) -> None:
        self._new = window_counters(schema, binning)
        self.windows: dict[Any, WindowCounters] = {}
        self._waiting: dict[Any, list[pl.DataFrame]] = {}

    def add(self, batch: pl.DataFrame) -> None:
        """Fold in one batch of `row_query(..., by=bucket)` rows."""
        for key, part in window_parts(batch):
            waiting = self._waiting.setdefault(key, [])
            waiting.append(part)
            if sum(p.height for p in waiting) >= SLICE_ROWS:
                self._count(key, pl.concat(waiting), last=False)

    def finish(self) -> dict[Any, WindowCounters]:
        """Count what waits; the windows in key order."""
        for key, waiting in list(self._waiting.items()):
            self._count(key, pl.concat(waiting), last=True)
        self._waiting.clear()
        return {key: self.windows[key]
                for key in sorted(self.windows, key=lambda k: (k is None, k))}

    def _count(self, key: Any, rows: pl.DataFrame, last: bool) -> None:
        window = self.windows.get(key)
        if window is None:
            window = self.windows[key] = self._new()
        start = 0
        while rows.height - start >= SLICE_ROWS or (last and start < rows.height):
            window.add(rows.slice(start, SLICE_ROWS))
            start += SLICE_ROWS
        self._waiting[key] = [rows.slice(start)] if start < rows.height else []


def _profile_query(lf: pl.LazyFrame, binning: Binning, timestamp: str, granularity: str
                   ) -> tuple[pl.LazyFrame, FixedSlices, list[str]]:
    """The row query that counts `lf` per bucket, its counters, and the features present."""
    schema = lf.collect_schema()
    present = [f for f in binning.kinds if f in schema]
    missing = [pl.lit(None, dtype=pl.Float64 if kind == "numeric" else pl.String).alias(f)
               for f, kind in binning.kinds.items() if f not in schema]
    if missing:
        lf = lf.with_columns(missing)
    bucket = pl.col(timestamp).dt.truncate(_TRUNCATE[granularity])
    try:
        query = row_query(lf, binning, by=bucket)
    except _INPUT_ERRORS as exc:
        raise InputError(f"cannot summarise the selection: {exc}") from exc
    return query, FixedSlices(lf.collect_schema(), binning), present


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
    query, counters, present = _profile_query(lf, binning, model.timestamp, granularity)
    try:
        for batch in query.collect_batches(chunk_size=BATCH_ROWS):
            counters.add(batch)
    except _INPUT_ERRORS as exc:
        raise InputError(f"cannot summarise the selection: {exc}") from exc
    return counted_table(counters.finish(), present)


def profile_bytes(table: pl.DataFrame) -> bytes:
    """A profile table as the zstd Parquet file `write_profiles` stores (the same bytes)."""
    buffer = io.BytesIO()
    table.write_parquet(buffer, compression="zstd")
    return buffer.getvalue()


def write_profiles(store: Store, model: ModelConfig, reference: Reference, version: str,
                   env: str, entries: list[FileEntry], staging: Path,
                   computed: Mapping[str, bytes] | None = None
                   ) -> tuple[list[ProfileEntry], list[Path | str]]:
    """Profile `entries` (one scan each), write each profile in `staging`, then rename them to
    their place (folders flushed; on object storage: upload them). Returns the entries and
    the paths moved into place (the keys uploaded).

    `computed`: profiles already computed elsewhere (the Spark engine), as the Parquet bytes
    `profile_bytes` makes, by data file; those are written as they are."""
    profiled: list[ProfileEntry] = []
    moved: list[Path | str] = []
    staging.mkdir(parents=True, exist_ok=True)
    for n, entry in enumerate(entries):
        temp = staging / f"profile-{n:04d}.parquet"
        if computed is not None and entry.path in computed:
            temp.write_bytes(computed[entry.path])
        else:
            table = profile_file(store, model, reference, version, env, entry)
            table.write_parquet(temp, compression="zstd")
        with open(temp, "rb") as handle:  # durable before it is named in a commit
            os.fsync(handle.fileno())
        relative = profile_path(entry.path, model.name, reference.hash)
        if not store.is_local:
            profiled.append(ProfileEntry(data=entry.path, path=relative,
                                         bytes=temp.stat().st_size, sha256=file_sha256(temp)))
            moved.append(relative)
            store.storage.publish([(temp, relative)])
            progress.advance()
            continue
        target = store.root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        temp.rename(target)
        moved.append(target)
        profiled.append(ProfileEntry(data=entry.path, path=relative,
                                     bytes=target.stat().st_size, sha256=file_sha256(target)))
        progress.advance()
    if store.is_local:
        fsync_tree(store.root, [m for m in moved if isinstance(m, Path)])
    return profiled, moved


class WriteTap:
    """A batch's profiles counted from its rows while ingest writes them: `count` runs (in a
    thread, beside the write) a second streamed query over the export, converted as the write
    converts it, and `tables` turns the counts into each written file's profile table.

    Why not one query with two sinks? Polars then reads the export once, but buffers for the
    slower sink (the counting) every row the faster one has taken: measured, +320 MiB per
    million rows. Two queries each stream in bounded memory; the second read of the export
    costs what reading the written files back cost, but runs beside the write instead of after
    it."""

    def __init__(self, binning: Binning, timestamp: str, granularity: str) -> None:
        self.binning, self.timestamp, self.granularity = binning, timestamp, granularity
        self._counters: FixedSlices | None = None
        self._present: list[str] = []

    def count(self, rows: pl.LazyFrame) -> None:
        """Count `rows` (the frame the write partitions by date), streamed: `sink_batches`
        waits for the counting of a batch before it takes the next."""
        query, counters, present = _profile_query(rows, self.binning, self.timestamp,
                                                  self.granularity)
        # small morsels, as the write's: the two queries' memory adds up
        with pl.Config(streaming_chunk_size=MORSEL_ROWS):
            query.sink_batches(counters.add, engine="streaming")
        self._counters, self._present = counters, present

    def tables(self, entries: list[FileEntry]) -> dict[str, pl.DataFrame]:
        """The profile table of each written file (an entry per day's file) that holds all of
        its day's rows, by data file; a day whose rows went to several files is left out
        (its files are read back)."""
        if self._counters is None:
            return {}
        days: dict[str, dict[Any, WindowCounters]] = {}
        for key, window in self._counters.finish().items():
            days.setdefault(key.date().isoformat(), {})[key] = window
        files = Counter(e.date for e in entries)
        return {e.path: counted_table(days[e.date], self._present) for e in entries
                if files[e.date] == 1 and e.date in days
                and sum(w.rows for w in days[e.date].values()) == e.rows}


@dataclass(frozen=True)
class BatchProfiles:
    """Ingest's profiles of one batch on the model's current reference, in three steps:
    `tap` counts the rows while they are written, `compute` makes each moved file's profile
    from those counts (reading back only a file they do not cover; ingest runs it in a thread
    while it checks ids and checksums), and `write` stores them before the commit."""

    store: Store
    model: ModelConfig
    reference: Reference
    version: str
    env: str

    def tap(self) -> WriteTap:
        """Counting for the batch's write (`evalctl.lake.ingest._sink`)."""
        return WriteTap(self.reference.binning, self.model.timestamp,
                        self.reference.granularity)

    def compute(self, entries: list[FileEntry], tap: WriteTap | None = None
                ) -> dict[str, bytes]:
        """Each file's profile as `profile_bytes`, by data file (reads only: thread-safe):
        from `tap`'s counts, else read back from the file."""
        tables = tap.tables(entries) if tap is not None else {}
        return {e.path: profile_bytes(tables[e.path] if e.path in tables else profile_file(
                    self.store, self.model, self.reference, self.version, self.env, e))
                for e in entries}

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


# profiles computed elsewhere (the Spark engine) for the next batches of a to-do list, as the
# Parquet bytes `profile_bytes` makes, by data file
Precompute = Callable[[list[tuple[BatchRecord, list[FileEntry]]]], dict[str, bytes]]


def profile_lacking(store: Store, model: ModelConfig, reference: Reference, area: StagingArea,
                    only: str | None = None, precompute: Precompute | None = None
                    ) -> Profiled:
    """Profile every live prediction batch of the model (or just batch `only`) that lacks
    profiles on `reference`, each committed by its own record; then look at the ledger again,
    until a look finds nothing (batches committed meanwhile are profiled too). The caller
    holds the lifecycle lock and `area` (a staging area). `precompute`: compute the profiles
    of the next batches elsewhere (`profiles build --engine spark`); the driver writes and
    commits them here."""
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
        computed: dict[str, bytes] = {}
        for n, (record, lacking) in enumerate(todo):
            if precompute is not None and not computed:
                computed = precompute(todo[n:])
            written, moved = write_profiles(store, model, reference, record.version or "",
                                            record.env or "", lacking,
                                            area.folder / f"{record.batch}.{record.generation}",
                                            computed if precompute is not None else None)
            for entry in lacking:
                computed.pop(entry.path, None)
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
