"""Where things live in a store: the only module that knows the lake's paths."""

from __future__ import annotations

import os
import re
from datetime import date, timedelta
from pathlib import Path

from evalctl.errors import InputError

PREDICTIONS = "predictions"
ACTUALS = "actuals"
RESULTS = "results"
LEDGER = "_ledger"
STAGING = "_staging"
MARKER = "evalctl-store.json"

# Rows of a row group of the data files ingest writes. Polars' partitioned sink holds the open
# row group of every date's file until it is full, so ingest's memory is this times the dates
# an export spans: at polars' default (122,880 rows) 30 dates held up to ~3.7M rows, and the
# write's peak grew with the export. A quarter of it holds at most ~0.9M rows (ingest's peak:
# 1.0 -> 0.7 GiB at 5M rows, 1.7 -> 0.9 GiB at 20M) at the same CPU, writing and reading.
# The scan path's parts (`profiles.parts.PART_ROWS`) are whole row groups of it.
ROW_GROUP_ROWS = 30_720

# Files a tombstone or an abandoned ingest left behind are deleted only once they are older
# than this (as Delta Lake's VACUUM): a reader that listed them just before the commit, or a
# writer still staging them, is not cut off. `EVALCTL_GRACE` (e.g. `0s`, `2h`, `7d`) overrides.
GRACE = timedelta(days=7)
GRACE_ENV = "EVALCTL_GRACE"
_DURATION = re.compile(r"^\s*(\d+)\s*([smhd])\s*$")
_UNIT = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_duration(text: str) -> timedelta | None:
    """`30s`, `15m`, `2h`, `400d` as a timedelta; None when ``text`` is not one."""
    match = _DURATION.match(text)
    if match is None:
        return None
    return timedelta(**{_UNIT[match.group(2)]: int(match.group(1))})


def env_duration(name: str, default: timedelta, examples: str) -> timedelta:
    """The duration in environment variable `name`, `default` when it is unset or blank; any
    other value that is not a duration is an InputError naming the variable."""
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    value = parse_duration(raw)
    if value is None:
        raise InputError(f"{name}: expected a duration such as {examples}, got {raw!r}")
    return value


def grace_period() -> timedelta:
    """The garbage-collection grace period: `EVALCTL_GRACE` when set, else ``GRACE``."""
    return env_duration(GRACE_ENV, GRACE, "0s, 2h or 7d")


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


def data_files(root: Path, pattern: str = "*.parquet") -> list[Path]:
    """Every Parquet file (or every entry matching ``pattern``) below the data folders,
    committed or not; symlinked folders are not entered."""
    found: list[Path] = []
    for top in (PREDICTIONS, ACTUALS):
        base = root / top
        if base.is_dir() and not base.is_symlink():
            found.extend(sorted(base.rglob(pattern)))
    return found


# -- profiles (README: "Profiles") -----------------------------------------------------------
PROFILES = "profiles"


def profiles_dir(model: str) -> str:
    """Relative folder of one model's references and profiles."""
    return f"{PROFILES}/model={model}"


def reference_file(model: str, reference: str) -> str:
    """A fitted monitoring reference, named by its content hash."""
    return f"{profiles_dir(model)}/reference-{reference}.json"


def current_reference_file(model: str) -> str:
    """The pointer to the model's current reference (its hash)."""
    return f"{profiles_dir(model)}/reference.json"


def profile_path(data_path: str, model: str, reference: str) -> str:
    """A data file's profile on a reference: the data file's path below the model's
    ``predictions/model=<m>/`` folder, under ``profiles/model=<m>/ref=<hash>/``."""
    prefix = f"{PREDICTIONS}/model={model}/"
    if not data_path.startswith(prefix):
        raise ValueError(f"{data_path}: not a prediction file of model {model!r}")
    return f"{profiles_dir(model)}/ref={reference}/{data_path[len(prefix):]}"


def profile_record_file(model: str, reference: str, batch: str, generation: int) -> str:
    """The record that `profiles build` publishes for one batch generation's profiles."""
    return f"{profiles_dir(model)}/ref={reference}/_records/{batch}.{generation}.json"


MERGED_PREFIX = "reference-"  # profiles/model=<m>/ref=<hash>/reference-<digest>.parquet


def merged_profile_file(model: str, reference: str, digest: str) -> str:
    """The merged profile of a reference's file profiles (`digest`: of those profiles)."""
    return f"{profiles_dir(model)}/ref={reference}/{MERGED_PREFIX}{digest}.parquet"


def merged_profile_files(root: Path, model: str = "*") -> list[Path]:
    """The merged reference profiles of a model (every model: ``*``) and the temporary files
    of interrupted writes of one (symlinked folders are not entered)."""
    base = root / PROFILES
    if not base.is_dir() or base.is_symlink():
        return []
    found = []
    for folder in sorted(base.glob(f"model={model}")):
        if folder.is_symlink() or not folder.is_dir():
            continue
        found += sorted(p for p in folder.glob(f"ref=*/{MERGED_PREFIX}*.parquet")
                        if p.is_file() and not p.is_symlink())
        temps = folder.glob(f"ref=*/.{MERGED_PREFIX}*.tmp")  # durable's TEMP_SUFFIX
        found += sorted(p for p in temps if p.is_file())
    return found


def profile_files(root: Path) -> list[Path]:
    """Every profile Parquet file below ``profiles/``, committed or not (symlinked folders
    are not entered)."""
    base = root / PROFILES
    if not base.is_dir() or base.is_symlink():
        return []
    return sorted(base.rglob("*.parquet"))
