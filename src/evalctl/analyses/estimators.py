"""What `evalctl estimate` asks of one task's estimator, and the rules every estimator shares.

`analyses.estimate` drives the command (windows, proxies, verdicts, back-test, summary); each
task plugs in one `Estimator` (`analyses.estimate.ESTIMATORS`, keyed by task):

* `columns(model)`: the per-row columns the grouped query keys on beside (window, version),
  already aliased; the label must be aliased `Y` (its non-null rows are a window's labelled
  rows). Rows are aggregated by (window, version, *these columns) with their count `n`.
* `estimate(EstimateInput)`: from the grouped reference and current frames, the estimated
  and realised metrics per window (`WindowEstimates`). An estimator that needs the rows
  themselves (a model of the loss fitted on features) scans them through `store` and the
  selections in its input.

The back-test rule is here, once, so every estimator flags the same windows: a window whose
realised value lies more than `CONTRADICTED` band half-widths from its estimate is
*contradicted* (`is_contradicted`): P(label | model output) moved since the reference, which
no label-free estimator can see.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import polars as pl

    from evalctl.config import ModelConfig
    from evalctl.lake.store import Selection, Store

# Column aliases of the grouped frames: window key, score, prediction, label, first timestamp,
# window index. Estimators may add their own (multiclass: one score column per class, `S0`...).
W, S, P, Y, T, IDX = "_w", "_s", "_p", "_y", "_t", "_i"
CONTRADICTED = 2.0  # realised this many band half-widths (z * SE) from the estimate
Estimates = dict[str, tuple[np.ndarray, np.ndarray]]  # metric -> (value, SE) per window


@dataclass(frozen=True)
class EstimateInput:
    """What an estimator gets: the model, the grouped reference (all window 0) and current
    frames (the current with each group's window key `W` and index `IDX`), the number of
    windows, the reference selector's text for messages, and, for an estimator that scans
    rows itself, the store, the (reference, current) selections and the window key expression
    (`W` of a row; join the current frame's (`W`, `IDX`) pairs to index it)."""

    model: ModelConfig
    ref: pl.DataFrame
    cur: pl.DataFrame
    windows: int
    reference: str
    store: Store | None = None
    selections: tuple[Selection, Selection] | None = None
    key: pl.Expr | None = None


@dataclass(frozen=True)
class WindowEstimates:
    """An estimator's answer: per window, each metric's estimate and standard error, and its
    realised value over the labelled rows (NaN where none); the reference's realised values;
    and what the report's `inputs` should say of how it was fitted (`calibration`...)."""

    estimated: Estimates
    realised: Estimates
    reference_realised: dict[str, float | None]
    inputs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Estimator:
    """One task's estimator: the metrics it estimates (the first is shown by default), why it
    cannot run for a model (None when it can), its grouped columns, the estimate itself, the
    sentence that says what its band covers, and whether its metrics live in [0, 1] (bands
    are clipped there)."""

    metrics: tuple[str, ...]
    unavailable: Callable[[ModelConfig], str | None]
    columns: Callable[[ModelConfig], dict[str, pl.Expr]]
    estimate: Callable[[EstimateInput], WindowEstimates]
    uncertainty: str
    bounded: bool = True


def is_contradicted(band: dict[str, float | None], realised: float | None, z: float) -> bool:
    """Whether a realised value contradicts an estimate's band: it lies more than
    `CONTRADICTED` half-widths (z * SE) from the estimate. Never without a realised value, an
    estimate or a standard error (no band, nothing to contradict)."""
    value, se = band.get("value"), band.get("se")
    if realised is None or value is None or se is None:
        return False
    return abs(realised - value) > CONTRADICTED * z * se


def band(values: np.ndarray, errors: np.ndarray, i: int, z: float, bounded: bool
         ) -> dict[str, float | None]:
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
