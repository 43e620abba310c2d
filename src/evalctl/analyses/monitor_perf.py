"""Monitor checks about model quality: performance, slice regressions, proxies, retraining."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from typing import Any

import polars as pl

from evalctl.analyses.performance import (
    LOWER_IS_BETTER,
    default_metric,
    finite,
    gap_text,
    metrics_frame,
    moved_text,
)
from evalctl.config import ModelConfig
from evalctl.errors import EvalctlError
from evalctl.lake.selectors import Selector, parse_selector
from evalctl.lake.store import Store
from evalctl.settings.sections import MonitorSettings


def reference_selector(store: Store, model: ModelConfig, window: Selector,
                       s: MonitorSettings) -> Selector:
    """The performance reference, pinned to the version live in the window when it has one."""
    ref = parse_selector(s.performance_reference)
    if ref.version is not None:
        return ref
    live = store.select(model.name, window).versions
    have = {r.version for r in store.prediction_records(model.name) if r.env == ref.env}
    return replace(ref, version=live[-1]) if live and live[-1] in have else ref


def performance(store: Store, model: ModelConfig, window: Selector, lf: pl.LazyFrame,
                labels: dict[str, Any], s: MonitorSettings) -> dict[str, Any]:
    """Realised metric of the window vs the reference's; estimated when labels are missing."""
    metric = default_metric(model, s.metric)
    base = {"check": "performance", "feature": metric}
    try:
        ref_sel = reference_selector(store, model, window, s)
        ref = _overall(metrics_frame(model, store.scan(model, ref_sel), [metric], []))
    except EvalctlError as exc:
        return {**base, "value": None, "threshold": None, "status": "error",
                "reason": str(exc), "summary": f"no performance reference: {exc}"}
    if labels.get("coverage", 0.0) < s.min_label_coverage:
        return _estimated(store, model, window, ref_sel, ref, metric, labels, s, base)
    cur = _overall(metrics_frame(model, lf, [metric], []))
    return _judge(base, metric, cur, ref, s, source="realised",
                  extra={"reference": ref_sel.text})


def _overall(frame: pl.DataFrame) -> dict[str, Any]:
    row = frame.filter(pl.col("slice") == "overall").row(0, named=True)
    return {"value": finite(row["value"]), "low": finite(row["ci_low"]),
            "high": finite(row["ci_high"]), "n": row["n"]}


def _judge(base: dict[str, Any], metric: str, cur: dict[str, Any], ref: dict[str, Any],
           s: MonitorSettings, source: str, extra: dict[str, Any]) -> dict[str, Any]:
    if cur["value"] is None or ref["value"] is None:
        return {**base, "value": cur["value"], "threshold": None, "status": "error",
                "reason": "metric undefined", "summary": f"{metric} undefined", **extra}
    sign = -1.0 if metric in LOWER_IS_BETTER else 1.0
    floor = ref["value"] - sign * s.max_drop
    best = cur["high"] if sign > 0 else cur["low"]
    beyond = best is not None and sign * (best - floor) < 0
    below = sign * (cur["value"] - floor) < 0
    status = "fail" if beyond else ("warn" if below else "pass")
    return {**base, "value": cur["value"], "threshold": floor, "status": status,
            "source": source, "ci": [cur["low"], cur["high"]], "reference_value": ref["value"],
            "summary": f"{source} {metric} {cur['value']:.4f} "
                       f"[{_f(cur['low'])}, {_f(cur['high'])}] vs reference "
                       f"{ref['value']:.4f} (tolerance {s.max_drop})", **extra}


def _estimated(store: Store, model: ModelConfig, window: Selector, ref_sel: Selector,
               ref: dict[str, Any], metric: str, labels: dict[str, Any], s: MonitorSettings,
               base: dict[str, Any]) -> dict[str, Any]:
    """Labels are not in yet: use the task's performance estimator where it has one (binary
    and multiclass CBPE, `analyses.estimate.ESTIMABLE_TASKS`: direct loss estimation of MAE /
    RMSE for regression)."""
    # start-up time: the estimators (~16 ms of imports) load only when labels are missing
    from evalctl.analyses.estimate import ESTIMABLE_TASKS, estimate_overall

    if model.task not in ESTIMABLE_TASKS:
        return {**base, "value": None, "threshold": None, "status": "insufficient",
                "source": "unknown", "reason": "too few labels and no estimate for this task",
                "summary": f"only {labels.get('coverage', 0):.0%} labelled: performance "
                           "cannot be judged yet (not judged, not passed)"}
    est = estimate_overall(store, model, ref_sel, window, metric)
    return _judge(base, metric, est, ref, s, source="estimated",
                  extra={"reference": ref_sel.text})


def slice_regressions(store: Store, model: ModelConfig, window: Selector,
                      labels: dict[str, Any], s: MonitorSettings) -> list[dict[str, Any]]:
    """Declared slices that got significantly worse since the performance reference, beyond
    the change of the whole window (`emerged` in `evalctl slices --compare-to`): a drop every
    segment shares is the performance check's finding, not a slice's."""
    if labels.get("coverage", 0.0) < s.min_label_coverage or not model.slices:
        return []
    # start-up time: slice discovery's modules (~8 ms of imports) load only for declared slices
    from evalctl.analyses.slices import SliceOptions, slices_report

    try:
        ref_sel = reference_selector(store, model, window, s)
        report = slices_report(store, model, window, options=SliceOptions(metric=s.metric,
                                                                          top=0),
                               compare_to=ref_sel)
    except EvalctlError as exc:
        return [{"check": "slices", "value": None, "threshold": None, "status": "error",
                 "reason": str(exc), "summary": f"slices not computed: {exc}"}]
    rows = []
    for r in report.results:
        if r.get("emerged") and r["slice"] != "overall":
            rows.append({"check": "slices", "feature": f"{r['slice']}={r['segment']}",
                         "value": r["value"], "threshold": r.get("compare_value"),
                         "status": "warn", "change": r.get("change"),
                         "summary": f"{r['slice']}={r['segment']}: "
                                    f"{moved_text(r['metric'], r['compare_value'], r['value'])}"
                                    f" since {ref_sel.text}, "
                                    f"{gap_text(r['relative_change'])} beyond the overall "
                                    "change (significant)"})
    if not rows:
        rows.append({"check": "slices", "value": 0, "threshold": None, "status": "pass",
                     "summary": "no declared slice got significantly worse than the whole"})
    return rows


def proxies(store: Store, model: ModelConfig, lf: pl.LazyFrame, s: MonitorSettings
            ) -> list[dict[str, Any]]:
    """Each proxy's window mean against its configured min / max."""
    if not model.proxies:
        return []
    means = lf.select([pl.col(p).mean().alias(p) for p in model.proxies]).collect().row(
        0, named=True)
    rows = []
    for name in model.proxies:
        value, rule = finite(means[name]), s.proxies.get(name)
        status, limit = "pass", None
        if rule and value is not None:
            if rule.minimum is not None and value < rule.minimum:
                status, limit = "fail", rule.minimum
            elif rule.maximum is not None and value > rule.maximum:
                status, limit = "fail", rule.maximum
        rows.append({"check": "proxies", "feature": name, "value": value, "threshold": limit,
                     "status": status, "summary": f"{name}: mean {_f(value)}"
                     + (f" beyond its limit {limit}" if limit is not None else "")})
    return rows


def new_labels_since_training(store: Store, model: ModelConfig, day: date) -> int:
    """Labelled production rows newer than the newest training data (candidates to retrain),
    from the ledger alone so the cost does not grow with the store: inline labels counted at
    ingest plus delayed actuals that arrived after the training window (an actual that
    re-labels a row already labelled inline counts twice: an upper bound)."""
    records = store.prediction_records(model.name)
    train_days = [f.date for r in records if r.env == "training" for f in r.files]
    start = (date.fromisoformat(max(train_days)) + timedelta(days=1)).isoformat() \
        if train_days else "0000-00-00"
    end = day.isoformat()
    inline = sum(f.labelled or 0 for r in records if r.env == "production"
                 for f in r.files if start <= f.date <= end)
    actuals = sum(f.rows for r in store.actual_records(model.name) for f in r.files
                  if start <= f.date <= end)
    return inline + actuals


def nothing_to_judge(day: date) -> dict[str, Any]:
    """The decision for a window without production rows: reported, not passed."""
    return {"check": "retraining", "value": "nothing to judge", "threshold": None,
            "status": "insufficient", "reason": f"no production rows for {day}",
            "evidence": {"rows": 0},
            "summary": f"nothing to judge: no production rows for {day} (see the volume "
                       "check), so no performance or drift verdict and no retraining decision"}


def retraining_decision(rows: list[dict[str, Any]], s: MonitorSettings,
                        new_labels: int) -> dict[str, Any]:
    """The documented rule set: retrain now / collect labels first / no action. Drift whose
    status a data-quality check set (`decided_by`) is a pipeline matter, not a reason to retrain.
    """
    perf = next((r for r in rows if r["check"] == "performance"), None)
    degraded = perf is not None and perf["status"] == "fail"
    important = set(s.important)
    sustained = [r["feature"] for r in rows if r["check"] == "drift"
                 and (not important or r["feature"] in important)
                 and r.get("windows_crossed_in_a_row", 0) >= s.sustained
                 and r["status"] == "fail" and not r.get("decided_by")]
    evidence = {"performance": perf["summary"] if perf else None,
                "sustained_drift": sustained, "new_labels": new_labels,
                "min_new_labels": s.min_new_labels,
                "data_quality": [r["feature"] for r in rows if r["check"] == "drift"
                                 and r.get("decided_by")]}
    if (degraded or sustained) and new_labels >= s.min_new_labels:
        why = "performance below tolerance" if degraded else "sustained drift"
        decision, status = "retrain now", "warn"
        text = (f"retrain now: {why}"
                + (f" ({perf['summary']})" if degraded and perf else "")
                + (f"; drift sustained ≥ {s.sustained} days in {', '.join(sustained)}"
                   if sustained else "")
                + f"; {new_labels:,} labelled rows since the training window")
    elif degraded or sustained:
        decision, status = "collect labels first", "warn"
        text = (f"collect labels first: {'performance below tolerance' if degraded else ''}"
                f"{' and ' if degraded and sustained else ''}"
                f"{'drift sustained in ' + ', '.join(sustained) if sustained else ''}, but "
                f"only {new_labels:,} labelled rows since training (need "
                f"{s.min_new_labels:,})")
    else:
        decision, status = "no action", "pass"
        judged = perf is not None and perf["status"] in ("pass", "warn")
        text = ("no action: performance within tolerance and no sustained drift" if judged else
                "no action: no sustained drift; performance was not judged (see the "
                "performance check), so this rests on drift alone")
    return {"check": "retraining", "value": decision, "threshold": None, "status": status,
            "evidence": evidence, "summary": text}


def _f(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, int | float) else "n/a"
