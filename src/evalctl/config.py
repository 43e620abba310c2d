"""The config as frozen dataclasses: `Config`, its `ModelConfig`s and their `SliceSpec`s, with
the constants and name rules every layer shares.

A leaf: every layer imports it (the lake, metrics, analyses), so it imports only `errors` and
`settings.sections` (whose one import, `stats.cbpe`, imports no evalctl module). The YAML
is read and validated, once, by `evalctl.settings.load.load_config`; each check's settings
are parsed there too and hung on the model as `model.settings`.
"""

from __future__ import annotations

import os
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evalctl.engines.settings import EngineSettings
from evalctl.errors import ConfigError
from evalctl.settings.sections import ModelSettings, ProfileSettings

TASKS = ("binary_classification", "multiclass_classification", "regression", "ranking")
KINDS = ("numeric", "categorical")
CONFIG_ENV = "EVALCTL_CONFIG"
STORE_ENV = "EVALCTL_STORE"
DEFAULT_CONFIG_PATHS = (Path("evalctl.yaml"), Path("configs/evalctl.yaml"))

TIMESTAMP_UNITS = ("s", "ms", "us")
SCORE_SCALES = ("probability", "unbounded")
PLAUSIBLE_YEARS = (1970, 2100)  # default timestamp_years; also the selectors' date range
DEFAULT_THRESHOLD = 0.5  # binary decision threshold on a probability score
NULL_VALUES = ("", "NA", "N/A", "null", "NULL", "None")  # default null_values
NAME_MAX = 128  # characters in a model or version name (a partition folder)


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
    threshold: float = DEFAULT_THRESHOLD
    proxies: tuple[str, ...] = ()
    slices: tuple[SliceSpec, ...] = ()
    checks: dict[str, Any] = field(default_factory=dict)  # as written (shown by config show)
    settings: ModelSettings = field(default_factory=ModelSettings)  # checks, parsed
    timestamp_format: str | None = None  # strftime of text timestamps; None: ISO 8601 only
    timestamp_unit: str | None = None  # s | ms | us: numeric epochs
    timestamp_years: tuple[int, int] = PLAUSIBLE_YEARS
    score_scale: str = "probability"  # | unbounded (logits, margins, regression values)
    positive_label: str | None = None  # binary text label meaning 1
    negative_label: str | None = None  # binary text label meaning 0 (others are then refused)
    null_values: tuple[str, ...] = NULL_VALUES  # text read as null (after trimming spaces)
    actuals_timestamp: str | None = None  # the actuals' arrival-time column (default timestamp)
    scores: dict[str, str] = field(default_factory=dict)  # multiclass: class -> its probability
    profiles: ProfileSettings = field(default_factory=ProfileSettings)  # reference, granularity

    @property
    def classes(self) -> tuple[str, ...]:
        """A multiclass model's classes, in the order `scores:` names them (else empty)."""
        return tuple(self.scores)

    @property
    def output_columns(self) -> list[str]:
        """Model outputs (prediction, score) checked like features by skew and drift."""
        return [c for c in (self.prediction, self.score, *self.scores.values()) if c]

    @property
    def checked_columns(self) -> set[str]:
        """Every column a check's per-feature settings may name: features and outputs."""
        return set(self.features) | set(self.output_columns)


@dataclass(frozen=True)
class Config:
    """The whole file: where the store lives and its models."""

    path: Path | None
    store: Path | str | None  # a folder, or an `s3://bucket/prefix` URL (README "Object storage")
    models: dict[str, ModelConfig]
    engine: EngineSettings = field(default_factory=EngineSettings)  # `engine:` (Spark)
    # `storage_options:`: object_store keys (endpoint, region, allow_http...) for an s3:// store
    storage_options: dict[str, str] = field(default_factory=dict)

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


SAFE_NAME_RULE = (f"at most {NAME_MAX} characters; no / \\ = : @ [ ] * ? spaces or "
                  "invisible characters, not starting with .")
_UNSAFE_CHARACTERS = frozenset("/\\=:@[]*?")
_INVISIBLE = ("Cc", "Cf", "Co", "Cs", "Cn", "Zs", "Zl", "Zp")  # controls, bidi, zero-width...


def safe_name(value: str) -> bool:
    """Whether a model or version name can be a partition folder (``model=NAME``) that every
    read finds literally (no glob characters) and every terminal shows as it is."""
    return name_problem(value) is None


def name_problem(value: str) -> str | None:
    """Why a model or version name is refused (None when it is fine); the length first, so
    an overlong name is an input error, never a file-system one."""
    if not value:
        return "is empty"
    if len(value) > NAME_MAX:
        return f"is {len(value):,} characters long (at most {NAME_MAX})"
    for ch in value:
        if unicodedata.category(ch) in _INVISIBLE:
            return f"contains the invisible or space character U+{ord(ch):04X}"
        if ch in _UNSAFE_CHARACTERS:
            return f"contains {ch!r}"
    if value.startswith("."):
        return "starts with '.'"
    return None


def show_name(value: str) -> str:
    """A name for a one-line message: escaped, and cut short when it is long."""
    return repr(value) if len(value) <= 60 else repr(value[:40]) + f"... ({len(value):,} chars)"


def output_kinds(task: str, score: str | None, prediction: str | None,
                 scores: dict[str, str] | None = None) -> dict[str, str]:
    """The model's outputs as checked columns: the score and each class's probability
    (`scores`) are numeric; the prediction numeric for regression and ranking, else
    categorical."""
    kinds = {score: "numeric"} if score else {}
    kinds |= dict.fromkeys((scores or {}).values(), "numeric")
    if prediction:
        kinds[prediction] = "numeric" if task in ("regression", "ranking") else "categorical"
    return kinds
