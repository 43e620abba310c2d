"""Where things live in a store: the only module that knows the lake's paths."""

from __future__ import annotations

from datetime import date
from pathlib import Path

PREDICTIONS = "predictions"
ACTUALS = "actuals"
RESULTS = "results"
LEDGER = "_ledger"
STAGING = "_staging"
MARKER = "evalctl-store.json"


def prediction_dir(model: str, version: str, env: str, day: date | str) -> str:
    """Relative partition folder of one model/version/env/date."""
    return f"{PREDICTIONS}/model={model}/version={version}/env={env}/date={day}"


def actuals_dir(model: str, day: date | str) -> str:
    """Relative partition folder of delayed ground truth."""
    return f"{ACTUALS}/model={model}/date={day}"


def results_dir(model: str, check: str, day: date | str) -> str:
    """Relative partition folder of monitor results."""
    return f"{RESULTS}/model={model}/check={check}/date={day}"


def part_name(batch: str, attempt: str, n: int) -> str:
    """A data file's name: the batch id, the ingest attempt that wrote it, its number."""
    return f"part-{batch}-{attempt}-{n:04d}.parquet"


def data_files(root: Path) -> list[Path]:
    """Every Parquet file below the data folders (committed or not)."""
    found: list[Path] = []
    for top in (PREDICTIONS, ACTUALS):
        base = root / top
        if base.is_dir():
            found.extend(sorted(base.rglob("*.parquet")))
    return found
