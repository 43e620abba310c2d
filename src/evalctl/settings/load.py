"""The YAML config -> `Config`, validated once, at load: every model's columns, reading
rules, slices and checks (parsed into `model.settings`, cross-field rules included).

Every error names the key path, e.g.
``models.tv-recommender.features.age: expected numeric or categorical, got 'number'``.
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from evalctl.config import (
    DEFAULT_THRESHOLD,
    KINDS,
    NULL_VALUES,
    PLAUSIBLE_YEARS,
    SAFE_NAME_RULE,
    SCORE_SCALES,
    TASKS,
    TIMESTAMP_UNITS,
    Config,
    ModelConfig,
    SliceSpec,
    find_config_path,
    name_problem,
    output_kinds,
    show_name,
)
from evalctl.config_yaml import read_yaml
from evalctl.engines.settings import parse_engine
from evalctl.errors import ConfigError
from evalctl.settings.alerts import parse_alert_settings
from evalctl.settings.checks import parse_model_settings
from evalctl.settings.profiles import parse_profile_settings
from evalctl.settings.values import config_section

_MODEL_KEYS = {
    "task", "id", "timestamp", "prediction", "score", "label", "group",
    "features", "proxies", "slices", "checks", "threshold",
    "timestamp_format", "timestamp_unit", "timestamp_years", "score_scale",
    "positive_label", "negative_label", "null_values", "actuals", "alerts", "scores",
    "reference", "profiles",
}
_SLICE_KEYS = {"feature", "features", "bins", "quantiles", "name"}


def load_config(path: str | Path | None = None) -> Config:
    """Load and validate a config file; a missing default config yields an empty config."""
    found = find_config_path(path)
    if found is None:
        return Config(path=None, store=None, models={})
    try:
        exists = found.is_file()
    except OSError as exc:  # a name too long...
        shown = str(found) if len(str(found)) <= 120 else f"{str(found)[:60]}..."
        raise ConfigError(f"{shown}: cannot open the config: {exc.strerror}") from exc
    if not exists:
        raise ConfigError(f"{found}: config file not found")
    try:
        raw = read_yaml(found.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{found}: not UTF-8 text (byte {exc.start} cannot be decoded); "
                          "save the config as UTF-8") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{found}: not valid YAML: {_first_line(exc)}") from exc
    except ConfigError as exc:
        raise ConfigError(f"{found}: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"{found}: cannot read: {exc.strerror}") from exc
    return parse_config(raw, base_dir=found.resolve().parent, path=found)


def parse_config(raw: Any, base_dir: Path, path: Path | None = None) -> Config:
    """Validate a parsed YAML document into a Config."""
    where = f"{path}: " if path else ""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}top level: expected a mapping, got {_type_name(raw)}")
    unknown = set(raw) - {"store", "models", "engine", "storage_options"}
    if unknown:
        raise ConfigError(f"{where}{sorted(unknown)[0]}: unknown key (valid keys: engine, "
                          "models, storage_options, store)")
    store = raw.get("store")
    if store is not None and not isinstance(store, str):
        raise ConfigError(f"{where}store: expected a path string, got {_type_name(store)}")
    options = _storage_options(raw.get("storage_options"), where)
    models_raw = raw.get("models") or {}
    if not isinstance(models_raw, dict):
        raise ConfigError(f"{where}models: expected a mapping, got {_type_name(models_raw)}")
    try:
        models = {str(n): _parse_model(str(n), m) for n, m in models_raw.items()}
    except ConfigError as exc:
        raise ConfigError(f"{where}{exc}") from None
    store_path: Path | str | None = (base_dir / store).resolve() if store else None
    if store and store.lower().startswith(("s3://", "s3a://")):
        store_path = store  # an object store: a URL, not a path relative to the config
    try:
        engine = parse_engine(raw.get("engine"))
    except ConfigError as exc:
        raise ConfigError(f"{where}{exc}", key="engine") from None
    return Config(path=path, store=store_path, models=models, engine=engine,
                  storage_options=options)


def _storage_options(raw: Any, where: str) -> dict[str, str]:
    """`storage_options:`: a mapping of option names to strings (numbers and booleans are
    written as object_store reads them)."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}storage_options: expected a mapping, got {_type_name(raw)}")
    out = {}
    for key, value in raw.items():
        if isinstance(value, bool):
            value = "true" if value else "false"
        if not isinstance(value, str | int | float) or isinstance(value, dict | list):
            raise ConfigError(f"{where}storage_options.{key}: expected a string, got "
                              f"{_type_name(value)}")
        out[str(key).lower()] = str(value)
    return out


def _parse_model(name: str, raw: Any) -> ModelConfig:
    problem = name_problem(name)  # the name is a partition folder (model=NAME)
    key = f"models.{name if name.isprintable() and len(name) <= 60 else show_name(name)}"
    if problem is not None:
        raise ConfigError(f"{key}: {show_name(name)} is not a valid model name: {problem} "
                          f"({SAFE_NAME_RULE})")
    if not isinstance(raw, dict):
        raise ConfigError(f"{key}: expected a mapping, got {_type_name(raw)}")
    unknown = set(raw) - _MODEL_KEYS
    if unknown:
        valid = ", ".join(sorted(_MODEL_KEYS))
        raise ConfigError(f"{key}.{sorted(unknown)[0]}: unknown key (valid keys: {valid})")
    task = raw.get("task", "binary_classification")
    if task not in TASKS:
        raise ConfigError(f"{key}.task: expected one of {', '.join(TASKS)}, got {task!r}")
    for required in ("id", "timestamp"):
        if required not in raw:
            raise ConfigError(f"{key}.{required}: required key is missing")
    columns = {k: _column_name(f"{key}.{k}", raw.get(k)) for k in
               ("id", "timestamp", "prediction", "score", "label", "group")}
    if task == "ranking" and not columns["group"]:
        raise ConfigError(f"{key}.group: required for task ranking")
    scores = _parse_scores(f"{key}.scores", raw.get("scores"), task, columns["score"])
    if not columns["prediction"] and not columns["score"] and not scores:
        raise ConfigError(f"{key}: give prediction or score (or both)")
    reading = _parse_reading(key, raw, task)
    if scores and reading["score_scale"] != "probability":
        raise ConfigError(f"{key}.score_scale: scores are class probabilities (in [0, 1], "
                          "summing to 1 per row): leave score_scale at probability")
    threshold = _parse_threshold(key, raw.get("threshold", DEFAULT_THRESHOLD),
                                 reading["score_scale"])
    features = _parse_features(f"{key}.features", raw.get("features") or {})
    proxies = _parse_name_list(f"{key}.proxies", raw.get("proxies") or [])
    slices = tuple(
        _parse_slice(f"{key}.slices[{i}]", s, features)
        for i, s in enumerate(_expect_list(f"{key}.slices", raw.get("slices") or []))
    )
    checks = raw.get("checks") or {}
    if not isinstance(checks, dict):
        raise ConfigError(f"{key}.checks: expected a mapping, got {_type_name(checks)}")
    outputs = output_kinds(task, columns["score"], columns["prediction"], scores)
    settings = parse_model_settings(f"{key}.checks", checks, {**features, **outputs}, task,
                                    proxies)
    settings = replace(settings, alerts=parse_alert_settings(f"{key}.alerts", raw.get("alerts")))
    named = [*((role, col) for role, col in columns.items() if col),
             *((f"scores.{c}", col) for c, col in scores.items())]
    for i, (role, col) in enumerate(named):
        earlier = next((r for r, c in named[:i] if c == col), None)
        if earlier:
            raise ConfigError(f"{key}.{role}: column {col!r} is already the {earlier}; "
                              "give each role its own column (or leave one out)")
    for where, col in [*((f"{key}.{role}", c) for role, c in named),
                       *((f"{key}.features.{f}", f) for f in features),
                       *((f"{key}.proxies", c) for c in proxies)]:
        if col.startswith("_"):  # the scan adds _version, _env, _label_source ...
            raise ConfigError(f"{where}: column {col!r}: names starting with '_' are reserved "
                              "for evalctl's own columns; rename it in the export")
    reserved = {c for c in columns.values() if c} | set(scores.values())
    clash = reserved & set(features)
    if clash:
        raise ConfigError(f"{key}.features.{sorted(clash)[0]}: also used as id/timestamp/output")
    return ModelConfig(
        name=name, task=task, id=str(columns["id"]), timestamp=str(columns["timestamp"]),
        prediction=columns["prediction"], score=columns["score"], label=columns["label"],
        group=columns["group"], threshold=threshold, features=features,
        proxies=proxies, slices=slices, checks=checks, settings=settings, scores=scores,
        **reading,
        profiles=parse_profile_settings(key, raw.get("reference"), raw.get("profiles")),
    )


def _parse_scores(key: str, raw: Any, task: str, score: str | None) -> dict[str, str]:
    """`scores: {class: probability column, ...}` of a multiclass model: at least two classes,
    one column each, not together with `score`. Class names are read as text (labels are)."""
    if raw is None:
        return {}
    if task != "multiclass_classification":
        raise ConfigError(f"{key}: applies to multiclass_classification only (task is {task}); "
                          "a binary model names its positive-class probability as score")
    if score:
        raise ConfigError(f"{key}: give score (one probability) or scores (one per class), "
                          "not both")
    if not isinstance(raw, dict) or len(raw) < 2:
        raise ConfigError(f"{key}: expected a mapping of at least two classes to their "
                          "probability columns, e.g. {{card: p_card, cash: p_cash}}, got "
                          f"{_type_name(raw) if not isinstance(raw, dict) else raw}")
    scores: dict[str, str] = {}
    for name, column in raw.items():
        if isinstance(name, bool) or not isinstance(name, str | int) or not str(name).strip():
            raise ConfigError(f"{key}: expected class names (text or integers), got {name!r}")
        if str(name) in scores:
            raise ConfigError(f"{key}.{name}: class named twice")
        col = _column_name(f"{key}.{name}", column)
        if col is None:
            raise ConfigError(f"{key}.{name}: expected a column name, got nothing")
        earlier = next((c for c, other in scores.items() if other == col), None)
        if earlier is not None:
            raise ConfigError(f"{key}.{name}: column {col!r} is already class {earlier}'s "
                              "probability; give each class its own column")
        scores[str(name)] = str(col)
    return scores


def _parse_threshold(key: str, raw: Any, score_scale: str) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise ConfigError(f"{key}.threshold: expected a number, got {_type_name(raw)}")
    if not math.isfinite(raw):
        raise ConfigError(f"{key}.threshold: expected a finite number, got {raw}")
    if score_scale == "probability" and not 0 <= raw <= 1:
        raise ConfigError(f"{key}.threshold: {raw} is outside [0, 1] (the score is a "
                          "probability; set score_scale: unbounded for logits or margins)")
    return float(raw)


def _parse_reading(key: str, raw: dict[str, Any], task: str) -> dict[str, Any]:
    """The keys that say how exports are read: timestamps, score scale, labels, nulls."""
    default_scale = "probability" if task in TASKS[:2] else "unbounded"
    scale = raw.get("score_scale", default_scale)
    if scale not in SCORE_SCALES:
        raise ConfigError(f"{key}.score_scale: expected one of {', '.join(SCORE_SCALES)}, "
                          f"got {scale!r}")
    labels = _parse_labels(key, raw, task)
    nulls = raw.get("null_values", list(NULL_VALUES))
    if not isinstance(nulls, list) or not all(isinstance(v, str) for v in nulls):
        raise ConfigError(f"{key}.null_values: expected a list of strings (quote them: "
                          f"['', 'NA']), got {nulls!r}")
    if labels["positive_label"] in nulls or labels["negative_label"] in nulls:
        raise ConfigError(f"{key}.null_values: contains a label value")
    actuals = raw.get("actuals") or {}
    if not isinstance(actuals, dict):
        raise ConfigError(f"{key}.actuals: expected a mapping, got {_type_name(actuals)}")
    unknown = set(actuals) - {"timestamp"}
    if unknown:
        raise ConfigError(f"{key}.actuals.{sorted(unknown)[0]}: unknown key "
                          "(valid keys: timestamp)")
    return {**_parse_timestamps(key, raw), "score_scale": scale,
            "null_values": tuple(v.strip() for v in nulls), **labels,
            "actuals_timestamp": _column_name(f"{key}.actuals.timestamp",
                                              actuals.get("timestamp"))}


def _parse_timestamps(key: str, raw: dict[str, Any]) -> dict[str, Any]:
    fmt = raw.get("timestamp_format")
    if fmt is not None and (not isinstance(fmt, str) or "%" not in fmt):
        raise ConfigError(f"{key}.timestamp_format: expected a strftime format such as "
                          f"'%d/%m/%Y %H:%M', got {fmt!r}")
    unit = raw.get("timestamp_unit")
    if unit is not None and unit not in TIMESTAMP_UNITS:
        raise ConfigError(f"{key}.timestamp_unit: expected one of {', '.join(TIMESTAMP_UNITS)}"
                          f" (epoch seconds, milliseconds, microseconds), got {unit!r}")
    if fmt is not None and unit is not None:
        raise ConfigError(f"{key}.timestamp_unit: give timestamp_format (text) or "
                          "timestamp_unit (numeric epochs), not both")
    years = raw.get("timestamp_years", list(PLAUSIBLE_YEARS))
    if not (isinstance(years, list) and len(years) == 2
            and all(isinstance(y, int) and not isinstance(y, bool) and 1000 <= y <= 9999
                    for y in years) and years[0] <= years[1]):
        raise ConfigError(f"{key}.timestamp_years: expected [first, last] years between 1000 "
                          f"and 9999, e.g. [1970, 2100], got {years!r}")
    return {"timestamp_format": fmt, "timestamp_unit": unit,
            "timestamp_years": (years[0], years[1])}


def _parse_labels(key: str, raw: dict[str, Any], task: str) -> dict[str, str | None]:
    labels = {k: _label_value(f"{key}.{k}", raw.get(k), task)
              for k in ("positive_label", "negative_label")}
    if labels["negative_label"] is not None and labels["positive_label"] is None:
        raise ConfigError(f"{key}.negative_label: give positive_label too")
    if labels["negative_label"] is not None and labels["negative_label"] == labels[
            "positive_label"]:
        raise ConfigError(f"{key}.negative_label: same as positive_label")
    return labels


def _label_value(key: str, raw: Any, task: str) -> str | None:
    if raw is None:
        return None
    if task != "binary_classification":
        raise ConfigError(f"{key}: applies to binary_classification only (task is {task})")
    if isinstance(raw, bool) or not isinstance(raw, str | int) or not str(raw).strip():
        raise ConfigError(f"{key}: expected a label value such as 'fraud', got {raw!r}")
    return str(raw).strip()


def _parse_features(key: str, raw: Any) -> dict[str, str]:
    if isinstance(raw, list):
        # A plain list: kinds are inferred once at first ingest; default numeric here,
        # refined by the store from the first committed schema.
        return {name: "auto" for name in _parse_name_list(key, raw)}
    if not isinstance(raw, dict):
        raise ConfigError(f"{key}: expected a mapping name -> kind or a list, "
                          f"got {_type_name(raw)}")
    features: dict[str, str] = {}
    for name, kind in raw.items():
        if kind not in KINDS:
            raise ConfigError(f"{key}.{name}: expected numeric or categorical, got {kind!r}")
        features[str(name)] = str(kind)
    return features


def _parse_slice(key: str, raw: Any, features: dict[str, str]) -> SliceSpec:
    if not isinstance(raw, dict):
        raise ConfigError(f"{key}: expected a mapping, got {_type_name(raw)}")
    config_section(key, raw, _SLICE_KEYS)  # unknown keys
    if ("feature" in raw) == ("features" in raw):
        raise ConfigError(f"{key}: give exactly one of feature or features")
    names = ((raw["feature"],) if "feature" in raw
             else _parse_name_list(f"{key}.features", raw["features"]))
    if not 1 <= len(names) <= 3:
        raise ConfigError(f"{key}.features: a slice crosses 1 to 3 features, got {len(names)}")
    for n in names:
        if not isinstance(n, str):
            raise ConfigError(f"{key}.feature: expected a column name, got {_type_name(n)}")
        if n not in features:
            raise ConfigError(f"{key}.feature: {n!r} is not a declared feature")
    bins = raw.get("bins")
    if bins is not None:
        bins_list = _expect_list(f"{key}.bins", bins)
        if len(bins_list) < 2 or not all(
            isinstance(b, int | float) and not isinstance(b, bool) for b in bins_list
        ) or sorted(bins_list) != bins_list:
            raise ConfigError(f"{key}.bins: expected at least two increasing numbers")
        bins = tuple(float(b) for b in bins_list)
    quantiles = raw.get("quantiles")
    if quantiles is not None and (isinstance(quantiles, bool) or not isinstance(quantiles, int)
                                  or quantiles < 2):
        raise ConfigError(f"{key}.quantiles: expected an integer >= 2, got {quantiles!r}")
    if len(names) > 1 and (bins is not None or quantiles is not None):
        raise ConfigError(f"{key}: bins and quantiles apply to one feature (a numeric feature "
                          "in a cross is cut like its own slice, else at quantiles: 5)")
    name = raw.get("name")
    if name is not None and not isinstance(name, str):
        raise ConfigError(f"{key}.name: expected a string, got {_type_name(name)}")
    return SliceSpec(features=tuple(names), bins=bins, quantiles=quantiles, name=name)


def _column_name(key: str, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{key}: expected a column name, got {_type_name(value)}")
    return value


def _parse_name_list(key: str, raw: Any) -> tuple[str, ...]:
    items = _expect_list(key, raw)
    for i, item in enumerate(items):
        if not isinstance(item, str):
            raise ConfigError(f"{key}[{i}]: expected a column name, got {_type_name(item)}")
    return tuple(items)


def _expect_list(key: str, raw: Any) -> list[Any]:
    if not isinstance(raw, list):
        raise ConfigError(f"{key}: expected a list, got {_type_name(raw)}")
    return raw


def _type_name(value: Any) -> str:
    return {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean",
            int: "an integer", float: "a number", type(None): "nothing"}.get(
        type(value), type(value).__name__)


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
