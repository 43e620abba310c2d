"""Reading the ledger's files, and its checkpoints on object storage.

On a local folder the ledger is read as it always was: list ``_ledger/*.json``, read each file.
On object storage every read is a request, and a store with a thousand batches would cost a
thousand GETs per command. There, as Delta Lake's ``_last_checkpoint``, a commit that leaves
``CHECKPOINT_EVERY`` or more ledger files outside the newest checkpoint writes a new one: one
JSON object holding the content of every ledger file it saw, named by how many it holds,
``_ledger/_checkpoints/<count>.json``, published with a create-if-absent put. A reader makes

- one LIST of ``_ledger/`` (the names; 1,000 per page),
- one LIST of ``_ledger/_checkpoints/`` and one GET of the newest checkpoint,
- one GET per ledger file the checkpoint does not hold (fewer than ``CHECKPOINT_EVERY`` when
  writers keep it fresh), in parallel.

A command reads the checkpoint once and keeps every ledger file it read (they are never
rewritten): reading the ledger again (an ingest does, before and after its commit) costs the
LIST and the GETs of the files committed since.

The listing is the truth: a checkpoint only saves reading files the listing names (ledger files
are never rewritten, so a held copy is the file). A stale checkpoint (concurrent writers, a
crash before it was written) costs a few more GETs, never a wrong answer; a checkpoint that
vanished between the LIST and the GET (a newer one replaced it) is read around.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from evalctl.lake.layout import LEDGER
from evalctl.lake.storage import Storage

CHECKPOINTS = f"{LEDGER}/_checkpoints"
CHECKPOINT_EVERY = 25  # ledger files outside the newest checkpoint before a commit writes one
CHECKPOINT_FORMAT = 1
KEEP = 2  # checkpoints kept (older ones are deleted by the writer of a new one)
READERS = 16  # parallel GETs of ledger files a checkpoint does not hold


@dataclass
class LedgerFiles:
    """The ledger's files as read: name -> a function giving its parsed JSON (raising what
    reading or parsing raised), and what a checkpoint written now would hold."""

    files: dict[str, Callable[[], Any]]
    loaded: dict[str, Any] = field(default_factory=dict)  # parsed content, by name
    outside: int = 0  # files the newest checkpoint does not hold


def ledger_files(storage: Storage) -> LedgerFiles:
    """Every ``_ledger/*.json`` file of the store."""
    if storage.is_local:
        names = [o.path.rsplit("/", 1)[-1] for o in storage.list(LEDGER, ".json", False)]
        return LedgerFiles({n: _reader(storage, n) for n in names})
    names = [o.path.rsplit("/", 1)[-1] for o in storage.list(LEDGER, ".json", False)]
    # ledger files are never rewritten: what this command read once it never reads again
    known: dict[str, Any] = storage.cache.setdefault("ledger-files", {})
    if "ledger-checkpointed" not in storage.cache:  # the checkpoint: once per command
        held = _newest_checkpoint(storage)
        storage.cache["ledger-checkpointed"] = set(held)
        known.update({n: held[n] for n in names if n in held})
    checkpointed: set[str] = storage.cache["ledger-checkpointed"]
    loaded = {n: known[n] for n in names if n in known}
    missing = [n for n in names if n not in known]
    failed: dict[str, BaseException] = {}

    def fetch(name: str) -> None:
        try:
            loaded[name] = _reader(storage, name)()
        except (OSError, ValueError) as exc:
            failed[name] = exc

    if missing:
        with ThreadPoolExecutor(min(READERS, len(missing))) as pool:
            list(pool.map(fetch, missing))
    known.update(loaded)
    files = {n: (_raiser(failed[n]) if n in failed else _constant(loaded[n])) for n in names}
    return LedgerFiles(files, loaded, sum(n not in checkpointed for n in names))


def after_commit(storage: Storage, name: str, payload: dict[str, Any],
                 read: LedgerFiles | None) -> None:
    """After ``name`` was committed: write a checkpoint when enough files are outside the
    newest one (object storage only; ``read`` is the ledger as the commit read it)."""
    if storage.is_local or read is None or read.outside + 1 < CHECKPOINT_EVERY:
        return
    content = {**read.loaded, name: payload}
    body = {"format": CHECKPOINT_FORMAT, "files": content}
    data = json.dumps(body, sort_keys=True, separators=(",", ":")).encode("utf-8")
    if storage.put_exclusive(f"{CHECKPOINTS}/{len(content):012d}.json", data):
        storage.cache["ledger-checkpointed"] = set(content)
        for old in _checkpoints(storage)[:-KEEP]:
            storage.delete(old)


def _checkpoints(storage: Storage) -> list[str]:
    """The checkpoints' paths, oldest (fewest files) first."""
    return [o.path for o in storage.list(CHECKPOINTS, ".json", False)]


def _newest_checkpoint(storage: Storage) -> dict[str, Any]:
    """The files the newest checkpoint holds; empty when there is none (or it just vanished,
    or cannot be read: the ledger files are then read one by one)."""
    found = _checkpoints(storage)
    if not found:
        return {}
    try:
        body = json.loads(storage.read_bytes(found[-1]).decode("utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(body, dict) or body.get("format") != CHECKPOINT_FORMAT or \
            not isinstance(body.get("files"), dict):
        return {}
    return body["files"]


def _reader(storage: Storage, name: str) -> Callable[[], Any]:
    def load() -> Any:
        return json.loads(storage.read_bytes(f"{LEDGER}/{name}").decode("utf-8"))
    return load


def _constant(value: Any) -> Callable[[], Any]:
    return lambda: value


def _raiser(exc: BaseException) -> Callable[[], Any]:
    def load() -> Any:
        raise exc
    return load
