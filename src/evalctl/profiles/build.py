"""`evalctl profiles build`: fit the monitoring reference when needed, then profile every
stored batch that has no profiles on it.

Resumable and idempotent: each batch's profiles are committed by their own record as soon as
they are written, so an interrupted build leaves whole batches done and the next run does the
rest; a run with nothing to do writes nothing. It holds the store lock shared (as an ingest
does) and the lifecycle lock (so no removal, gc or erase interleaves, and builds run one at a
time). Each data file is read once, by itself: memory is bounded by the largest file (and
the fit streams the reference: `evalctl.stats.binning.fit_binning`).

A refit and a concurrent ingest cannot leave a batch profiled only on the old reference: the
build publishes the new reference, then profiles what lacks profiles on it, looking at the
ledger again until a look finds nothing; an ingest that committed after the build's last look
finds the new reference after its commit and profiles its batch itself
(`evalctl.profiles.compute.catch_up`).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import partial

from evalctl import progress
from evalctl.config import ModelConfig
from evalctl.engines.spark import FileTask, SparkEngine
from evalctl.lake.ledger import BatchRecord, FileEntry, lifecycle_lock
from evalctl.lake.store import Store
from evalctl.profiles.compute import profile_lacking
from evalctl.profiles.merged import write_merged
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
    live prediction batch of the model that lacks profiles on it — including batches an
    ingest committed while the fit ran (`profile_lacking` looks again until nothing lacks) —
    on `spark`'s executors when given (in rounds of at most `ROUND_FILES` files and about
    `ROUND_BYTES` of profiles per Spark job: `_Rounds`; the driver writes and commits them)."""
    root = store.storage
    with root.staging(f"profiles-{uuid.uuid4().hex[:8]}") as area, lifecycle_lock(root):
        store.refresh()
        reference = current_reference(root, model.name)
        fitted = _refit_reason(reference, model, refit)
        if fitted is not None or reference is None:
            progress.phase(f"fitting the monitoring reference ({model.profiles.reference})")
            reference = fit_reference(store, model, now, spark)
            save_reference(root, reference)
        precompute = None if spark is None else partial(_on_spark, spark, store, model,
                                                        reference)
        done = profile_lacking(store, model, reference, area, precompute=precompute)
        store.refresh()
        write_merged(root, model.name, store.prediction_records(model.name))
    return BuildResult(reference, fitted, done.batches, done.files, done.rows, done.already)


def _on_spark(spark: SparkEngine, store: Store, model: ModelConfig, reference: Reference,
              todo: list[tuple[BatchRecord, list[FileEntry]]]) -> Mapping[str, bytes]:
    """The profiles of the batches' files, computed on Spark in rounds as they are read."""
    tasks = [FileTask(record.version or "", record.env or "", f)
             for record, lacking in todo for f in lacking]
    return _Rounds(partial(spark.profile_round, store.storage, model, reference.binning,
                           reference.granularity), tasks)


class _Rounds(Mapping[str, bytes]):
    """Profiles computed on Spark round by round (`SparkEngine.profile_round`) as
    `profile_lacking` reads them, in the to-do list's order: a file outside the current round
    starts the next round at that file, after the current one's profiles (written by then)
    are dropped. The driver holds one round's profiles, not a build's, nor a whole batch's."""

    def __init__(self, profile_round: Callable[[list[FileTask], int], dict[str, bytes]],
                 tasks: list[FileTask]) -> None:
        self._profile_round = profile_round
        self._tasks = tasks
        self._index = {t.entry.path: n for n, t in enumerate(tasks)}
        self._round: dict[str, bytes] = {}
        self._largest = 0  # bytes of the largest profile so far: sizes the next round

    def __getitem__(self, path: str) -> bytes:
        if path not in self._round:
            start = self._index[path]  # KeyError: not a file of the build
            self._round = {}  # drop the written round before collecting the next
            self._round = self._profile_round(self._tasks[start:], self._largest)
            self._largest = max(self._largest, *map(len, self._round.values()))
        return self._round[path]

    def __contains__(self, path: object) -> bool:
        return path in self._index

    def __iter__(self) -> Iterator[str]:
        return iter(self._index)

    def __len__(self) -> int:
        return len(self._index)


def _refit_reason(reference: Reference | None, model: ModelConfig, refit: bool) -> str | None:
    if reference is None:
        return "no reference was fitted yet"
    if refit:
        return "--refit"
    return staleness(reference, model)
