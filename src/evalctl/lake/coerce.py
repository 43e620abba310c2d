"""Column roles and safe type coercion from an input schema to the lake's canonical schema.

Canonical types: id -> String; timestamp -> Datetime(us), naive UTC; numeric features, score,
proxies and regression/ranking labels -> Float64; categorical features, group and multiclass
labels/predictions -> String; binary labels/predictions -> Int8 in {0, 1}.

How values are read follows the model's config (`ReadRules`): text null tokens, the timestamp
format or epoch unit, the plausible years, whether the score is a probability and which text
label is the positive class. Values a rule refuses either fail a strict cast (aborting the
write) or are written as a sentinel the staged files' statistics reveal; either way `diagnose`
then finds the first offending row of the export for the message.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from evalctl.config import NULL_VALUES, PLAUSIBLE_YEARS, ModelConfig
from evalctl.lake import timestamps
from evalctl.lake.timestamps import TIMESTAMP

NUMERIC = pl.Float64
_TRUE = ("true", "yes", "t", "y", "1", "1.0")
_FALSE = ("false", "no", "f", "n", "0", "0.0")
BAD_BINARY = -1  # sentinel written for a binary value outside {0, 1}; caught after the write
BAD_NUMBER = float("inf")  # written for a NaN, infinite or out-of-range output; caught after


@dataclass(frozen=True)
class ReadRules:
    """How a model's exports are read (its config keys; `key` is the config path)."""

    key: str = "models.?"
    null_values: tuple[str, ...] = NULL_VALUES
    timestamp_format: str | None = None
    timestamp_unit: str | None = None
    years: tuple[int, int] = PLAUSIBLE_YEARS
    probability: bool = False  # the score must lie in [0, 1]
    positive_label: str | None = None
    negative_label: str | None = None


def read_rules(model: ModelConfig) -> ReadRules:
    return ReadRules(
        key=f"models.{model.name}", null_values=model.null_values,
        timestamp_format=model.timestamp_format, timestamp_unit=model.timestamp_unit,
        years=model.timestamp_years, probability=model.score_scale == "probability",
        positive_label=model.positive_label, negative_label=model.negative_label)


@dataclass(frozen=True)
class Column:
    """One column the model's config names: its role, target type and whether it must exist."""

    name: str
    role: str  # id | timestamp | feature | prediction | score | label | group | proxy
    target: str  # string | datetime | float | binary
    required: bool
    rules: ReadRules = ReadRules()
    source: str | None = None  # the export's column, when it is named otherwise (actuals)

    @property
    def input_name(self) -> str:
        return self.source or self.name

    @property
    def finite(self) -> bool:
        """Model outputs and numeric labels must be finite numbers (features may be NaN)."""
        return self.target == "float" and self.role in ("score", "prediction", "label")

    @property
    def bounded(self) -> bool:
        """A probability score must lie in [0, 1]."""
        return self.role == "score" and self.rules.probability


def prediction_columns(model: ModelConfig, env: str, kinds: dict[str, str]) -> list[Column]:
    """The canonical column list of a prediction batch for ``env``."""
    outputs_required = env != "training"
    label_target = _label_target(model.task)
    rules = read_rules(model)
    cols = [Column(model.id, "id", "string", True, rules),
            Column(model.timestamp, "timestamp", "datetime", True, rules)]
    cols += [Column(f, "feature", "float" if kinds[f] == "numeric" else "string", True, rules)
             for f in model.features]
    if model.score:
        cols.append(Column(model.score, "score", "float", outputs_required, rules))
    cols += [Column(c, "score", "float", outputs_required, rules) for c in model.scores.values()]
    if model.prediction:
        # A binary prediction can be derived from the score and the threshold.
        derivable = bool(model.score) and model.task == "binary_classification"
        cols.append(Column(model.prediction, "prediction", label_target,
                           outputs_required and not derivable, rules))
    if model.label:
        cols.append(Column(model.label, "label", label_target, False, rules))
    if model.group:
        cols.append(Column(model.group, "group", "string", True, rules))
    cols += [Column(p, "proxy", "float", False, rules) for p in model.proxies]
    return cols


def actuals_columns(model: ModelConfig) -> list[Column]:
    """Delayed ground truth: the id, the label and optionally when it arrived (from the
    column `actuals.timestamp` names, then required; stored under the model's timestamp)."""
    label = model.label or "label"
    rules = read_rules(model)
    return [Column(model.id, "id", "string", True, rules),
            Column(label, "label", _label_target(model.task), True, rules),
            Column(model.timestamp, "timestamp", "datetime", model.actuals_timestamp is not None,
                   rules, source=model.actuals_timestamp)]


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


def coerce_expr(column: Column, source: pl.DataType | None, *, first: str | None = None,
                strict: bool = True, sentinels: bool = True) -> pl.Expr:
    """The expression turning the source column into its canonical type.

    Strict casts raise on values that cannot be converted, which aborts the streaming write;
    the caller then diagnoses which value was bad (`strict=False` reads them as null).
    Binary values outside {0, 1} become -1 and refused outputs (NaN, infinite, a probability
    outside [0, 1]) +inf (``sentinels=False`` keeps them): both are checked from the written
    files' statistics, as timestamps outside the plausible years are.
    ``first``: the export's first timestamp text, whose ISO form the others must share.
    """
    target = dtype_of(column.target)
    if source is None:
        return pl.lit(None, dtype=target).alias(column.name)
    col = pl.col(column.input_name)
    text = _text(col, column.rules) if source == pl.String else None
    if column.target == "datetime":
        expr = _to_datetime(col if text is None else text, source, column.rules, first,
                            strict)
    elif column.target == "binary":
        expr = _to_binary(col if text is None else text, source, column.rules, strict)
    elif column.target == "float":
        expr = (col if text is None else text).cast(NUMERIC, strict=strict)
        if column.finite and sentinels:
            expr = _refuse_numbers(expr, column.bounded)
    else:
        kept = col if text is None else pl.when(text.is_null()).then(None).otherwise(col)
        expr = kept.cast(pl.String, strict=strict)
    return expr.alias(column.name)


def _text(col: pl.Expr, rules: ReadRules) -> pl.Expr:
    """Trimmed text, null where it is one of the model's null tokens."""
    trimmed = col.str.strip_chars()
    return pl.when(trimmed.is_in(rules.null_values)).then(None).otherwise(trimmed)


def _refuse_numbers(value: pl.Expr, bounded: bool) -> pl.Expr:
    ok = value.is_finite() & value.is_between(0.0, 1.0) if bounded else value.is_finite()
    return pl.when(value.is_null() | ok).then(value).otherwise(pl.lit(BAD_NUMBER))


def _to_datetime(col: pl.Expr, source: pl.DataType, rules: ReadRules, first: str | None,
                 strict: bool) -> pl.Expr:
    if isinstance(source, pl.Datetime):
        if source.time_zone:
            col = col.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
        return col.cast(TIMESTAMP)
    if source == pl.Date:
        return col.cast(TIMESTAMP)
    if rules.timestamp_unit is not None:
        return timestamps.from_epoch(col, rules.timestamp_unit, strict=strict)
    if source == pl.String:
        return timestamps.parse_text(col, fmt=rules.timestamp_format, first=first,
                                     strict=strict)
    return col.cast(TIMESTAMP, strict=True)  # refused by the caller before it gets here


def _to_binary(col: pl.Expr, source: pl.DataType, rules: ReadRules, strict: bool) -> pl.Expr:
    if source == pl.String:
        lower = col.str.to_lowercase()
        cases = [(col == rules.positive_label, 1)] if rules.positive_label is not None else []
        cases += [(col == rules.negative_label, 0)] if rules.negative_label is not None else []
        cases += [(lower.is_in(_TRUE), 1), (lower.is_in(_FALSE), 0),
                  (col.cast(NUMERIC, strict=False).is_not_null(), BAD_BINARY)]  # 2, -1 ...
        # positive_label alone: every other (non-numeric) text value is the negative class
        other = 0 if rules.positive_label is not None and rules.negative_label is None \
            else BAD_BINARY
        expr = pl.lit(other, pl.Int8)
        for matches, code in reversed(cases):
            expr = pl.when(matches).then(pl.lit(code, pl.Int8)).otherwise(expr)
        return pl.when(col.is_null()).then(None).otherwise(expr)
    value = col.cast(NUMERIC, strict=strict)
    return (pl.when(value.is_null()).then(None)
            .when(value == 1).then(pl.lit(1, pl.Int8))
            .when(value == 0).then(pl.lit(0, pl.Int8))
            .otherwise(pl.lit(BAD_BINARY, pl.Int8)))


def refuse_reason(column: Column, source: pl.DataType) -> str | None:
    """Why a source dtype can never be coerced to the column's target (None when it may be)."""
    if column.target == "datetime":
        epochs = column.rules.timestamp_unit is not None and source.is_numeric()
        if not (epochs or source == pl.String or source == pl.Date
                or isinstance(source, pl.Datetime)):
            hint = (f"; for numeric epochs set {column.rules.key}.timestamp_unit: s|ms|us"
                    if source.is_numeric() else "")
            return f"expected a timestamp (ISO text, date or datetime), got {source}{hint}"
    if column.target in ("float", "binary") and not (source.is_numeric() or source == pl.String
                                                     or source == pl.Boolean or source == pl.Null):
        return f"expected numbers, got {source}"
    if column.target == "string" and isinstance(source, pl.List | pl.Struct | pl.Array):
        return f"expected scalar values, got {source}"
    return None


def first_text(lf: pl.LazyFrame, column: Column, source: pl.DataType) -> str | None:
    """The export's first timestamp text (the others must share its ISO form)."""
    if source != pl.String or column.rules.timestamp_format or column.rules.timestamp_unit:
        return None
    text = _text(pl.col(column.input_name), column.rules)
    try:
        first = lf.select(text.alias("t")).drop_nulls().head(1).collect()
    except pl.exceptions.PolarsError:
        return None  # unreadable exports are explained by the caller
    return str(first["t"][0]) if first.height else None


def diagnose(lf: pl.LazyFrame, column: Column, source: pl.DataType,
             first: str | None = None) -> str | None:
    """Why the column's first refused value was refused, naming its row (failure path only;
    None when every value reads, or when the export itself cannot be read)."""
    raw = pl.col(column.input_name)
    present = raw.is_not_null() if source != pl.String \
        else _text(raw, column.rules).is_not_null()
    value = coerce_expr(column, source, first=first, strict=False, sentinels=False)
    probe = (lf.with_row_index("_row", offset=1)
             .select("_row", raw.alias("raw"), value.alias("ok"), present.alias("present"))
             .filter(pl.col("present") & _refused(column, pl.col("ok"))).head(1)
             .with_columns(_shown(column, pl.col("ok"))))
    try:
        found = probe.collect()
    except pl.exceptions.PolarsError:
        return None
    if found.height == 0:
        return None
    row, bad, ok = int(found["_row"][0]), found["raw"][0], found["ok"][0]
    if column.target == "datetime":
        rules = column.rules
        return timestamps.explain(bad, ok, row=row, key=rules.key, fmt=rules.timestamp_format,
                                  unit=rules.timestamp_unit, first=first, years=rules.years)
    return _describe(column, bad, ok, row)


def _shown(column: Column, ok: pl.Expr) -> pl.Expr:
    """The read value as text for the message (year 57000 is no Python datetime)."""
    if column.target == "datetime":
        return ok.dt.to_string("%Y-%m-%d %H:%M:%S")
    return ok.cast(pl.String)


def _refused(column: Column, ok: pl.Expr) -> pl.Expr:
    if column.target == "binary":
        return ok.is_null() | (ok == BAD_BINARY)
    if column.target == "datetime":
        return ok.is_null() | ~ok.dt.year().is_between(*column.rules.years)
    if column.finite:
        bad = ~ok.is_finite()
        return ok.is_null() | (bad | ~ok.is_between(0.0, 1.0) if column.bounded else bad)
    return ok.is_null()


def _describe(column: Column, raw: object, ok: object, row: int) -> str:
    where = f"row {row}"
    if column.target == "binary":
        hint = (f"; for text labels set {column.rules.key}.positive_label"
                if isinstance(raw, str) and column.rules.positive_label is None else "")
        return f"expected 0/1 values, got {raw!r} ({column.role}, {where}){hint}"
    if ok is None:
        return f"cannot read {raw!r} as {column.target} ({column.role}, {where})"
    number = float(str(raw).strip())
    if number != number or number in (float("inf"), float("-inf")):
        return f"{column.role} {raw!r} is not a finite number ({where})"
    return (f"{column.role} {raw!r} is outside [0, 1] ({where}); set "
            f"{column.rules.key}.score_scale: unbounded if the score is not a probability")
