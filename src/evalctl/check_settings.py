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

import re
from dataclasses import dataclass, field
from typing import Any

from evalctl.errors import ConfigError

CHECK_NAMES = ("skew", "drift")
_DRIFT_KEYS = {"numeric", "categorical", "thresholds", "k", "chunks", "fdr", "features",
               "window", "min_rows", "top_k"}
_FEATURE_KEYS = {"method", "warn", "fail", "ignore"}
THRESHOLD_MODES = ("fixed", "reference_chunks")
WINDOW_PATTERN = re.compile(r"^\d+[hdw]$")


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


def validate_checks(key: str, raw: dict[str, Any], columns: set[str]) -> None:
    """Validate a model's whole `checks:` mapping (called when the config is loaded)."""
    for name, section in raw.items():
        if name not in CHECK_NAMES:
            raise ConfigError(f"{key}.{name}: unknown check (valid: {', '.join(CHECK_NAMES)})")
        parse_drift_settings(f"{key}.{name}", section, columns)


def drift_settings(checks: dict[str, Any], name: str, columns: set[str]) -> DriftSettings:
    """The parsed settings of one check (`skew` or `drift`) of a model."""
    return parse_drift_settings(f"checks.{name}", checks.get(name) or {}, columns)


def parse_drift_settings(key: str, raw: Any, columns: set[str]) -> DriftSettings:
    if raw is None:
        return DriftSettings()
    if not isinstance(raw, dict):
        raise ConfigError(f"{key}: expected a mapping")
    unknown = set(raw) - _DRIFT_KEYS
    if unknown:
        raise ConfigError(f"{key}.{sorted(unknown)[0]}: unknown key (valid keys: "
                          f"{', '.join(sorted(_DRIFT_KEYS))})")
    numeric = _method(f"{key}.numeric", raw.get("numeric"), "numeric")
    categorical = _method(f"{key}.categorical", raw.get("categorical"), "categorical")
    thresholds = raw.get("thresholds", "fixed")
    if thresholds not in THRESHOLD_MODES:
        raise ConfigError(f"{key}.thresholds: expected one of {', '.join(THRESHOLD_MODES)}, "
                          f"got {thresholds!r}")
    window = raw.get("window", "1d")
    if not isinstance(window, str) or not WINDOW_PATTERN.match(window):
        raise ConfigError(f"{key}.window: expected e.g. 1h, 1d or 7d, got {window!r}")
    features_raw = raw.get("features") or {}
    if not isinstance(features_raw, dict):
        raise ConfigError(f"{key}.features: expected a mapping feature -> rule")
    features = {}
    for name, rule in features_raw.items():
        if name not in columns:
            raise ConfigError(f"{key}.features.{name}: not a feature or output column of "
                              "this model")
        features[str(name)] = _feature_rule(f"{key}.features.{name}", rule)
    return DriftSettings(
        numeric=numeric, categorical=categorical, thresholds=thresholds,
        k=_number(f"{key}.k", raw.get("k", 3.0), low=0.0),
        chunks=int(_number(f"{key}.chunks", raw.get("chunks", 10), low=2, integer=True)),
        fdr=_number(f"{key}.fdr", raw.get("fdr", 0.05), low=0.0, high=1.0),
        window=window,
        min_rows=int(_number(f"{key}.min_rows", raw.get("min_rows", 100), low=1,
                             integer=True)),
        top_k=int(_number(f"{key}.top_k", raw.get("top_k", 50), low=1, integer=True)),
        features=features)


def _feature_rule(key: str, raw: Any) -> FeatureRule:
    if not isinstance(raw, dict):
        raise ConfigError(f"{key}: expected a mapping with method / warn / fail / ignore")
    unknown = set(raw) - _FEATURE_KEYS
    if unknown:
        raise ConfigError(f"{key}.{sorted(unknown)[0]}: unknown key (valid keys: "
                          f"{', '.join(sorted(_FEATURE_KEYS))})")
    ignore = raw.get("ignore", False)
    if not isinstance(ignore, bool):
        raise ConfigError(f"{key}.ignore: expected true or false")
    warn = None if raw.get("warn") is None else _number(f"{key}.warn", raw["warn"])
    fail = None if raw.get("fail") is None else _number(f"{key}.fail", raw["fail"])
    return FeatureRule(method=_method(f"{key}.method", raw.get("method"), None),
                       warn=warn, fail=fail, ignore=ignore)


def _method(key: str, value: Any, kind: str | None) -> str | None:
    if value is None:
        return None
    from evalctl.checks.registry import MEASURES

    valid = sorted(n for n, m in MEASURES.items() if kind is None or kind in m.kinds)
    if value not in valid:
        raise ConfigError(f"{key}: unknown method {value!r} (valid: {', '.join(valid)})")
    return str(value)


def _number(key: str, value: Any, low: float | None = None, high: float | None = None,
            integer: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or (
            integer and not isinstance(value, int)):
        raise ConfigError(f"{key}: expected {'an integer' if integer else 'a number'}, "
                          f"got {value!r}")
    if (low is not None and value < low) or (high is not None and value > high):
        raise ConfigError(f"{key}: {value} is out of range")
    return float(value)
