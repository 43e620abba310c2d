"""`evalctl validate`: did the candidate version regress anywhere compared with the baseline?"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import polars as pl

from evalctl.analyses.common import side_inputs
from evalctl.analyses.performance import (
    LOWER_IS_BETTER,
    default_metric,
    finite,
    metrics_frame,
    moved_text,
    signed_gap,
    slice_keys,
    too_large_for_memory,
)
from evalctl.config import ModelConfig
from evalctl.errors import InputError
from evalctl.lake.selectors import Selector
from evalctl.lake.store import Store
from evalctl.metrics import PROPORTION_METRICS, two_proportion_pvalues
from evalctl.metrics.catalogue import main_metrics
from evalctl.reports import Report
from evalctl.reports.model import RESULT_STATUSES, worst_status
from evalctl.settings.sections import ValidateSettings


def validate_report(store: Store, model: ModelConfig, selector: Selector, *, candidate: str,
                    baseline: str, settings: ValidateSettings, top: int = 0) -> Report:
    """Both versions on the same rows (joined by id), overall and per declared slice, gated.

    Results are worst first, the largest drops first within a status; the overall rows are
    results like the others. `top` > 0 keeps every failing row and every overall row, and only
    that many of the others (the largest drops); `summary.results_total` counts every row.
    """
    if selector.version is not None:
        raise InputError(f"--selector {selector.text!r}: give no version; --candidate and "
                         "--baseline choose them")
    selection = store.select(model.name, selector)
    present = selection.versions
    for option, version in (("--candidate", candidate), ("--baseline", baseline)):
        if version not in present:
            raise InputError(f"{option} {version!r}: no rows in {selector.text!r} "
                             f"(versions there: {', '.join(present)})")
    cand_lf = store.scan(model, replace(selector, version=candidate))
    base_lf = store.scan(model, replace(selector, version=baseline))
    ids = cand_lf.select(model.id).join(base_lf.select(model.id), on=model.id, how="inner")
    common = ids.select(pl.len()).collect().item()
    if common == 0:
        raise InputError(f"{candidate} and {baseline} share no {model.id} in "
                         f"{selector.text!r}: validate compares both on the same rows")
    # maintain_order: the scan's order, so quantile edges sample the same rows on every run
    cand_lf = cand_lf.join(ids, on=model.id, how="semi", maintain_order="left")
    base_lf = base_lf.join(ids, on=model.id, how="semi", maintain_order="left")
    metrics = list(settings.metrics) or _main_metrics(model)
    for metric in metrics:
        default_metric(model, metric)
    keys = slice_keys(model, base_lf)
    large = too_large_for_memory(common)
    cand = metrics_frame(model, cand_lf, metrics, keys, low_memory=large)
    base = metrics_frame(model, base_lf, metrics, keys, low_memory=large)
    results = gate(cand, base, settings)
    # worst first (the Report keeps this order within a status): the largest drops first
    results.sort(key=lambda r: r["delta"] if r["delta"] is not None else 0.0)
    failed = [r for r in results if r["status"] == "fail"]
    checked = len(results)
    if top > 0:
        # in the order shown (worst first: warn, insufficient, pass; largest drop first within)
        others = sorted((r for r in results if r["status"] != "fail" and r["slice"] != "overall"),
                        key=lambda r: RESULT_STATUSES.index(r["status"]))
        kept = {id(r) for r in others[:top]}
        results = [r for r in results if r["status"] == "fail" or r["slice"] == "overall"
                   or id(r) in kept]
    return Report(
        command="validate", model=model.name, status=worst_status([r["status"] for r in results]),
        inputs={"selection": side_inputs(selection, compares_versions=True),
                "candidate": candidate, "baseline": baseline,
                "common_rows": int(common), "metrics": metrics,
                "gate": {"min": settings.minimum, "max_drop": settings.max_drop,
                         "default_max_drop": settings.default_max_drop,
                         "min_slice_size": settings.min_slice_size}},
        results=results,
        summary={"results_total": checked,
                 "regressed_slices": sorted({f"{r['slice']}={r['segment']}" for r in failed
                                             if r["slice"] != "overall"})},
        recommendations=_recommendations(failed, candidate, baseline))


def _main_metrics(model: ModelConfig) -> list[str]:
    wanted = main_metrics(model.task)
    if model.task == "binary_classification" and not model.score:
        wanted = ("accuracy",)
    return list(wanted)


def gate(cand: pl.DataFrame, base: pl.DataFrame, settings: ValidateSettings
         ) -> list[dict[str, Any]]:
    """One row per (slice, segment, metric) with both values, the delta and the verdict."""

    before = {(r["slice"], r["segment"], r["metric"]): r for r in base.iter_rows(named=True)}
    rows = []
    for r in cand.iter_rows(named=True):
        b = before.get((r["slice"], r["segment"], r["metric"]), {})
        value, base_value = finite(r["value"]), finite(b.get("value"))
        delta = signed_gap(r["metric"], value, base_value)
        p = None
        if r["metric"] in PROPORTION_METRICS and value is not None and base_value is not None:
            p = finite(two_proportion_pvalues(value * r["support"], r["support"],
                                              base_value * b["support"], b["support"])[0])
        row = {"slice": r["slice"], "segment": r["segment"], "metric": r["metric"],
               "n": r["n"], "candidate": value, "baseline": base_value, "delta": delta,
               "candidate_ci": [finite(r["ci_low"]), finite(r["ci_high"])],
               "baseline_ci": [finite(b.get("ci_low")), finite(b.get("ci_high"))],
               "p_value": p, "reason": r["reason"]}
        row["status"], row["why"] = _verdict(row, settings)
        rows.append(row)
    return rows


def _verdict(row: dict[str, Any], settings: ValidateSettings) -> tuple[str, str | None]:
    metric = row["metric"]
    if row["slice"] == "overall" and metric in settings.minimum and row["candidate"] is not None:
        floor = settings.minimum[metric]
        lower = metric in LOWER_IS_BETTER
        below = row["candidate"] > floor if lower else row["candidate"] < floor
        if below:
            limit = "exceeds the maximum" if lower else "misses the minimum"
            return "fail", f"{metric} {row['candidate']:.4f} {limit} {floor}"
    if row["delta"] is None:
        return "pass", "not comparable" if row["reason"] else None
    if row["slice"] != "overall" and (row["n"] or 0) < settings.min_slice_size:
        return "insufficient", f"fewer than {settings.min_slice_size} rows: not gated"
    allowed = settings.drop_allowed(metric)
    if row["delta"] < -allowed:
        return "fail", (f"worsened by {-row['delta']:.4f} "
                        f"({moved_text(metric, row['baseline'], row['candidate'])}; "
                        f"allowed {allowed})")
    return "pass", None


def _recommendations(failed: list[dict[str, Any]], candidate: str, baseline: str) -> list[str]:
    if not failed:
        return [f"{candidate} passes the gate against {baseline}"]
    recs = [f"{candidate} fails the gate: " + "; ".join(
        f"{r['slice']}={r['segment']} {r['metric']} {r['why']}" for r in failed[:6])
        + (" …" if len(failed) > 6 else "")]
    recs.append("fix the regressed slices (more training data there, or a slice-specific "
                "threshold) or raise checks.validate.max_drop if the trade-off is accepted")
    return recs
