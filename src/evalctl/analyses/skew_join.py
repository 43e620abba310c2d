"""`skew --join-key` on selections too large to join at once: a grace hash join.

Up to `JOIN_ROWS` rows (both sides) the join is one query (`transform_skew`). Above, each
side's id and feature columns are written once to a temporary folder, hash-partitioned by id
into buckets of about `BUCKET_ROWS` rows (one streaming sink reading the side's data file
parts one after another, with a row group per bucket capped so that the buffers of all
buckets hold `SPILL_BUFFER_ROWS` rows),
and the buckets are joined one after another (`bucketed_transform_skew`): the same id lands
in the same bucket on both sides, so the buckets' joins are the join, and memory is one
bucket's, whatever the selections' size. The folder is removed when the comparison ends.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import polars as pl

from evalctl.checks import join_on_id, transform_skew
from evalctl.checks.transform_skew import bucketed_transform_skew

JOIN_ROWS = 2_000_000  # both sides' rows up to which one query joins them
BUCKET_ROWS = 1_000_000  # both sides' rows a bucket holds, about
SPILL_CHUNK_ROWS = 10_000  # the partitioned sink's morsels (as ingest's)
# rows the partitioned sink buffers across its open buckets (each writes a row group of its
# share): without a cap each bucket buffers a default row group, so memory grew with buckets
SPILL_BUFFER_ROWS = 1_000_000
BUCKET = "_bucket"


def join_skew(reference: pl.LazyFrame, current: pl.LazyFrame, key: str,
              features: dict[str, str], rows: int,
              parts: Callable[[], tuple[list[pl.LazyFrame], list[pl.LazyFrame]]]
              ) -> list[dict[str, Any]]:
    """`transform_skew` of the two sides joined on `key` (`rows`: both sides' rows;
    `parts()`: each side file by file, `evalctl.profiles.parts.file_scans`, which the
    spill reads one after another)."""
    if rows <= JOIN_ROWS:
        return transform_skew(join_on_id(reference, current, key, list(features)), features,
                              id_column=key)
    buckets = -(-rows // BUCKET_ROWS)
    ref_parts, cur_parts = parts()
    with tempfile.TemporaryDirectory(prefix="evalctl-join-") as folder:
        ref = _spill(ref_parts, key, features, buckets, Path(folder) / "reference")
        cur = _spill(cur_parts, key, features, buckets, Path(folder) / "current")
        shared = sorted(set(ref) & set(cur))

        def joins() -> Iterator[pl.LazyFrame]:
            for bucket in shared:
                yield join_on_id(pl.scan_parquet(ref[bucket]), pl.scan_parquet(cur[bucket]),
                                 key, list(features))

        return bucketed_transform_skew(joins, features, id_column=key)


def _spill(parts: list[pl.LazyFrame], key: str, features: dict[str, str], buckets: int,
           folder: Path) -> dict[int, list[Path]]:
    """Write the id and feature columns of `parts` (one side) to `folder`, partitioned by the
    id's hash into `buckets` buckets; the files of each bucket that holds rows.

    One streaming sink reads the parts one after another (`pl.concat` without parallelism):
    a sink has no consumer to run ahead of, so its memory stays its buffers, and each bucket
    is one file per side. A sink per part (as before 2026-12-04) made a bucket of one file
    per part — 163 files per side at 20M rows — and the bucket's join then read them all at
    once: peak RSS 918 MiB at 20M rows per side against 740-818 at 5M (1.12-1.24x); one sink:
    835 against 796-814 (1.03-1.05x), and 177 s of CPU at 20M instead of 218."""
    if not parts:
        return {}
    part = pl.concat(parts, how="vertical", parallel=False) if len(parts) > 1 else parts[0]
    schema = part.collect_schema()
    columns = [c for c in (key, *features) if c in schema]
    bucket = (pl.col(key).hash(seed=0) % buckets).cast(pl.Int64).alias(BUCKET)
    with pl.Config(streaming_chunk_size=SPILL_CHUNK_ROWS):
        part.select(*columns, bucket).sink_parquet(
            pl.PartitionBy(folder, key=BUCKET, include_key=False), compression="lz4",
            row_group_size=max(SPILL_CHUNK_ROWS, SPILL_BUFFER_ROWS // buckets), mkdir=True)
    found: dict[int, list[Path]] = {}
    for path in sorted(folder.rglob("*.parquet")):
        found.setdefault(int(path.parent.name.partition("=")[2]), []).append(path)
    return found
