"""`evalctl ingest-actuals --engine spark`: delayed ground truth too large for one machine,
written by Spark executors and committed by the driver with a local actuals ingest's protocol
(`evalctl.lake.ingest.ingest_actuals`; README: "Spark ingest").

The exports are opened, cut into pieces, written, checked and committed exactly as a Spark
prediction ingest does (`spark_ingest.write_and_commit`), with the actuals' columns, the
ingest's time filled in for a missing arrival time and stamped as ``_ingested_at`` (one time,
the driver's, in every task: the correction rule "latest arrival wins" sees one batch), the
actuals' partitions, and no profiles. The label index (`evalctl.lake.labels`) is one Spark job
over the ids: the dates of the stored predictions its ids label, and how many of its distinct
ids match none — what `labels.index_actuals` finds, no id reaching the driver.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from evalctl.config import ModelConfig
from evalctl.engines.remote_store import StoreSpec, kept_downloads
from evalctl.engines.spark import FAULT_ENV, SparkEngine
from evalctl.engines.spark_ingest import (
    _exports,
    _PieceJob,
    id_frame,
    named_as_given,
    open_sources,
    plan_pieces,
    refuse_paths,
    write_and_commit,
)
from evalctl.lake import coerce, labels
from evalctl.lake.ingest import IngestResult, _already, _batch_id, _coerced
from evalctl.lake.ledger import FileEntry
from evalctl.lake.store import Store

_NEW, _DATE = "new", "date:"


def ingest_actuals_on_spark(store: Store, model: ModelConfig, paths: Sequence[Path | str],
                            spark: SparkEngine, *, input_format: str | None = None,
                            now: Callable[[], datetime], piece_rows: int | None = None,
                            storage_options: Mapping[str, str] | None = None) -> IngestResult:
    """`ingest_actuals` with the reading, coercing and writing done by Spark executors: the
    same batch, ledger record (label index included), stored rows and result.
    `piece_rows` and `storage_options`: as for `ingest_on_spark`."""
    refuse_paths(store, spark, paths)
    options = store.storage.export_options(storage_options)
    with kept_downloads(spark.master) as kept:
        sources, groups = open_sources(spark, paths, input_format, kept, options)
        batch = _batch_id("actuals", model.name, "", "", sources)
        if store.has_batch(batch):
            stored = next(r for r in store.records if r.batch == batch)
            return replace(_already(store, batch),  # as a local ingest: counted now
                           unmatched_ids=actuals_index(spark, store, model,
                                                       list(stored.files))["unmatched_ids"])
        columns = coerce.actuals_columns(model)
        with named_as_given(sources):  # refusals of the schema, before Spark writes anything
            _coerced(sources, columns)
        stamp = now().astimezone(UTC).replace(tzinfo=None)
        job = _PieceJob(StoreSpec.of(store.storage), model, columns, _exports(sources, kept),
                        batch, uuid.uuid4().hex[:8], "", "", None, os.environ.get(FAULT_ENV),
                        kind="actuals", stamp=stamp, options=options)
        record = write_and_commit(
            store, spark, job, sources, plan_pieces(sources, piece_rows, groups),
            now=lambda: stamp.replace(tzinfo=UTC),
            features={}, index=lambda entries: actuals_index(spark, store, model, entries))
    if record is None:
        already = _already(store, batch)
        committed = next(r for r in store.records if r.batch == batch)
        return replace(already, unmatched_ids=labels.unmatched_ids(committed) or 0)
    read = {c.input_name for c in columns}  # actuals.timestamp is read, under another name
    dropped = sorted({c for s in sources for c in s.schema} - {c.name for c in columns} - read)
    return IngestResult(batch, record.rows, len(record.files),
                        tuple(sorted({e.date for e in record.files})), False, tuple(dropped),
                        unmatched_ids=labels.unmatched_ids(record) or 0)


def actuals_index(spark: SparkEngine, store: Store, model: ModelConfig,
                  entries: list[FileEntry]) -> dict[str, Any]:
    """On Spark: `labels.index_actuals` of an actuals batch's files — the dates of the stored
    predictions (any version or env) whose ids they label, and how many of their distinct ids
    match none."""
    from pyspark.sql import functions as F  # noqa: N812  # the extra: imported only when used

    tasks = [(_NEW, e.path) for e in entries]
    predicted = [(f"{_DATE}{f.date}", f.path) for r in store.prediction_records(model.name)
                 for f in r.files]
    frame = id_frame(spark, store, model, tasks + predicted)
    try:
        new = frame.where(F.col("tag") == _NEW).select("id").distinct()
        distinct = new.count()
        dates: list[str] = []
        matched = 0
        if predicted and distinct:
            hits = frame.where(F.col("tag").startswith(_DATE)).join(new, "id", "left_semi")
            dates = sorted(row["tag"][len(_DATE):]
                           for row in hits.select("tag").distinct().collect())
            matched = hits.select("id").distinct().count()
    finally:
        frame.unpersist()
    return {"format": labels.FORMAT, "prediction_dates": dates,
            "unmatched_ids": distinct - matched}
