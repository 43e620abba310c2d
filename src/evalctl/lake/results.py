"""The monitor's results history: results/model=<m>/check=<check>/date=<D>/run-<id>.json.

One file per (model, check, window date) holds that run's results. Re-running a window writes
a new run file atomically and then removes the older runs of that window, so the history has
exactly one entry per window (idempotent) and is cheap to read back and chart.
"""

from __future__ import annotations

import json
import os
import uuid
from datetime import date
from pathlib import Path
from typing import Any

from evalctl.errors import StoreError
from evalctl.lake.layout import RESULTS, results_dir


def write_window(root: Path, model: str, check: str, day: date, payload: dict[str, Any],
                 run_id: str | None = None) -> Path:
    """Replace the stored results of one (model, check, window)."""
    folder = root / results_dir(model, check, day.isoformat())
    folder.mkdir(parents=True, exist_ok=True)
    run = run_id or uuid.uuid4().hex[:12]
    target = folder / f"run-{run}.json"
    temp = folder / f".run-{run}.json.tmp"
    temp.write_text(json.dumps(payload, sort_keys=True, default=str), encoding="utf-8")
    os.replace(temp, target)
    for old in folder.glob("run-*.json"):
        if old != target:
            old.unlink(missing_ok=True)
    return target


def read_window(root: Path, model: str, check: str, day: date) -> dict[str, Any] | None:
    """The stored results of one window, or None."""
    folder = root / results_dir(model, check, day.isoformat())
    runs = sorted(folder.glob("run-*.json"), key=lambda p: p.stat().st_mtime)
    return _load(runs[-1]) if runs else None


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
        runs = sorted(folder.glob("run-*.json"), key=lambda p: p.stat().st_mtime)
        if runs:
            out.append({"check": name, "date": day, **_load(runs[-1])})
    return sorted(out, key=lambda r: (r["date"], r["check"]))


def _load(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise StoreError(f"{path}: results file is unreadable ({exc})") from exc
