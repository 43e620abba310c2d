"""Multiclass classifiers' estimator for `evalctl estimate`: one-vs-rest CBPE
(`evalctl.stats.cbpe_multiclass`).

Per model version, one isotonic calibrator per class fitted on the labelled reference; per
window the expected accuracy, macro F1 and one-vs-rest macro ROC AUC of the calibrated
probabilities, beside the realised metrics over the labelled rows. The classes and their
probability columns come from the model's `scores:`; the prediction is its `prediction`
column, or the most probable class when it has none.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from evalctl.analyses.estimators import (
    IDX,
    EstimateInput,
    Estimates,
    Estimator,
    P,
    WindowEstimates,
    Y,
)
from evalctl.analyses.performance import finite
from evalctl.config import ModelConfig
from evalctl.errors import InputError
from evalctl.lake.store import VERSION_COL
from evalctl.stats import cbpe_multiclass as mc

UNCERTAINTY = ("label-sampling standard error: the spread of the metric the window would "
               "realise if each row's label were drawn from its calibrated class "
               "probabilities (categorical labels, delta method for F1 and AUC); band = "
               "estimate ± z·SE")


def score_column(k: int) -> str:
    """The grouped frame's alias of class k's probability."""
    return f"_s{k}"


def unavailable(model: ModelConfig) -> str | None:
    """Why multiclass CBPE cannot run for this model, or None when it can."""
    if not model.scores:
        return ("multiclass CBPE needs each class's probability column: declare them as "
                "scores: {class: column, ...}")
    if not model.label:
        return "CBPE needs a `label` column to calibrate on the reference"
    return None


def columns(model: ModelConfig) -> dict[str, pl.Expr]:
    """Each class's probability, the predicted class's index (0..K-1; -1 for another value)
    and the label's (null when missing or not a class)."""
    classes = list(model.classes)
    probs = {score_column(k): pl.col(c).cast(pl.Float64)
             for k, c in enumerate(model.scores.values())}
    codes = list(range(len(classes)))
    if model.prediction:
        pred = pl.col(model.prediction).cast(pl.String).replace_strict(
            classes, codes, default=-1, return_dtype=pl.Int16)
    else:
        pred = pl.concat_list(list(probs.values())).list.arg_max().cast(pl.Int16)
    label = pl.col(str(model.label)).cast(pl.String).replace_strict(
        classes, codes, default=None, return_dtype=pl.Int16)
    return {**probs, P: pred, Y: label}


def estimate(data: EstimateInput) -> WindowEstimates:
    """Multiclass CBPE per window, the realised metrics beside it, the reference's."""
    classes = data.model.classes
    calibrators = _calibrators(data.ref, classes, data.reference)
    ref = _arrays(data.ref.with_columns(pl.lit(0).alias(IDX)), calibrators, len(classes))
    ref_real = {m: finite(v[0]) for m, (v, _) in _realised(ref).items()}
    est, real = _metrics(_arrays(data.cur, calibrators, len(classes)), data.windows)
    return WindowEstimates(
        est, {m: v for m, (v, _) in real.items()}, ref_real,
        {"classes": list(classes),
         "calibration": {v: {"method": "isotonic, one-vs-rest per class",
                             "rows": c.per_class[0].rows,
                             "distinct_scores": sum(k.distinct_scores for k in c.per_class),
                             "points": sum(len(k.knots) for k in c.per_class)}
                         for v, c in calibrators.items()}})


ESTIMATOR = Estimator(mc.ESTIMATED_METRICS, unavailable, columns, estimate, UNCERTAINTY)


def _scores(frame: pl.DataFrame, k: int) -> np.ndarray:
    return np.column_stack([frame[score_column(j)].to_numpy() for j in range(k)]) if \
        frame.height else np.zeros((0, k))


def _calibrators(ref: pl.DataFrame, classes: tuple[str, ...], text: str
                 ) -> dict[str, mc.MulticlassCalibrator]:
    """Per model version, one-vs-rest isotonic calibrators from its labelled reference rows."""
    out = {}
    for version in sorted(ref[VERSION_COL].unique().to_list()):
        part = ref.filter((pl.col(VERSION_COL) == version) & pl.col(Y).is_not_null())
        s = _scores(part, len(classes))
        ok = np.isfinite(s).all(axis=1)
        if not ok.any():
            raise InputError(f"--reference {text}: no labelled rows with every class's "
                             f"probability for version {version} (the estimate calibrates "
                             "on labelled reference rows)")
        y = part[Y].to_numpy()[ok]
        missing = [c for k, c in enumerate(classes) if not (y == k).any()]
        if missing:
            raise InputError(f"--reference {text}: no labelled row of class "
                             f"{', '.join(map(repr, missing))} for version {version}: cannot "
                             "calibrate its probability (choose a reference that holds every "
                             "class)")
        out[version] = mc.fit_calibrators(s[ok], y, part["n"].to_numpy()[ok])
    return out


def _arrays(frame: pl.DataFrame, calibrators: dict[str, mc.MulticlassCalibrator], k: int
            ) -> dict[str, Any]:
    s = _scores(frame, k)
    q = np.full(s.shape, np.nan)
    versions = frame[VERSION_COL].to_numpy()
    for version, calibrator in calibrators.items():
        mask = versions == version
        q[mask] = calibrator.apply(s[mask])
    return {"i": frame[IDX].to_numpy(), "s": s, "q": q,
            "pred": frame[P].fill_null(-1).to_numpy().astype(np.int64),
            "n": frame["n"].to_numpy().astype(float),
            "y": frame[Y].fill_null(-1).to_numpy().astype(np.int64)}


def _usable(a: dict[str, Any]) -> np.ndarray:
    """Rows with every probability (raw and calibrated) and a predicted class."""
    k = a["s"].shape[1]
    return np.isfinite(a["s"]).all(axis=1) & np.isfinite(a["q"]).all(axis=1) & \
        (a["pred"] >= 0) & (a["pred"] < k)


def _metrics(a: dict[str, Any], windows: int) -> tuple[Estimates, Estimates]:
    """Estimated metrics per window, and realised ones over the labelled rows."""
    ok = _usable(a)
    return mc.estimate_with_realised(a["i"][ok], a["s"][ok], a["q"][ok], a["pred"][ok],
                                     a["n"][ok], a["y"][ok], windows)


def _realised(a: dict[str, Any]) -> Estimates:
    """Realised metrics of one window (the reference) over its labelled rows."""
    ok = _usable(a) & (a["y"] >= 0)
    one_hot = np.equal.outer(a["y"][ok], np.arange(a["s"].shape[1])).astype(float)
    return mc.estimate_metrics(a["i"][ok], a["s"][ok], one_hot, a["pred"][ok], a["n"][ok], 1)
