"""`checks.compare`: the settings of `evalctl compare`, parsed with key paths in errors."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from evalctl.check_settings import config_number, config_section
from evalctl.errors import ConfigError

_KEYS = {"metric", "max_slice_drop", "min_slice_size", "alpha", "n_boot"}


@dataclass(frozen=True)
class CompareSettings:
    """`checks.compare`: what is compared and what the promotion gate tolerates."""

    metric: str | None = None  # default accuracy (classification), rmse (regression)
    max_slice_drop: float = 0.02  # a slice regresses when worse by more (and significant)
    min_slice_size: int = 100  # smaller segments are reported, not judged
    alpha: float = 0.05  # significance level of the (Holm-adjusted) paired tests
    n_boot: int = 1000  # bootstrap replicates


def parse_compare_settings(key: str, raw: Any) -> CompareSettings:
    """```yaml
    compare: {metric: roc_auc, max_slice_drop: 0.02, min_slice_size: 100, alpha: 0.05,
              n_boot: 1000}
    ```"""
    section = config_section(key, raw, _KEYS)
    if section is None:
        return CompareSettings()
    raw = section
    metric = raw.get("metric")
    if metric is not None and not isinstance(metric, str):
        raise ConfigError(f"{key}.metric: expected a metric name")
    return CompareSettings(
        metric=metric,
        max_slice_drop=config_number(f"{key}.max_slice_drop", raw.get("max_slice_drop", 0.02),
                               low=0.0),
        min_slice_size=int(config_number(f"{key}.min_slice_size", raw.get("min_slice_size", 100),
                                   low=1, integer=True)),
        alpha=config_number(f"{key}.alpha", raw.get("alpha", 0.05), low=1e-12, high=0.5),
        n_boot=int(config_number(f"{key}.n_boot", raw.get("n_boot", 1000), low=10, integer=True)))
