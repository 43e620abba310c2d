"""`checks.rca`: the settings of `evalctl rca`, the metric it decomposes and that metric's
per-row term (a mean over labelled rows, so that segments add up exactly)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import polars as pl

from evalctl.analyses.slices import error_expr
from evalctl.check_settings import config_number, config_section
from evalctl.config import ModelConfig
from evalctl.errors import ConfigError, InputError

RCA_METRICS = {"binary_classification": ("accuracy", "brier", "log_loss"),
               "multiclass_classification": ("accuracy",), "regression": ("mae",)}
_KEYS = {"metric", "max_drop", "min_labels", "bins", "min_share", "min_explained", "top"}


@dataclass(frozen=True)
class RcaSettings:
    """`checks.rca` (see `parse_rca_settings`)."""

    metric: str | None = None
    max_drop: float = 0.02
    min_labels: int = 100
    bins: int = 20
    min_share: float = 0.01
    min_explained: float = 0.25
    top: int = 5
    confidence: float = 0.95


def parse_rca_settings(key: str, raw: Any) -> RcaSettings:
    """```yaml
    rca:
      metric: accuracy      # default: accuracy (classification), mae (regression)
      max_drop: 0.02        # a significant drop larger than this fails (exit 1)
      min_labels: 100       # fewer labelled rows in a window: its performance is unknown
      bins: 20              # numeric features: baseline-quantile bins
      min_share: 0.01       # categories under this share of rows in both windows are grouped
      min_explained: 0.25   # a feature whose mix effect explains this share of the change
      top: 5                # segments listed
    ```"""
    section = config_section(key, raw, _KEYS)
    if section is None:
        return RcaSettings()
    raw = section
    out: dict[str, Any] = {}
    for name, low, high in (("max_drop", 0.0, None), ("min_share", 0.0, 1.0),
                            ("min_explained", 0.0, 1.0)):
        if name in raw:
            out[name] = config_number(f"{key}.{name}", raw[name], low=low, high=high)
    for name, low in (("min_labels", 2), ("bins", 2), ("top", 0)):
        if name in raw:
            out[name] = int(config_number(f"{key}.{name}", raw[name], low=low, integer=True))
    if "metric" in raw:
        if not isinstance(raw["metric"], str):
            raise ConfigError(f"{key}.metric: expected a metric name")
        out["metric"] = raw["metric"]
    return RcaSettings(**out)


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
    if chosen in ("brier", "log_loss") and not model.score:
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
