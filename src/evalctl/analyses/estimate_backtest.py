"""The back-test of every estimator: where labels exist, how far the estimates were from the
realised values, and which windows the realised value contradicts.

A window is *contradicted* when its realised value lies beyond the estimate's band by more than
`MARGIN` - 1 half-widths (the half on the realised value's side: value to upper end above it,
lower end to value below it), with the default 2 twice as far from the estimate as the band's
edge. For a symmetric band that is more than 2·z·SE from the estimate (about 3.9 standard errors
for a 95% band: by chance about once in 10,000 windows); measuring each side by its own half
keeps the rule for a band clipped at 0 or 1 and for RMSE's asymmetric one. The band covers what
the window would realise if the relationship learnt on the reference still held, so a realised
value that far outside it says the relationship changed: concept drift, which no label-free
estimator can see. One rule for every estimator (`estimators.window_results` applies it).
Works on the per-window rows `estimate` builds before it writes them in long format
(`analyses.estimate.long_rows`): the headline metric's `estimate`, `lower`, `upper`,
`realized_value`, `labelled_rows`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

MARGIN = 2.0  # contradicted beyond this many half-widths from the estimate


def contradicted(band: dict[str, float | None], realised: float | None,
                 margin: float = MARGIN) -> bool:
    """Whether `realised` lies more than `margin` half-widths of `band` ({value, lower, upper})
    from its value, each side measured by its own half-width; False when any is unknown."""
    value, lower, upper = band.get("value"), band.get("lower"), band.get("upper")
    if realised is None or value is None or lower is None or upper is None:
        return False
    if realised >= value:
        return realised - value > margin * (upper - value)
    return value - realised > margin * (value - lower)


def backtest_summary(compared: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Over the windows whose estimate can be checked (`compared`: rows with a realised value
    and a band): mean and max absolute error of the estimate, the share of realised values
    inside the band, and how many windows were contradicted (rows without a `contradicted`
    field count as not)."""
    errors = [abs(r["estimate"] - r["realized_value"]) for r in compared]
    inside = [r["lower"] <= r["realized_value"] <= r["upper"] for r in compared]
    return {"mean_abs_error": sum(errors) / len(errors) if errors else None,
            "max_abs_error": max(errors) if errors else None,
            "band_coverage": sum(inside) / len(inside) if inside else None,
            "contradicted": sum(bool(r.get("contradicted")) for r in compared)}


def contradicted_recommendation(windows: Sequence[dict[str, Any]], metric: str,
                                refit: str) -> list[str]:
    """One line when labelled windows contradicted their estimate: how many, the first, why
    (concept drift) and what to run (`refit`: the command that re-learns on recent labels)."""
    hit = [w for w in windows if w.get("contradicted")]
    if not hit:
        return []
    labelled = sum(1 for w in windows if w.get("realized_value") is not None)
    first = hit[0]["window_start"]
    day = first.date().isoformat() if hasattr(first, "date") else str(first)
    return [f"the realised {metric} contradicted the estimate beyond its band in {len(hit)} of "
            f"{labelled} labelled windows (first {day}): the relationship between the inputs "
            "and the target has changed since the reference (concept drift), which no "
            "label-free estimator can see; trust the realised values there and re-learn the "
            f"estimate on recent labelled rows: {refit}"]


def metric_why(alerts: Sequence[dict[str, Any]]) -> dict[str, str]:
    """Each estimated metric's own alert in words (its first; failures come first), from a
    window's alerts (those about a metric name it as `check`)."""
    out: dict[str, str] = {}
    for alert in alerts:
        if "check" in alert:
            out.setdefault(alert["check"], alert["why"])
    return out


def decided_by(alerts: list[dict[str, Any]], metric: str) -> dict[str, Any] | None:
    """The alert that set the window's status when the shown metric alone would not have (recall
    failing while accuracy passes): check, value, threshold and status; else None. Shared by the
    binary/multiclass and regression estimates."""
    rank = {"pass": 0, "warn": 1, "fail": 2}
    own = next((a["status"] for a in alerts if a.get("check") == metric), "pass")
    deciding = alerts[0] if alerts else None
    if deciding is None or rank[own] >= rank[deciding["status"]]:
        return None
    if "check" not in deciding:  # a proxy outside its limits
        return {"check": "proxy", "value": None, "threshold": None,
                "status": deciding["status"], "why": deciding["why"]}
    return {k: deciding[k] for k in ("check", "value", "threshold", "status")}
