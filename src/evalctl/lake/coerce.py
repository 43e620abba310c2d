"""Column roles and safe type coercion from an input schema to the lake's canonical schema.

Canonical types: id -> String; timestamp -> Datetime(us), naive UTC; numeric features, score,
proxies and regression/ranking labels -> Float64; categorical features, group and multiclass
labels/predictions -> String; binary labels/predictions -> Int8 in {0, 1}.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from evalctl.config import ModelConfig

NUMERIC = pl.Float64
TIMESTAMP = pl.Datetime("us")
_TRUE = ("true", "yes", "t", "y", "1", "1.0")
_FALSE = ("false", "no", "f", "n", "0", "0.0")
BAD_BINARY = -1  # sentinel written for a binary value outside {0, 1}; caught after the write


@dataclass(frozen=True)
class Column:
    """One column the model's config names: its role, target type and whether it must exist."""

    name: str
    role: str  # id | timestamp | feature | prediction | score | label | group | proxy
    target: str  # string | datetime | float | binary
    required: bool


def prediction_columns(model: ModelConfig, env: str, kinds: dict[str, str]) -> list[Column]:
    """The canonical column list of a prediction batch for ``env``."""
    outputs_required = env != "training"
    label_target = _label_target(model.task)
    cols = [Column(model.id, "id", "string", True),
            Column(model.timestamp, "timestamp", "datetime", True)]
    cols += [Column(f, "feature", "float" if kinds[f] == "numeric" else "string", True)
             for f in model.features]
    if model.score:
        cols.append(Column(model.score, "score", "float", outputs_required))
    if model.prediction:
        # A binary prediction can be derived from the score and the threshold.
        derivable = bool(model.score) and model.task == "binary_classification"
        cols.append(Column(model.prediction, "prediction", label_target,
                           outputs_required and not derivable))
    if model.label:
        cols.append(Column(model.label, "label", label_target, False))
    if model.group:
        cols.append(Column(model.group, "group", "string", True))
    cols += [Column(p, "proxy", "float", False) for p in model.proxies]
    return cols


def actuals_columns(model: ModelConfig) -> list[Column]:
    """Delayed ground truth: the id, the label and optionally when it arrived."""
    label = model.label or "label"
    return [Column(model.id, "id", "string", True),
            Column(label, "label", _label_target(model.task), True),
            Column(model.timestamp, "timestamp", "datetime", False)]


def stored_types(columns: list[Column], kinds: dict[str, str]) -> dict[str, str]:
    """Column -> the dtype (as the ledger writes it) that the config gives it now; features
    whose kind is not known yet (`auto`) are left out."""
    return {c.name: str(dtype_of(c.target)) for c in columns
            if not (c.role == "feature" and kinds.get(c.name) == "auto")}


def read_as(name: str, dtype: str) -> pl.Expr:
    """Read a column stored under another type as `dtype` (a config change since it was
    stored: a feature's kind, the task): numbers as text, or text parsed, unparseable null."""
    target = {str(t): t for t in (pl.String(), NUMERIC(), pl.Int8())}.get(dtype)
    if target is None:
        return pl.col(name)
    return pl.col(name).cast(target, strict=False)


def _label_target(task: str) -> str:
    return {"binary_classification": "binary", "multiclass_classification": "string"}.get(
        task, "float")


def dtype_of(target: str) -> pl.DataType:
    types: dict[str, pl.DataType] = {"string": pl.String(), "datetime": TIMESTAMP,
                                     "float": NUMERIC(), "binary": pl.Int8()}
    return types[target]


def coerce_expr(column: Column, source: pl.DataType | None) -> pl.Expr:
    """The strict expression turning the source column into its canonical type.

    Strict casts raise on values that cannot be converted, which aborts the streaming write;
    the caller then diagnoses which value was bad. Binary values outside {0, 1} become -1
    (checked from the written files' statistics).
    """
    target = dtype_of(column.target)
    if source is None:
        return pl.lit(None, dtype=target).alias(column.name)
    col = pl.col(column.name)
    if column.target == "datetime":
        expr = _to_datetime(col, source)
    elif column.target == "binary":
        expr = _to_binary(col, source)
    elif column.target == "float":
        expr = col.str.strip_chars().cast(NUMERIC, strict=True) if source == pl.String \
            else col.cast(NUMERIC, strict=True)
    else:
        expr = col.cast(pl.String, strict=True)
    return expr.alias(column.name)


def _to_datetime(col: pl.Expr, source: pl.DataType) -> pl.Expr:
    if source == pl.String:
        return col.str.strip_chars().str.to_datetime(strict=True, time_unit="us", time_zone="UTC") \
            .dt.replace_time_zone(None)
    if isinstance(source, pl.Datetime):
        if source.time_zone:
            col = col.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
        return col.cast(TIMESTAMP)
    if source == pl.Date:
        return col.cast(TIMESTAMP)
    return col.cast(TIMESTAMP, strict=True)  # refused by the caller before it gets here


def _to_binary(col: pl.Expr, source: pl.DataType) -> pl.Expr:
    if source == pl.String:
        text = col.str.strip_chars().str.to_lowercase()
        return (pl.when(text.is_null()).then(None)
                .when(text.is_in(_TRUE)).then(pl.lit(1, pl.Int8))
                .when(text.is_in(_FALSE)).then(pl.lit(0, pl.Int8))
                .otherwise(pl.lit(BAD_BINARY, pl.Int8)))
    value = col.cast(NUMERIC, strict=True)
    return (pl.when(value.is_null()).then(None)
            .when(value == 1).then(pl.lit(1, pl.Int8))
            .when(value == 0).then(pl.lit(0, pl.Int8))
            .otherwise(pl.lit(BAD_BINARY, pl.Int8)))


def refuse_reason(column: Column, source: pl.DataType) -> str | None:
    """Why a source dtype can never be coerced to the column's target (None when it may be)."""
    if column.target == "datetime" and not (source == pl.String or source == pl.Date
                                            or isinstance(source, pl.Datetime)):
        return f"expected a timestamp (ISO text, date or datetime), got {source}"
    if column.target in ("float", "binary") and not (source.is_numeric() or source == pl.String
                                                     or source == pl.Boolean or source == pl.Null):
        return f"expected numbers, got {source}"
    if column.target == "string" and isinstance(source, pl.List | pl.Struct | pl.Array):
        return f"expected scalar values, got {source}"
    return None


def diagnose(lf: pl.LazyFrame, column: Column, source: pl.DataType) -> str | None:
    """Find a sample value that the strict coercion refuses (failure path only)."""
    lenient = coerce_expr(column, source)
    probe = (lf.select(pl.col(column.name).alias("raw"), lenient.alias("ok"))
             .filter(pl.col("raw").is_not_null()))
    try:
        bad = probe.filter(pl.col("ok").is_null() | (pl.col("ok") == BAD_BINARY)
                           if column.target == "binary" else pl.col("ok").is_null()).head(1)
        found = bad.collect()
    except pl.exceptions.PolarsError:
        found = _diagnose_lenient(lf, column, source)
    if found is None or found.height == 0:
        return None
    return repr(found["raw"][0])


def _diagnose_lenient(lf: pl.LazyFrame, column: Column, source: pl.DataType) -> pl.DataFrame:
    col = pl.col(column.name)
    if column.target == "datetime":
        ok = col.cast(pl.String).str.strip_chars().str.to_datetime(strict=False, time_unit="us")
    elif column.target in ("float", "binary"):
        ok = col.cast(pl.String).str.strip_chars().cast(NUMERIC, strict=False)
    else:
        ok = col.cast(pl.String, strict=False)
    return (lf.select(col.alias("raw"), ok.alias("ok"))
            .filter(pl.col("raw").is_not_null() & pl.col("ok").is_null()).head(1).collect())
