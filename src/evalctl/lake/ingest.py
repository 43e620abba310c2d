"""Ingest: validate -> stream to a private staging folder -> rename into partitions -> ledger.

Nothing is visible until the ledger record is committed (written last, exclusively). A crash
at any point leaves only uncommitted files, which readers ignore and `doctor` lists.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from evalctl import progress, temporaries
from evalctl.clock import rfc3339
from evalctl.config import SAFE_NAME_RULE, ModelConfig, name_problem, show_name
from evalctl.errors import IngestError, InputError, StoreError
from evalctl.lake import coerce, labels
from evalctl.lake.coerce import Column
from evalctl.lake.durable import StagingArea, fsync_tree
from evalctl.lake.idpasses import id_passes, in_bucket
from evalctl.lake.ingest_classes import check_classes
from evalctl.lake.layout import ROW_GROUP_ROWS, actuals_dir, part_name, prediction_dir
from evalctl.lake.ledger import BatchRecord, FileEntry, commit_record
from evalctl.lake.readers import detect_format, file_sha256, first_line, open_input, unreadable
from evalctl.lake.selectors import ENVS
from evalctl.lake.storage import Storage, fetched_inputs
from evalctl.lake.store import Store
from evalctl.profiles import worker
from evalctl.profiles.compute import COUNTING_THREADS, BatchProfiles, batch_profiles, catch_up
from evalctl.version import __version__

if TYPE_CHECKING:
    import pyarrow.parquet as pq

INGESTED_AT = "_ingested_at"
STREAMING_CHUNK_ROWS = 10_000


@dataclass(frozen=True)
class IngestResult:
    """What an ingest call did."""

    batch: str
    rows: int
    files: int
    dates: tuple[str, ...]
    already_ingested: bool
    dropped_columns: tuple[str, ...] = ()
    repeated_ids: int = 0  # rows whose id another row of the batch also has
    ids_in_store: int = 0  # rows whose id is already committed (same model/version/env/date)
    unmatched_ids: int = 0  # actuals: distinct ids that match no stored prediction (yet)


@dataclass(frozen=True)
class _Source:
    path: Path
    fmt: str
    lf: pl.LazyFrame
    schema: dict[str, pl.DataType]
    sha256: str
    origin: str | None = None  # the s3:// URL a fetched export came from


def ingest_predictions(store: Store, model: ModelConfig, paths: Sequence[Path | str], *,
                       version: str, env: str, input_format: str | None = None,
                       now: Callable[[], datetime] = lambda: datetime.now(UTC),
                       storage_options: Mapping[str, str] | None = None) -> IngestResult:
    """Ingest prediction exports of one model version and env as one batch (local files or
    ``s3://`` URLs, read with `storage_options`: see `Storage.export_options`)."""
    if env not in ENVS:
        raise InputError(f"--env: expected one of {', '.join(ENVS)}, got {env!r}")
    _check_name("--version", version)
    with fetched_inputs(paths, store.storage.export_options(storage_options)
                        ) as (local, origins):
        return _ingest_predictions(store, model, local, origins, version=version, env=env,
                                   input_format=input_format, now=now)


def _ingest_predictions(store: Store, model: ModelConfig, paths: Sequence[Path],
                        origins: dict[str, str], *, version: str, env: str,
                        input_format: str | None, now: Callable[[], datetime]) -> IngestResult:
    sources = _open_sources(paths, input_format, origins)
    batch = _batch_id("predictions", model.name, version, env, sources)
    if store.has_batch(batch):
        return _already(store, batch)
    kinds = _feature_kinds(store, model, sources)
    columns = coerce.prediction_columns(model, env, kinds)
    frame = _coerced(sources, columns, derive=_derived_prediction(model))
    _check_classes(model, sources, columns)
    resolved = replace(model, features=kinds)
    profiles = batch_profiles(store, resolved, version, env)
    with worker.running(_worker_job(store, profiles, sources)) as helper:
        if profiles is not None and helper is not None:
            profiles = replace(profiles, worker=helper)
        result = _write_batch(
            store, frame, batch, columns, sources, now=now, kind="predictions",
            model=model.name, version=version, env=env, features=kinds,
            partition=lambda day: prediction_dir(model.name, version, env, day),
            profiles=profiles,
            index=lambda entries: labels.index_predictions(store, model.name, model.id,
                                                           entries))
    if not result.already_ingested:  # a refit published meanwhile: profile on the new one
        catch_up(store, resolved, batch,
                 profiled=profiles.reference.hash if profiles is not None else None)
    return result


def _worker_job(store: Store, profiles: BatchProfiles | None, sources: list[_Source]
                ) -> worker.Job | None:
    """A profiling process's job for this batch, when one is worth starting now, before
    polars writes the batch (`evalctl.profiles.worker`: local stores, two cores, about
    `WORKER_ROWS` rows or more, unless `EVALCTL_PROFILE_WORKER` says otherwise; a bad value
    of it stops every ingest of predictions, not only those that would start one)."""
    worker.setting()
    if profiles is None or not store.is_local:
        return None
    if not worker.wanted(_estimated_rows(sources), COUNTING_THREADS):
        return None
    return worker.job_of(profiles)


def _estimated_rows(sources: list[_Source]) -> int:
    """The exports' rows: a Parquet file's from its metadata, a text file's guessed from its
    size (64 bytes a row); 0 for what cannot be read (the write names the problem)."""
    rows = 0
    for source in sources:
        try:
            if source.fmt == "parquet":
                rows += int(source.lf.select(pl.len()).collect().item())
            else:
                rows += source.path.stat().st_size // 64
        except (OSError, pl.exceptions.PolarsError):
            continue
    return rows


def ingest_actuals(store: Store, model: ModelConfig, paths: Sequence[Path | str], *,
                   input_format: str | None = None,
                   now: Callable[[], datetime] = lambda: datetime.now(UTC),
                   storage_options: Mapping[str, str] | None = None) -> IngestResult:
    """Ingest delayed ground truth (id + label, optionally a timestamp) as one batch
    (`storage_options` as for `ingest_predictions`)."""
    with fetched_inputs(paths, store.storage.export_options(storage_options)
                        ) as (local, origins):
        return _ingest_actuals(store, model, local, origins, input_format=input_format,
                               now=now)


def _ingest_actuals(store: Store, model: ModelConfig, paths: Sequence[Path],
                    origins: dict[str, str], *, input_format: str | None,
                    now: Callable[[], datetime]) -> IngestResult:
    sources = _open_sources(paths, input_format, origins)
    batch = _batch_id("actuals", model.name, "", "", sources)
    if store.has_batch(batch):
        return replace(_already(store, batch), unmatched_ids=_unmatched_ids(store, model, batch))
    columns = coerce.actuals_columns(model)
    _check_classes(model, sources, columns)
    stamp = now().astimezone(UTC).replace(tzinfo=None)
    frame = _coerced(sources, columns).with_columns(
        pl.col(model.timestamp).fill_null(pl.lit(stamp, dtype=coerce.TIMESTAMP)),
        pl.lit(stamp, dtype=coerce.TIMESTAMP).alias(INGESTED_AT))
    result = _write_batch(
        store, frame, batch, columns, sources, now=lambda: stamp.replace(tzinfo=UTC),
        kind="actuals", model=model.name, version=None, env=None, features={},
        partition=lambda day: actuals_dir(model.name, day),
        index=lambda entries: labels.index_actuals(store, model.name, model.id, entries))
    read = {c.input_name for c in columns}  # actuals.timestamp is read, under another name
    record = next((r for r in store.records if r.batch == batch), None)
    counted = labels.unmatched_ids(record) if record is not None else None  # at the commit
    return replace(result, unmatched_ids=_unmatched_ids(store, model, batch)
                   if counted is None else counted,
                   dropped_columns=tuple(c for c in result.dropped_columns if c not in read))


def _unmatched_ids(store: Store, model: ModelConfig, batch: str) -> int:
    """Distinct ids of a committed actuals batch that no stored prediction of the model has.
    They stay stored: ground truth may arrive before its predictions are ingested.

    The count the label index records at the commit (`labels.index_actuals`), against the
    predictions stored now, in its passes over hash buckets of the batch's ids (at most
    `labels.LABEL_PASS_ROWS` a pass): each pass streams the predicted ids of its bucket
    through a semi-join against the bucket's distinct batch ids, so memory is bounded
    whatever the size of the batch or of the model's predictions (12M actuals: 0.4 GiB, where
    one hash table of every id anti-joined with all predicted ids took 1.3 GiB; README,
    Performance). Unlike the index it reads no file paths: at 4M it takes less CPU than that
    one pass did."""
    record = next((r for r in store.records if r.batch == batch), None)
    if record is None:
        return 0
    ids = store.scan_files([str(store.checked_path(f)) for f in record.files]).select(model.id)
    predicted = [str(store.checked_path(f)) for r in store.prediction_records(model.name)
                 for f in r.files]
    stored = store.scan_files(predicted).select(model.id) if predicted else None
    passes = id_passes(record.rows, labels.LABEL_PASS_ROWS)
    unmatched = 0
    for bucket in range(passes):
        keep = in_bucket(model.id, bucket, passes)
        new = ids.filter(keep).unique()
        queries = [new.select(pl.len())]  # a null id counts once, and matches nothing
        if stored is not None:
            queries.append(stored.filter(keep).join(new, on=model.id, how="semi")
                           .select(pl.col(model.id).n_unique()))
        found = pl.collect_all(queries, engine="streaming")
        unmatched += int(found[0].item()) - (int(found[1].item()) if stored is not None else 0)
    return unmatched


def _already(store: Store, batch: str) -> IngestResult:
    """The committed record of a batch that is already in the store."""
    store.refresh()
    record = next(r for r in store.records if r.batch == batch)
    return IngestResult(batch, record.rows, len(record.files),
                        tuple(sorted({f.date for f in record.files})), already_ingested=True)


def _check_name(option: str, value: str) -> None:
    problem = name_problem(value)
    if problem is not None:
        raise InputError(f"{option}: {show_name(value)} is not a valid name: {problem} "
                         f"({SAFE_NAME_RULE})")


def _open_sources(paths: Sequence[Path], input_format: str | None,
                  origins: dict[str, str]) -> list[_Source]:
    if not paths:
        raise InputError("ingest: give at least one input file")
    sources = []
    for path in paths:
        fmt = detect_format(path, input_format)
        lf, schema = open_input(path, fmt)
        sources.append(_Source(path, fmt, lf, schema, file_sha256(path),
                               origins.get(str(path))))
    return sources


def _batch_id(kind: str, model: str, version: str, env: str, sources: list[_Source]) -> str:
    """Content-derived: the same exports for the same model/version/env give the same id."""
    digest = hashlib.sha256("|".join([kind, model, version, env]).encode())
    for sha in sorted(s.sha256 for s in sources):
        digest.update(sha.encode())
    return digest.hexdigest()[:16]


def _feature_kinds(store: Store, model: ModelConfig, sources: list[_Source]) -> dict[str, str]:
    """Kinds from the config; for a plain feature list, fixed by the model's first batch."""
    resolved = store.resolve_model(model).features
    kinds = {}
    for name, kind in resolved.items():
        if kind == "auto":
            dtype = next((s.schema[name] for s in sources if name in s.schema), pl.String())
            kind = "numeric" if dtype.is_numeric() else "categorical"
        kinds[name] = kind
    return kinds


def _derived_prediction(model: ModelConfig) -> dict[str, pl.Expr]:
    """Binary predictions absent from an export are derived as score >= threshold."""
    if model.task != "binary_classification" or not (model.prediction and model.score):
        return {}
    derived = (pl.when(pl.col(model.score).is_null()).then(None)
               .otherwise((pl.col(model.score) >= model.threshold).cast(pl.Int8)))
    return {model.prediction: derived.alias(model.prediction)}


def _check_classes(model: ModelConfig, sources: list[_Source], columns: list[Column]) -> None:
    """A multiclass model's class rules (`lake.ingest_classes`), export by export."""
    if not model.scores:
        return
    label = next((c.name for c in columns if c.role == "label"), None)
    for source in sources:
        present = {c.name for c in columns if c.input_name in source.schema}
        check_classes(model, str(source.path), _coerced([source], columns), present, label)


def _coerced(sources: list[_Source], columns: list[Column],
             derive: dict[str, pl.Expr] | None = None) -> pl.LazyFrame:
    derive = derive or {}
    frames = []
    for source in sources:
        for column in columns:
            dtype = source.schema.get(column.input_name)
            where = {"file": str(source.path), "column": column.input_name}
            if dtype is None and column.required:
                raise IngestError(f"{source.path}: missing required column "
                                  f"{column.input_name!r} ({column.role})", **where)
            reason = coerce.refuse_reason(column, dtype) if dtype is not None else None
            if reason:
                raise IngestError(f"{source.path}: column {column.input_name!r}: {reason}",
                                  **where)
        exprs = [coerce.coerce_expr(c, source.schema.get(c.input_name),
                                    first=_first_text(source, c)) for c in columns]
        frame = source.lf.select(exprs)
        missing = [e for name, e in derive.items() if name not in source.schema]
        frames.append(frame.with_columns(missing) if missing else frame)
    return pl.concat(frames) if len(frames) > 1 else frames[0]


def _write_batch(store: Store, frame: pl.LazyFrame, batch: str, columns: list[Column],
                 sources: list[_Source], *, now: Callable[[], datetime], kind: str, model: str,
                 version: str | None, env: str | None, features: dict[str, str],
                 partition: Callable[[str], str], profiles: BatchProfiles | None = None,
                 index: Callable[[list[FileEntry]], dict[str, Any]] | None = None
                 ) -> IngestResult:
    """Stage, check, move and commit one batch while holding the store lock shared, so a
    `doctor --repair` never removes files of this ingest before they are committed.
    `profiles` computes the batch's profiles from the moved files (in a thread, while they
    are checksummed and flushed) and writes them before the commit, which then names them
    (`evalctl.lake.profiled`): the batch and its profiles become visible together."""
    attempt = uuid.uuid4().hex[:8]
    with (store.storage.staging(f"{batch}-{attempt}") as area,
          _background() as background):  # waits for it, on failure too
        if profiles is not None:  # what the first count would do first, while polars writes
            background.submit(profiles.warm)
        progress.phase(f"reading {len(sources)} file(s) into partitions by date")
        _sink(frame, area.folder, sources, columns)
        staged = _staged_files(area.folder, sources, columns)
        store.refresh()  # the duplicate check reads the ledger as it is now
        known = {r.batch for r in store.records}
        progress.phase("moving files into partitions", total=len(staged))
        if store.is_local:
            placed, moved = _move_into_partitions(store.root, staged, batch, attempt,
                                                  partition)
            area.track(list(moved))
        else:
            placed = _upload(store.storage, staged, batch, attempt, partition, area.uploaded)
        computing = profiles.start(placed, background) if profiles is not None else None
        progress.phase("checking ids against stored batches")
        new_files = area.moved if store.is_local else [s.path for s in staged]
        overlap = _id_overlap(store, pl.scan_parquet(new_files, glob=False),
                              sum(s.rows for s in staged), {s.day for s in staged}, columns,
                              _same_target(store, model, version, env)) \
            if kind == "predictions" else (0, 0)
        entries = _checksummed(store.root, placed, area.moved) if store.is_local else placed
        record = _record(batch, kind, model, version, env, entries, columns, features,
                         sources, now, staged)
        _verify_moved(store.storage, entries)
        if profiles is not None and computing is not None:
            progress.phase(f"profiling {len(entries)} file(s) on reference "
                           f"{profiles.reference.hash}")  # what the thread may still be doing
            named, written = profiles.write(entries, area.folder / "profiles", computing)
            area.track(written)
            record = replace(record, extra={**record.extra, "profiles": named})
        record, committed = commit_indexed(store, record, entries, index, area)
        if not committed:  # a concurrent ingest of the same batch won; ours is not needed
            store.storage.discard(area)
    if not committed:
        return _already(store, batch)
    store.refresh()
    concurrent = [r for r in _same_target(store, model, version, env)
                  if r.batch not in known and r.batch != batch] if kind == "predictions" else []
    if concurrent:  # batches committed while ours was being written
        ours = store.scan_files([str(store.checked_path(e)) for e in entries])
        overlap = (overlap[0], overlap[1] + _id_overlap(
            store, ours, record.rows, {e.date for e in entries}, columns, concurrent)[1])
    dropped = sorted({c for s in sources for c in s.schema} - {c.name for c in columns})
    return IngestResult(batch, record.rows, len(entries),
                        tuple(sorted({e.date for e in entries})), False, tuple(dropped),
                        *overlap)


@contextmanager
def _background() -> Iterator[ThreadPoolExecutor]:
    """The threads that profile the moved files (`COUNTING_THREADS` groups of files at a
    time). They are waited for on the way out (they read files that a failure removes); on
    failure, the files not started are not profiled."""
    pool = ThreadPoolExecutor(max_workers=COUNTING_THREADS)
    try:
        yield pool
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


def commit_indexed(store: Store, record: BatchRecord, entries: list[FileEntry],
                   index: Callable[[list[FileEntry]], dict[str, Any]] | None,
                   area: StagingArea) -> tuple[BatchRecord, bool]:
    """Commit a batch's record (`commit_record`) with its label index (`lake.labels`), which
    `index` computes on the ledger as it is at the commit, under the label-index lock; the
    record as committed, and whether it was (False: a concurrent ingest of the batch won).
    Once committed, the files `area` brought into place are the store's (`settle`): a
    signal that comes during the commit waits for it, and removes them only if it failed.
    Shared by the local and the Spark ingests (`engines.spark_ingest`)."""
    with labels.commit_lock(store.storage) if index is not None else nullcontext():
        if index is not None:
            store.refresh()
            record = replace(record, extra={**record.extra, labels.KEY: index(entries)})
        with temporaries.committing():
            committed = commit_record(store.storage, record)
            if committed:
                area.settle()
        return record, committed


def _same_target(store: Store, model: str, version: str | None, env: str | None
                 ) -> list[BatchRecord]:
    """The committed prediction records of one model, version and env."""
    return [r for r in store.prediction_records(model) if r.version == version and r.env == env]


def _id_overlap(store: Store, new: pl.LazyFrame, rows: int, days: set[str],
                columns: list[Column], committed: list[BatchRecord]) -> tuple[int, int]:
    """(rows of ``new`` (the batch's ``rows`` rows, on ``days``) whose id repeats among them,
    rows whose id a file of ``committed`` holds on the same dates). Ids are meant to be unique
    per prediction: a repeated id is usually an export ingested twice under another name, and
    every report would count those rows twice. One streamed pass over the new ids (and the
    committed ids of the dates the batch touches) per `ID_PASS_ROWS` of them: each pass counts
    the ids of one hash bucket, so its hash tables hold at most about that many ids, whatever
    the size of the batch (the sums over the buckets are the whole batch's counts).

    Before the commit, ``committed`` is what the ledger held when the check ran; after it,
    the batches committed meanwhile by concurrent ingests, so of two concurrent ingests of the
    same rows the one that commits second always counts the other's."""
    name = next(c.name for c in columns if c.role == "id")
    if not days:
        return 0, 0
    old = [f for r in committed for f in r.files if f.date in days]
    passes = id_passes(max(rows, sum(f.rows for f in old)))
    stored = store.scan_files([str(store.checked_path(f)) for f in old]).select(name) \
        if old else None
    counts = [0, 0]
    for bucket in range(passes):
        keep = in_bucket(name, bucket, passes)
        ids = new.select(name).filter(keep)
        queries = [ids.select((pl.len() - pl.col(name).n_unique()).alias("n"))]
        if stored is not None:
            queries.append(ids.join(stored.filter(keep).unique(), on=name, how="semi")
                           .select(pl.len().alias("n")))
        for k, frame in enumerate(pl.collect_all(queries, engine="streaming")):
            counts[k] += int(frame.item())
    return counts[0], counts[1]


def _sink(frame: pl.LazyFrame, staging: Path, sources: list[_Source],
          columns: list[Column]) -> None:
    timestamp = next(c.name for c in columns if c.role == "timestamp")
    keyed = frame.with_columns(pl.col(timestamp).dt.date().alias("_date"))
    staging.mkdir(parents=True)
    try:
        # Small streaming morsels keep peak memory well under the data's size
        # (measured: 0.9 GiB instead of 1.9 GiB for a 5M x 30 export, at the same speed);
        # small row groups bound what each date's open file holds (`ROW_GROUP_ROWS`).
        with pl.Config(streaming_chunk_size=STREAMING_CHUNK_ROWS):
            keyed.sink_parquet(pl.PartitionBy(staging, key="_date", include_key=False),
                               compression="zstd", row_group_size=ROW_GROUP_ROWS,
                               mkdir=True, sync_on_close="data")
    except pl.exceptions.PolarsError as exc:
        raise _explain_failure(sources, columns, exc) from exc


def _explain_failure(sources: list[_Source], columns: list[Column],
                     exc: Exception) -> IngestError:
    """The write failed: an export that cannot be read to its end, else a refused value."""
    for source in sources:
        problem = unreadable(source.path, source.fmt, source.lf)
        if problem is not None:
            return IngestError(problem, file=str(source.path))
    return _refused_value(sources, columns) or \
        IngestError(f"{_names(sources)}: cannot ingest: {first_line(exc)}")


def _refused_value(sources: list[_Source], columns: list[Column],
                   only: Column | None = None) -> IngestError | None:
    """The first refused value of the exports (of one column, or of any), as an error."""
    for source in sources:
        for column in columns if only is None else [only]:
            dtype = source.schema.get(column.input_name)
            if dtype is None:
                continue
            problem = coerce.diagnose(source.lf, column, dtype, _first_text(source, column))
            if problem is not None:
                return IngestError(f"{source.path}: column {column.input_name!r}: {problem}",
                                   file=str(source.path), column=column.input_name)
    return None


def _first_text(source: _Source, column: Column) -> str | None:
    """This export's first timestamp text: its ISO form is the form of all of them."""
    dtype = source.schema.get(column.input_name)
    if column.target != "datetime" or dtype is None:
        return None
    return coerce.first_text(source.lf, column, dtype)


@dataclass(frozen=True)
class _Staged:
    path: Path
    day: str
    rows: int
    min_ts: datetime | None
    max_ts: datetime | None
    labelled: int | None = None


def _staged_files(staging: Path, sources: list[_Source], columns: list[Column]) -> list[_Staged]:
    """Read back row counts and statistics; enforce non-null ids and binary values."""
    import pyarrow.parquet as pq  # imported on use: keeps CLI start-up fast

    staged = []
    for path in sorted(staging.rglob("*.parquet")):
        day = path.parent.name.partition("=")[2]
        meta = pq.ParquetFile(path).metadata
        if meta.num_rows == 0:
            continue
        stats = _column_stats(meta)
        for column in columns:
            low, high, nulls = stats.get(column.name, (None, None, 0))
            if column.role == "id" and nulls:
                raise IngestError(f"{_names(sources)}: column {column.input_name!r}: "
                                  f"{nulls} row(s) have no id")
            if column.role == "timestamp" and nulls:  # rows are partitioned by its date
                raise IngestError(f"{_names(sources)}: column {column.input_name!r}: "
                                  f"{nulls} row(s) have no timestamp")
            if _out_of_rules(column, low, high):
                raise _refused_value(sources, columns, column) or IngestError(
                    f"{_names(sources)}: column {column.input_name!r}: a value breaks the "
                    f"{column.role}'s rules")
        ts = next(c.name for c in columns if c.role == "timestamp")
        low_ts, high_ts, _ = stats.get(ts, (None, None, 0))
        label = next((c.name for c in columns if c.role == "label"), None)
        labelled = meta.num_rows - stats[label][2] if label in stats else None
        staged.append(_Staged(path, day, meta.num_rows, low_ts, high_ts, labelled))
    if not staged:
        raise IngestError(f"{_names(sources)}: no rows to ingest")
    return staged


def _out_of_rules(column: Column, low: Any, high: Any) -> bool:
    """Whether a staged file's min/max show a value the column's rules refuse (a sentinel,
    or a timestamp outside the plausible years)."""
    if low is None or high is None:
        return False
    if column.target == "binary":
        return bool(low < 0)
    if column.finite:
        return bool(low == -coerce.BAD_NUMBER or high == coerce.BAD_NUMBER)
    if column.target == "datetime":
        first, last = column.rules.years
        return not (first <= low.year and high.year <= last)
    return False


def _bounds(st: Any) -> tuple[Any, Any]:
    """A column chunk's min and max; a timestamp beyond Python's years 1-9999 (epochs in the
    wrong unit) as datetime.min / datetime.max, which no plausible range includes."""
    try:
        least = st.min
    except (OverflowError, ValueError):
        least = datetime.min
    try:
        most = st.max
    except (OverflowError, ValueError):
        most = datetime.max
    return least, most


def _column_stats(meta: pq.FileMetaData) -> dict[str, tuple[Any, Any, int]]:
    out: dict[str, tuple[Any, Any, int]] = {}
    for g in range(meta.num_row_groups):
        group = meta.row_group(g)
        for c in range(group.num_columns):
            chunk = group.column(c)
            st = chunk.statistics
            name = chunk.path_in_schema
            low, high, nulls = out.get(name, (None, None, 0))
            if st is not None:
                if st.has_min_max:
                    least, most = _bounds(st)
                    low = least if low is None else min(low, least)
                    high = most if high is None else max(high, most)
                nulls += st.null_count or 0
            out[name] = (low, high, nulls)
    return out


def _move_into_partitions(root: Path, staged: list[_Staged], batch: str, attempt: str,
                          partition: Callable[[str], str]
                          ) -> tuple[list[FileEntry], list[Path]]:
    """Rename the staged files into their partitions. Their entries have no checksum yet
    (`_checksummed` adds it): the id check and the profiles read the moved files meanwhile."""
    entries, moved = [], []
    for n, item in enumerate(staged):
        relative = f"{partition(item.day)}/{part_name(batch, attempt, n)}"
        target = root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        temporaries.rename(item.path, target)  # removed if a signal ends the ingest
        moved.append(target)
        entries.append(FileEntry(path=relative, rows=item.rows, bytes=target.stat().st_size,
                                 sha256="", date=item.day, labelled=item.labelled))
        progress.advance()
    return entries, moved


def _checksummed(root: Path, entries: list[FileEntry], moved: list[Path]) -> list[FileEntry]:
    """The moved files' entries with their checksums; then the partition folders (and the
    folders made for them) are flushed to disk, so the renames survive a power loss."""
    progress.phase("checksumming", total=len(entries))
    summed = []
    for entry in entries:
        summed.append(replace(entry, sha256=file_sha256(root / entry.path)))
        progress.advance()
    fsync_tree(root, moved)
    return summed


def _upload(storage: Storage, staged: list[_Staged], batch: str, attempt: str,
            partition: Callable[[str], str], uploaded: list[str]) -> list[FileEntry]:
    """Object storage: upload the staged files to their final (attempt-tagged) names, each
    named in ``uploaded`` before its upload starts (so a failure deletes it again)."""
    entries = []
    for n, item in enumerate(staged):
        relative = f"{partition(item.day)}/{part_name(batch, attempt, n)}"
        entries.append(FileEntry(path=relative, rows=item.rows, bytes=item.path.stat().st_size,
                                 sha256=file_sha256(item.path), date=item.day,
                                 labelled=item.labelled))
        uploaded.append(relative)
        storage.publish([(item.path, relative)])
        progress.advance()
    return entries


def _verify_moved(storage: Storage, entries: list[FileEntry]) -> None:
    """Just before the commit: every file is at its final path with the rows it was written
    with (its Parquet footer), else a StoreError and nothing is committed. Guards against a
    lock-ignoring process (an older evalctl's repair, a cleanup script) deleting staged files.
    On object storage: every upload is there with its size (one HEAD each)."""
    import pyarrow.parquet as pq  # imported on use: keeps CLI start-up fast

    if not storage.is_local:
        for entry in entries:
            found = storage.head(entry.path)
            if found is None or found.size != entry.bytes:
                raise StoreError(f"{storage.url(entry.path)}: a file of this ingest is gone "
                                 "or was rewritten before its commit (did something remove "
                                 "files in the store?); nothing was committed")
        return
    root = Path(storage.location)
    for entry in entries:
        path = root / entry.path
        try:
            rows = pq.ParquetFile(path).metadata.num_rows
        except FileNotFoundError:
            problem = "is gone"
        except Exception as exc:  # pyarrow raises several types for damaged files
            problem = f"is unreadable ({type(exc).__name__})"
        else:
            if rows == entry.rows:
                continue
            problem = f"holds {rows} rows, not the {entry.rows} written"
        raise StoreError(f"{path}: a file of this ingest {problem} before its commit (did "
                         "something remove or rewrite files in the store?); nothing was "
                         "committed")


def _record(batch: str, kind: str, model: str, version: str | None, env: str | None,
            entries: list[FileEntry], columns: list[Column], features: dict[str, str],
            sources: list[_Source], now: Callable[[], datetime],
            staged: list[_Staged]) -> BatchRecord:
    lows = [s.min_ts for s in staged if s.min_ts is not None]
    highs = [s.max_ts for s in staged if s.max_ts is not None]
    return BatchRecord(
        batch=batch, kind=kind, model=model, version=version, env=env,
        rows=sum(e.rows for e in entries), files=tuple(entries),
        schema={c.name: str(coerce.dtype_of(c.target)) for c in columns},
        features=features,
        sources=tuple({"path": s.origin or str(s.path.resolve()), "format": s.fmt,
                       "sha256": s.sha256,
                       "columns": {k: str(v) for k, v in s.schema.items()}} for s in sources),
        created_at=rfc3339(now(), "microseconds"),
        evalctl_version=__version__,
        min_timestamp=rfc3339(min(lows)) if lows else None,
        max_timestamp=rfc3339(max(highs)) if highs else None,
    )


def _names(sources: list[_Source]) -> str:
    return ", ".join(str(s.path) for s in sources)
