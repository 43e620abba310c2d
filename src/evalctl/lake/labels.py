"""The label index: which delayed-actuals batches a scan of some prediction files must join.

Joining every actual of a model to every scan makes each question cost what the lake holds.
Each ingest therefore records, in its own ledger record (``extra.labels``, committed with the
batch), the links between actuals and predictions it can see at commit time:

- an **actuals** record: ``{"format": 1, "prediction_dates": [...], "unmatched_ids": n}`` —
  the partition dates of the stored predictions (any version or env) whose ids its rows
  label, and how many of its distinct ids matched none;
- a **predictions** record: ``{"format": 1, "actuals": [...]}`` — the actuals batches already
  committed that hold any of its ids (ground truth may arrive before its predictions).

Whichever of a prediction and its actual is committed second records the link, so a scan of
some prediction files needs only the actuals batches whose ``prediction_dates`` meet the
files' dates, plus those its prediction records name. Computing the links and committing the
record happen under ``_labels_lock`` held exclusively (`commit_lock`): two ingests of opposite
kinds never commit without one seeing the other. A record without the index (a store written
before it) is read conservatively: an unindexed actuals batch is always joined, and a
selection with an unindexed prediction batch joins every actuals batch. Links are a superset
of what matches (`erase` keeps them on the rewritten generation; a removed batch's links are
ignored), so the winning actual per id is exactly the one the full join finds.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from evalctl.errors import StoreError
from evalctl.lake.idpasses import id_passes, in_bucket
from evalctl.lake.lease import lease
from evalctl.lake.ledger import BatchRecord, FileEntry
from evalctl.lake.locking import StoreBusyError, lock_wait
from evalctl.lake.storage import Storage, as_storage

if TYPE_CHECKING:
    from evalctl.lake.store import Selection, Store

KEY = "labels"  # the ledger record's ``extra`` key
FORMAT = 1
LOCK_FILE = "_labels_lock"
LEASE_FILE = "_labels_lease.json"  # object storage
LEASE_TTL = timedelta(minutes=10)  # an ingest that died holding it blocks others this long
_PATH_COL = "_labels_file"
# Batch ids the index holds in one pass at most (`lake.idpasses`): fewer than the duplicate
# check's ID_PASS_ROWS, because an actuals ingest writes three narrow columns: at 4M rows its
# write peaks near 300 MiB and a one-pass index at 600-640 (~90 B an id), at 2M a pass at
# 354-363, at 1M at 308-309, the CPU the same. Each pass reads the stored ids again, so a
# batch of N rows reads them ceil(N / LABEL_PASS_ROWS) times (once up to 2M rows).
LABEL_PASS_ROWS = 2_000_000
_POLL_SECONDS = 0.05


def index_actuals(store: Store, model: str, id_col: str, entries: list[FileEntry]
                  ) -> dict[str, Any]:
    """An actuals batch's index: the dates of the stored predictions its ids label, and how
    many of its distinct ids match none (yet) — a streamed semi-join of the model's
    prediction ids against the batch's ids, in passes over hash buckets of the ids
    (`lake.idpasses`, at most `LABEL_PASS_ROWS` a pass), so memory is bounded whatever the
    size of the batch."""
    predicted = [f for r in store.prediction_records(model) for f in r.files]
    passes = id_passes(sum(f.rows for f in entries), LABEL_PASS_ROWS)
    paths: set[str] = set()
    distinct = matched = 0
    for bucket in range(passes):
        keep = in_bucket(id_col, bucket, passes)
        new = _ids(store, entries, id_col).filter(keep)
        queries = [new.select(pl.col(id_col).n_unique())]
        if predicted:
            hits = (_ids(store, predicted, id_col, with_path=True).filter(keep)
                    .join(new.unique(), on=id_col, how="semi"))
            queries += [hits.select(pl.col(id_col).n_unique()),
                        hits.select(_PATH_COL).unique()]
        found = pl.collect_all(queries, engine="streaming")
        distinct += int(found[0].item())
        if predicted:
            matched += int(found[1].item())
            paths.update(found[2][_PATH_COL].to_list())
    day = {store.storage.url(f.path): f.date for f in predicted}
    dates = sorted({day[p] for p in paths})
    return {"format": FORMAT, "prediction_dates": dates, "unmatched_ids": distinct - matched}


def unmatched_ids(record: BatchRecord) -> int | None:
    """The distinct ids of an actuals batch that matched no stored prediction when it was
    committed (None for a record written before the index)."""
    index = _index(record)
    value = index.get("unmatched_ids") if index is not None else None
    return value if isinstance(value, int) else None


def index_predictions(store: Store, model: str, id_col: str, entries: list[FileEntry]
                      ) -> dict[str, Any]:
    """A predictions batch's index: the committed actuals batches holding any of its ids
    (found in passes over hash buckets of the batch's ids, as `index_actuals`)."""
    records = store.actual_records(model)
    batches: list[str] = []
    if records and entries:
        files = [f for r in records for f in r.files]
        passes = id_passes(sum(f.rows for f in entries), LABEL_PASS_ROWS)
        holding: set[str] = set()
        for bucket in range(passes):
            keep = in_bucket(id_col, bucket, passes)
            new = _ids(store, entries, id_col).filter(keep).unique()
            found = (_ids(store, files, id_col, with_path=True).filter(keep)
                     .join(new, on=id_col, how="semi")
                     .select(_PATH_COL).unique().collect(engine="streaming"))
            holding.update(found[_PATH_COL].to_list())
        batches = sorted({r.batch for r in records for f in r.files
                          if store.storage.url(f.path) in holding})
    return {"format": FORMAT, "actuals": batches}


def actuals_for(store: Store, model: str, selection: Selection) -> list[BatchRecord]:
    """The live actuals records a scan of ``selection`` must join: a superset of those
    holding an id of its rows (all of them when a selected batch has no index)."""
    records = store.actual_records(model)
    # the files' own records (a Selection may be built without them, as compare's sides are)
    owner = {f.path: r for r in store.prediction_records(model) for f in r.files}
    named: set[str] = set()
    for _, _, entry in selection.files:
        record = owner.get(entry.path)
        index = _index(record) if record is not None else None
        if index is None:
            return records
        named.update(index.get("actuals", ()))
    days = {f.date for _, _, f in selection.files}
    chosen = []
    for record in records:
        index = _index(record)
        if index is None or record.batch in named or \
                not days.isdisjoint(index.get("prediction_dates", ())):
            chosen.append(record)
    return chosen


@contextmanager
def commit_lock(root: Path | Storage) -> Iterator[None]:
    """Held exclusively while an ingest computes its label index and commits its record, so
    of an actuals and a predictions ingest committing at once, the second sees the first.
    On object storage (no flock) a lease object stands for it (`evalctl.lake.lease`)."""
    storage = as_storage(root)
    if not storage.is_local:
        with lease(storage, "an ingest's commit (the label index)", name=LEASE_FILE,
                   ttl=LEASE_TTL):
            yield
        return
    root = Path(storage.location)
    path = root / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise StoreError(f"{path}: cannot open the label-index lock "
                         f"({exc.strerror or exc})") from exc
    try:
        deadline = time.monotonic() + lock_wait().total_seconds()
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise StoreBusyError(f"{root}: another ingest is committing (it holds "
                                         f"{LOCK_FILE}); nothing was ingested, try again") \
                        from None
                time.sleep(_POLL_SECONDS)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def _index(record: BatchRecord) -> dict[str, Any] | None:
    raw = record.extra.get(KEY)
    return raw if isinstance(raw, dict) and raw.get("format") == FORMAT else None


def _ids(store: Store, entries: list[FileEntry], id_col: str, *, with_path: bool = False
         ) -> pl.LazyFrame:
    paths = [str(store.checked_path(f)) for f in entries]
    if with_path:
        return store.scan_files(paths, include_file_paths=_PATH_COL).select(id_col, _PATH_COL)
    return store.scan_files(paths).select(id_col)  # ids are strings
