"""The `checks:` section of a model's config -> `ModelSettings`, parsed once at load.

Each check's keys are read by an explicit table, each default comes from its dataclass in
`sections`, and cross-field rules are checked here with the key path: warn before fail
(`monitor.volume_warn` < `volume_fail`, `estimate.warn_drop` <= `fail_drop`, per-feature
`warn`/`fail` in the measure's direction, see `drift`), proxy `min` <= `max`, windows."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from evalctl.errors import ConfigError, InputError
from evalctl.lake.selectors import parse_selector
from evalctl.settings.drift import parse_drift_settings
from evalctl.settings.sections import (
    CHECK_NAMES,
    ERROR_KINDS,
    ESTIMATED_BY_TASK,
    CompareSettings,
    EstimateSettings,
    ModelSettings,
    MonitorSettings,
    ProxyRule,
    RcaSettings,
    SlicesSettings,
    ValidateSettings,
)
from evalctl.settings.values import (
    check_order,
    config_integer,
    config_mapping,
    config_number,
    config_section,
    window_length,
)
from evalctl.stats.estimated import REGRESSION_METRICS as DLE_METRICS
from evalctl.stats.estimated import DleOptions

_VALIDATE_KEYS = {"metrics", "min", "max_drop", "min_slice_size"}
_SLICES_KEYS = {"metric", "min_size", "fdr", "alpha", "max_level", "min_support", "error"}
_MONITOR_KEYS = {"reference", "performance_reference", "drift_days", "volume_warn",
                 "volume_fail", "freshness_hours", "min_label_coverage", "max_drop",
                 "sustained", "min_new_labels", "important", "metric", "proxies",
                 "multivariate"}
_ESTIMATE_KEYS = {"metrics", "metric", "min", "warn_drop", "fail_drop", "confidence", "window",
                  "min_rows", "proxies", "max", "regression"}
_DLE_KEYS = {"reference_rows", "window_rows", "folds"}
_RCA_KEYS = {"metric", "max_drop", "min_labels", "bins", "min_share", "min_explained", "top",
             "multivariate"}
_COMPARE_KEYS = {"metric", "max_slice_drop", "min_slice_size", "alpha", "n_boot"}


def parse_model_settings(key: str, raw: Any, kinds: dict[str, str], task: str,
                         proxies: tuple[str, ...] = ()) -> ModelSettings:
    """A model's whole `checks:` mapping. `kinds`: every checked column (features and outputs)
    -> numeric | categorical | auto; `task` checks metric names; `proxies` the proxy columns."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{key}: expected a mapping")
    parsers: dict[str, Callable[[str, Any], Any]] = {
        "skew": lambda k, r: parse_drift_settings(k, r, kinds),
        "drift": lambda k, r: parse_drift_settings(k, r, kinds),
        "slices": parse_slices_settings,
        "validate": lambda k, r: parse_validate_settings(k, r, task),
        "monitor": lambda k, r: parse_monitor_settings(k, r, set(kinds)),
        "estimate": lambda k, r: parse_estimate_settings(k, r, proxies, task),
        "rca": parse_rca_settings,
        "compare": parse_compare_settings,
    }
    parsed = {}
    for name, section in raw.items():
        if name not in CHECK_NAMES:
            raise ConfigError(f"{key}.{name}: unknown check (valid: {', '.join(CHECK_NAMES)})")
        parsed[name] = parsers[name](f"{key}.{name}", section)
        if isinstance(section, dict):
            check_metric(f"{key}.{name}.metric", section.get("metric"), task)
    if "estimate" not in parsed:  # the task's estimated metrics, not the binary defaults
        parsed["estimate"] = parse_estimate_settings(f"{key}.estimate", None, proxies, task)
    return ModelSettings(**parsed)


def check_metric(key: str, metric: Any, task: str) -> None:
    """A metric a check names must be one of the task's metrics (what a command accepts of
    them is checked when it runs)."""
    if metric is None:
        return
    from evalctl.metrics.catalogue import METRIC_NAMES as METRICS  # only when a metric is named

    if metric not in METRICS[task]:
        raise ConfigError(f"{key}: {metric!r} is not a {task} metric "
                          f"(valid: {', '.join(METRICS[task])})")


def parse_validate_settings(key: str, raw: Any, task: str | None = None) -> ValidateSettings:
    """```yaml
    validate:
      metrics: [accuracy, roc_auc]     # default: the task's main metrics
      min: {roc_auc: 0.80}             # the candidate's overall floor per metric
      max_drop: {default: 0.02, accuracy: 0.01}   # allowed drop per slice vs the baseline
      min_slice_size: 100              # smaller slices are reported, not gated
    ```"""
    section = config_section(key, raw, _VALIDATE_KEYS)
    defaults = ValidateSettings()
    if section is None:
        return defaults
    metrics = section.get("metrics") or []
    if not isinstance(metrics, list) or not all(isinstance(m, str) for m in metrics):
        raise ConfigError(f"{key}.metrics: expected a list of metric names")
    minimum = _number_map(f"{key}.min", section.get("min") or {})
    drops = _number_map(f"{key}.max_drop", section.get("max_drop") or {}, low=0.0)
    if task is not None:
        for where, names in ((f"{key}.metrics", metrics), (f"{key}.min", list(minimum)),
                             (f"{key}.max_drop", [m for m in drops if m != "default"])):
            for name in names:
                check_metric(where, name, task)
    default_drop = drops.pop("default", defaults.default_max_drop)
    size = config_integer(f"{key}.min_slice_size",
                          section.get("min_slice_size", defaults.min_slice_size), 1)
    return ValidateSettings(tuple(metrics), minimum, drops, default_drop, size)


def parse_slices_settings(key: str, raw: Any) -> SlicesSettings:
    """`slices:` defaults for the command's options (metric, min_size, fdr, alpha, ...)."""
    section = config_section(key, raw, _SLICES_KEYS)
    if section is None:
        return SlicesSettings()
    out: dict[str, Any] = {}
    for name in ("min_size", "max_level"):
        if name in section:
            out[name] = config_integer(f"{key}.{name}", section[name], 1)
    for name in ("fdr", "alpha"):
        if name in section:
            out[name] = config_number(f"{key}.{name}", section[name], low=0.0, high=1.0)
    if "min_support" in section:
        out["min_support"] = config_number(f"{key}.min_support", section["min_support"],
                                           low=0.0)
    for name in ("metric", "error"):
        if name in section:
            if not isinstance(section[name], str):
                raise ConfigError(f"{key}.{name}: expected a name")
            out[name] = section[name]
    if out.get("error") not in (None, *ERROR_KINDS):
        raise ConfigError(f"{key}.error: expected one of {', '.join(ERROR_KINDS)}, "
                          f"got {out['error']!r}")
    return SlicesSettings(**out)


def _number_map(key: str, raw: Any, low: float | None = None) -> dict[str, float]:
    if not isinstance(raw, dict):
        raise ConfigError(f"{key}: expected a mapping metric -> number")
    return {str(k): config_number(f"{key}.{k}", v, low=low) for k, v in raw.items()}


def parse_monitor_settings(key: str, raw: Any, columns: set[str]) -> MonitorSettings:
    section = config_section(key, raw, _MONITOR_KEYS)
    if section is None:
        return MonitorSettings()
    values: dict[str, Any] = {}
    for name in ("reference", "performance_reference", "metric"):
        if name in section:
            if not isinstance(section[name], str):
                raise ConfigError(f"{key}.{name}: expected a string")
            values[name] = section[name]
    for name in ("reference", "performance_reference"):
        if name in values:
            _check_selector(f"{key}.{name}", values[name])
    for name in ("drift_days", "sustained", "min_new_labels"):
        if name in section:
            values[name] = config_integer(f"{key}.{name}", section[name], 1)
    for name in ("volume_warn", "volume_fail", "min_label_coverage", "max_drop"):
        if name in section:
            values[name] = config_number(f"{key}.{name}", section[name], low=0.0, high=1.0)
    if "freshness_hours" in section:
        values["freshness_hours"] = config_number(f"{key}.freshness_hours",
                                                  section["freshness_hours"], low=0.0)
    important = section.get("important") or []
    if not isinstance(important, list) or any(f not in columns for f in important):
        raise ConfigError(f"{key}.important: expected a list of feature names")
    values["important"] = tuple(important)
    values["proxies"] = _proxy_rules(f"{key}.proxies", section.get("proxies"), None)
    values["multivariate"] = config_flag(f"{key}.multivariate", section.get("multivariate"))
    settings = MonitorSettings(**values)
    check_order(key, ("volume_warn", settings.volume_warn),
                ("volume_fail", settings.volume_fail), strict=True)
    return settings


def _check_selector(key: str, text: str) -> None:
    try:
        parse_selector(text)
    except InputError as exc:
        raise ConfigError(f"{key}: {exc}") from None


def parse_estimate_settings(key: str, raw: Any, proxies: Any = None,
                            task: str = "binary_classification") -> EstimateSettings:
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
      max: {mae: 12.5}               # regression: band entirely above -> fail, estimate -> warn
      regression: {reference_rows: 50000, window_rows: 20000, folds: 3}   # loss-model budget
    ```
    For regression models `metric`/`metrics` name mae / rmse and the drops are relative rises
    of the loss over the reference's. `proxies`, when given, is the model's proxy list: other
    names are rejected. Metric names are the task's (`ESTIMATED_BY_TASK`; multiclass:
    accuracy, macro_f1, macro_roc_auc)."""
    section = config_section(key, raw, _ESTIMATE_KEYS)
    d = EstimateSettings()
    if task in ESTIMATED_BY_TASK:
        names = ESTIMATED_BY_TASK[task]
        d = EstimateSettings(metrics=names, metric=names[0])
    if section is None:
        return d
    if not isinstance(section.get("metrics", []), list):
        raise ConfigError(f"{key}.metrics: expected a list of metric names")
    metrics = tuple(section.get("metrics") or d.metrics)
    minimum = {str(m): config_number(f"{key}.min.{m}", v) for m, v in config_mapping(
        f"{key}.min", section.get("min")).items()}
    for where, name in [*((f"{key}.metrics", m) for m in metrics),
                        (f"{key}.metric", section.get("metric", d.metric)),
                        *((f"{key}.min", m) for m in minimum)]:
        if name not in d.metrics + DLE_METRICS:
            raise ConfigError(f"{where}: unknown metric {name!r} (valid: "
                              f"{', '.join(d.metrics + DLE_METRICS)})")
    window = section.get("window", d.window)
    window_length(window, f"{key}.window")
    warn, fail = (config_number(f"{key}.{k}", section.get(k, default), 0.0, 1.0)
                  for k, default in (("warn_drop", d.warn_drop), ("fail_drop", d.fail_drop)))
    check_order(key, ("warn_drop", warn), ("fail_drop", fail))
    confidence = config_number(f"{key}.confidence", section.get("confidence", d.confidence),
                               0.5, 0.999)
    min_rows = section.get("min_rows", d.min_rows)
    if not isinstance(min_rows, int) or isinstance(min_rows, bool) or min_rows < 1:
        raise ConfigError(f"{key}.min_rows: expected a positive integer, got {min_rows!r}")
    return EstimateSettings(metrics, str(section.get("metric", d.metric)), minimum, warn, fail,
                            confidence, window, min_rows,
                            _proxy_rules(f"{key}.proxies", section.get("proxies"), proxies),
                            *_dle_settings(key, section))


def _dle_settings(key: str, section: dict[str, Any]) -> tuple[dict[str, float], DleOptions]:
    """`max: {mae|rmse: ceiling}` and `regression: {reference_rows, window_rows, folds}`."""
    maximum = {str(m): config_number(f"{key}.max.{m}", v, 0.0) for m, v in config_mapping(
        f"{key}.max", section.get("max")).items()}
    for name in maximum:
        if name not in DLE_METRICS:
            raise ConfigError(f"{key}.max: unknown metric {name!r} (valid: "
                              f"{', '.join(DLE_METRICS)})")
    raw = config_section(f"{key}.regression", section.get("regression"), _DLE_KEYS) or {}
    d = DleOptions()
    sizes = {k: config_integer(f"{key}.regression.{k}", raw.get(k, getattr(d, k)), low)
             for k, low in (("reference_rows", 100), ("window_rows", 100), ("folds", 2))}
    return maximum, replace(d, **sizes)


def _proxy_rules(key: str, raw: Any, proxies: Any) -> dict[str, ProxyRule]:
    """`{proxy: {min, max}}`; `proxies`, when given, the names allowed."""
    rules = {}
    for name, rule in config_mapping(key, raw).items():
        if proxies is not None and name not in proxies:
            raise ConfigError(f"{key}.{name}: not a proxy of this model (proxies: "
                              f"{', '.join(proxies) or 'none'})")
        if not isinstance(rule, dict):
            raise ConfigError(f"{key}.{name}: expected a mapping with min / max")
        if set(rule) - {"min", "max"}:
            raise ConfigError(f"{key}.{name}.{sorted(set(rule) - {'min', 'max'})[0]}: unknown "
                              "key (valid keys: max, min)")
        low, high = (None if rule.get(b) is None else config_number(f"{key}.{name}.{b}", rule[b])
                     for b in ("min", "max"))
        check_order(f"{key}.{name}", ("min", low), ("max", high))
        rules[str(name)] = ProxyRule(low, high)
    return rules


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
      multivariate: false   # true: rank features by a classifier's permutation importance
    ```"""
    section = config_section(key, raw, _RCA_KEYS)
    if section is None:
        return RcaSettings()
    out: dict[str, Any] = {}
    for name, low, high in (("max_drop", 0.0, None), ("min_share", 0.0, 1.0),
                            ("min_explained", 0.0, 1.0)):
        if name in section:
            out[name] = config_number(f"{key}.{name}", section[name], low=low, high=high)
    for name, least in (("min_labels", 2), ("bins", 2), ("top", 0)):
        if name in section:
            out[name] = config_integer(f"{key}.{name}", section[name], least)
    if "metric" in section:
        if not isinstance(section["metric"], str):
            raise ConfigError(f"{key}.metric: expected a metric name")
        out["metric"] = section["metric"]
    out["multivariate"] = config_flag(f"{key}.multivariate", section.get("multivariate"))
    return RcaSettings(**out)


def config_flag(key: str, value: Any) -> bool:
    """A true / false key (absent: false)."""
    if value is None:
        return False
    if not isinstance(value, bool):
        raise ConfigError(f"{key}: expected true or false, got {value!r}")
    return value


def parse_compare_settings(key: str, raw: Any) -> CompareSettings:
    """```yaml
    compare: {metric: roc_auc, max_slice_drop: 0.02, min_slice_size: 100, alpha: 0.05,
              n_boot: 1000}
    ```"""
    section = config_section(key, raw, _COMPARE_KEYS)
    d = CompareSettings()
    if section is None:
        return d
    metric = section.get("metric")
    if metric is not None and not isinstance(metric, str):
        raise ConfigError(f"{key}.metric: expected a metric name")
    return CompareSettings(
        metric=metric,
        max_slice_drop=config_number(f"{key}.max_slice_drop",
                                     section.get("max_slice_drop", d.max_slice_drop), low=0.0),
        min_slice_size=config_integer(f"{key}.min_slice_size",
                                      section.get("min_slice_size", d.min_slice_size), 1),
        alpha=config_number(f"{key}.alpha", section.get("alpha", d.alpha), low=1e-12, high=0.5),
        n_boot=config_integer(f"{key}.n_boot", section.get("n_boot", d.n_boot), 10))
