"""The long, tidy metrics frame: one row per (slice, segment, metric).

Task modules describe each metric as a `MetricBlock` of arrays aligned with the per-segment
statistics frame; `assemble` turns the blocks into the output frame. A value that is undefined
(division by zero, one class, constant label) is null with a `reason`, never NaN or inf.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import polars as pl

NO_ROWS = "no labelled rows in segment"
UNDEFINED = "undefined for this segment"

OUTPUT_SCHEMA: dict[str, pl.DataType] = {
    "slice": pl.String(),
    "segment": pl.String(),
    "metric": pl.String(),
    "value": pl.Float64(),
    "ci_low": pl.Float64(),
    "ci_high": pl.Float64(),
    "ci_method": pl.String(),
    "n": pl.Int64(),
    "n_missing_label": pl.Int64(),
    "n_excluded": pl.Int64(),
    "support": pl.Int64(),
    "reason": pl.String(),
    "note": pl.String(),
}
COUNT_COLUMNS = ("n", "n_missing_label", "n_excluded")


@dataclass
class MetricBlock:
    """One metric for every segment: arrays aligned with the rows of the statistics frame.

    `reasons` are (mask, text) pairs; the first true mask explains a null value. `support` is the
    number of units the metric averages over (rows, predicted positives, positives, queries).
    """

    metric: str
    value: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    ci_method: str
    support: np.ndarray
    reasons: list[tuple[np.ndarray, str]] = field(default_factory=list)
    notes: np.ndarray | None = None


def column(stats: pl.DataFrame, name: str) -> np.ndarray:
    """A statistics column as float64 (nulls become 0: absent sums are empty sums)."""
    return stats.get_column(name).fill_null(0).cast(pl.Float64).to_numpy()


def explain(block: MetricBlock, n: np.ndarray) -> np.ndarray:
    """Reason per segment (object array of str or None): the first true mask wins."""
    checks = [(n <= 0, NO_ROWS), *block.reasons, (~np.isfinite(block.value), UNDEFINED)]
    masks = np.vstack([np.broadcast_to(np.asarray(m, dtype=bool), n.shape) for m, _ in checks])
    first = np.where(masks.any(axis=0), masks.argmax(axis=0), -1)
    texts = np.array([None, *(text for _, text in checks)], dtype=object)
    return texts[first + 1]


def block_frame(block: MetricBlock, n: np.ndarray) -> pl.DataFrame:
    """One block as rows of the output frame (without the slice/segment/count columns)."""
    reason = explain(block, n)
    defined = np.array([r is None for r in reason], dtype=bool)
    value = np.where(defined, block.value, np.nan)
    ci_defined = defined & np.isfinite(block.ci_low) & np.isfinite(block.ci_high)
    rows = len(n)
    notes = block.notes if block.notes is not None else np.full(rows, None, dtype=object)
    return pl.DataFrame(
        {
            "__row": np.arange(rows),
            "metric": [block.metric] * rows,
            "value": pl.Series(value, nan_to_null=True),
            "ci_low": pl.Series(np.where(ci_defined, block.ci_low, np.nan), nan_to_null=True),
            "ci_high": pl.Series(np.where(ci_defined, block.ci_high, np.nan), nan_to_null=True),
            "ci_method": [block.ci_method] * rows,
            "support": pl.Series(np.nan_to_num(block.support).astype(np.int64)),
            "reason": pl.Series(reason.tolist(), dtype=pl.String),
            "note": pl.Series(notes.tolist(), dtype=pl.String),
        }
    )


def assemble(stats: pl.DataFrame, blocks: Sequence[MetricBlock]) -> pl.DataFrame:
    """Long output frame ordered by slice, segment (as in `stats`), then metric order."""
    if not blocks or stats.height == 0:
        return pl.DataFrame(schema=OUTPUT_SCHEMA)
    n = column(stats, "n")
    ids = stats.select(
        pl.int_range(pl.len()).alias("__row"),
        "slice",
        "segment",
        *[pl.col(c).fill_null(0).cast(pl.Int64) for c in COUNT_COLUMNS],
    )
    long = pl.concat([block_frame(b, n) for b in blocks], how="vertical")
    order = {b.metric: i for i, b in enumerate(blocks)}
    return (
        long.join(ids, on="__row", how="left")
        .with_columns(pl.col("metric").replace_strict(order, return_dtype=pl.Int32).alias("__m"))
        .sort("__row", "__m")
        .select(list(OUTPUT_SCHEMA))
        .cast(pl.Schema(OUTPUT_SCHEMA))
    )
