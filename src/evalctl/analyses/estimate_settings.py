"""`checks.estimate`: the settings of `evalctl estimate`, parsed with key paths in errors."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from evalctl.analyses import cbpe
from evalctl.check_settings import WINDOW_PATTERN, config_number, config_section
from evalctl.errors import ConfigError

_KEYS = {"metrics", "metric", "min", "warn_drop", "fail_drop", "confidence", "window",
         "min_rows", "proxies"}


@dataclass(frozen=True)
class ProxyRule:
    """Bounds on a proxy's window mean; a window outside them is `warn`."""

    minimum: float | None = None
    maximum: float | None = None


@dataclass(frozen=True)
class EstimateSettings:
    """`checks.estimate` of a model (every key has a default)."""

    metrics: tuple[str, ...] = cbpe.ESTIMATED_METRICS
    metric: str = "accuracy"
    minimum: dict[str, float] = field(default_factory=dict)
    warn_drop: float = 0.02
    fail_drop: float = 0.05
    confidence: float = 0.95
    window: str = "1d"
    min_rows: int = 100
    proxies: dict[str, ProxyRule] = field(default_factory=dict)


def parse_estimate_settings(key: str, raw: Any, proxies: Any = None) -> EstimateSettings:
    """```yaml
    estimate:
      metrics: [accuracy, roc_auc]   # estimated metrics that are judged (default: all five)
      metric: accuracy               # shown in the table, correlated with the proxies
      min: {accuracy: 0.75}          # band entirely below -> fail, estimate below -> warn
      warn_drop: 0.02                # band entirely below reference - warn_drop -> warn
      fail_drop: 0.05                # ... below reference - fail_drop -> fail
      confidence: 0.95               # of the band
      window: 1d                     # default --window
      min_rows: 100                  # smaller windows are `insufficient`, not judged
      proxies: {clicked: {min: 0.3, max: 0.9}}   # window mean outside -> warn
    ```
    `proxies`, when given, is the model's proxy list: other names are rejected."""
    section = config_section(key, raw, _KEYS)
    if section is None:
        return EstimateSettings()
    raw = section
    if not isinstance(raw.get("metrics", []), list):
        raise ConfigError(f"{key}.metrics: expected a list of metric names")
    metrics = tuple(raw.get("metrics") or cbpe.ESTIMATED_METRICS)
    minimum = {str(m): config_number(f"{key}.min.{m}", v) for m, v in _mapping(
        f"{key}.min", raw.get("min")).items()}
    for where, name in [*((f"{key}.metrics", m) for m in metrics),
                        (f"{key}.metric", raw.get("metric", "accuracy")),
                        *((f"{key}.min", m) for m in minimum)]:
        if name not in cbpe.ESTIMATED_METRICS:
            raise ConfigError(f"{where}: unknown metric {name!r} (valid: "
                              f"{', '.join(cbpe.ESTIMATED_METRICS)})")
    window = raw.get("window", "1d")
    if not isinstance(window, str) or not WINDOW_PATTERN.match(window):
        raise ConfigError(f"{key}.window: expected e.g. 1h, 1d or 7d, got {window!r}")
    warn, fail = (config_number(f"{key}.{k}", raw.get(k, d), 0.0, 1.0)
                  for k, d in (("warn_drop", 0.02), ("fail_drop", 0.05)))
    if warn > fail:
        raise ConfigError(f"{key}.warn_drop: {warn} must be at most fail_drop ({fail})")
    confidence = config_number(f"{key}.confidence", raw.get("confidence", 0.95), 0.5, 0.999)
    min_rows = raw.get("min_rows", 100)
    if not isinstance(min_rows, int) or isinstance(min_rows, bool) or min_rows < 1:
        raise ConfigError(f"{key}.min_rows: expected a positive integer, got {min_rows!r}")
    return EstimateSettings(metrics, str(raw.get("metric", "accuracy")), minimum, warn, fail,
                            confidence, window, min_rows,
                            _proxy_rules(f"{key}.proxies", raw.get("proxies"), proxies))


def _proxy_rules(key: str, raw: Any, proxies: Any) -> dict[str, ProxyRule]:
    rules = {}
    for name, rule in _mapping(key, raw).items():
        if proxies is not None and name not in proxies:
            raise ConfigError(f"{key}.{name}: not a proxy of this model (proxies: "
                              f"{', '.join(proxies) or 'none'})")
        rule = _mapping(f"{key}.{name}", rule)
        if set(rule) - {"min", "max"}:
            raise ConfigError(f"{key}.{name}.{sorted(set(rule) - {'min', 'max'})[0]}: unknown "
                              "key (valid keys: max, min)")
        bounds = [None if rule.get(b) is None else config_number(f"{key}.{name}.{b}", rule[b])
                  for b in ("min", "max")]
        rules[str(name)] = ProxyRule(*bounds)
    return rules


def _mapping(key: str, raw: Any) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{key}: expected a mapping")
    return raw
