"""Profile data files: one streamed scan per file, every column at once, per time bucket.

The scan is `Store.scan` of that one file (the same reading rules as every report: types the
config changed since are read as the config says) and the counting is `summarize`'s, so a
profile holds exactly the counts the scan path would; only the order in which floats are
added differs. Columns the file lacks are counted as nulls (as a scan of several files does)
and marked not present.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import polars as pl

from evalctl import progress
from evalctl.config import ModelConfig
from evalctl.lake.durable import fsync_tree
from evalctl.lake.layout import profile_path
from evalctl.lake.ledger import FileEntry
from evalctl.lake.profiled import ProfileEntry, profiles_extra
from evalctl.lake.readers import file_sha256
from evalctl.lake.selectors import Selector
from evalctl.lake.store import Selection, Store
from evalctl.profiles.format import UNSEEN_KEPT, profile_table
from evalctl.profiles.reference import Reference, current_reference, staleness
from evalctl.stats import summarize
from evalctl.stats.binning import Binning

_TRUNCATE = {"1d": "1d", "1h": "1h"}


def profile_file(store: Store, model: ModelConfig, reference: Reference, version: str,
                 env: str, entry: FileEntry) -> pl.DataFrame:
    """The profile table of one (moved or committed) prediction file."""
    return profile_on(store, model, reference.binning, reference.granularity, version, env,
                      entry)


def profile_on(store: Store, model: ModelConfig, binning: Binning, granularity: str,
               version: str, env: str, entry: FileEntry) -> pl.DataFrame:
    """The profile table of one prediction file on any binning (`profile_file` on the frozen
    reference's; the Spark engine's scan path on the bins it fitted for one report)."""
    selector = Selector(text=env, env=env)
    selection = Selection(selector, ((version, env, entry),))
    lf = store.scan(model, selector, with_actuals=False, selection=selection)
    schema = lf.collect_schema()
    present = [f for f in binning.kinds if f in schema]
    missing = [pl.lit(None, dtype=pl.Float64 if kind == "numeric" else pl.String).alias(f)
               for f, kind in binning.kinds.items() if f not in schema]
    if missing:
        lf = lf.with_columns(missing)
    bucket = pl.col(model.timestamp).dt.truncate(_TRUNCATE[granularity])
    by_bucket = summarize(lf, binning, by=bucket, unseen_names=UNSEEN_KEPT)
    return profile_table(by_bucket, present)


def profile_bytes(table: pl.DataFrame) -> bytes:
    """A profile table as the zstd Parquet file `write_profiles` stores (the same bytes)."""
    buffer = io.BytesIO()
    table.write_parquet(buffer, compression="zstd")
    return buffer.getvalue()


def write_profiles(store: Store, model: ModelConfig, reference: Reference, version: str,
                   env: str, entries: list[FileEntry], staging: Path,
                   computed: Mapping[str, bytes] | None = None
                   ) -> tuple[list[ProfileEntry], list[Path | str]]:
    """Profile `entries` (one scan each), write each profile in `staging`, then rename them to
    their place (folders flushed; on object storage: upload them). Returns the entries and
    the paths moved into place (the keys uploaded).

    `computed`: profiles already computed elsewhere (the Spark engine), as the Parquet bytes
    `profile_bytes` makes, by data file; those are written as they are."""
    profiled: list[ProfileEntry] = []
    moved: list[Path | str] = []
    staging.mkdir(parents=True, exist_ok=True)
    for n, entry in enumerate(entries):
        temp = staging / f"profile-{n:04d}.parquet"
        if computed is not None and entry.path in computed:
            temp.write_bytes(computed[entry.path])
        else:
            table = profile_file(store, model, reference, version, env, entry)
            table.write_parquet(temp, compression="zstd")
        with open(temp, "rb") as handle:  # durable before it is named in a commit
            os.fsync(handle.fileno())
        relative = profile_path(entry.path, model.name, reference.hash)
        if not store.is_local:
            profiled.append(ProfileEntry(data=entry.path, path=relative,
                                         bytes=temp.stat().st_size, sha256=file_sha256(temp)))
            moved.append(relative)
            store.storage.publish([(temp, relative)])
            progress.advance()
            continue
        target = store.root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        temp.rename(target)
        moved.append(target)
        profiled.append(ProfileEntry(data=entry.path, path=relative,
                                     bytes=target.stat().st_size, sha256=file_sha256(target)))
        progress.advance()
    if store.is_local:
        fsync_tree(store.root, [m for m in moved if isinstance(m, Path)])
    return profiled, moved


def profile_batch(store: Store, model: ModelConfig, version: str, env: str,
                  entries: list[FileEntry], staging: Path
                  ) -> tuple[dict[str, Any] | None, list[Path | str]]:
    """Ingest's hook, before its commit: profile the batch's moved files on the model's
    current reference. Returns the ledger record's ``extra.profiles`` and the profile files
    moved into place; (None, []) when the model has no current reference (none configured,
    none fitted yet, or stale: `profiles build` then fits it and profiles what is stored)."""
    if model.profiles.reference is None:
        return None, []
    reference = current_reference(store.storage, model.name)
    if reference is None or staleness(reference, model) is not None:
        return None, []
    progress.phase(f"profiling {len(entries)} file(s) on reference {reference.hash}",
                   total=len(entries))
    profiled, moved = write_profiles(store, model, reference, version, env, entries, staging)
    return profiles_extra(reference.hash, profiled), moved
