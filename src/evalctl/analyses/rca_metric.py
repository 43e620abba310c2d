"""The metric `evalctl rca` decomposes and that metric's per-row term (a mean over labelled
rows, so that segments add up exactly); its settings are `model.settings.rca`."""

from __future__ import annotations

import polars as pl

from evalctl.analyses.slices import error_expr
from evalctl.config import ModelConfig
from evalctl.errors import InputError
from evalctl.metrics.catalogue import needs_score

RCA_METRICS = {"binary_classification": ("accuracy", "brier", "log_loss"),
               "multiclass_classification": ("accuracy",), "regression": ("mae",)}


def rca_metric(model: ModelConfig, metric: str | None) -> str:
    """The decomposed metric: a mean over labelled rows, so that segments add up exactly."""
    valid = RCA_METRICS.get(model.task)
    if not valid:
        raise InputError(f"rca: {model.task} models are not supported (segment metrics must "
                         "be means over rows)")
    chosen = metric or ("mae" if model.task == "regression" else "accuracy")
    if chosen not in valid:
        raise InputError(f"--metric: rca decomposes metrics that are means over rows; for "
                         f"{model.task} use one of {', '.join(valid)} (got {chosen!r})")
    if needs_score(model.task, chosen) and not model.score:
        raise InputError(f"--metric {chosen}: model {model.name!r} has no score column")
    if not model.label:
        raise InputError(f"model {model.name!r} has no `label` column in the config")
    if not model.features:
        raise InputError(f"model {model.name!r} has no features to explain a change with")
    return chosen


def row_term(model: ModelConfig, metric: str) -> pl.Expr:
    """The per-row term whose mean is the metric (null where the row has no label)."""
    label = pl.col(model.label or "")
    if metric == "accuracy":
        return 1.0 - error_expr(model, None)
    if metric == "log_loss":
        return error_expr(model, "log_loss")
    if metric == "brier":
        return (pl.col(model.score or "") - label).cast(pl.Float64) ** 2
    return (pl.col(model.score or model.prediction or "") - label).cast(pl.Float64).abs()
