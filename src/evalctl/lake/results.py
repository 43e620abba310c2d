"""The monitor's results history: results/model=<m>/check=<check>/date=<D>/run-<n>.json.

A window's runs are numbered. A run publishes its results as the next number with an
exclusive create (write a flushed temporary file, hard-link it to ``run-<n>.json``, which fails
when the name exists), then removes the older runs of that window: the history has one entry
per window, re-running replaces it, and readers read the highest number. Of two runs racing for
one number exactly one wins; the other re-reads the winner's results and publishes the next
number, so whatever a run decides against "the results it replaces" (new alerts) is decided
by exactly one run. Temporary files are hidden, uniquely named, removed on failure and never
matched by ``run-*.json``. On object storage the exclusive create is a create-if-absent put
(`evalctl.lake.storage`) and the folders are key prefixes, listed with one LIST each.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from contextlib import nullcontext
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

from evalctl.errors import StoreError
from evalctl.lake.durable import fsync_tree
from evalctl.lake.layout import RESULTS, results_dir
from evalctl.lake.locking import shared_lock
from evalctl.lake.storage import ObjectInfo, Storage, as_storage

T = TypeVar("T")
_RUN = re.compile(r"^run-(\d+)\.json$")


def publish_window(root: Path | Storage, model: str, check: str, day: date,
                   payload: dict[str, Any], decide: Callable[[dict[str, Any] | None], T]) -> T:
    """Replace the stored results of one (model, check, window) with ``payload`` and return
    ``decide(results it replaced)`` - decided by this run alone, whatever runs concurrently."""
    storage = as_storage(root)
    folder = results_dir(model, check, day.isoformat())
    data = json.dumps(payload, sort_keys=True, default=str).encode("utf-8")
    # `doctor --repair` never removes a run being published (object storage: no lock; its
    # grace period on LastModified keeps new files)
    with shared_lock(Path(storage.location)) if storage.is_local else nullcontext():
        while True:
            number, previous = _latest(storage, folder)
            decision = decide(previous)
            target = f"{folder}/run-{number + 1:08d}.json"
            if storage.put_exclusive(target, data):
                break
        if storage.is_local:
            root_dir = Path(storage.location)
            fsync_tree(root_dir, [root_dir / target])
        for older, path in _runs(storage, folder):
            if older <= number:
                storage.delete(path)
    return decision


def read_window(root: Path | Storage, model: str, check: str, day: date
                ) -> dict[str, Any] | None:
    """The stored results of one window, or None."""
    return _latest(as_storage(root), results_dir(model, check, day.isoformat()))[1]


def read_history(root: Path | Storage, model: str, check: str | None = None,
                 since: date | None = None) -> list[dict[str, Any]]:
    """Every stored window of a model (optionally one check), oldest first."""
    storage = as_storage(root)
    out = []
    for (name, day), runs in _windows(storage, model).items():
        if (check and name != check) or (since and day < since):
            continue
        latest = _latest(storage, results_dir(model, name, day.isoformat()), runs)[1]
        if latest is not None:
            out.append({"check": name, "date": day, **latest})
    return sorted(out, key=lambda r: (r["date"], r["check"]))


def previous_window(root: Path | Storage, model: str, check: str,
                    day: date) -> tuple[date, dict[str, Any]] | None:
    """The newest stored window of (model, check) before ``day`` and its results, or None."""
    storage = as_storage(root)
    windows = _windows(storage, model, check)
    for earlier in sorted((d for (_, d) in windows if d < day), reverse=True):
        stored = _latest(storage, results_dir(model, check, earlier.isoformat()),
                         windows[(check, earlier)])[1]
        if stored is not None:
            return earlier, stored
    return None


def latest_window(root: Path | Storage, model: str
                  ) -> tuple[date, dict[str, dict[str, Any]]] | None:
    """The newest window stored for a model and each check's results for it, or None."""
    storage = as_storage(root)
    windows = _windows(storage, model)
    for day in sorted({d for (_, d) in windows}, reverse=True):
        checks = sorted(c for (c, d) in windows if d == day)
        stored = {c: r for c in checks
                  if (r := _latest(storage, results_dir(model, c, day.isoformat()),
                                   windows[(c, day)])[1]) is not None}
        if stored:
            return day, stored
    return None


def history_models(root: Path | Storage) -> list[str]:
    """The models the results history holds, by name."""
    storage = as_storage(root)
    found = {o.path.split("/")[1] for o in storage.list(RESULTS, ".json")
             if o.path.count("/") >= 2}
    return sorted(f.partition("=")[2] for f in found if f.startswith("model="))


def _day(folder: str) -> date | None:
    try:
        return date.fromisoformat(folder.partition("=")[2])
    except ValueError:
        return None


def _windows(storage: Storage, model: str, check: str | None = None
             ) -> dict[tuple[str, date], list[ObjectInfo]]:
    """The run files of a model's windows (of one check, or of all) by (check, day): one
    listing of the model's (or the check's) results folder."""
    base = f"{RESULTS}/model={model}" + (f"/check={check}" if check else "")
    out: dict[tuple[str, date], list[ObjectInfo]] = {}
    for info in storage.list(base, ".json"):
        parts = info.path.split("/")
        if len(parts) != 5 or not parts[2].startswith("check=") or \
                not parts[3].startswith("date="):
            continue
        day = _day(parts[3])
        if day is not None:
            out.setdefault((parts[2].partition("=")[2], day), []).append(info)
    return out


def _runs(storage: Storage, folder: str, listed: list[ObjectInfo] | None = None
          ) -> list[tuple[int, str]]:
    """A window's run files, oldest first (files of the unnumbered `run-<id>.json` naming of
    earlier versions count as run 0, by modification time)."""
    found = []
    infos = storage.list(folder, ".json", recursive=False) if listed is None else listed
    for info in infos:
        name = info.path.rsplit("/", 1)[-1]
        if not (name.startswith("run-") and name.endswith(".json")):
            continue
        match = _RUN.match(name)
        found.append((int(match.group(1)) if match else 0, info.modified, info.path))
    return [(n, path) for n, _, path in sorted(found)]


def _latest(storage: Storage, folder: str, listed: list[ObjectInfo] | None = None
            ) -> tuple[int, dict[str, Any] | None]:
    """(number, results) of a window's newest run; (0, None) when it has none. A run removed
    while being read was replaced by a newer one: list again."""
    while True:
        runs = _runs(storage, folder, listed)
        listed = None
        if not runs:
            return 0, None
        number, path = runs[-1]
        try:
            return number, _load(storage, path)
        except FileNotFoundError:
            continue


def _load(storage: Storage, path: str) -> dict[str, Any]:
    shown = storage.url(path)
    try:
        text = storage.read_bytes(path).decode("utf-8")
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise StoreError(f"{shown}: results file is unreadable ({exc.strerror or exc})") from exc
    except UnicodeDecodeError as exc:
        raise StoreError(f"{shown}: results file is unreadable ({exc})") from exc
    try:
        loaded: dict[str, Any] = json.loads(text)
    except ValueError as exc:
        raise StoreError(f"{shown}: results file is unreadable ({exc})") from exc
    return loaded
