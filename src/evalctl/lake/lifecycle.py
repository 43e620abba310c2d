"""Removing batches as commits: `batches remove` and retention (`gc`).

A removal is one tombstone record (see ledger.py), committed atomically: readers see the
batches before or after, never half of them. The files stay on disk until `doctor --repair`
collects them, once the tombstone is older than the grace period (layout.GRACE), so a reader
that listed them just before the removal can still read them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from evalctl.errors import InputError
from evalctl.lake.ledger import (
    BatchRecord,
    Ledger,
    Tombstone,
    commit_tombstone,
    lifecycle_lock,
    read_ledger,
)
from evalctl.lake.selectors import ENVS
from evalctl.lake.store import Store

MIN_PREFIX = 4


@dataclass(frozen=True)
class Removal:
    """What a removal did (or, with ``dry_run``, would do)."""

    removed: tuple[BatchRecord, ...]
    tombstone: str | None  # the committed tombstone's id; None for a dry run or nothing to do
    # gc: batches with dates on both sides of the cut-off, kept, with their newest date
    kept_partly_older: tuple[tuple[BatchRecord, str], ...] = ()


def remove_batches(store: Store, batches: Sequence[str], *, dry_run: bool = False,
                   now: datetime | None = None) -> Removal:
    """Remove live batches (full ids or unique prefixes) as one tombstone commit."""
    if not batches:
        raise InputError("batches remove: give at least one batch id (see `evalctl batches`)")
    chosen = _resolve(store.location, read_ledger(store.storage), batches)
    if dry_run:
        return Removal(tuple(chosen), None)
    return _commit(store, chosen, "remove", now)


def collect_old_batches(store: Store, older_than: timedelta, *, env: str | None = None,
                        model: str | None = None, dry_run: bool = False,
                        now: datetime | None = None) -> Removal:
    """Retention: remove every live batch whose newest date is before today - ``older_than``
    (only prediction batches of ``env`` when given). Batches with dates on both sides of the
    cut-off are kept and reported."""
    if env is not None and env not in ENVS:
        raise InputError(f"--env: expected one of {', '.join(ENVS)}, got {env!r}")
    today = (now or datetime.now(UTC)).astimezone(UTC).date()
    cutoff = today - older_than
    old, partly = [], []
    for record in store.records:
        if (env is not None and record.env != env) or (model is not None
                                                       and record.model != model):
            continue
        dates = sorted(date.fromisoformat(f.date) for f in record.files)
        if dates and dates[-1] < cutoff:
            old.append(record)
        elif dates and dates[0] < cutoff:
            partly.append((record, dates[-1].isoformat()))
    if dry_run or not old:
        return Removal(tuple(old), None, tuple(partly))
    done = _commit(store, old, "gc", now)
    return Removal(done.removed, done.tombstone, tuple(partly))


def _commit(store: Store, chosen: list[BatchRecord], reason: str,
            now: datetime | None) -> Removal:
    """Under the lifecycle lock: check the batches are still live, then commit a tombstone."""
    with lifecycle_lock(store.storage):
        ledger = read_ledger(store.storage)
        ledger.raise_problems(store.location)
        live = {r.key for r in ledger.live}
        gone = [r.batch for r in chosen if r.key not in live]
        if gone:
            raise InputError(f"batch {gone[0]}: removed or rewritten by another command "
                             "meanwhile; nothing was removed (see `evalctl batches`)")
        tombstone = Tombstone.new(reason, [r.key for r in chosen], now=now)
        commit_tombstone(store.storage, tombstone)
    store.refresh()
    return Removal(tuple(chosen), tombstone.id)


def _resolve(root: Path | str, ledger: Ledger, wanted: Sequence[str]) -> list[BatchRecord]:
    """The live records named by ids or unique prefixes, in the order given (no repeats)."""
    ledger.raise_problems(root)
    live = ledger.live
    chosen: list[BatchRecord] = []
    for text in wanted:
        if len(text) < MIN_PREFIX:
            raise InputError(f"batch {text!r}: give at least {MIN_PREFIX} characters of the id")
        matches = [r for r in live if r.batch.startswith(text)]
        if not matches:
            raise InputError(f"batch {text!r}: {_why_missing(ledger, text)} "
                             "(see `evalctl batches`)")
        if len({r.batch for r in matches}) > 1:
            raise InputError(f"batch {text!r}: ambiguous, matches "
                             f"{', '.join(sorted({r.batch for r in matches}))}")
        if matches[0] not in chosen:
            chosen.append(matches[0])
    return chosen


def _why_missing(ledger: Ledger, text: str) -> str:
    removed = ledger.removed_by
    for record in reversed(ledger.records):
        if record.batch.startswith(text) and record.key in removed:
            return f"already removed (tombstone {removed[record.key].id})"
    return "no committed batch has that id"
