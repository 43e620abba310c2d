"""Id queries in passes over hash buckets of the ids, so their hash tables stay bounded.

A query that counts, deduplicates or semi-joins ids holds a hash table of them (~75 bytes an
id): on one pass over a 20M-row batch that was 1.5-1.6 GiB, more than the rest of the ingest.
Split into passes that each keep the ids of one hash bucket, the same id falls in the same
bucket in every frame (a hash of its value), so the per-bucket answers combine exactly (sums
of counts, unions of sets) into the one-pass answer, while each pass holds at most about
`ID_PASS_ROWS` ids (or a caller's own bound). Used by the duplicate-id check (`lake.ingest`)
and the label index (`lake.labels`).
"""

from __future__ import annotations

import polars as pl

# Ids one pass holds at most: a 20M-row batch's duplicate check in one pass peaked at
# 1,643 MiB, above the write's 1,305 (599-615 MiB in 4 passes, at the same CPU).
ID_PASS_ROWS = 6_000_000


def id_passes(rows: int, per_pass: int | None = None) -> int:
    """Passes over `rows` ids that keep at most `per_pass` (default `ID_PASS_ROWS`) of them
    each (at least one)."""
    return -(-max(rows, 1) // (ID_PASS_ROWS if per_pass is None else per_pass))


def in_bucket(column: str, bucket: int, passes: int) -> pl.Expr:
    """The rows whose id in `column` falls in hash bucket `bucket` of `passes` (all of them
    when one pass does). A null id has a hash too: it falls in one bucket, as one value."""
    return pl.col(column).hash() % passes == bucket if passes > 1 else pl.lit(True)
