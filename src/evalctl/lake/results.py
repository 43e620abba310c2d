"""The monitor's results history: results/model=<m>/check=<check>/date=<D>/run-<n>.json.

A window's runs are numbered. A run publishes its results as the next number with an
exclusive create (write a flushed temporary file, hard-link it to ``run-<n>.json``, which fails
when the name exists), then removes the older runs of that window: the history has one entry
per window, re-running replaces it, and readers read the highest number. Of two runs racing for
one number exactly one wins; the other re-reads the winner's results and publishes the next
number, so whatever a run decides against "the results it replaces" (new alerts) is decided
by exactly one run. Temporary files are hidden, uniquely named, removed on failure and never
matched by ``run-*.json``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

from evalctl.errors import StoreError
from evalctl.lake.durable import fsync_tree, write_exclusive
from evalctl.lake.layout import RESULTS, results_dir
from evalctl.lake.locking import shared_lock

T = TypeVar("T")
_RUN = re.compile(r"^run-(\d+)\.json$")


def publish_window(root: Path, model: str, check: str, day: date, payload: dict[str, Any],
                   decide: Callable[[dict[str, Any] | None], T]) -> T:
    """Replace the stored results of one (model, check, window) with ``payload`` and return
    ``decide(results it replaced)`` - decided by this run alone, whatever runs concurrently."""
    folder = root / results_dir(model, check, day.isoformat())
    data = json.dumps(payload, sort_keys=True, default=str).encode("utf-8")
    with shared_lock(root):  # `doctor --repair` never removes a run being published
        folder.mkdir(parents=True, exist_ok=True)
        while True:
            number, previous = _latest(folder)
            decision = decide(previous)
            target = folder / f"run-{number + 1:08d}.json"
            if write_exclusive(target, data):
                break
        fsync_tree(root, [target])
        for older, path in _runs(folder):
            if older <= number:
                path.unlink(missing_ok=True)
    return decision


def read_window(root: Path, model: str, check: str, day: date) -> dict[str, Any] | None:
    """The stored results of one window, or None."""
    return _latest(root / results_dir(model, check, day.isoformat()))[1]


def read_history(root: Path, model: str, check: str | None = None,
                 since: date | None = None) -> list[dict[str, Any]]:
    """Every stored window of a model (optionally one check), oldest first."""
    base = root / RESULTS / f"model={model}"
    out = []
    for folder in sorted(base.glob("check=*/date=*")):
        name = folder.parent.name.partition("=")[2]
        day = date.fromisoformat(folder.name.partition("=")[2])
        if (check and name != check) or (since and day < since):
            continue
        latest = _latest(folder)[1]
        if latest is not None:
            out.append({"check": name, "date": day, **latest})
    return sorted(out, key=lambda r: (r["date"], r["check"]))


def previous_window(root: Path, model: str, check: str,
                    day: date) -> tuple[date, dict[str, Any]] | None:
    """The newest stored window of (model, check) before ``day`` and its results, or None."""
    base = root / RESULTS / f"model={model}" / f"check={check}"
    days = sorted((d for d in (_day(f.name) for f in base.glob("date=*")) if d and d < day),
                  reverse=True)
    for earlier in days:
        stored = read_window(root, model, check, earlier)
        if stored is not None:
            return earlier, stored
    return None


def latest_window(root: Path, model: str) -> tuple[date, dict[str, dict[str, Any]]] | None:
    """The newest window stored for a model and each check's results for it, or None."""
    base = root / RESULTS / f"model={model}"
    days = {d for d in (_day(f.name) for f in base.glob("check=*/date=*")) if d}
    for day in sorted(days, reverse=True):
        checks = sorted(f.parent.name.partition("=")[2]
                        for f in base.glob(f"check=*/date={day.isoformat()}"))
        stored = {c: r for c in checks if (r := read_window(root, model, c, day)) is not None}
        if stored:
            return day, stored
    return None


def history_models(root: Path) -> list[str]:
    """The models the results history holds, by name."""
    return sorted(f.name.partition("=")[2] for f in (root / RESULTS).glob("model=*")
                  if f.is_dir())


def _day(folder: str) -> date | None:
    try:
        return date.fromisoformat(folder.partition("=")[2])
    except ValueError:
        return None


def _runs(folder: Path) -> list[tuple[int, Path]]:
    """A window's run files, oldest first (files of the unnumbered `run-<id>.json` naming of
    earlier versions count as run 0, by modification time)."""
    found = []
    for path in folder.glob("run-*.json"):
        match = _RUN.match(path.name)
        try:
            found.append((int(match.group(1)) if match else 0, path.stat().st_mtime, path))
        except FileNotFoundError:  # removed by a newer run meanwhile
            continue
    return [(n, path) for n, _, path in sorted(found)]


def _latest(folder: Path) -> tuple[int, dict[str, Any] | None]:
    """(number, results) of a window's newest run; (0, None) when it has none. A run removed
    while being read was replaced by a newer one: list again."""
    while True:
        runs = _runs(folder)
        if not runs:
            return 0, None
        number, path = runs[-1]
        try:
            return number, _load(path)
        except FileNotFoundError:
            continue


def _load(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise StoreError(f"{path}: results file is unreadable ({exc.strerror or exc})") from exc
    try:
        loaded: dict[str, Any] = json.loads(text)
    except ValueError as exc:
        raise StoreError(f"{path}: results file is unreadable ({exc})") from exc
    return loaded
