"""Binary classifiers' estimator for `evalctl estimate`: CBPE (`evalctl.stats.cbpe`).

One isotonic calibrator per model version, fitted on the labelled reference; per window the
expected confusion matrix and rank AUC of the calibrated probabilities, beside the realised
metrics over the labelled rows.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from evalctl.analyses.estimators import (
    IDX,
    EstimateInput,
    Estimates,
    Estimator,
    P,
    S,
    WindowEstimates,
    Y,
)
from evalctl.analyses.performance import finite
from evalctl.config import ModelConfig
from evalctl.errors import InputError
from evalctl.lake.store import VERSION_COL
from evalctl.stats import cbpe

UNCERTAINTY = ("label-sampling standard error: the spread of the metric the window would "
               "realise if its labels were drawn from the calibrated probabilities "
               "(Poisson-binomial variance, delta method for ratios); band = estimate ± z·SE")


def unavailable(model: ModelConfig) -> str | None:
    """Why CBPE cannot run for this binary model, or None when it can."""
    if not model.score:
        return "CBPE needs a `score` column (the probability of the positive class)"
    if not model.label:
        return "CBPE needs a `label` column to calibrate on the reference"
    return None


def columns(model: ModelConfig) -> dict[str, pl.Expr]:
    """Score, 0/1 prediction (score >= threshold when the model has no prediction column) and
    0/1 label."""
    score = pl.col(str(model.score)).cast(pl.Float64)
    pred = pl.col(model.prediction) if model.prediction else score >= model.threshold
    return {S: score, P: pred.cast(pl.Int8), Y: pl.col(str(model.label)).cast(pl.Int8)}


def estimate(data: EstimateInput) -> WindowEstimates:
    """CBPE per window, the realised metrics beside it, the reference's realised metrics."""
    calibrators = _calibrators(data.ref, data.reference)
    ref_real = {m: finite(v[0]) for m, (v, _) in _metric_arrays(
        _arrays(data.ref.with_columns(pl.lit(0).alias(IDX)), calibrators), 1, True).items()}
    a = _arrays(data.cur, calibrators)
    return WindowEstimates(
        _metric_arrays(a, data.windows, False),
        {m: v for m, (v, _) in _metric_arrays(a, data.windows, True).items()}, ref_real,
        {"calibration": {v: {"method": "isotonic", "rows": c.rows,
                             "distinct_scores": c.distinct_scores, "points": len(c.knots)}
                         for v, c in calibrators.items()}})


ESTIMATOR = Estimator(cbpe.ESTIMATED_METRICS, unavailable, columns, estimate, UNCERTAINTY)


def _calibrators(ref: pl.DataFrame, text: str) -> dict[str, cbpe.Calibrator]:
    """One isotonic calibrator per model version, from its labelled reference rows."""
    labelled = ref.filter(pl.col(Y).is_not_null() & pl.col(S).is_finite())
    out = {}
    for version in sorted(ref[VERSION_COL].unique().to_list()):
        part = labelled.filter(pl.col(VERSION_COL) == version)
        rows, positives = part["n"].sum(), (part["n"] * part[Y]).sum()
        if not rows:
            raise InputError(f"--reference {text}: no labelled rows with a score for version "
                             f"{version} (the estimate calibrates on labelled reference rows)")
        if positives in (0, rows):
            raise InputError(f"--reference {text}: every label of version {version} is "
                             f"{int(positives > 0)}: cannot calibrate the scores")
        out[version] = cbpe.fit_isotonic(part[S].to_numpy(), (part["n"] * part[Y]).to_numpy(),
                                         part["n"].to_numpy())
    return out


def _arrays(frame: pl.DataFrame, calibrators: dict[str, cbpe.Calibrator]
            ) -> dict[str, np.ndarray]:
    s = frame[S].to_numpy()
    p = np.full(len(s), np.nan)
    versions = frame[VERSION_COL].to_numpy()
    for version, calibrator in calibrators.items():
        mask = versions == version
        p[mask] = calibrator.apply(s[mask])
    return {"i": frame[IDX].to_numpy(), "s": s, "p": p,
            "pred": frame[P].fill_null(-1).to_numpy(), "n": frame["n"].to_numpy().astype(float),
            "y": frame[Y].cast(pl.Float64).fill_null(np.nan).to_numpy()}


def _metric_arrays(a: dict[str, np.ndarray], windows: int, realised: bool) -> Estimates:
    ok = np.isfinite(a["p"]) & np.isin(a["pred"], (0, 1))
    if realised:
        ok &= np.isfinite(a["y"])
    prob = a["y"] if realised else a["p"]
    return cbpe.estimate_metrics(a["i"][ok], a["s"][ok], prob[ok], a["pred"][ok], a["n"][ok],
                                 windows)
