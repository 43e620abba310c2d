"""`evalctl ingest --engine spark`: an export too large for one machine, written by Spark
executors, committed by the driver with a local ingest's protocol (README: "Engines: Spark").

1. The driver opens each export's schema (`open_input`), checks the columns against the
   config exactly as a local ingest does (`_coerced`: a missing column or a refused type is the
   same one-line error, exit 2, before anything is written) and cuts the exports into pieces:
   a CSV or JSON-lines export is one piece, a Parquet export one piece per ~`PIECE_ROWS` rows of
   whole row groups. The exports' SHA-256 (the batch id) is computed on the executors; a batch
   already committed is not written again. An ``s3://`` export is opened by an executor
   (`open_sources`: streamed to its disk, hashed, its schema and row groups returned); under
   a local master that download is kept for every task (`remote_store.kept_downloads`: one
   GET per export), under another each task streams it again (`remote_store.download`)
   before reading its share.
2. One Spark task per piece reads its rows with the local reader, coerces them with
   `_coerced` and writes them partitioned by date with `_sink` (the local ingest's functions,
   so the stored rows and the refusals are the same), reads back each file's statistics
   (`_staged_files`: ids, timestamps, the columns' rules) and profiles it on the model's
   current reference (`profile_on`). A local store's files go to the ingest's staging folder
   (``_staging/``, shared with the driver); an ``s3://`` store's are uploaded through the storage
   layer under final names tagged with the run and the task attempt, as a local ingest
   uploads them. A task returns only metadata: paths, rows, sizes, SHA-256, min/max
   timestamps, labelled rows, and the profiles (partial states, bounded in size).
3. The driver keeps one result per piece (Spark keeps one successful attempt's output per
   partition; files a failed attempt wrote are discarded), checks that the rows add up and
   every file is there with its size and checksum (an ``s3://`` store's uploads read back
   and hashed on the executors: `read_back`), refuses what breaks a column's rules date by
   date over every piece (`refuse_problems`: counts as a local ingest's), moves a local
   store's files into their partitions (`_move_into_partitions`), and, under the label-index
   lock, runs one Spark job over the ids (the batch's, the committed ids of its model,
   version, env and dates, and the actuals') for the repeated ids, the ids already stored and
   the label index; then it commits the ledger record (`commit_indexed`, as a local ingest:
   the same export twice commits once). Actuals: `spark_actuals`.

The driver never collects rows: its memory does not grow with the export.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evalctl import progress
from evalctl.config import ModelConfig
from evalctl.engines.remote_store import StoreSpec, download, kept_downloads
from evalctl.engines.spark import FAULT_ENV, SparkEngine, first_attempt_failure
from evalctl.errors import EvalctlError, IngestError, InputError, StoreError
from evalctl.lake import coerce, labels
from evalctl.lake.coerce import Column
from evalctl.lake.durable import StagingArea
from evalctl.lake.ingest import (
    INGESTED_AT,
    IngestResult,
    _already,
    _batch_id,
    _check_classes,
    _check_name,
    _checksummed,
    _coerced,
    _column_stats,
    _derived_prediction,
    _feature_kinds,
    _move_into_partitions,
    _names,
    _out_of_rules,
    _record,
    _refused_value,
    _same_target,
    _sink,
    _Source,
    _Staged,
    _verify_moved,
    commit_indexed,
)
from evalctl.lake.layout import actuals_dir, part_name, prediction_dir
from evalctl.lake.ledger import BatchRecord, FileEntry
from evalctl.lake.profiled import profiles_extra
from evalctl.lake.readers import detect_format, file_sha256, open_input
from evalctl.lake.selectors import ENVS
from evalctl.lake.storage import Storage, _name_urls, is_object_url
from evalctl.lake.store import Store
from evalctl.profiles.compute import catch_up, profile_bytes, profile_on, write_profiles
from evalctl.profiles.reference import Reference, current_reference, staleness

if TYPE_CHECKING:
    import polars as pl

PIECE_ROWS = 1 << 20  # rows per Spark task of a Parquet export (whole row groups)
_NO_ROWS = ": no rows to ingest"
_IDS_SCHEMA = "tag string, id string"
_NEW, _STORED, _ACTUALS = "new", "stored", "actuals:"


@dataclass(frozen=True)
class Piece:
    """One Spark task's share of the exports: rows [offset, offset + rows) of export
    `source` (whole row groups of a Parquet file), or the whole export when `rows` is None."""

    number: int
    source: int
    offset: int = 0
    rows: int | None = None


def ingest_on_spark(store: Store, model: ModelConfig, paths: Sequence[Path | str],
                    spark: SparkEngine, *, version: str, env: str,
                    input_format: str | None = None, now: Callable[[], datetime],
                    piece_rows: int | None = None,
                    storage_options: Mapping[str, str] | None = None) -> IngestResult:
    """`ingest_predictions` with the reading, coercing, writing and profiling done by Spark
    executors (the module docstring); the same result, records and stored rows.
    `piece_rows`: rows per task of a Parquet export (`PIECE_ROWS`); `storage_options`: as
    for `ingest_predictions` (resolved on the driver, carried to the executors with the job
    as a store's are)."""
    _refuse(store, spark, paths, version, env)
    overlap = [0, 0]
    options = store.storage.export_options(storage_options)
    with kept_downloads(spark.master) as kept:
        sources, groups = open_sources(spark, paths, input_format, kept, options)
        batch = _batch_id("predictions", model.name, version, env, sources)
        if store.has_batch(batch):
            return _already(store, batch)
        kinds = _feature_kinds(store, model, sources)
        columns = coerce.prediction_columns(model, env, kinds)
        with named_as_given(sources):  # refusals of the schema
            _coerced(sources, columns, derive=_derived_prediction(model))
        resolved = replace(model, features=kinds)
        job = _PieceJob(StoreSpec.of(store.storage), resolved, columns,
                        _exports(sources, kept), batch, uuid.uuid4().hex[:8], version, env,
                        _reference(store, resolved), os.environ.get(FAULT_ENV),
                        options=options)

        def index(entries: list[FileEntry]) -> dict[str, Any]:
            repeated, in_store, actuals = id_checks(spark, store, resolved, version, env,
                                                    entries)
            overlap[:] = [repeated, in_store]
            return {"format": labels.FORMAT, "actuals": actuals}

        record = write_and_commit(store, spark, job, sources, plan_pieces(
            sources, piece_rows, groups), now=now, features=kinds, index=index)
    if record is None:
        return _already(store, batch)
    catch_up(store, resolved, batch)  # a refit published meanwhile: profile on the new one
    dropped = sorted({c for s in sources for c in s.schema} - {c.name for c in columns})
    return IngestResult(batch, record.rows, len(record.files),
                        tuple(sorted({e.date for e in record.files})), False, tuple(dropped),
                        overlap[0], overlap[1])


def write_and_commit(store: Store, spark: SparkEngine, job: _PieceJob, sources: list[_Source],
                     pieces: list[Piece], *, now: Callable[[], datetime],
                     features: dict[str, str],
                     index: Callable[[list[FileEntry]], dict[str, Any]]) -> BatchRecord | None:
    """Write `job`'s pieces on Spark, check them, bring them into place and commit the
    batch's ledger record with its label index (`index`, computed under the label-index
    lock); the committed record, or None when a concurrent ingest of the batch won."""
    with store.storage.staging(f"{job.batch}-{job.run}") as area:
        progress.phase(f"writing {len(sources)} export(s) on Spark ({spark.master})")
        job = replace(job, staging=str(area.folder.resolve()))
        with named_as_given(sources):
            staged, entries, profiles = _write(store, spark, job, sources, pieces, area)
        record = _record(job.batch, job.kind, job.model.name, job.version or None,
                         job.env or None, entries, job.columns, features, sources, now, staged)
        if job.reference is not None:
            record = _with_profiles(store, job.model, job, entries, profiles, record,
                                    area.folder, area.track)
        record, committed = commit_indexed(store, record, entries, index, area)
        if not committed:  # a concurrent ingest of the same batch won; ours is not needed
            store.storage.discard(area)
    if not committed:
        return None
    store.refresh()
    return record


def _exports(sources: list[_Source], kept: Path | None
             ) -> tuple[tuple[str, str, str, str], ...]:
    """(as given, where executors read it, format, SHA-256) of each export: an ``s3://`` one
    from its download kept in `kept` (a local master: `kept_downloads`), else its URL."""
    return tuple((s.origin, str(s.path) if kept else s.origin, s.fmt, s.sha256)
                 if s.origin is not None else
                 (str(s.path), str(s.path.resolve()), s.fmt, s.sha256) for s in sources)


@contextmanager
def named_as_given(sources: list[_Source]) -> Iterator[None]:
    """An error raised in the block names an ``s3://`` export by its URL (the driver holds
    it as a placeholder path, as a local ingest holds its download)."""
    origins = {str(s.path): s.origin for s in sources if s.origin is not None}
    try:
        yield
    except EvalctlError as exc:
        if origins:
            _name_urls(exc, origins)
        raise


def _refuse(store: Store, spark: SparkEngine, paths: Sequence[Path | str], version: str,
            env: str) -> None:
    """What is refused before Spark runs anything (exit 2, one line)."""
    if env not in ENVS:
        raise InputError(f"--env: expected one of {', '.join(ENVS)}, got {env!r}")
    _check_name("--version", version)
    refuse_paths(store, spark, paths)


def refuse_paths(store: Store, spark: SparkEngine, paths: Sequence[Path | str]) -> None:
    """The exports and the store a Spark ingest refuses (exit 2, one line)."""
    if not paths:
        raise InputError("ingest: give at least one input file")
    refuse_driver_disk(store, spark.master)


def _write(store: Store, spark: SparkEngine, job: _PieceJob, sources: list[_Source],
           pieces: list[Piece], area: StagingArea
           ) -> tuple[list[_Staged], list[FileEntry], list[bytes | None]]:
    """Write the pieces on Spark, check what came back, and bring the files into place: a
    local store's renamed into their partitions, an object store's uploads kept (and a
    failed attempt's deleted). The files, their entries and their profiles."""
    try:
        found = _write_pieces(spark, job, pieces)
        staged, entries, profiles = _checked(store, pieces, found, sources, job.columns)
        if not store.is_local:
            read_back(spark, store, job.store, entries)
    except BaseException:
        if not store.is_local:
            _remove_run(store.storage, job, None)
        raise
    if store.is_local:
        entries, moved = _moved(store, staged, entries, job)
        area.track(list(moved))
    else:
        area.uploaded += [e.path for e in entries]
        _remove_run(store.storage, job, {e.path for e in entries})
    _verify_moved(store.storage, entries)
    return staged, entries, profiles


def refuse_driver_disk(store: Store, master: str) -> None:
    """A store in a local folder takes a Spark ingest only under a local master
    (``local[...]``, ``local-cluster[...]``): other executors cannot write the driver's disk."""
    if store.is_local and not master.startswith("local"):
        raise InputError(f"{store.location}: ingest --engine spark on master {master} needs a "
                         "store every executor can write (an s3:// store); a store on the "
                         "driver's local disk takes Spark ingests only under a local master",
                         hint="use an s3:// store, or a local[N] master")


def plan_pieces(sources: list[_Source], piece_rows: int | None,
                groups: list[list[int] | None]) -> list[Piece]:
    """The exports cut into Spark tasks: a Parquet export (`groups`: the rows of each of its
    row groups) into runs of whole row groups of at least `piece_rows` rows (the last may be
    shorter; None: `PIECE_ROWS`, read here, so one setting cuts predictions and actuals
    alike), any other export whole."""
    piece_rows = piece_rows or PIECE_ROWS
    pieces: list[Piece] = []
    for n, (source, sizes) in enumerate(zip(sources, groups, strict=True)):
        if source.fmt != "parquet" or sizes is None:
            pieces.append(Piece(len(pieces), n))
            continue
        runs: list[tuple[int, int]] = []
        start = size = 0
        for rows in sizes:
            size += rows
            if size >= piece_rows:
                runs.append((start, size))
                start, size = start + size, 0
        if size:
            runs.append((start, size))
        if len(runs) <= 1:
            pieces.append(Piece(len(pieces), n))
            continue
        pieces += [Piece(len(pieces) + k, n, offset, rows) for k, (offset, rows) in
                   enumerate(runs)]
    return pieces


def open_sources(spark: SparkEngine, paths: Sequence[Path | str], input_format: str | None,
                 kept: Path | None, options: dict[str, str]
                 ) -> tuple[list[_Source], list[list[int] | None]]:
    """The exports as a local ingest opens them, and each Parquet export's row-group sizes.
    A file's schema is read here and its SHA-256 computed on the executors (one task per
    export); an ``s3://`` export is opened by one executor task (streamed to its disk,
    hashed, its schema and row groups read: no row reaches the driver), the driver holding
    its schema under a placeholder path with the URL as its origin (as a local ingest holds
    its download) — under a local master the download itself, kept in `kept` for the tasks
    that write its rows (`kept_downloads`); read with `options` (`Storage.export_options`)."""
    import polars as pl

    texts = [str(p) for p in paths]
    files = {}
    for text in texts:  # a file's refusals before any Spark job, as a local ingest's
        if not is_object_url(text):
            fmt = detect_format(Path(text), input_format)
            files[text] = (fmt, *open_input(Path(text), fmt))
    context = spark.session.sparkContext
    where = [t if t not in files else str(Path(t).resolve()) for t in texts]  # executors'
    found = context.parallelize(where, len(where)).map(  # working folders differ
        _Opener(options, input_format, str(kept) if kept else None)).collect()
    sources, groups = [], []
    for text, (digest, opened) in zip(texts, found, strict=True):
        if "error" in opened:
            refusal = IngestError if opened["ingest"] else InputError
            raise refusal(opened["error"], file=opened.get("file"),
                          column=opened.get("column"))
        if text in files:
            fmt, lf, schema = files[text]
            sources.append(_Source(Path(text), fmt, lf, schema, digest))
        else:  # the schema only: the driver never reads the export's rows
            schema = opened["schema"]
            sources.append(_Source(Path(opened.get("kept") or text), opened["format"],
                                   pl.LazyFrame(schema=schema), schema, digest, text))
        groups.append(opened.get("groups"))
    return sources, groups


@dataclass(frozen=True)
class _Opener:
    """Executors: (SHA-256, what the driver needs) of one export: for an ``s3://`` one, its
    format, schema and row-group sizes (and, with `kept`, the path of its download, left
    there for the writing tasks), or the local reader's error naming the URL; for a file,
    its row-group sizes (a Parquet file) or nothing."""

    options: dict[str, str] = field(repr=False)
    input_format: str | None
    kept: str | None = None  # `kept_downloads`' folder (a local master), or None

    def __call__(self, text: str) -> tuple[str, dict[str, Any]]:
        if not is_object_url(text):
            groups = _row_groups(Path(text)) if _is_parquet(text, self.input_format) else None
            return file_sha256(Path(text)), {"groups": groups}
        # each attempt its own folder: a retried task never writes over a download in use
        folder = Path(tempfile.mkdtemp(prefix="evalctl-export-", dir=self.kept))
        keep = False
        try:
            try:
                local, digest = download(text, self.options, folder)
                fmt = detect_format(local, self.input_format)
                _, schema = open_input(local, fmt)
            except InputError as exc:  # the local ingest's refusal, naming the URL
                return "", {"error": str(exc).replace(str(folder), text.rsplit("/", 1)[0]),
                            "file": text if exc.file else None, "column": exc.column,
                            "ingest": isinstance(exc, IngestError)}
            groups = _row_groups(local) if fmt == "parquet" else None
            keep = self.kept is not None
            return digest, {"format": fmt, "schema": schema, "groups": groups,
                            "kept": str(local) if keep else None}
        finally:
            if not keep:
                shutil.rmtree(folder, ignore_errors=True)


def _is_parquet(text: str, input_format: str | None) -> bool:
    try:
        return detect_format(Path(text), input_format) == "parquet"
    except InputError:  # the driver's `open_input` says why
        return False


def _row_groups(path: Path) -> list[int] | None:
    import pyarrow.parquet as pq  # imported on use: keeps CLI start-up fast

    try:
        meta = pq.ParquetFile(path).metadata
    except Exception:  # pyarrow raises several types; the local reader explains it
        return None
    return [meta.row_group(g).num_rows for g in range(meta.num_row_groups)]


def _reference(store: Store, model: ModelConfig) -> Reference | None:
    """The model's current reference when a local ingest would profile on it (as
    `profile_batch`: configured, fitted and not stale)."""
    if model.profiles.reference is None:
        return None
    reference = current_reference(store.storage, model.name)
    if reference is None or staleness(reference, model) is not None:
        return None
    return reference


def _write_pieces(spark: SparkEngine, job: _PieceJob, pieces: list[Piece]
                  ) -> dict[int, dict[str, Any]]:
    """Run the job, one task per piece; each piece's result (exactly one) by number. A piece
    refused by the column rules is the local ingest's error (the first piece's, in order)."""
    context = spark.session.sparkContext
    rows = [json.dumps(asdict(p)) for p in pieces]
    found: dict[int, dict[str, Any]] = {}
    for raw in context.parallelize(rows, len(rows)).mapPartitions(job).collect():
        result = json.loads(raw)
        if result["piece"] in found:
            raise StoreError(f"piece {result['piece']} of the export: Spark returned two "
                             "results (a retried task's output was not discarded)")
        found[result["piece"]] = result
    missing = [p.number for p in pieces if p.number not in found]
    if missing:
        raise StoreError(f"Spark returned no result for {len(missing)} piece(s) of the "
                         f"export (first: {missing[0]})")
    refused = [found[p.number] for p in pieces if "error" in found[p.number]]
    if refused:
        raise IngestError(refused[0]["error"], file=refused[0].get("file"),
                          column=refused[0].get("column"))
    return found


def _checked(store: Store, pieces: list[Piece], found: dict[int, dict[str, Any]],
             sources: list[_Source], columns: list[Column]
             ) -> tuple[list[_Staged], list[FileEntry], list[bytes | None]]:
    """The pieces' files in the order of a local ingest (date, then export order), and
    their profiles, after checking that each piece's rows add up and (a local store) each
    file is there with its size."""
    files: list[tuple[str, int, dict[str, Any]]] = []
    for piece in pieces:
        written = found[piece.number]["files"]
        total = sum(f["rows"] for f in written)
        if piece.rows is not None and total != piece.rows:
            raise StoreError(f"{sources[piece.source].path}: Spark wrote {total} of the "
                             f"{piece.rows} rows from row {piece.offset + 1}; nothing was "
                             "committed")
        files += [(f["date"], piece.number, f) for f in written]
    if not files:
        raise IngestError(f"{_names(sources)}{_NO_ROWS}")
    refuse_problems([f for _, _, f in files], columns, sources)
    files.sort(key=lambda item: (item[0], item[1]))
    staged, entries, profiles = [], [], []
    for _, _, f in files:
        where = Path(f["path"]) if store.is_local else None
        found_size = where.stat().st_size if where is not None and where.is_file() else None
        if store.is_local and found_size != f["bytes"]:
            raise StoreError(f"{f['path']}: a file Spark wrote is gone or of another size "
                             "before its commit; nothing was committed")
        staged.append(_Staged(where or Path(f["path"]), f["date"], f["rows"],
                              _when(f["min_ts"]), _when(f["max_ts"]), f["labelled"]))
        entries.append(FileEntry(path=f["path"], rows=f["rows"], bytes=f["bytes"],
                                 sha256=f["sha256"], date=f["date"], labelled=f["labelled"]))
        profiles.append(bytes.fromhex(f["profile"]) if f["profile"] is not None else None)
    return staged, entries, profiles


def read_back(spark: SparkEngine, store: Store, spec: StoreSpec, entries: list[FileEntry]
              ) -> None:
    """Object storage: every upload to be committed read back on the executors (one task per
    few files) and its SHA-256 compared with the one the task that wrote it computed on its
    local copy, so a partial, damaged or replaced object is never committed (a size check
    alone misses a same-size rewrite). Each file is read whole on one executor: at most a
    piece's rows of one date. A mismatch is a StoreError; nothing is committed."""
    context = spark.session.sparkContext
    pairs = [(e.path, e.sha256) for e in entries]
    slices = max(1, min(len(pairs), context.defaultParallelism * 4))
    wrong = context.parallelize(pairs, slices).mapPartitions(_ReadBack(spec)).take(1)
    if wrong:
        path, problem = wrong[0]
        raise StoreError(f"{store.storage.url(path)}: a file Spark wrote {problem} when read "
                         "back before its commit; nothing was committed")


@dataclass(frozen=True)
class _ReadBack:
    """Executors: (path, problem) of each (path, sha256) whose object is gone or differs."""

    store: StoreSpec

    def __call__(self, pairs: Iterator[tuple[str, str]]) -> Iterator[tuple[str, str]]:
        import hashlib

        storage = self.store.open().storage
        for path, sha in pairs:
            try:
                found = hashlib.sha256(storage.read_bytes(path)).hexdigest()
            except FileNotFoundError:
                yield path, "is gone"
                continue
            if found != sha:
                yield path, "has another SHA-256 than the one its task computed"


def _moved(store: Store, staged: list[_Staged], written: list[FileEntry], job: _PieceJob
           ) -> tuple[list[FileEntry], list[Path]]:
    """A local store: the staged files renamed into their partitions (checksums compared
    with the executors')."""
    entries, moved = _move_into_partitions(store.root, staged, job.batch, job.run,
                                           job.partition)
    entries = _checksummed(store.root, entries, moved)
    for entry, theirs in zip(entries, written, strict=True):
        if entry.sha256 != theirs.sha256:
            for path in moved:
                path.unlink(missing_ok=True)
            raise StoreError(f"{store.root / entry.path}: its SHA-256 differs from the one "
                             "the Spark task computed; nothing was committed")
    return entries, moved


def _with_profiles(store: Store, model: ModelConfig, job: _PieceJob, entries: list[FileEntry],
                   profiles: list[bytes | None], record: BatchRecord, staging: Path,
                   track: Callable[[list[Path | str]], None]) -> BatchRecord:
    """The record with its batch's profiles, computed on the executors and written here
    (`write_profiles`, as `profiles build --engine spark` does)."""
    assert job.reference is not None
    by_path = {e.path: p for e, p in zip(entries, profiles, strict=True) if p is not None}
    profiled, written = write_profiles(store, model, job.reference, job.version, job.env,
                                       entries, staging / "profiles", by_path)
    track(written)
    return replace(record, extra={**record.extra,
                                  "profiles": profiles_extra(job.reference.hash, profiled)})


def _remove_run(storage: Storage, job: _PieceJob, keep: set[str] | None) -> None:
    """Object storage: delete the files this run uploaded that are not kept (a failed task
    attempt's, in the kept files' date folders: a retry writes the same dates), or all of
    them when the ingest fails."""
    prefix = f"part-{job.batch}-{job.run}-"
    folders = sorted({path.rsplit("/", 1)[0] for path in keep}) if keep is not None else \
        [job.partition("x").rsplit("/", 1)[0]]  # a failed ingest: every date of the target
    for folder in folders:
        for info in storage.list(folder, ".parquet"):
            if info.path.rsplit("/", 1)[-1].startswith(prefix) and \
                    (keep is None or info.path not in keep):
                storage.delete(info.path)


def _when(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


@dataclass(frozen=True)
class _PieceJob:
    """What each Spark task runs on its piece (pickled with the config it needs)."""

    store: StoreSpec
    model: ModelConfig  # feature kinds resolved
    columns: list[Column]
    exports: tuple[tuple[str, str, str, str], ...]  # (path as given, absolute, format, sha)
    batch: str
    run: str
    version: str
    env: str
    reference: Reference | None
    fault_dir: str | None
    staging: str | None = None  # a local store's staging folder (the driver's)
    kind: str = "predictions"  # or "actuals" (`spark_actuals`)
    stamp: datetime | None = None  # actuals: the ingest's time (naive UTC), as a local one
    options: dict[str, str] = field(default_factory=dict, repr=False)  # exports' (driver's)

    def partition(self, day: str) -> str:
        if self.kind == "actuals":
            return actuals_dir(self.model.name, day)
        return prediction_dir(self.model.name, self.version, self.env, day)

    def frame(self, sources: list[_Source]) -> pl.LazyFrame:
        """The exports' rows as a local ingest coerces them (actuals: a missing arrival time
        is the ingest's, and `_ingested_at` is added)."""
        if self.kind != "actuals":
            return _coerced(sources, self.columns, derive=_derived_prediction(self.model))
        import polars as pl

        stamp = pl.lit(self.stamp, dtype=coerce.TIMESTAMP)
        return _coerced(sources, self.columns).with_columns(
            pl.col(self.model.timestamp).fill_null(stamp), stamp.alias(INGESTED_AT))

    def __call__(self, items: Iterator[str]) -> Iterator[str]:
        for raw in items:
            piece = Piece(**json.loads(raw))
            attempt = _task_attempt()
            folder = Path(self.staging) / f"piece-{piece.number:05d}-{attempt}" \
                if self.store.local and self.staging else \
                Path(tempfile.mkdtemp(prefix="evalctl-piece-"))
            try:
                yield json.dumps(self.write(piece, attempt, folder))
            finally:
                if not self.store.local:
                    shutil.rmtree(folder, ignore_errors=True)
            fail = first_attempt_failure(self.fault_dir)
            if fail is not None:  # after its output went out: the retry must not double it
                fail.touch()
                raise RuntimeError(f"evalctl: injected failure of {fail.name}")

    def write(self, piece: Piece, attempt: int, folder: Path) -> dict[str, Any]:
        """Write one piece's files (or say why its rows are refused)."""
        shown, where, fmt, sha = self.exports[piece.source]
        path = where
        try:
            if is_object_url(where):  # streamed to this task's disk and checked
                local, digest = download(where, self.options, folder / "export")
                path = str(local)
                if digest != sha:
                    raise IngestError(f"{where}: the export changed while it was being "
                                      "ingested; ingest it again", file=where)
            lf, schema = open_input(Path(path), fmt)
            source = _Source(Path(path), fmt, lf, schema, sha)
            staged = self._stage(piece, source, folder / "data")
            shutil.rmtree(folder / "export", ignore_errors=True)  # a download: not needed now
        except IngestError as exc:  # named as the user named the export
            return {"piece": piece.number, "error": str(exc).replace(path, shown),
                    "file": exc.file and exc.file.replace(path, shown), "column": exc.column}
        storage = self.store.open().storage if not self.store.local else None
        files = []
        for n, (item, problems) in enumerate(staged):
            for problem in problems:  # named as the user named the export
                if problem[0] == "rules":
                    problem[2] = {k: v and v.replace(path, shown) for k, v in
                                  problem[2].items()}
            relative = item.path.relative_to(folder).as_posix()
            entry = FileEntry(path=relative, rows=item.rows, bytes=item.path.stat().st_size,
                              sha256=file_sha256(item.path), date=item.day,
                              labelled=item.labelled)
            profile = self._profile(Store(folder), entry) if not problems else None
            where = str(item.path)
            if storage is not None:
                where = (f"{self.partition(item.day)}/"
                         f"{part_name(self.batch, self.run, piece.number)[:-8]}"
                         f"-{attempt}-{n}.parquet")
                storage.publish([(item.path, where)])
            files.append({**asdict(entry), "path": where, "profile": profile,
                          "problems": problems,
                          "min_ts": item.min_ts.isoformat() if item.min_ts else None,
                          "max_ts": item.max_ts.isoformat() if item.max_ts else None})
        return {"piece": piece.number, "attempt": attempt, "files": files}

    def _stage(self, piece: Piece, source: _Source, folder: Path
               ) -> list[tuple[_Staged, list[list[Any]]]]:
        """Coerce and write the piece partitioned by date (a local ingest's functions), then
        read back and check each file's statistics."""
        frame = self.frame([source])
        if piece.rows is not None:
            frame = frame.slice(piece.offset, piece.rows)
        self._classes(piece, source)
        _sink(frame, folder, [source], self.columns)
        return piece_files(folder, [source], self.columns)

    def _classes(self, piece: Piece, source: _Source) -> None:
        """A multiclass model's class rules on the piece's rows; a refusal is named as a
        local ingest names it (its row in the whole export)."""
        from evalctl.lake.ingest_classes import check_classes

        if not self.model.scores or piece.rows is None:
            _check_classes(self.model, [source], self.columns)
            return
        present = {c.name for c in self.columns if c.input_name in source.schema}
        label = next((c.name for c in self.columns if c.role == "label"), None)
        try:
            check_classes(self.model, str(source.path), _coerced([source], self.columns)
                          .slice(piece.offset, piece.rows), present, label)
        except IngestError:
            _check_classes(self.model, [source], self.columns)
            raise

    def _profile(self, store: Store, entry: FileEntry) -> str | None:
        """The file's profile on the current reference (hex of `profile_bytes`), or None."""
        if self.reference is None:
            return None
        table = profile_on(store, self.model, self.reference.binning,
                           self.reference.granularity, self.version, self.env, entry)
        return profile_bytes(table).hex()


def piece_files(folder: Path, sources: list[_Source], columns: list[Column]
                ) -> list[tuple[_Staged, list[list[Any]]]]:
    """Executors: a piece's files as `_staged_files` reads them back, with what breaks the
    rules of each column instead of the first error: ``["nulls", column, n]`` (rows with no
    id or timestamp; the driver adds up the pieces writing the same date, so the count is a
    local ingest's) and ``["rules", column, error]`` (a refused value: the export's first, as
    a local ingest names it). No file: the piece has no rows (another may)."""
    import pyarrow.parquet as pq  # imported on use: keeps CLI start-up fast

    out = []
    for path in sorted(folder.rglob("*.parquet")):
        meta = pq.ParquetFile(path).metadata
        if meta.num_rows == 0:
            continue
        stats = _column_stats(meta)
        problems: list[list[Any]] = []
        for n, column in enumerate(columns):
            low, high, nulls = stats.get(column.name, (None, None, 0))
            if column.role in ("id", "timestamp") and nulls:
                problems.append(["nulls", n, nulls])
            if _out_of_rules(column, low, high):
                error = _refused_value(sources, columns, column) or IngestError(
                    f"{_names(sources)}: column {column.input_name!r}: a value breaks the "
                    f"{column.role}'s rules")
                problems.append(["rules", n, {"error": str(error), "file": error.file,
                                              "column": error.column}])
        ts = next(c.name for c in columns if c.role == "timestamp")
        low_ts, high_ts, _ = stats.get(ts, (None, None, 0))
        label = next((c.name for c in columns if c.role == "label"), None)
        labelled = meta.num_rows - stats[label][2] if label in stats else None
        out.append((_Staged(path, path.parent.name.partition("=")[2], meta.num_rows, low_ts,
                            high_ts, labelled), problems))
    return out


def refuse_problems(files: list[dict[str, Any]], columns: list[Column],
                    sources: list[_Source]) -> None:
    """The local ingest's error for the first date (in its order) whose files break a
    column's rules, with the rows without id or timestamp counted over every piece that
    wrote the date."""
    by_day: dict[str, list[dict[str, Any]]] = {}
    for f in files:
        by_day.setdefault(f["date"], []).append(f)
    for day in sorted(by_day):
        nulls: dict[int, int] = {}
        rules: dict[int, dict[str, Any]] = {}
        for f in by_day[day]:
            for what, n, value in f["problems"]:
                if what == "nulls":
                    nulls[n] = nulls.get(n, 0) + value
                else:
                    rules.setdefault(n, value)
        for n, column in enumerate(columns):
            if n in nulls:
                raise IngestError(f"{_names(sources)}: column {column.input_name!r}: "
                                  f"{nulls[n]} row(s) have no {column.role}")
            if n in rules:
                raise IngestError(rules[n]["error"], file=rules[n]["file"],
                                  column=rules[n]["column"])


def id_checks(spark: SparkEngine, store: Store, model: ModelConfig, version: str, env: str,
              entries: list[FileEntry]) -> tuple[int, int, list[str]]:
    """On Spark: (rows of the batch whose id repeats in it, rows whose id a committed file of
    the same model, version, env and date holds, the actuals batches holding any of its ids)
    — what a local ingest's `_id_overlap` and `labels.index_predictions` find, with the ids
    read by executors and counted by Spark (no id reaches the driver)."""
    from pyspark.sql import functions as F  # noqa: N812  # the extra: imported only when used

    days = {e.date for e in entries}
    tasks = [(_NEW, e.path) for e in entries]
    tasks += [(_STORED, f.path) for r in _same_target(store, model.name, version, env)
              for f in r.files if f.date in days]
    tasks += [(f"{_ACTUALS}{r.batch}", f.path) for r in store.actual_records(model.name)
              for f in r.files]
    frame = id_frame(spark, store, model, tasks)
    try:
        new = frame.where(F.col("tag") == _NEW).select("id")
        ids = new.distinct()
        repeated = sum(e.rows for e in entries) - ids.count()
        stored = frame.where(F.col("tag") == _STORED).select("id").distinct()
        in_store = new.join(stored, "id", "left_semi").count() \
            if any(t == _STORED for t, _ in tasks) else 0
        holding = (frame.where(F.col("tag").startswith(_ACTUALS)).join(ids, "id", "left_semi")
                   .select("tag").distinct().collect())
    finally:
        frame.unpersist()
    return repeated, in_store, sorted(row["tag"][len(_ACTUALS):] for row in holding)


def id_frame(spark: SparkEngine, store: Store, model: ModelConfig,
             tasks: list[tuple[str, str]]) -> Any:
    """A cached Spark DataFrame of (tag, id): the ids of each (tag, stored file), read by
    executors (unpersist it when done)."""
    context = spark.session.sparkContext
    return (context.parallelize(tasks, max(1, min(len(tasks), context.defaultParallelism * 4)))
            .toDF("tag string, path string")
            .mapInArrow(_IdJob(StoreSpec.of(store.storage), model.id), _IDS_SCHEMA).cache())


@dataclass(frozen=True)
class _IdJob:
    """Executors: the id column of each (tag, file) as (tag, id) rows."""

    store: StoreSpec
    id_col: str

    def __call__(self, batches: Iterator[Any]) -> Iterator[Any]:
        import polars as pl
        import pyarrow as pa

        store = self.store.open()
        for batch in batches:
            for tag, path in zip(batch.column("tag").to_pylist(),
                                 batch.column("path").to_pylist(), strict=True):
                ids = store.scan_files([store.storage.url(path)]).select(
                    pl.col(self.id_col).cast(pl.String).alias("id")).collect()
                for chunk in ids.to_arrow().to_batches():
                    yield pa.RecordBatch.from_arrays(
                        [pa.array([tag] * chunk.num_rows, pa.string()),
                         chunk.column(0).cast(pa.string())], names=["tag", "id"])


def _task_attempt() -> int:
    """This Spark task attempt's id (unique in the application; 0 outside Spark)."""
    from pyspark import TaskContext  # executors: the extra is there

    context = TaskContext.get()
    return int(context.taskAttemptId()) if context is not None else 0

