"""The `checks:` section of a model's config, parsed by explicit tables.

```yaml
checks:
  skew:                          # and `drift:` (same keys, plus window and min_rows)
    numeric: psi                 # default method for numeric columns (and the score)
    categorical: jensen_shannon  # default method for categorical columns (and the prediction)
    thresholds: fixed            # fixed | reference_chunks (mean + k * std over chunks)
    k: 3
    chunks: 10
    fdr: 0.05                    # Benjamini-Hochberg level when a p-value method gates
    features:
      age: {method: wasserstein, warn: 0.1, fail: 0.3}
      device: {ignore: true}
  drift:
    window: 1d                   # 1h | 1d | 7d ... (or --windows N equal-row chunks)
    min_rows: 200                # windows with fewer rows are "insufficient", not judged
```
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from evalctl.errors import ConfigError, InputError

CHECK_NAMES = ("skew", "drift", "slices", "validate", "monitor", "estimate", "rca",
               "compare")
_MONITOR_KEYS = {"reference", "performance_reference", "drift_days", "volume_warn",
                 "volume_fail", "freshness_hours", "min_label_coverage", "max_drop",
                 "sustained", "min_new_labels", "important", "metric", "proxies"}
_VALIDATE_KEYS = {"metrics", "min", "max_drop", "min_slice_size"}
_SLICES_KEYS = {"metric", "min_size", "fdr", "alpha", "max_level", "min_support", "error"}
_DRIFT_KEYS = {"numeric", "categorical", "thresholds", "k", "chunks", "fdr", "features",
               "window", "min_rows", "top_k"}
_FEATURE_KEYS = {"method", "warn", "fail", "ignore"}
THRESHOLD_MODES = ("fixed", "reference_chunks")
WINDOW_PATTERN = re.compile(r"^\d+[hdw]$")
ERROR_KINDS = ("misclassification", "squared", "log_loss")  # slice discovery's per-row error


@dataclass(frozen=True)
class FeatureRule:
    """One feature's override: method, thresholds, or ignore."""

    method: str | None = None
    warn: float | None = None
    fail: float | None = None
    ignore: bool = False


@dataclass(frozen=True)
class DriftSettings:
    """Settings shared by skew and drift."""

    numeric: str | None = None
    categorical: str | None = None
    thresholds: str = "fixed"
    k: float = 3.0
    chunks: int = 10
    fdr: float = 0.05
    window: str = "1d"
    min_rows: int = 100
    top_k: int = 50
    features: dict[str, FeatureRule] = field(default_factory=dict)

    def rule(self, feature: str) -> FeatureRule:
        return self.features.get(feature, FeatureRule())


def validate_checks(key: str, raw: dict[str, Any], kinds: dict[str, str],
                    task: str | None = None) -> None:
    """Validate a model's whole `checks:` mapping (called when the config is loaded).

    `kinds`: every checked column (features and outputs) -> numeric | categorical (| auto,
    not known before the first ingest); `task` checks metric names."""
    columns = set(kinds)
    for name, section in raw.items():
        if name not in CHECK_NAMES:
            raise ConfigError(f"{key}.{name}: unknown check (valid: {', '.join(CHECK_NAMES)})")
        if name == "validate":
            parse_validate_settings(f"{key}.{name}", section, task)
        elif name == "monitor":
            parse_monitor_settings(f"{key}.{name}", section, columns)
        elif name == "compare":
            from evalctl.analyses.compare_settings import parse_compare_settings

            parse_compare_settings(f"{key}.{name}", section)
        elif name == "rca":
            from evalctl.analyses.rca_settings import parse_rca_settings

            parse_rca_settings(f"{key}.{name}", section)
        elif name == "estimate":
            from evalctl.analyses.estimate_settings import parse_estimate_settings

            parse_estimate_settings(f"{key}.{name}", section)
        elif name == "slices":
            parse_slices_settings(f"{key}.{name}", section)
        else:
            parse_drift_settings(f"{key}.{name}", section, columns, kinds)
        if task is not None and isinstance(section, dict):
            _check_named_metric(f"{key}.{name}.metric", section.get("metric"), task)


def _check_named_metric(key: str, metric: Any, task: str) -> None:
    """A `metric:` of a check must be one of the task's metrics (what a command accepts of
    them is checked when it runs)."""
    if metric is None:
        return
    from evalctl.metrics.compute import METRICS  # only when a check names a metric

    if metric not in METRICS[task]:
        raise ConfigError(f"{key}: {metric!r} is not a {task} metric "
                          f"(valid: {', '.join(METRICS[task])})")


def drift_settings(checks: dict[str, Any], name: str, columns: set[str]) -> DriftSettings:
    """The parsed settings of one check (`skew` or `drift`) of a model."""
    return parse_drift_settings(f"checks.{name}", checks.get(name) or {}, columns)


def parse_drift_settings(key: str, raw: Any, columns: set[str],
                         kinds: dict[str, str] | None = None) -> DriftSettings:
    section = config_section(key, raw, _DRIFT_KEYS)
    if section is None:
        return DriftSettings()
    raw = section
    numeric = _method(f"{key}.numeric", raw.get("numeric"), "numeric")
    categorical = _method(f"{key}.categorical", raw.get("categorical"), "categorical")
    thresholds = raw.get("thresholds", "fixed")
    if thresholds not in THRESHOLD_MODES:
        raise ConfigError(f"{key}.thresholds: expected one of {', '.join(THRESHOLD_MODES)}, "
                          f"got {thresholds!r}")
    window = raw.get("window", "1d")
    if not isinstance(window, str) or not WINDOW_PATTERN.match(window) or int(window[:-1]) < 1:
        raise ConfigError(f"{key}.window: expected e.g. 1h, 1d or 7d, got {window!r}")
    features_raw = raw.get("features") or {}
    if not isinstance(features_raw, dict):
        raise ConfigError(f"{key}.features: expected a mapping feature -> rule")
    features = {}
    for name, rule in features_raw.items():
        if name not in columns:
            raise ConfigError(f"{key}.features.{name}: not a feature or output column of "
                              "this model")
        kind = (kinds or {}).get(name)
        features[str(name)] = _feature_rule(f"{key}.features.{name}", rule,
                                            kind if kind in ("numeric", "categorical") else None)
    return DriftSettings(
        numeric=numeric, categorical=categorical, thresholds=thresholds,
        k=config_number(f"{key}.k", raw.get("k", 3.0), low=0.0),
        chunks=int(config_number(f"{key}.chunks", raw.get("chunks", 10), low=2, integer=True)),
        fdr=config_number(f"{key}.fdr", raw.get("fdr", 0.05), low=0.0, high=1.0),
        window=window,
        min_rows=int(config_number(f"{key}.min_rows", raw.get("min_rows", 100), low=1,
                             integer=True)),
        top_k=int(config_number(f"{key}.top_k", raw.get("top_k", 50), low=1, integer=True)),
        features=features)


def _feature_rule(key: str, raw: Any, kind: str | None = None) -> FeatureRule:
    if not isinstance(raw, dict):
        raise ConfigError(f"{key}: expected a mapping with method / warn / fail / ignore")
    config_section(key, raw, _FEATURE_KEYS)  # unknown keys
    ignore = raw.get("ignore", False)
    if not isinstance(ignore, bool):
        raise ConfigError(f"{key}.ignore: expected true or false")
    warn = None if raw.get("warn") is None else config_number(f"{key}.warn", raw["warn"])
    fail = None if raw.get("fail") is None else config_number(f"{key}.fail", raw["fail"])
    return FeatureRule(method=_method(f"{key}.method", raw.get("method"), kind),
                       warn=warn, fail=fail, ignore=ignore)


def _method(key: str, value: Any, kind: str | None) -> str | None:
    if value is None:
        return None
    from evalctl.checks.registry import MEASURES

    valid = sorted(n for n, m in MEASURES.items() if kind is None or kind in m.kinds)
    if value not in valid:
        what = f"{value!r} is not a {kind} method" if value in MEASURES else \
            f"unknown method {value!r}"
        raise ConfigError(f"{key}: {what} (valid: {', '.join(valid)})")
    return str(value)


def config_section(key: str, raw: Any, valid: set[str]) -> dict[str, Any] | None:
    """A check's settings mapping, or None when absent; anything else, or an unknown key, is a
    ConfigError naming the key path and the valid keys. Shared by every check's parser."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise ConfigError(f"{key}: expected a mapping")
    unknown = set(raw) - valid
    if unknown:
        raise ConfigError(f"{key}.{sorted(unknown)[0]}: unknown key (valid keys: "
                          f"{', '.join(sorted(valid))})")
    return raw


def config_number(key: str, value: Any, low: float | None = None, high: float | None = None,
                  integer: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or (
            integer and not isinstance(value, int)):
        raise ConfigError(f"{key}: expected {'an integer' if integer else 'a number'}, "
                          f"got {value!r}")
    if not math.isfinite(value):  # .nan passes every range comparison
        raise ConfigError(f"{key}: expected a finite number, got {value}")
    if (low is not None and value < low) or (high is not None and value > high):
        raise ConfigError(f"{key}: {value} is out of range [{low}, {high}]")
    return float(value)


@dataclass(frozen=True)
class ValidateSettings:
    """The promotion gate of `evalctl validate`."""

    metrics: tuple[str, ...] = ()
    minimum: dict[str, float] = field(default_factory=dict)
    max_drop: dict[str, float] = field(default_factory=dict)
    default_max_drop: float = 0.02
    min_slice_size: int = 100

    def drop_allowed(self, metric: str) -> float:
        return self.max_drop.get(metric, self.default_max_drop)


def validate_settings(checks: dict[str, Any]) -> ValidateSettings:
    return parse_validate_settings("checks.validate", checks.get("validate") or {})


def parse_validate_settings(key: str, raw: Any, task: str | None = None) -> ValidateSettings:
    """```yaml
    validate:
      metrics: [accuracy, roc_auc]     # default: the task's main metrics
      min: {roc_auc: 0.80}             # the candidate's overall floor per metric
      max_drop: {default: 0.02, accuracy: 0.01}   # allowed drop per slice vs the baseline
      min_slice_size: 100              # smaller slices are reported, not gated
    ```"""
    section = config_section(key, raw, _VALIDATE_KEYS)
    if section is None:
        return ValidateSettings()
    raw = section
    metrics = raw.get("metrics") or []
    if not isinstance(metrics, list) or not all(isinstance(m, str) for m in metrics):
        raise ConfigError(f"{key}.metrics: expected a list of metric names")
    minimum = _number_map(f"{key}.min", raw.get("min") or {})
    drops = _number_map(f"{key}.max_drop", raw.get("max_drop") or {}, low=0.0)
    if task is not None:
        for where, names in ((f"{key}.metrics", metrics), (f"{key}.min", list(minimum)),
                             (f"{key}.max_drop", [m for m in drops if m != "default"])):
            for name in names:
                _check_named_metric(where, name, task)
    default_drop = drops.pop("default", 0.02)
    size = int(config_number(f"{key}.min_slice_size", raw.get("min_slice_size", 100), low=1,
                       integer=True))
    return ValidateSettings(tuple(metrics), minimum, drops, default_drop, size)


def parse_slices_settings(key: str, raw: Any) -> dict[str, Any]:
    """`slices:` defaults for the command's options (metric, min_size, fdr, alpha, ...)."""
    section = config_section(key, raw, _SLICES_KEYS)
    if section is None:
        return {}
    raw = section
    out: dict[str, Any] = {}
    for name in ("min_size", "max_level"):
        if name in raw:
            out[name] = int(config_number(f"{key}.{name}", raw[name], low=1, integer=True))
    for name in ("fdr", "alpha"):
        if name in raw:
            out[name] = config_number(f"{key}.{name}", raw[name], low=0.0, high=1.0)
    if "min_support" in raw:
        out["min_support"] = config_number(f"{key}.min_support", raw["min_support"], low=0.0)
    for name in ("metric", "error"):
        if name in raw:
            if not isinstance(raw[name], str):
                raise ConfigError(f"{key}.{name}: expected a name")
            out[name] = raw[name]
    if out.get("error") not in (None, *ERROR_KINDS):
        raise ConfigError(f"{key}.error: expected one of {', '.join(ERROR_KINDS)}, "
                          f"got {out['error']!r}")
    return out


def _number_map(key: str, raw: Any, low: float | None = None) -> dict[str, float]:
    if not isinstance(raw, dict):
        raise ConfigError(f"{key}: expected a mapping metric -> number")
    return {str(k): config_number(f"{key}.{k}", v, low=low) for k, v in raw.items()}


@dataclass(frozen=True)
class ProxyRule:
    """Thresholds of one proxy column's window mean."""

    minimum: float | None = None
    maximum: float | None = None


@dataclass(frozen=True)
class MonitorSettings:
    """What `evalctl monitor` checks and when it alerts (README: "The retraining rules")."""

    reference: str = "training"
    performance_reference: str = "validation"
    drift_days: int = 7
    volume_warn: float = 0.5
    volume_fail: float = 0.8
    freshness_hours: float = 36.0
    min_label_coverage: float = 0.5
    max_drop: float = 0.02
    sustained: int = 3
    min_new_labels: int = 1000
    important: tuple[str, ...] = ()
    metric: str | None = None
    proxies: dict[str, ProxyRule] = field(default_factory=dict)


def monitor_settings(checks: dict[str, Any], columns: set[str]) -> MonitorSettings:
    return parse_monitor_settings("checks.monitor", checks.get("monitor") or {}, columns)


def parse_monitor_settings(key: str, raw: Any, columns: set[str]) -> MonitorSettings:
    section = config_section(key, raw, _MONITOR_KEYS)
    if section is None:
        return MonitorSettings()
    raw = section
    values: dict[str, Any] = {}
    for name in ("reference", "performance_reference", "metric"):
        if name in raw:
            if not isinstance(raw[name], str):
                raise ConfigError(f"{key}.{name}: expected a string")
            values[name] = raw[name]
    for name in ("reference", "performance_reference"):
        if name in values:
            from evalctl.lake.selectors import parse_selector

            try:
                parse_selector(values[name])
            except InputError as exc:
                raise ConfigError(f"{key}.{name}: {exc}") from None
    for name in ("drift_days", "sustained", "min_new_labels"):
        if name in raw:
            values[name] = int(config_number(f"{key}.{name}", raw[name], low=1, integer=True))
    for name in ("volume_warn", "volume_fail", "min_label_coverage", "max_drop"):
        if name in raw:
            values[name] = config_number(f"{key}.{name}", raw[name], low=0.0, high=1.0)
    if "freshness_hours" in raw:
        values["freshness_hours"] = config_number(f"{key}.freshness_hours", raw["freshness_hours"],
                                            low=0.0)
    important = raw.get("important") or []
    if not isinstance(important, list) or any(f not in columns for f in important):
        raise ConfigError(f"{key}.important: expected a list of feature names")
    values["important"] = tuple(important)
    proxies = raw.get("proxies") or {}
    if not isinstance(proxies, dict):
        raise ConfigError(f"{key}.proxies: expected a mapping proxy -> {{min, max}}")
    values["proxies"] = {}
    for name, rule in proxies.items():
        if not isinstance(rule, dict) or set(rule) - {"min", "max"}:
            raise ConfigError(f"{key}.proxies.{name}: expected a mapping with min / max")
        values["proxies"][str(name)] = ProxyRule(
            minimum=None if rule.get("min") is None else config_number(f"{key}.proxies.{name}.min",
                                                                 rule["min"]),
            maximum=None if rule.get("max") is None else config_number(f"{key}.proxies.{name}.max",
                                                                 rule["max"]))
    return MonitorSettings(**values)
