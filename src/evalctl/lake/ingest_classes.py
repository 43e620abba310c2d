"""Ingest rules of a multiclass model that declares its classes (`scores:`): labels and
predictions are among the classes, and each row's class probabilities sum to 1.

Run on each export's coerced rows before anything is written (one lazy query per export that
stops at the first offending row), so a refused export leaves the store as it was. Values the
column rules refuse on their own (a probability outside [0, 1], NaN) are left to them.
"""

from __future__ import annotations

import polars as pl

from evalctl.config import ModelConfig
from evalctl.errors import IngestError

SUM_TOLERANCE = 1e-3  # |sum of a row's probabilities - 1| allowed (rounded exports)
_ROW = "_row"


def check_classes(model: ModelConfig, path: str, frame: pl.LazyFrame, present: set[str],
                  label: str | None) -> None:
    """Refuse the export at `path` (its coerced rows `frame`) at its first row whose label or
    prediction is not a class, or whose probabilities do not sum to 1 (or are given for some
    classes only). `present`: the model's columns the export carries (canonical names);
    `label`: the label's canonical name (actuals may store it under another)."""
    if not model.scores:
        return
    classes = list(model.classes)
    checks: list[tuple[str, pl.Expr]] = []
    for name in (label, model.prediction):
        if name is not None and name in present:
            col = pl.col(name)
            checks.append((name, col.is_not_null() & ~col.is_in(classes)))
    probs = [pl.col(c) for c in model.scores.values() if c in present]
    if probs:
        given = pl.sum_horizontal([p.is_not_null().cast(pl.Int32) for p in probs])
        readable = pl.all_horizontal([p.is_between(0.0, 1.0) for p in probs])
        total = pl.sum_horizontal(probs)
        checks.append(("_partial", (given > 0) & (given < len(model.scores))))
        checks.append(("_sum", (given == len(model.scores)) & readable
                       & ((total - 1.0).abs() > SUM_TOLERANCE)))
    if not checks:
        return
    flags = [expr.fill_null(False).alias(f"_bad{i}") for i, (_, expr) in enumerate(checks)]
    shown = [pl.col(c) for c in dict.fromkeys(
        [*(n for n, _ in checks if not n.startswith("_")), *model.scores.values()])
        if c in present]
    try:
        found = (frame.with_row_index(_ROW, offset=1).select(pl.col(_ROW), *shown, *flags)
                 .filter(pl.any_horizontal([pl.col(f"_bad{i}") for i in range(len(checks))]))
                 .head(1).collect())
    except pl.exceptions.PolarsError:
        return  # a value no column rule reads: the write that follows explains it

    if found.height == 0:
        return
    row = found.row(0, named=True)
    for i, (name, _) in enumerate(checks):
        if row[f"_bad{i}"]:
            raise _refusal(model, path, name, row, classes)


def _refusal(model: ModelConfig, path: str, check: str, row: dict[str, object],
             classes: list[str]) -> IngestError:
    key = f"models.{model.name}.scores"
    at = f"row {row[_ROW]}"
    if check == "_partial":
        missing = [c for c in model.scores.values() if row.get(c) is None]
        return IngestError(f"{path}: column {missing[0]!r}: no probability where other "
                           f"classes have one ({at}); give every class's probability or none",
                           file=path, column=missing[0])
    if check == "_sum":
        total = sum(float(str(row[c])) for c in model.scores.values())
        names = ", ".join(model.scores.values())
        return IngestError(f"{path}: columns {names}: the class probabilities sum to "
                           f"{total:.6g}, not 1 ({at}; tolerance {SUM_TOLERANCE:g})",
                           file=path, column=next(iter(model.scores.values())))
    shown = ", ".join(classes)
    return IngestError(f"{path}: column {check!r}: {row[check]!r} is not one of the classes "
                       f"of {key} ({shown}) ({at})", file=path, column=check)
