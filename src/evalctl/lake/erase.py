"""Erasure by id (privacy requests): every row of the given ids leaves predictions and actuals
in one commit.

Each committed file holding such rows is rewritten without them (into new files, through
staging); one tombstone then removes the affected batch generations and adds their rewritten
generations — unaffected files are carried over — so readers see the store before or after
the erasure, never half of it. The old files are collected by `doctor --repair` after the
grace period, like any removed batch's.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

import polars as pl

from evalctl import temporaries
from evalctl.clock import rfc3339
from evalctl.config import ModelConfig
from evalctl.errors import InputError
from evalctl.lake.durable import StagingArea
from evalctl.lake.layout import part_name
from evalctl.lake.ledger import (
    BatchRecord,
    FileEntry,
    Ledger,
    Tombstone,
    commit_tombstone,
    lifecycle_lock,
    read_ledger,
)
from evalctl.lake.readers import detect_format, file_sha256, open_input
from evalctl.lake.store import Store

TEXT_SUFFIXES = ("", ".txt", ".ids")


@dataclass(frozen=True)
class Erasure:
    """What an erasure did (or, with ``dry_run``, would do)."""

    ids: int  # distinct ids asked for
    rows: int  # rows erased (predictions and actuals)
    files: int  # committed files that held them
    batches: tuple[tuple[str, str, int], ...]  # (batch, kind, rows erased)
    tombstone: str | None  # None for a dry run or when no row matched


@dataclass(frozen=True)
class _Hit:
    record: BatchRecord
    entry: FileEntry
    rows: int  # rows of the erased ids in this file


def read_ids(path: Path, column: str) -> pl.Series:
    """The ids to erase, as text: one per line, or the ``column`` of a CSV/Parquet/JSON-lines
    file. Blank lines are skipped; an empty list is an input error."""
    if path.suffix.lower() not in TEXT_SUFFIXES:
        lf, schema = open_input(path, detect_format(path, None))
        if column not in schema:
            raise InputError(f"--ids {path}: no column {column!r} (the model's id column)")
        ids = lf.select(pl.col(column).cast(pl.String)).collect()[column]
    else:
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"--ids {path}: cannot read ({exc})") from exc
        ids = pl.Series(column, [line.strip() for line in lines], dtype=pl.String)
    ids = ids.drop_nulls()
    ids = ids.filter(ids != "").unique()
    if ids.is_empty():
        raise InputError(f"--ids {path}: no ids in the file")
    return ids


def erase_ids(store: Store, model: ModelConfig, ids: pl.Series, *, dry_run: bool = False,
              now: datetime | None = None) -> Erasure:
    """Erase every committed row of ``ids`` from the model's predictions and actuals."""
    if dry_run:
        hits = _hits(store, read_ledger(store.storage), model, ids)
        return _summary(ids, hits, None)
    with lifecycle_lock(store.storage):
        ledger = read_ledger(store.storage)
        hits = _hits(store, ledger, model, ids)
        if not hits:
            return _summary(ids, hits, None)
        attempt = uuid.uuid4().hex[:8]
        with store.storage.staging(f"erase-{attempt}") as area:
            rewritten = _rewrite(store, area, hits, model, ids, attempt)
            tombstone = Tombstone.new(
                "erase", sorted({h.record.key for h in hits}),
                adds=_new_generations(ledger, hits, rewritten, now or datetime.now(UTC)),
                erased_rows=sum(h.rows for h in hits), now=now)
            with temporaries.committing():
                commit_tombstone(store.storage, tombstone)
                area.settle()
    store.refresh()
    return _summary(ids, hits, tombstone.id)


def _hits(store: Store, ledger: Ledger, model: ModelConfig, ids: pl.Series) -> list[_Hit]:
    """The live files of the model holding rows of ``ids``: one small query per file."""
    ledger.raise_problems(store.location)
    entries = [(r, f) for r in ledger.live if r.model == model.name for f in r.files]
    if not entries:
        raise InputError(f"--model: model {model.name!r} has no data in {store.location}")
    queries = [store.scan_files([store.storage.url(f.path)]).select(
        _matches(model.id, ids).sum()) for _, f in entries]
    counts = [int(frame.item()) for frame in pl.collect_all(queries)]
    return [_Hit(r, f, n) for (r, f), n in zip(entries, counts, strict=True) if n]


def _matches(column: str, ids: pl.Series) -> pl.Expr:
    return pl.col(column).cast(pl.String).is_in(ids.implode())


def _rewrite(store: Store, area: StagingArea, hits: list[_Hit], model: ModelConfig,
             ids: pl.Series, attempt: str) -> dict[str, FileEntry | None]:
    """Each hit file rewritten without the ids, moved into its partition under a new name
    (uploaded, on object storage); None for a file that held nothing else."""
    staging = area.folder
    staging.mkdir(parents=True)
    out: dict[str, FileEntry | None] = {}
    for n, hit in enumerate(hits):
        if hit.rows == hit.entry.rows:
            out[hit.entry.path] = None
            continue
        temp = staging / f"{n:04d}.parquet"
        (store.scan_files([store.storage.url(hit.entry.path)]).filter(~_matches(model.id, ids))
         .sink_parquet(temp, compression="zstd", sync_on_close="data"))
        relative = (PurePosixPath(hit.entry.path).parent
                    / part_name(hit.record.batch, attempt, n)).as_posix()
        if store.is_local:
            target = store.root / relative
            temporaries.rename(temp, target)  # removed if a signal comes before the commit
            area.track([target])
        else:  # the file's facts from the local copy, then the upload
            target = temp
            area.uploaded.append(relative)
        out[hit.entry.path] = FileEntry(
            path=relative, rows=hit.entry.rows - hit.rows, bytes=target.stat().st_size,
            sha256=file_sha256(target), date=hit.entry.date,
            labelled=_labelled(target, model.label) if hit.entry.labelled is not None else None)
        if not store.is_local:
            store.storage.publish([(temp, relative)])
    return out


def _labelled(path: Path, label: str | None) -> int | None:
    if label is None:
        return None
    frame = pl.scan_parquet(path, glob=False)
    if label not in frame.collect_schema():
        return None
    return int(frame.select(pl.col(label).is_not_null().sum()).collect().item())


def _new_generations(ledger: Ledger, hits: list[_Hit], rewritten: dict[str, FileEntry | None],
                     now: datetime) -> tuple[BatchRecord, ...]:
    """The affected batches' next generations: rewritten files replace the old ones, files
    without erased rows are carried over; a batch left with no rows is only removed."""
    stamp = rfc3339(now, "microseconds")
    records = {h.record.key: h.record for h in hits}
    adds = []
    for record in records.values():
        files = tuple(e for f in record.files
                      if (e := rewritten.get(f.path, f)) is not None)
        if not files:
            continue
        adds.append(replace(record, files=files, rows=sum(f.rows for f in files),
                            generation=ledger.next_free_generation(record.batch),
                            extra={**record.extra, "erased_at": stamp,
                                   "erased_from_generation": record.generation}))
    return tuple(adds)


def _summary(ids: pl.Series, hits: list[_Hit], tombstone: str | None) -> Erasure:
    per_batch: dict[tuple[str, str], int] = {}
    for hit in hits:
        key = (hit.record.batch, hit.record.kind)
        per_batch[key] = per_batch.get(key, 0) + hit.rows
    return Erasure(ids=ids.len(), rows=sum(h.rows for h in hits), files=len(hits),
                   batches=tuple((b, k, n) for (b, k), n in sorted(per_batch.items())),
                   tombstone=tombstone)
