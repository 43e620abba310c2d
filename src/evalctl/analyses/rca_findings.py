"""The rows and words of an `evalctl rca` report: each feature's decomposition and drift, the
output columns, the failure mode, the responsible segments, findings and recommendations."""

from __future__ import annotations

import shlex
from typing import Any

import numpy as np

from evalctl.analyses.performance import LOWER_IS_BETTER
from evalctl.stats.decompose import decompose, segment_view, shifted_mix, top_mix_segment


def feature_row(seg: Any, change: dict[str, Any], metric: str) -> dict[str, Any]:
    """Mix / performance / interaction of one feature and its most responsible segment."""
    row: dict[str, Any] = {"section": "causes", "feature": seg.feature, "kind": seg.kind,
                           "segments": len(seg.predicates), "explained": None}
    measured = bool(change.get("measured"))
    direction = change.get("direction") or (1.0 if metric in LOWER_IS_BETTER else -1.0)
    if measured:
        dec = decompose(seg.n0, seg.sum0, seg.n1, seg.sum1)
        row |= {k: v for k, v in dec.sums().items() if k != "change"}
        for part in ("mix", "performance", "interaction"):
            row[f"{part}_share"] = row[part] / dec.change if dec.change else None
        row["explained"] = row["mix_share"]
        if change["mode"] == "drop":
            worst = int(np.argmax(dec.performance * direction))
            row["worst_inside"] = segment_view(seg, np.array([worst]), True)
    elif seg.n0.sum() > 0:
        row["estimated_mix"] = shifted_mix(seg.rows0, seg.rows1, seg.n0, seg.sum0)
    chosen = top_mix_segment(seg, direction, measured)
    row["top"] = None if chosen is None else segment_view(seg, chosen, measured)
    row["top_segment"] = row["top"]["segment"] if row["top"] else None
    return row


def drift_fields(column: str, drifted: list[dict[str, Any]],
                 skewed: list[list[dict[str, Any]]]) -> dict[str, Any]:
    """The column's drift between the windows and its skew in each against the reference."""
    d = next((r for r in drifted if r["feature"] == column), {})
    out = {"drift_method": d.get("method"), "drift_score": d.get("score"),
           "drift_threshold": d.get("threshold"), "drift_status": d.get("status"),
           "drift_summary": d.get("summary"), "drift_decided_by": d.get("decided_by"),
           "drift_decided_by_text": d.get("decided_by_text")}
    for name, side in zip(("baseline", "current"), skewed, strict=False):
        s = next((r for r in side if r["feature"] == column), {})
        out[f"skew_{name}_score"], out[f"skew_{name}_status"] = s.get("score"), s.get("status")
    return out


def output_row(column: str, drifted: list[dict[str, Any]],
               skewed: list[list[dict[str, Any]]]) -> dict[str, Any]:
    """A model output column (not a feature): did it move between the windows."""
    row = {"section": "outputs", "feature": column, "kind": "output",
           **drift_fields(column, drifted, skewed)}
    moved = row["drift_status"] in ("warn", "fail")
    row["status"] = "warn" if moved else ("error" if row["drift_status"] == "error" else "pass")
    row["mode"] = "output_shift" if moved else "none"
    row["finding"] = (f"the model's {column} moved between the windows ({_drift_text(row)}): "
                      "a symptom of the causes above" if moved else "no material change")
    return row


def explain_causes(change: dict[str, Any], rows: list[dict[str, Any]], top: int
                   ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], str]:
    """The causes (most explaining first, each with its finding), the segments responsible
    (at most `top`) and the failure mode."""
    harm = 1.0 if change["metric"] in LOWER_IS_BETTER else -1.0
    causes = sorted(rows, key=lambda r: -(r["explained"] if r.get("explained") is not None
                                         else (r.get("estimated_mix") or 0.0) * harm))
    mode = _failure_mode(change, causes)
    for row in causes:
        row["finding"] = _feature_finding(row, change)
    segments = _segment_rows(causes, change, mode, top)
    for row in causes:
        row.pop("worst_inside", None)
    return causes, segments, mode


def _failure_mode(change: dict[str, Any], rows: list[dict[str, Any]]) -> str:
    modes = {r.get("mode") for r in rows}
    if change["mode"] == "within_noise":
        return "within_noise"
    if "population_shift" in modes:
        return "population_shift"
    if change["mode"] in ("performance_unknown", "gain"):
        return "performance_unknown" if change["mode"] != "gain" else "improved"
    return "data_quality" if "drift_without_effect" in modes else "concept_drift"


def _drift_text(row: dict[str, Any]) -> str:
    """``psi 0.34``, with the data-quality check that set the drift status when it was not the
    measure (``psi 0.0012, warn set by null_rate_change 0.31 ≥ 0.1 (fail)``)."""
    if row.get("drift_score") is None:
        return "drift n/a"
    text = f"{row['drift_method']} {row['drift_score']:.3g}"
    if row.get("drift_decided_by_text"):
        text += f", {row['drift_status']} set by {row['drift_decided_by_text']}"
    return text


def explains_text(share: float, terms: str, metric: str) -> str:
    """``explains 72% of the change``; beyond 100% (or below 0) with the one-line reason: the
    other `terms` moved the metric the other way and offset part of this effect."""
    if abs(share) < 0.005:
        return "explains under 1% of the change"
    text = f"explains {share:.0%} of the change"
    if share > 1:
        text += (f" — more than all of it because {terms} moved {metric} the other way "
                 "(offsetting terms)")
    elif share < 0:
        text += f" — it moved {metric} the other way, against the change"
    return text


def _feature_finding(row: dict[str, Any], change: dict[str, Any]) -> str:
    mode, top = row["mode"], row.get("top")
    drift = _drift_text(row)
    share = ""
    if row.get("explained") is not None:
        share = explains_text(row["explained"], "its performance and interaction terms "
                              f"({row['performance']:+.4f}, {row['interaction']:+.4f})",
                              change["metric"])
    if mode == "error":
        return str(row.get("reason"))
    if mode == "population_shift":
        part = _top_share(top, change)
        return (f"the population moved between its segments: the mix effect over all of them "
                f"{share}" if share else "its population shift alone moves the metric the "
                "harmful way") + (f"; {top['segment']} alone explains {part}" if top and part else
                                  f"; mostly {top['segment']}" if top else "")
    if mode == "pipeline":
        return (f"differs from {row['reference']} in both windows ({row['skew_baseline_score']:.3g}"
                f" / {row['skew_current_score']:.3g}) but not between them: a data-quality or "
                "pipeline problem present before and after — not the cause of the change")
    if mode == "drift_without_effect":
        return (f"drifted between the windows ({drift}) but "
                f"{share or 'explains nothing measurable'}: likely a data-quality or pipeline "
                "problem")
    if mode == "co_shift":
        return f"drifted ({drift}) together with {row['moved_with']}: no drift outside it"
    return f"{share} ({drift})" if share else f"no material effect ({drift})"


def _top_share(top: dict[str, Any] | None, change: dict[str, Any]) -> str:
    """The top segment's own share of the change (``72%``), as its segment row states it."""
    if not top or top.get("mix") is None or not change.get("change"):
        return ""
    return f"{top['mix'] / change['change']:.0%}"


def _segment_rows(causes: list[dict[str, Any]], change: dict[str, Any], mode: str, top: int
                  ) -> list[dict[str, Any]]:
    """The segments responsible: each cause's top segment (mix); for a drop no population shift
    explains, the segments where the metric fell most (performance)."""
    picked = [("mix", r["top"]) for r in causes if r["mode"] == "population_shift" and r["top"]]
    if mode in ("concept_drift", "data_quality"):
        inside = sorted((r["worst_inside"] for r in causes if r.get("worst_inside")),
                        key=lambda v: -abs(v["performance"]))
        picked += [("performance", v) for v in inside]
    rows, metric = [], change["metric"]
    for effect, view in picked[:top]:
        value, total = view.get(effect), change.get("change")
        explained = value / total if value is not None and total else None
        share = f"share {view['share_baseline']:.1%} → {view['share_current']:.1%}"
        text = (f"{view['segment']}: {metric} {_num(view['metric_baseline'])} → "
                f"{_num(view['metric_current'])} at a {share}" if effect == "performance" else
                f"{view['segment']}: {share}, {metric} there {_num(view['metric_baseline'])} vs "
                f"{_num(view['rest_baseline'])} elsewhere")
        rest = f"{total - value:+.4f}" if explained is not None else ""
        text += (": " + explains_text(explained, f"the other segments and terms ({rest})",
                                      metric) if explained is not None else
                 f": alone would move {metric} by {view['estimated_mix']:+.4f} (estimate)")
        rows.append({"section": "segments", "effect": effect, **view, "explained": explained,
                     "status": "warn", "finding": text})
    return rows


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def recommendations(change: dict[str, Any], causes: list[dict[str, Any]],
                    segments: list[dict[str, Any]], mode: str, ctx: dict[str, Any]) -> list[str]:
    """What to do, each naming the command that gives the evidence or the data."""

    name, cur, base = ctx["model"].name, ctx["current"], ctx["baseline"]
    recs = [change["finding"]]
    if mode == "within_noise":
        return recs
    for seg in (s for s in segments if s["effect"] == "mix"):
        flag = (f"--segment {shlex.quote(seg['id'])}" if seg["id"]
                else f"--where {shlex.quote(seg['where'])}")
        recs.append(f"{seg['finding']}. A population shift into a weak segment: augment the "
                    f"training data with it and retrain — examples: evalctl export --model "
                    f"{name} --selector {cur} {flag} --out {seg['feature']}-segment.parquet")
    join = ctx["join"]  # a row-by-row comparison whose selectors share ids, or None
    for row in causes:
        if row["mode"] == "pipeline":
            recs.append(f"{row['feature']}: {row['finding']}; check the feature's producer"
                        + (f" row by row: {join}" if join else
                           f": evalctl skew --model {name} --reference {row['reference']} "
                           f"--current {cur}"))
        elif row["mode"] == "drift_without_effect":
            recs.append(f"{row['feature']}: {row['finding']}; see since when: evalctl drift "
                        f"--model {name} --reference {base} --current {cur} --window 1d"
                        + (f"; check the producer against a recomputation: {join}" if join
                           else ""))
    if mode in ("concept_drift", "data_quality"):
        recs.append(f"{change['metric']} got worse inside segments and no population shift "
                    "explains it: concept drift — retrain on recent data (evalctl export "
                    f"--model {name} --selector {cur} --out recent.parquet); evidence: evalctl "
                    "slices --model "
                    f"{name} --selector {cur} --compare-to {base}")
        recs += [s["finding"] for s in segments if s["effect"] == "performance"][:3]
    moved = [r["feature"] for r in causes if r["mode"] == "co_shift"]
    if moved:
        recs.append(f"{', '.join(moved)}: drifted only together with the population shift (no "
                    f"drift outside its segment) — no separate action; evidence: evalctl drift "
                    f"--model {name} --reference {base} --current {cur}")
    if not change.get("measured"):
        recs.append("ingest the delayed labels (the ingest-actuals command) and rerun"
                    + (f"; meanwhile: evalctl estimate --model {name} --reference "
                       f"{ctx['estimate_reference']} --current {cur}"
                       if ctx.get("estimate_reference") else ""))
    return recs
