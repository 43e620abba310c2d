"""`checks.skew` and `checks.drift`: methods by kind, threshold mode, per-feature rules.

```yaml
checks:
  skew:                          # and `drift:` (same keys, plus window and min_rows)
    numeric: wasserstein         # default method for numeric columns (and the score)
    categorical: jensen_shannon  # default method for categorical columns (and the prediction)
    thresholds: fixed            # fixed | reference_chunks (mean + k * std over chunks,
                                 #   never stricter than the fixed thresholds)
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

from typing import Any

from evalctl.checks.registry import DEFAULT_METHOD, MEASURES
from evalctl.errors import ConfigError, InputError
from evalctl.settings.sections import THRESHOLD_MODES, DriftSettings, FeatureRule
from evalctl.settings.values import config_integer, config_number, config_section, window_length

_DRIFT_KEYS = {"numeric", "categorical", "thresholds", "k", "chunks", "fdr", "features",
               "window", "min_rows", "top_k"}
_FEATURE_KEYS = {"method", "warn", "fail", "ignore"}
_DEFAULTS = DriftSettings()


def parse_drift_settings(key: str, raw: Any, kinds: dict[str, str]) -> DriftSettings:
    """`kinds`: every checked column (features and outputs) -> numeric | categorical (| auto,
    not known before the first ingest)."""
    section = config_section(key, raw, _DRIFT_KEYS)
    if section is None:
        return _DEFAULTS
    numeric = _method(f"{key}.numeric", section.get("numeric"), "numeric")
    categorical = _method(f"{key}.categorical", section.get("categorical"), "categorical")
    thresholds = section.get("thresholds", _DEFAULTS.thresholds)
    if thresholds not in THRESHOLD_MODES:
        raise ConfigError(f"{key}.thresholds: expected one of {', '.join(THRESHOLD_MODES)}, "
                          f"got {thresholds!r}")
    window = section.get("window", _DEFAULTS.window)
    window_length(window, f"{key}.window")
    features_raw = section.get("features") or {}
    if not isinstance(features_raw, dict):
        raise ConfigError(f"{key}.features: expected a mapping feature -> rule")
    features = {}
    for name, rule in features_raw.items():
        if name not in kinds:
            raise ConfigError(f"{key}.features.{name}: not a feature or output column of "
                              "this model")
        kind = kinds[name] if kinds[name] in ("numeric", "categorical") else None
        default = {"numeric": numeric, "categorical": categorical}.get(kind or "")
        features[str(name)] = _feature_rule(f"{key}.features.{name}", rule, kind, default)
    return DriftSettings(
        numeric=numeric, categorical=categorical, thresholds=thresholds,
        k=config_number(f"{key}.k", section.get("k", _DEFAULTS.k), low=0.0),
        chunks=config_integer(f"{key}.chunks", section.get("chunks", _DEFAULTS.chunks), 2),
        fdr=config_number(f"{key}.fdr", section.get("fdr", _DEFAULTS.fdr), low=0.0, high=1.0),
        window=window,
        min_rows=config_integer(f"{key}.min_rows", section.get("min_rows", _DEFAULTS.min_rows),
                                1),
        top_k=config_integer(f"{key}.top_k", section.get("top_k", _DEFAULTS.top_k), 1),
        features=features)


def _feature_rule(key: str, raw: Any, kind: str | None, default: str | None) -> FeatureRule:
    """One column's rule; warn and fail are checked against each other (in the direction of
    the measure: at most fail when higher is worse, at least fail for p-values) whenever the
    measure is known at load: named, or the default of the column's declared kind."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{key}: expected a mapping with method / warn / fail / ignore")
    config_section(key, raw, _FEATURE_KEYS)  # unknown keys
    ignore = raw.get("ignore", False)
    if not isinstance(ignore, bool):
        raise ConfigError(f"{key}.ignore: expected true or false")
    warn = None if raw.get("warn") is None else config_number(f"{key}.warn", raw["warn"])
    fail = None if raw.get("fail") is None else config_number(f"{key}.fail", raw["fail"])
    method = _method(f"{key}.method", raw.get("method"), kind)
    if (warn is not None or fail is not None) and (method or kind):
        _check_thresholds(key, method or default, kind, warn, fail)
    return FeatureRule(method=method, warn=warn, fail=fail, ignore=ignore)


def _check_thresholds(key: str, method: str | None, kind: str | None, warn: float | None,
                      fail: float | None) -> None:
    # the measures (~20 ms) load only when a rule gives thresholds: start-up time
    from evalctl.checks.evaluate import resolve_thresholds

    measure = MEASURES[method or DEFAULT_METHOD[kind or "numeric"]]
    try:
        resolve_thresholds(measure, warn, fail)
    except InputError as exc:
        given = "" if warn is not None and fail is not None else \
            f" (the {'fail' if fail is None else 'warn'} default of {measure.name})"
        raise ConfigError(f"{key}: {exc}{given}") from None


def _method(key: str, value: Any, kind: str | None) -> str | None:
    if value is None:
        return None
    from evalctl.checks.registry import MEASURES  # ~20 ms, only when a method is named

    valid = sorted(n for n, m in MEASURES.items() if kind is None or kind in m.kinds)
    if value not in valid:
        what = f"{value!r} is not a {kind} method" if value in MEASURES else \
            f"unknown method {value!r}"
        raise ConfigError(f"{key}: {what} (valid: {', '.join(valid)})")
    return str(value)
