"""Shared pieces of the performance analyses (slices, validate): metrics of a selection."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import polars as pl

from evalctl.config import ModelConfig
from evalctl.errors import InputError
from evalctl.lake.store import LABEL_SOURCE_COL

LOWER_IS_BETTER = frozenset({"log_loss", "brier", "ece", "mae", "rmse", "mape"})
DEFAULT_METRIC = {"binary_classification": "accuracy", "multiclass_classification": "accuracy",
                  "regression": "rmse", "ranking": "ndcg"}


def default_metric(model: ModelConfig, metric: str | None) -> str:
    from evalctl.metrics import METRICS

    chosen = metric or DEFAULT_METRIC[model.task]
    if chosen not in METRICS[model.task]:
        raise InputError(f"--metric: {chosen!r} is not a {model.task} metric "
                         f"(valid: {', '.join(METRICS[model.task])})")
    return chosen


def worse(metric: str, a: float, b: float) -> bool:
    """Whether value `a` is worse than `b` for this metric."""
    return a > b if metric in LOWER_IS_BETTER else a < b


def signed_gap(metric: str, value: float | None, reference: float | None) -> float | None:
    """value - reference, signed so that negative always means worse."""
    if value is None or reference is None:
        return None
    gap = value - reference
    return -gap if metric in LOWER_IS_BETTER else gap


QUANTILE_SAMPLE = 1_000_000


def slice_keys(model: ModelConfig, lf: pl.LazyFrame) -> list[Any]:
    """The model's declared slices; `quantiles` edges fitted on `lf` in one query.

    Edges are the "nearest" quantiles of the non-null values; above QUANTILE_SAMPLE values
    they come from an evenly strided subsample of that size (a deterministic approximation
    whose rank error is at most 1 / QUANTILE_SAMPLE of the data per stride step).
    """
    from evalctl.metrics import slices_from_config

    wanted = {s.features[0]: s.quantiles for s in model.slices if s.quantiles}
    edges: dict[str, list[float]] = {}
    if wanted:
        row = lf.select([_quantile_edges(f, q).alias(f) for f, q in wanted.items()]).collect()
        for f in wanted:
            values = sorted({v for v in row[f][0] if v is not None})
            edges[f] = values if len(values) >= 2 else (
                [values[0], values[0] + 1] if values else [0.0, 1.0])
    return slices_from_config(model.slices, edges)


def _quantile_edges(feature: str, q: int) -> pl.Expr:
    x = pl.col(feature).cast(pl.Float64)
    x = x.filter(x.is_finite())
    step = (x.len() // QUANTILE_SAMPLE).clip(lower_bound=1)
    sample = x.filter(pl.int_range(0, x.len()) % step == 0).sort()
    index = (pl.lit(pl.Series([i / q for i in range(q + 1)])) * (sample.len() - 1)).round()
    return sample.implode().list.gather(index.cast(pl.Int64).implode(), null_on_oob=True)


def metrics_frame(model: ModelConfig, lf: pl.LazyFrame, metrics: Sequence[str] | None,
                  slices: list[Any], seed: int = 0) -> pl.DataFrame:
    """compute_metrics over a lake selection with the model's column roles."""
    from evalctl.metrics import compute_metrics

    if not model.label:
        raise InputError(f"model {model.name!r} has no `label` column in the config")
    return compute_metrics(
        lf, model.task, label=model.label, score=model.score,
        prediction=model.prediction if model.task != "regression" else None,
        group=model.group, threshold=model.threshold, slices=slices, metrics=metrics,
        seed=seed)


def label_coverage(lf: pl.LazyFrame, model: ModelConfig) -> dict[str, int]:
    """How many rows have ground truth, and from where (inline label or delayed actuals)."""
    label = model.label or ""
    row = lf.select(
        pl.len().alias("rows"),
        pl.col(label).is_not_null().sum().alias("labelled"),
        (pl.col(LABEL_SOURCE_COL) == "actuals").sum().alias("from_actuals"),
    ).collect().row(0, named=True)
    return {k: int(v or 0) for k, v in row.items()}


def finite(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if np.isfinite(value) else None
