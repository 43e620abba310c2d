"""The typed settings of every check, as frozen dataclasses: each default is declared here once.

A model's are parsed once, when the config is loaded (`evalctl.settings.load`), and hung on
its `ModelConfig` as `model.settings`; commands override them with `with_options`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any, TypeVar

from evalctl.settings.alerts import AlertSettings
from evalctl.stats.estimated import BINARY_METRICS as ESTIMATED_METRICS
from evalctl.stats.estimated import MULTICLASS_METRICS as MULTICLASS_ESTIMATED
from evalctl.stats.estimated import DleOptions

# task -> the metrics `evalctl estimate` estimates for it (`checks.estimate` names are checked
# against them); the first is the task's default shown metric
ESTIMATED_BY_TASK: dict[str, tuple[str, ...]] = {
    "binary_classification": ESTIMATED_METRICS,
    "multiclass_classification": MULTICLASS_ESTIMATED,
}

ERROR_KINDS = ("misclassification", "squared", "log_loss")  # slice discovery's per-row error
THRESHOLD_MODES = ("fixed", "reference_chunks")

S = TypeVar("S")


def with_options(settings: S, **options: Any) -> S:
    """The settings with every option that was given (not None) in place of the config's: the
    one way command-line options override configured settings."""
    given = {name: value for name, value in options.items() if value is not None}
    return replace(settings, **given)  # type: ignore[type-var]


@dataclass(frozen=True)
class FeatureRule:
    """One feature's override: method, thresholds, or ignore."""

    method: str | None = None
    warn: float | None = None
    fail: float | None = None
    ignore: bool = False


@dataclass(frozen=True)
class DriftSettings:
    """`checks.skew` and `checks.drift` (same keys; window and min_rows matter to drift)."""

    numeric: str | None = None  # default: the registry's (wasserstein)
    categorical: str | None = None  # default: the registry's (jensen_shannon)
    thresholds: str = "fixed"  # | reference_chunks (mean + k * std over chunks, floored)
    k: float = 3.0
    chunks: int = 10
    fdr: float = 0.05  # Benjamini-Hochberg level when a p-value method gates
    window: str = "1d"
    min_rows: int = 100  # windows with fewer rows are `insufficient`, not judged
    top_k: int = 50
    features: dict[str, FeatureRule] = field(default_factory=dict)

    def rule(self, feature: str) -> FeatureRule:
        return self.features.get(feature, FeatureRule())


@dataclass(frozen=True)
class SlicesSettings:
    """`checks.slices`: the leaderboard's and slice discovery's defaults."""

    metric: str | None = None  # default: the task's main metric
    min_size: int = 30
    fdr: float = 0.05
    alpha: float = 0.95
    max_level: int = 3
    min_support: float | None = None
    error: str | None = None  # one of ERROR_KINDS; default by task


@dataclass(frozen=True)
class ValidateSettings:
    """`checks.validate`: the promotion gate of `evalctl validate`."""

    metrics: tuple[str, ...] = ()  # default: the task's main metrics
    minimum: dict[str, float] = field(default_factory=dict)
    max_drop: dict[str, float] = field(default_factory=dict)
    default_max_drop: float = 0.02
    min_slice_size: int = 100

    def drop_allowed(self, metric: str) -> float:
        return self.max_drop.get(metric, self.default_max_drop)


@dataclass(frozen=True)
class ProxyRule:
    """Bounds on a proxy column's window mean (monitor and estimate); outside them is `warn`."""

    minimum: float | None = None
    maximum: float | None = None


@dataclass(frozen=True)
class MonitorSettings:
    """`checks.monitor`: what `evalctl monitor` checks and when it alerts (README: "The
    retraining rules")."""

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
    multivariate: bool = False  # also a classifier two-sample test of the window (the extra)


@dataclass(frozen=True)
class EstimateSettings:
    """`checks.estimate`: the settings of `evalctl estimate`."""

    metrics: tuple[str, ...] = ESTIMATED_METRICS  # judged metrics
    metric: str = "accuracy"  # shown in the table, correlated with the proxies
    minimum: dict[str, float] = field(default_factory=dict)
    warn_drop: float = 0.02
    fail_drop: float = 0.05
    confidence: float = 0.95
    window: str = "1d"
    min_rows: int = 100
    proxies: dict[str, ProxyRule] = field(default_factory=dict)
    maximum: dict[str, float] = field(default_factory=dict)  # regression: mae / rmse ceilings
    dle: DleOptions = field(default_factory=DleOptions)  # regression: the loss models' budget


@dataclass(frozen=True)
class RcaSettings:
    """`checks.rca`: the settings of `evalctl rca`."""

    metric: str | None = None  # default: accuracy (classification), mae (regression)
    max_drop: float = 0.02
    min_labels: int = 100
    bins: int = 20
    min_share: float = 0.01
    min_explained: float = 0.25
    top: int = 5
    confidence: float = 0.95
    multivariate: bool = False  # rank causes by a classifier's permutation importances too


@dataclass(frozen=True)
class CompareSettings:
    """`checks.compare`: what is compared and what the promotion gate tolerates."""

    metric: str | None = None  # default accuracy (classification), rmse (regression)
    max_slice_drop: float = 0.02  # a slice regresses when worse by more (and significant)
    min_slice_size: int = 100  # smaller segments are reported, not judged
    alpha: float = 0.05  # significance level of the (Holm-adjusted) paired tests
    n_boot: int = 1000  # bootstrap replicates


@dataclass(frozen=True)
class ModelSettings:
    """Every check's settings of one model (`model.settings`)."""

    skew: DriftSettings = field(default_factory=DriftSettings)
    drift: DriftSettings = field(default_factory=DriftSettings)
    slices: SlicesSettings = field(default_factory=SlicesSettings)
    validate: ValidateSettings = field(default_factory=ValidateSettings)
    monitor: MonitorSettings = field(default_factory=MonitorSettings)
    estimate: EstimateSettings = field(default_factory=EstimateSettings)
    rca: RcaSettings = field(default_factory=RcaSettings)
    compare: CompareSettings = field(default_factory=CompareSettings)
    alerts: AlertSettings | None = None  # the model's `alerts:` (not a check): none by default


CHECK_NAMES = tuple(f.name for f in fields(ModelSettings) if f.name != "alerts")


PROFILE_GRANULARITIES = ("1d", "1h")


@dataclass(frozen=True)
class ProfileSettings:
    """The model keys `reference:` and `profiles:` (README: "Profiles"): the monitoring
    reference that profiles are computed on, and the time bucket of a profile."""

    reference: str | None = None  # a selector ENV[:VERSION][@RANGE]; None: no profiles
    granularity: str = "1d"  # one of PROFILE_GRANULARITIES
