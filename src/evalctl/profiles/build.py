"""`evalctl profiles build`: fit the monitoring reference when needed, then profile every
stored batch that has no profiles on it.

Resumable and idempotent: each batch's profiles are committed by their own record as soon as
they are written, so an interrupted build leaves whole batches done and the next run does the
rest; a run with nothing to do writes nothing. It holds the store lock shared (as an ingest
does) and the lifecycle lock (so no removal, gc or erase interleaves, and builds run one at a
time). Each data file is read once, by itself: memory is bounded by the largest file.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from evalctl import progress
from evalctl.config import ModelConfig
from evalctl.engines.spark import FILES_PER_JOB, FileTask, SparkEngine
from evalctl.lake.ledger import BatchRecord, FileEntry, lifecycle_lock
from evalctl.lake.profiled import file_profiles, publish_record
from evalctl.lake.storage import Storage
from evalctl.lake.store import Store
from evalctl.profiles.compute import write_profiles
from evalctl.profiles.reference import (
    Reference,
    current_reference,
    fit_reference,
    save_reference,
    staleness,
)


@dataclass(frozen=True)
class BuildResult:
    """What a build did."""

    reference: Reference
    fitted: str | None  # why the reference was (re)fitted; None when the current one was kept
    batches: int  # batches profiled now
    files: int  # data files profiled now
    rows: int  # rows read to profile them
    already: int  # live batches that already had profiles on the reference


def build_profiles(store: Store, model: ModelConfig, *, refit: bool = False,
                   now: datetime | None = None, spark: SparkEngine | None = None
                   ) -> BuildResult:
    """Fit the model's reference (first build, config change, or `refit`), then profile every
    live prediction batch of the model that lacks profiles on it (on `spark`'s executors when
    given, up to `FILES_PER_JOB` files per Spark job; the driver writes and commits them)."""
    root = store.storage
    with root.staging(f"profiles-{uuid.uuid4().hex[:8]}") as area, lifecycle_lock(root):
        store.refresh()
        reference = current_reference(root, model.name)
        fitted = _refit_reason(reference, model, refit)
        if fitted is not None or reference is None:
            progress.phase(f"fitting the monitoring reference ({model.profiles.reference})")
            reference = fit_reference(store, model, now)
            save_reference(root, reference)
        records = store.prediction_records(model.name)
        todo = [(r, _lacking(root, model.name, reference.hash, r)) for r in records]
        todo = [(r, lacking) for r, lacking in todo if lacking]
        files = [f for _, lacking in todo for f in lacking]
        progress.phase(f"profiling {len(todo)} batch(es) on reference {reference.hash}",
                       total=len(files))
        computed: dict[str, bytes] = {}
        for n, (record, lacking) in enumerate(todo):
            if spark is not None and not computed:
                computed = _on_spark(spark, store, model, reference, todo[n:])
            entries, moved = write_profiles(store, model, reference, record.version or "",
                                            record.env or "", lacking,
                                            area.folder / f"{record.batch}.{record.generation}",
                                            computed if spark is not None else None)
            for entry in lacking:
                computed.pop(entry.path, None)
            area.track(moved)
            publish_record(root, model.name, reference.hash, record, entries)
            area.moved.clear()  # committed: a later failure must not take them away
            area.uploaded.clear()
    return BuildResult(reference, fitted, len(todo), len(files), sum(f.rows for f in files),
                       len(records) - len(todo))


def _on_spark(spark: SparkEngine, store: Store, model: ModelConfig, reference: Reference,
              todo: list[tuple[BatchRecord, list[FileEntry]]]) -> dict[str, bytes]:
    """The profiles of the next batches' files (whole batches, about `FILES_PER_JOB` files)
    computed in one Spark job."""
    tasks: list[FileTask] = []
    for record, lacking in todo:
        if tasks and len(tasks) + len(lacking) > FILES_PER_JOB:
            break
        tasks += [FileTask(record.version or "", record.env or "", f) for f in lacking]
    return spark.profiles(store.root, model, reference.binning, reference.granularity, tasks)


def _lacking(root: Storage, model: str, reference: str, record: BatchRecord) -> list[FileEntry]:
    """The files of a batch generation without a profile on `reference`."""
    found = file_profiles(root, model, reference, record)
    return [f for f in record.files if f.path not in found]


def _refit_reason(reference: Reference | None, model: ModelConfig, refit: bool) -> str | None:
    if reference is None:
        return "no reference was fitted yet"
    if refit:
        return "--refit"
    return staleness(reference, model)
