"""`rca` with `checks.rca.multivariate` (or `--multivariate`): a classifier two-sample test of
the current window against the baseline, whose permutation importances rank the features as
candidate causes beside the mix / performance decomposition.

The decomposition sees one feature at a time; the classifier sees them together, so a shift
in how features combine (a correlation that flips) or spread thinly over many features still
gets a name. Importances exist only when the test tells the windows apart (p < alpha):
without a shift they are noise. The sampling, row budget and test are `drift --multivariate`'s
(`evalctl.analyses.multivariate`).
"""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any

from evalctl.analyses.multivariate import (
    METHOD,
    TOP_FEATURES,
    multivariate_features,
    one_window_test,
)
from evalctl.checks.multivariate import ClassifierTestOptions
from evalctl.config import ModelConfig
from evalctl.lake.store import Selection, Store
from evalctl.settings.sections import DriftSettings


def joint_attribution(store: Store, model: ModelConfig, windows: list[Selection],
                      drift: DriftSettings) -> dict[str, Any]:
    """The test of `windows[1]` (current) against `windows[0]` (baseline): AUROC, interval,
    p-value, status and each feature's importance (AUROC drop when shuffled)."""
    baseline, current = windows
    frames = [store.scan(model, s.selector, with_actuals=False, selection=s) for s in windows]
    dates = sorted(f.date for _, _, f in current.files)
    bounds = (_midnight(dates[0]), _midnight(dates[-1]), current.rows)
    test = one_window_test(frames[0], frames[1], multivariate_features(model, drift), bounds,
                           drift, ClassifierTestOptions())
    keep = ("status", "auroc", "ci_low", "ci_high", "p_value", "top_features", "reason")
    return {"method": METHOD, **{k: test[k] for k in keep},
            "rows_baseline": test["rows_reference"], "rows_current": test["rows_window"],
            "importance": test["importance"]}


def rank_by_importance(rows: list[dict[str, Any]], joint: dict[str, Any]) -> None:
    """Each cause row's `joint_importance` (None when the windows were not told apart) and
    `joint_rank` (1 = the feature the classifier relied on most; None when it did not rely
    on it at all)."""
    importance = {f["feature"]: f["importance"] for f in joint["importance"]}
    ranked = [f["feature"] for f in joint["importance"] if f["importance"] > 0]
    for row in rows:
        row["joint_importance"] = importance.get(row["feature"])
        row["joint_rank"] = ranked.index(row["feature"]) + 1 if row["feature"] in ranked \
            else None


def joint_recommendation(joint: dict[str, Any], causes: list[dict[str, Any]]) -> list[str]:
    """One line when the classifier told the windows apart: the features it relied on, and
    which of them the decomposition does not already name as a cause."""
    if joint["status"] not in ("warn", "fail"):
        return []
    top = [f for f in joint["importance"] if f["importance"] > 0][:TOP_FEATURES]
    named = {r["feature"] for r in causes if r.get("mode") == "population_shift"}
    text = (f"multivariate: a classifier tells current rows from baseline rows (AUROC "
            f"{joint['auroc']:.3f}, p {joint['p_value']:.2g})")
    if top:
        text += "; it relied most on " + ", ".join(
            f"{f['feature']} {f['importance']:.3f}" for f in top)
        unexplained = [f["feature"] for f in top if f["feature"] not in named]
        if unexplained:
            text += (f" — {', '.join(unexplained)} moved jointly without a mix effect of "
                     "its own: look at how they combine (evalctl drift --multivariate)")
    return [text]


def _midnight(day: str) -> datetime:
    return datetime.combine(date.fromisoformat(day), time())
