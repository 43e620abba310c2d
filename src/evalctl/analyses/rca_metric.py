"""The metric `evalctl rca` decomposes and that metric's per-row term (a mean over labelled
rows, so that segments add up exactly); its settings are `model.settings.rca`."""

from __future__ import annotations

import polars as pl

from evalctl.config import ModelConfig
from evalctl.errors import InputError
from evalctl.metrics.catalogue import BY_TASK, DEFAULT_METRIC, decomposable_metrics, needs_score


def rca_metric(model: ModelConfig, metric: str | None) -> str:
    """The decomposed metric: a mean over labelled rows, so that segments add up exactly."""
    valid = decomposable_metrics(model.task)
    if not valid:
        raise InputError(f"rca: {model.task} models are not supported (segment metrics must "
                         "be means over rows)")
    default = DEFAULT_METRIC.get(model.task)
    chosen = metric or (default if default in valid else valid[0])
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
    """The per-row term whose mean is the metric (null where the row has no label): the
    catalogue's `row_term` of the metric, given the score for score metrics and otherwise the
    predicted value (a binary model without a prediction column predicts score >= threshold)."""
    term = BY_TASK[model.task][metric].row_term
    if term is None:  # rca_metric admits only decomposable metrics, which all have a term
        raise InputError(f"--metric {metric}: not a mean over rows")
    label = pl.col(model.label or "")
    if needs_score(model.task, metric):
        predicted = pl.col(model.score or "")
    elif model.task == "regression":
        predicted = pl.col(model.score or model.prediction or "")
    elif model.prediction:
        predicted = pl.col(model.prediction)
    else:
        predicted = (pl.col(model.score or "") >= model.threshold).cast(pl.Int8)
    return term(label, predicted).cast(pl.Float64)
