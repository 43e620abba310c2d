"""What `evalctl estimate` asks of one task's estimator, and the rules every estimator shares.

`analyses.estimate` drives the command (windows, proxies, summary); each task plugs in one
`Estimator` (`analyses.estimate.ESTIMATORS`, keyed by task: CBPE for binary and multiclass
classifiers, direct loss estimation for regression):

* `columns(model)`: the per-row columns the grouped query keys on beside (window, version),
  already aliased; a label among them must be aliased `Y` (its non-null rows are a window's
  labelled rows). Rows are aggregated by (window, version, *these columns) with their count `n`.
* `estimate(EstimateInput)`: from the grouped reference and current frames, the estimated
  and realised metrics per window (`WindowEstimates`). An estimator that needs the rows
  themselves (a model of the loss fitted on features) scans them through `store` and the
  selections in its input, and counts the labelled rows itself.
* how its metrics are judged (`judge`, `thresholds`), banded (`bands`) and what "the
  relationship changed" means for it (`concept`).

What every estimator shares is here, once: a window's status and alerts (`window_results`),
and the back-test rule (`estimate_backtest.contradicted`): a window whose realised value lies
beyond the estimate's band by more than another half-width is *contradicted*, which no
label-free estimator can see.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from evalctl.analyses.estimate_backtest import contradicted, decided_by, metric_why
from evalctl.metrics.intervals import z_value
from evalctl.stats import cbpe, dle

if TYPE_CHECKING:
    from evalctl.config import ModelConfig
    from evalctl.lake.store import Selection, Store
    from evalctl.settings.sections import EstimateSettings

# Column aliases of the grouped frames: window key, score, prediction, label, first timestamp,
# window index. Estimators may add their own (multiclass: one score column per class, `S0`...).
W, S, P, Y, T, IDX = "_w", "_s", "_p", "_y", "_t", "_i"
INSUFFICIENT = "insufficient"
Estimates = dict[str, tuple[np.ndarray, np.ndarray]]  # metric -> (value, SE) per window
Band = dict[str, float | None]  # one window's estimate of one metric: value, lower, upper, se


@dataclass(frozen=True)
class EstimateInput:
    """What an estimator gets: the model, the grouped reference (all window 0) and current
    frames (the current with each group's window key `W` and index `IDX`), the number of
    windows, the reference selector's text for messages, the estimate's settings, and, for an
    estimator that scans rows itself, the store, the (reference, current) selections and the
    window key expression (`W` of a row; join the current frame's (`W`, `IDX`) pairs to index
    it)."""

    model: ModelConfig
    ref: pl.DataFrame
    cur: pl.DataFrame
    windows: int
    reference: str
    settings: EstimateSettings
    store: Store | None = None
    selections: tuple[Selection, Selection] | None = None
    key: pl.Expr | None = None


@dataclass(frozen=True)
class WindowEstimates:
    """An estimator's answer: per window, each metric's estimate and standard error, and its
    realised value over the labelled rows (NaN where none); the reference's realised values;
    what the report's `inputs` should say of how it was fitted (`calibration`...); and, from an
    estimator that counts labelled rows itself (the grouped query has no `Y`), those counts per
    window and on the reference."""

    estimated: Estimates
    realised: dict[str, np.ndarray]
    reference_realised: dict[str, float | None]
    inputs: dict[str, Any] = field(default_factory=dict)
    labelled: np.ndarray | None = None
    reference_labelled: int | None = None


def clipped_bands(estimates: Estimates, i: int, z: float) -> dict[str, Band]:
    """Window `i` of every metric as value ± z·SE clipped to [0, 1] (`band`)."""
    return {m: band(values, errors, i, z, bounded=True)
            for m, (values, errors) in estimates.items()}


def judge(estimator: Estimator, estimated: dict[str, Band], reference: dict[str, float | None],
          settings: EstimateSettings) -> list[dict[str, Any]]:
    """The window's judged metrics that do not pass, failures first: a loss above the
    reference by more than the relative rises or above `max` (`dle.judge_window`), any other
    metric below the reference by more than the drops or below `min` (`cbpe.judge_window`)."""
    if estimator.losses:
        return dle.judge_window(estimated, reference, settings.metrics, settings.maximum,
                                settings.warn_drop, settings.fail_drop)
    return cbpe.judge_window(estimated, reference, settings.metrics, settings.minimum,
                             settings.warn_drop, settings.fail_drop)


def thresholds(estimator: Estimator, settings: EstimateSettings) -> dict[str, Any]:
    """The thresholds `judge` used, for the report's inputs."""
    if estimator.losses:
        return {"metrics": list(settings.metrics), "min": {}, "max": dict(settings.maximum),
                "warn_drop": settings.warn_drop, "fail_drop": settings.fail_drop,
                "relative": True}
    return {"metrics": list(settings.metrics), "min": settings.minimum,
            "warn_drop": settings.warn_drop, "fail_drop": settings.fail_drop}


@dataclass(frozen=True)
class Estimator:
    """One task's estimator: the metrics it estimates (the first is shown by default), why it
    cannot run for a model (None when it can), its grouped columns, the estimate itself, the
    sentence that says what its band covers; how a window's estimates become bands (`bands`:
    metric -> {value, lower, upper, se}); whether its metrics are losses (lower is better,
    judged against `max` and relative rises; else against `min` and drops, `judge`); what a
    window that cannot be estimated lacks (`unestimable`) and what a contradicted window says
    changed (`concept`). The defaults are CBPE's (classifiers)."""

    metrics: tuple[str, ...]
    unavailable: Callable[[ModelConfig], str | None]
    columns: Callable[[ModelConfig], dict[str, pl.Expr]]
    estimate: Callable[[EstimateInput], WindowEstimates]
    uncertainty: str
    bands: Callable[[Estimates, int, float], dict[str, Band]] = clipped_bands
    losses: bool = False
    unestimable: str = "no rows with a finite score and a 0/1 prediction"
    concept: str = "P(label | model output)"

    def settings(self, settings: EstimateSettings) -> EstimateSettings:
        """The settings with the shown and judged metrics this estimator estimates: the
        defaults name the binary metrics; a config's names were checked against the task when
        it was loaded (none left judged: all of them)."""
        judged = tuple(m for m in settings.metrics if m in self.metrics) or self.metrics
        shown = settings.metric if settings.metric in self.metrics else self.metrics[0]
        return replace(settings, metrics=judged, metric=shown)


def window_results(estimator: Estimator, data: EstimateInput, bounds: list[dict[str, Any]],
                   proxies: dict[str, list[dict[str, Any]]], settings: EstimateSettings
                   ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """One `windows` row per window (the headline metric flat, every metric's in dicts keyed
    by metric; `estimate.long_rows` makes them long) and what the estimate ran with, for the
    report's inputs."""
    fitted = estimator.estimate(data)
    z = z_value(settings.confidence)
    results = [_window_result(estimator, i, b, fitted, proxies, settings, z)
               for i, b in enumerate(bounds)]
    labelled = fitted.reference_labelled if fitted.reference_labelled is not None else int(
        data.ref.filter(pl.col(Y).is_not_null())["n"].sum())
    extra = {"metric": settings.metric, "reference_realized": fitted.reference_realised,
             "reference_labelled_rows": labelled, **fitted.inputs,
             "uncertainty": estimator.uncertainty, "confidence": settings.confidence,
             "thresholds": thresholds(estimator, settings)}
    return results, extra


def _window_result(estimator: Estimator, i: int, bound: dict[str, Any],
                   fitted: WindowEstimates, proxies: dict[str, list[dict[str, Any]]],
                   settings: EstimateSettings, z: float) -> dict[str, Any]:
    labelled = bound["labelled_rows"] if fitted.labelled is None else int(fitted.labelled[i])
    estimated = estimator.bands(fitted.estimated, i, z)
    realized = {m: _finite(v[i]) for m, v in fitted.realised.items()} if labelled else None
    points = {name: series[i] for name, series in proxies.items()}
    head = estimated[settings.metric]
    actual = realized[settings.metric] if realized else None
    status, alerts = window_status(estimator, estimated, fitted.reference_realised, points,
                                   bound["rows"], settings)
    why = [a["why"] for a in alerts]
    decided = decided_by(alerts, settings.metric) if status in ("warn", "fail") else None
    against = {m: _contradiction(estimator, m, b, (realized or {}).get(m))
               for m, b in estimated.items()} if labelled >= settings.min_rows else {}
    own_status, own_why = metric_verdicts(estimated, status, alerts, against)
    if against.get(settings.metric) and status in ("pass", "warn"):
        status = "warn"
        why.append(against[settings.metric])
    return {
        "section": "windows", "status": status,
        **{k: v for k, v in bound.items() if k not in ("_key", "labelled_rows")},
        "labelled_rows": labelled, "metric": settings.metric, "estimate": head["value"],
        "lower": head["lower"], "upper": head["upper"], "realized_value": actual,
        "error": None if actual is None or head["value"] is None else head["value"] - actual,
        "why": why[0] + (f" (+{len(why) - 1} more)" if len(why) > 1 else "") if why else None,
        "reason": why[0] if status == "error" else None, "alerts": why,
        "decided_by": decided,
        "decided_by_text": alerts[0]["why"] if decided else None,
        "metric_status": own_status, "metric_why": own_why,
        "estimated": estimated, "realized": realized,
        "contradicted": bool(against.get(settings.metric)),
        "in_band": None if realized is None else cbpe.inside_band(estimated, realized),
        "proxies": {n: {k: v for k, v in p.items() if k != "why"} for n, p in points.items()},
        "proxy_means": [p["mean"] for p in points.values()]}


def _contradiction(estimator: Estimator, metric: str, band_: Band, realised: float | None
                   ) -> str | None:
    """The words of a contradicted estimate (`contradicted`), None when it is not."""
    if not contradicted(band_, realised):
        return None
    return (f"realised {metric} {realised:.4g} contradicts the estimate [{band_['lower']:.4g}, "
            f"{band_['upper']:.4g}]: {estimator.concept} changed since the reference?")


def metric_verdicts(estimated: dict[str, Band], status: str, alerts: list[dict[str, Any]],
                    against: dict[str, str | None]
                    ) -> tuple[dict[str, str], dict[str, str | None]]:
    """Each estimated metric's own status and why, for its row of the long format: its own
    alert (a judged metric's, against its thresholds) or else `pass`, raised to `warn` when
    its realised value contradicts its band (`against`: metric -> the words, or None);
    `insufficient` when the window was not judged (too few rows, or its headline could not be
    estimated) or the metric has no estimate. The window's status (the headline row's) is
    `window_status`'s."""
    alerted, said = {a["check"]: a["status"] for a in reversed(alerts) if "check" in a}, \
        metric_why(alerts)
    statuses: dict[str, str] = {}
    whys: dict[str, str | None] = {}
    for metric, estimate in estimated.items():
        if status in (INSUFFICIENT, "error"):
            statuses[metric], whys[metric] = INSUFFICIENT, alerts[0]["why"] if alerts else None
        elif estimate["value"] is None:
            statuses[metric], whys[metric] = INSUFFICIENT, f"{metric} cannot be estimated"
        else:
            statuses[metric], whys[metric] = alerted.get(metric, "pass"), said.get(metric)
            if against.get(metric) and statuses[metric] == "pass":
                statuses[metric], whys[metric] = "warn", against[metric]
    return statuses, whys


def window_status(estimator: Estimator, estimated: dict[str, Band],
                  ref_real: dict[str, float | None], points: dict[str, dict[str, Any]],
                  rows: int, settings: EstimateSettings) -> tuple[str, list[dict[str, Any]]]:
    """The window's status and every alert behind it (failures first), each with its `why`
    (and, for an estimated metric, `check`, `value`, `threshold`)."""
    if rows < settings.min_rows:
        return INSUFFICIENT, [{"why": f"fewer than {settings.min_rows} rows: not judged"}]
    if estimated[settings.metric]["value"] is None:
        return "error", [{"why": f"{settings.metric} cannot be estimated: "
                                 f"{estimator.unestimable}"}]
    alerts = judge(estimator, estimated, ref_real, settings)
    alerts += [{"status": "warn", "why": p["why"]} for p in points.values()
               if p["status"] == "warn"]
    status = "fail" if any(a["status"] == "fail" for a in alerts) else (
        "warn" if alerts else "pass")
    return status, alerts


def band(values: np.ndarray, errors: np.ndarray, i: int, z: float, bounded: bool
         ) -> Band:
    """Window `i` as {value, lower, upper, se}: value ± z·SE, clipped to [0, 1] when
    `bounded`; None where undefined."""
    value, se = _finite(values[i]), _finite(errors[i])
    if value is None or se is None:
        return {"value": value, "lower": None, "upper": None, "se": se}
    low, high = value - z * se, value + z * se
    if bounded:
        low, high = max(0.0, low), min(1.0, high)
    return {"value": value, "lower": low, "upper": high, "se": se}


def _finite(value: Any) -> float | None:
    return None if value is None or not np.isfinite(value) else float(value)
