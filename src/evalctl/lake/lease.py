"""The lease that stands for the store lock on object storage, which has no ``flock``.

Ingests need no lock there: their record is published with a create-if-absent put, and the
files it names are uploaded first under names no other attempt uses. What rewrites or deletes
(`batches remove`, `gc`, `erase`, `profiles build`, `doctor --repair`) holds a **lease**: the
object ``_lease.json``, created with a create-if-absent put and naming its holder and an expiry
(``LEASE_TTL``). A second rewriter waits for it up to ``EVALCTL_LOCK_WAIT`` and then stops with
exit 3 (as the local lock); a lease past its expiry (its holder died) is taken over. The holder
deletes it when done.
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from evalctl.clock import rfc3339
from evalctl.lake.locking import StoreBusyError, lock_wait
from evalctl.lake.storage import Storage

LEASE = "_lease.json"
LEASE_TTL = timedelta(minutes=15)
_POLL_SECONDS = 0.2


@contextmanager
def lease(storage: Storage, what: str, *, name: str = LEASE,
          ttl: timedelta = LEASE_TTL) -> Iterator[None]:
    """Hold the store's lease (or the lease object ``name``) for the block (object storage)."""
    owner = uuid.uuid4().hex
    deadline = time.monotonic() + lock_wait().total_seconds()
    while True:
        expires = datetime.now(UTC) + ttl
        body = {"owner": owner, "holder": what, "host": socket.gethostname(),
                "pid": os.getpid(), "expires": rfc3339(expires)}
        if storage.put_exclusive(name, json.dumps(body).encode("utf-8")):
            break
        held = _held(storage, name)
        if held is None:
            continue  # released meanwhile: try again at once
        if _expired(held):
            storage.delete(name)  # its holder died without releasing it
            continue
        if time.monotonic() >= deadline:
            raise StoreBusyError(
                f"{storage.location}: another process holds the store's lease ({name}: "
                f"{held.get('holder', '?')} on {held.get('host', '?')}, until "
                f"{held.get('expires', '?')}); nothing was changed, try again when it has "
                "finished")
        time.sleep(_POLL_SECONDS)
    try:
        yield
    finally:
        current = _held(storage, name)
        if current is not None and current.get("owner") == owner:
            storage.delete(name)


def _held(storage: Storage, name: str) -> dict[str, object] | None:
    try:
        loaded = json.loads(storage.read_bytes(name).decode("utf-8"))
    except FileNotFoundError:
        return None
    except ValueError:
        return {}  # unreadable: treated as expired
    return loaded if isinstance(loaded, dict) else {}


def _expired(held: dict[str, object]) -> bool:
    try:
        return datetime.fromisoformat(str(held["expires"])) < datetime.now(UTC)
    except (KeyError, ValueError):
        return True
