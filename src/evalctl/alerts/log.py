"""The delivery log, in the store: `results/model=<m>/deliveries/`.

For each notification (its `Idempotency-Key`, one per model, window and check):

- ``<key>.json`` — the outbox record: the payload and the destinations it goes to, published
  with an exclusive create when a run first decides to notify (first writer wins);
- ``<key>.<dest>.claim-<n>`` — attempt ``n`` to deliver it to one destination, created
  exclusively *before* sending: of runs racing for the same ``n`` exactly one creates it and
  sends, the others leave it alone;
- ``<key>.<dest>.failed-<n>`` — attempt ``n`` ended without a 2xx (the reason, no URL): the
  claim is released and the next run claims ``n + 1``;
- ``<key>.<dest>.sent`` — a 2xx came back (status, attempts, time): never sent again.

A claim with neither a ``failed`` nor a ``sent`` record is live for ``claim_timeout`` seconds
(longer than any delivery can take); after that its run is taken to have crashed and the
next run claims ``n + 1``. So the only duplicate left is a run that crashed between the 2xx
and writing ``.sent`` — the receiver sees the same `Idempotency-Key` twice. No URL or header
value is ever written here.
"""

from __future__ import annotations

import json
import os
import re
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from evalctl.clock import rfc3339
from evalctl.errors import StoreError
from evalctl.lake.durable import fsync_tree
from evalctl.lake.layout import RESULTS
from evalctl.lake.locking import shared_lock
from evalctl.lake.storage import Storage, as_storage

DELIVERIES = "deliveries"
_CLAIM = re.compile(r"^(?P<base>[0-9a-f]{32}\.[A-Za-z0-9_-]+)\.claim-(?P<n>\d+)$")


@dataclass(frozen=True)
class Outbox:
    """A decided notification: its key, payload and destination names."""

    key: str
    payload: dict[str, Any]
    destinations: tuple[str, ...]


@dataclass(frozen=True)
class Claim:
    """This run's exclusive right to make attempt ``number`` of (key, destination)."""

    key: str
    destination: str
    number: int
    claimed_at: float  # wall-clock seconds


class DeliveryLog:
    """One model's delivery log. ``wall`` is the wall clock claims are aged by (real elapsed
    time, not the report's clock); injectable for tests."""

    def __init__(self, root: Path | Storage, model: str,
                 wall: Callable[[], float] = time.time) -> None:
        self.storage = as_storage(root)  # a folder, or an object store (claims: conditional puts)
        self.prefix = f"{RESULTS}/model={model}/{DELIVERIES}"
        self.wall = wall

    @property
    def folder(self) -> Path:
        """The log's folder in a local store."""
        return Path(self.storage.location) / self.prefix

    def record(self, outbox: Outbox) -> bool:
        """Publish a decided notification; False when one with its key exists already."""
        doc = {"key": outbox.key, "destinations": list(outbox.destinations),
               "payload": outbox.payload, "decided_at": _stamp(self.wall())}
        return self._publish(f"{outbox.key}.json", doc)

    def pending(self) -> list[Outbox]:
        """Every recorded notification some destination has no `.sent` for, oldest first."""
        names = self._names()
        out = []
        for name in sorted(names):
            if not name.endswith(".json") or name.startswith("."):
                continue
            doc = self._load(name)
            dests = tuple(d for d in doc["destinations"] if f"{doc['key']}.{d}.sent" not in names)
            if dests:
                out.append(Outbox(doc["key"], doc["payload"], dests))
        return sorted(out, key=lambda o: (str(o.payload.get("window")), o.key))

    def claim(self, key: str, destination: str, run: str, timeout: float) -> Claim | str:
        """Claim the next attempt, or say why not: `sent` (delivered already) or `busy`
        (another run holds a live claim, or won the race for this one)."""
        base = f"{key}.{destination}"
        names = self._names()
        if f"{base}.sent" in names:
            return "sent"
        numbers = [int(m["n"]) for m in map(_CLAIM.match, names) if m and m["base"] == base]
        latest = max(numbers, default=0)
        if latest and f"{base}.failed-{latest}" not in names:
            held = self._load(f"{base}.claim-{latest}")
            if self.wall() - float(held["claimed_epoch"]) < timeout:
                return "busy"
        now = self.wall()
        doc = {"run": run, "pid": os.getpid(), "host": socket.gethostname(),
               "claimed_at": _stamp(now), "claimed_epoch": now}
        if not self._publish(f"{base}.claim-{latest + 1}", doc):
            return "busy"
        if self.storage.head(f"{self.prefix}/{base}.sent") is not None:
            # delivered between our look and our claim
            return "sent"
        return Claim(key, destination, latest + 1, now)

    def sent(self, claim: Claim, http_status: int | None, attempts: int) -> None:
        self._publish(f"{claim.key}.{claim.destination}.sent", {
            "claim": claim.number, "http_status": http_status, "attempts": attempts,
            "destination": claim.destination, "sent_at": _stamp(self.wall())})

    def failed(self, claim: Claim, http_status: int | None, attempts: int, reason: str) -> None:
        self._publish(f"{claim.key}.{claim.destination}.failed-{claim.number}", {
            "claim": claim.number, "http_status": http_status, "attempts": attempts,
            "destination": claim.destination, "reason": reason,
            "failed_at": _stamp(self.wall())})

    def _publish(self, name: str, doc: dict[str, Any]) -> bool:
        data = json.dumps(doc, sort_keys=True, default=str).encode("utf-8")
        target = f"{self.prefix}/{name}"
        if not self.storage.is_local:  # a create-if-absent put; failures are StoreErrors
            return self.storage.put_exclusive(target, data)
        root = Path(self.storage.location)
        with shared_lock(root):  # `doctor --repair` never removes a record being written
            try:
                created = self.storage.put_exclusive(target, data)
            except OSError as exc:
                raise StoreError(f"{root / target}: cannot write the delivery log "
                                 f"({exc.strerror or exc})") from exc
            if created:
                fsync_tree(root, [root / target])
        return created

    def _names(self) -> set[str]:
        if not self.storage.is_local:
            return {o.path.rsplit("/", 1)[-1] for o in self.storage.list(self.prefix,
                                                                         recursive=False)}
        try:
            return set(os.listdir(self.folder))
        except FileNotFoundError:
            return set()

    def _load(self, name: str) -> dict[str, Any]:
        shown = self.storage.url(f"{self.prefix}/{name}")
        try:
            loaded: dict[str, Any] = json.loads(self.storage.read_bytes(f"{self.prefix}/{name}"))
        except (OSError, ValueError) as exc:
            raise StoreError(f"{shown}: delivery log record is unreadable ({exc})") from exc
        return loaded


def _stamp(epoch: float) -> str:
    return rfc3339(datetime.fromtimestamp(epoch, UTC), timespec="seconds")
