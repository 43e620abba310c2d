"""`evalctl export`: write the examples behind a finding (for augmenting a training set).

The selection's rows - id, timestamp, features, prediction, score, group and label (inline or
from delayed actuals; null when still unknown) - filtered by `--where` (see `evalctl.where`),
`--segment` (a segment id printed by `slices --discover` or `rca`) and `--only-errors`, then
optionally sampled, are streamed (polars sink) to a temporary file beside the target and renamed
onto it, so a failure never leaves a partial file. The store is only read.

`--sample N` keeps the N rows with the smallest seeded hash of their id: deterministic for a
seed (and polars version) and independent of the order rows are read in; the sample is written
sorted by timestamp and id. Without sampling, rows are written in scan order.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from evalctl.analyses.common import side_inputs
from evalctl.analyses.rca_metric import row_term
from evalctl.config import ModelConfig
from evalctl.errors import InputError
from evalctl.lake.durable import fsync_dir, temp_path
from evalctl.lake.selectors import Selector
from evalctl.lake.store import Store
from evalctl.reports import Report
from evalctl.slicing import parse_slice_id, slice_expr
from evalctl.temporaries import temporary
from evalctl.where import parse_where

FORMATS = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv"}
ERROR_QUANTILE = 0.9  # regression --only-errors: the top decile of squared error
_HASH = "__sample_hash"


@dataclass(frozen=True)
class ExportOptions:
    """What to keep and where to write it."""

    out: Path
    where: str | None = None
    segment: str | None = None
    only_errors: bool = False
    sample: int | None = None
    seed: int = 0


def export_report(store: Store, model: ModelConfig, selector: Selector, options: ExportOptions
                  ) -> Report:
    """Write the matching rows to `options.out` (Parquet or CSV by extension); report them."""
    fmt = _check_target(store, options)
    selection = store.select(model.name, selector)
    lf = store.scan(model, selector, selection=selection)
    columns = [c for c in dict.fromkeys(export_columns(model)) if c in lf.collect_schema()]
    lf = lf.filter(row_filter(model, options))
    if options.only_errors:
        lf = lf.filter(errors_filter(model, lf))
    lf = lf.select(columns)
    if options.sample is not None:
        lf = (lf.with_columns(pl.col(model.id).hash(options.seed).alias(_HASH))
              .bottom_k(options.sample, by=[_HASH, model.id]).drop(_HASH)
              .sort([model.timestamp, model.id]))
    rows = write_atomically(lf, options.out, fmt)
    result: dict[str, Any] = {
        "file": str(options.out), "format": fmt, "rows": rows, "columns": columns,
        "where": options.where, "segment": options.segment, "only_errors": options.only_errors,
        "sample": options.sample, "seed": options.seed if options.sample is not None else None,
        "status": "pass" if rows else "warn"}
    recs = [f"wrote {rows:,} rows to {options.out}"] if rows else [
        f"no row of {selector.text} matched: {options.out} holds only the header / schema"]
    return Report(command="export", model=model.name, status=result["status"],
                  inputs={"selection": side_inputs(selection)},
                  results=[result], summary={"rows": rows, "file": str(options.out)},
                  recommendations=recs)


def _check_target(store: Store, options: ExportOptions) -> str:
    fmt = FORMATS.get(options.out.suffix.lower())
    if fmt is None:
        raise InputError(f"--out {options.out}: expected a .parquet or .csv file name")
    target = options.out.resolve()
    root = store.root.resolve() if store.is_local else None  # an s3:// store is elsewhere
    if root is not None and (target == root or root in target.parents):
        raise InputError(f"--out {options.out}: is inside the store {store.root}; evalctl never "
                         "writes into the store — choose another folder")
    if options.out.is_dir():
        raise InputError(f"--out {options.out}: is a directory")
    if options.sample is not None and options.sample < 1:
        raise InputError(f"--sample: expected a positive number of rows, got {options.sample}")
    return fmt


def export_columns(model: ModelConfig) -> list[str]:
    """id, timestamp, features, then the model's outputs, group and label."""
    roles = (model.prediction, model.score, model.group, model.label)
    return [model.id, model.timestamp, *model.features, *(c for c in roles if c)]


def where_columns(model: ModelConfig) -> dict[str, str]:
    """The columns `--where` may name, with the kind they compare as."""
    outcome = "categorical" if model.task == "multiclass_classification" else "numeric"
    kinds = {model.id: "categorical", **model.features}
    kinds |= {c: outcome for c in (model.prediction, model.label) if c}
    kinds |= {c: "numeric" for c in (model.score, *model.proxies) if c}
    if model.group:
        kinds[model.group] = "categorical"
    return kinds


def row_filter(model: ModelConfig, options: ExportOptions) -> pl.Expr:
    """`--where` and `--segment` as one boolean expression (all rows when neither is given)."""

    parts = [pl.lit(True)]
    if options.where is not None:
        parts.append(parse_where(options.where, where_columns(model)))
    if options.segment is not None:
        parts.append(slice_expr(parse_slice_id(options.segment.strip(), model.features)))
    return pl.all_horizontal(parts)


def errors_filter(model: ModelConfig, lf: pl.LazyFrame) -> pl.Expr:
    """Misclassified rows (classification) or the top decile of squared error (regression,
    the cut-off computed over the rows that passed the other filters); unlabelled rows never
    match."""

    if not model.label:
        raise InputError(f"--only-errors: model {model.name!r} has no label column")
    if model.task == "ranking":
        raise InputError("--only-errors is not available for ranking models")
    if model.task != "regression":
        if model.task == "binary_classification" and not (model.prediction or model.score):
            raise InputError("--only-errors needs a prediction or a score column")
        return (row_term(model, "accuracy") == 0.0).fill_null(False)
    predicted = pl.col(model.score or model.prediction or "")
    error = ((predicted - pl.col(model.label)) ** 2).cast(pl.Float64)
    cutoff = lf.select(error.quantile(ERROR_QUANTILE, "lower")).collect().item()
    if cutoff is None:
        return pl.lit(False)
    return (error >= cutoff).fill_null(False)


def write_atomically(lf: pl.LazyFrame, out: Path, fmt: str) -> int:
    """Stream `lf` to a uniquely named hidden temporary file beside `out`, flush it to disk,
    rename it onto `out` and flush the folder; return its rows. The temporary file is removed
    on any failure or interruption (a SIGKILL can leave one: `.<name>.<random>.tmp`, never
    read, never reused)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    temp = temp_path(out)
    with temporary(temp):  # removed even when a signal ends the process
        try:
            if fmt == "parquet":
                lf.sink_parquet(temp, sync_on_close="all")
                rows = pl.scan_parquet(temp).select(pl.len()).collect().item()
            else:
                lf.sink_csv(temp, sync_on_close="all")
                rows = pl.scan_csv(temp).select(pl.len()).collect().item()
            os.replace(temp, out)
            fsync_dir(out.parent)
        except OSError as exc:
            raise InputError(f"--out {out}: cannot write ({exc.strerror or exc})") from exc
        finally:
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()
    return int(rows)
