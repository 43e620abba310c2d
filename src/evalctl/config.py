"""YAML config -> frozen dataclasses, validated once on load.

Every error names the key path, e.g.
``models.tv-recommender.features.age: expected numeric or categorical, got 'number'``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from evalctl.errors import ConfigError

TASKS = ("binary_classification", "multiclass_classification", "regression", "ranking")
KINDS = ("numeric", "categorical")
CONFIG_ENV = "EVALCTL_CONFIG"
STORE_ENV = "EVALCTL_STORE"
DEFAULT_CONFIG_PATHS = (Path("evalctl.yaml"), Path("configs/evalctl.yaml"))

_MODEL_KEYS = {
    "task", "id", "timestamp", "prediction", "score", "label", "group",
    "features", "proxies", "slices", "checks", "threshold",
}
_SLICE_KEYS = {"feature", "features", "bins", "quantiles", "name"}


@dataclass(frozen=True)
class SliceSpec:
    """A declared slice: one feature (values, bin edges or quantiles) or a cross of 2-3 features."""

    features: tuple[str, ...]
    bins: tuple[float, ...] | None = None
    quantiles: int | None = None
    name: str | None = None

    @property
    def label(self) -> str:
        return self.name or " x ".join(self.features)


@dataclass(frozen=True)
class ModelConfig:
    """One model's contract: which columns mean what."""

    name: str
    task: str
    id: str
    timestamp: str
    features: dict[str, str]
    prediction: str | None = None
    score: str | None = None
    label: str | None = None
    group: str | None = None
    threshold: float = 0.5
    proxies: tuple[str, ...] = ()
    slices: tuple[SliceSpec, ...] = ()
    checks: dict[str, Any] = field(default_factory=dict)

    @property
    def output_columns(self) -> list[str]:
        """Model outputs (prediction, score) checked like features by skew and drift."""
        return [c for c in (self.prediction, self.score) if c]

    @property
    def checked_columns(self) -> set[str]:
        """Every column a check's per-feature settings may name: features and outputs."""
        return set(self.features) | set(self.output_columns)


@dataclass(frozen=True)
class Config:
    """The whole file: where the store lives and its models."""

    path: Path | None
    store: Path | None
    models: dict[str, ModelConfig]

    def model(self, name: str) -> ModelConfig:
        if name not in self.models:
            known = ", ".join(sorted(self.models)) or "none"
            raise ConfigError(f"unknown model {name!r} (configured models: {known})")
        return self.models[name]


def find_config_path(explicit: str | Path | None) -> Path | None:
    """--config, then $EVALCTL_CONFIG, then ./evalctl.yaml, then ./configs/evalctl.yaml."""
    if explicit:
        return Path(explicit)
    if os.environ.get(CONFIG_ENV):
        return Path(os.environ[CONFIG_ENV])
    for candidate in DEFAULT_CONFIG_PATHS:
        if candidate.is_file():
            return candidate
    return None


def load_config(path: str | Path | None = None) -> Config:
    """Load and validate a config file; a missing default config yields an empty config."""
    found = find_config_path(path)
    if found is None:
        return Config(path=None, store=None, models={})
    if not found.is_file():
        raise ConfigError(f"{found}: config file not found")
    try:
        raw = yaml.safe_load(found.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{found}: not valid YAML: {_first_line(exc)}") from exc
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
    unknown = set(raw) - {"store", "models"}
    if unknown:
        raise ConfigError(f"{where}{sorted(unknown)[0]}: unknown key (valid keys: models, store)")
    store = raw.get("store")
    if store is not None and not isinstance(store, str):
        raise ConfigError(f"{where}store: expected a path string, got {_type_name(store)}")
    models_raw = raw.get("models") or {}
    if not isinstance(models_raw, dict):
        raise ConfigError(f"{where}models: expected a mapping, got {_type_name(models_raw)}")
    try:
        models = {str(n): _parse_model(str(n), m) for n, m in models_raw.items()}
    except ConfigError as exc:
        raise ConfigError(f"{where}{exc}") from None
    store_path = (base_dir / store).resolve() if store else None
    return Config(path=path, store=store_path, models=models)


SAFE_NAME_RULE = "no / \\ = : @ or spaces, not starting with ."


def safe_name(value: str) -> bool:
    """Whether a model or version name can be a partition folder (``model=NAME``)."""
    return bool(value) and not any(ch in value for ch in "/\\=:@ ") \
        and not value.startswith(".")


def output_kinds(task: str, score: str | None, prediction: str | None) -> dict[str, str]:
    """The model's outputs as checked columns: the score is numeric; the prediction numeric
    for regression and ranking, else categorical."""
    kinds = {score: "numeric"} if score else {}
    if prediction:
        kinds[prediction] = "numeric" if task in ("regression", "ranking") else "categorical"
    return kinds


def _parse_model(name: str, raw: Any) -> ModelConfig:
    key = f"models.{name}"
    if not safe_name(name):  # the name is a partition folder (model=NAME)
        raise ConfigError(f"{key}: {name!r} is not a valid model name ({SAFE_NAME_RULE})")
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
    if not columns["prediction"] and not columns["score"]:
        raise ConfigError(f"{key}: give prediction or score (or both)")
    threshold = raw.get("threshold", 0.5)
    if isinstance(threshold, bool) or not isinstance(threshold, int | float):
        raise ConfigError(f"{key}.threshold: expected a number, got {_type_name(threshold)}")
    features = _parse_features(f"{key}.features", raw.get("features") or {})
    proxies = _parse_name_list(f"{key}.proxies", raw.get("proxies") or [])
    slices = tuple(
        _parse_slice(f"{key}.slices[{i}]", s, features)
        for i, s in enumerate(_expect_list(f"{key}.slices", raw.get("slices") or []))
    )
    checks = raw.get("checks") or {}
    if not isinstance(checks, dict):
        raise ConfigError(f"{key}.checks: expected a mapping, got {_type_name(checks)}")
    from evalctl.check_settings import validate_checks

    outputs = output_kinds(task, columns["score"], columns["prediction"])
    validate_checks(f"{key}.checks", checks, {**features, **outputs},
                    task if task in TASKS else None)
    named = [(role, col) for role, col in columns.items() if col]
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
    reserved = {c for c in columns.values() if c}
    clash = reserved & set(features)
    if clash:
        raise ConfigError(f"{key}.features.{sorted(clash)[0]}: also used as id/timestamp/output")
    return ModelConfig(
        name=name, task=task, id=str(columns["id"]), timestamp=str(columns["timestamp"]),
        prediction=columns["prediction"], score=columns["score"], label=columns["label"],
        group=columns["group"], threshold=float(threshold), features=features,
        proxies=proxies, slices=slices, checks=checks,
    )


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
    from evalctl.check_settings import config_section

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
