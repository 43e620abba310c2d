"""The rows and report of `evalctl compare`, from the metrics and paired tests per segment.

With ground truth: per segment every model's value and its paired test against the champion,
Holm-adjusted (overall across challengers, slices per challenger), judged against the
`checks.compare` gate, and a verdict (promote, promote with caution, keep the champion). Without
it: prediction distributions and each challenger's agreement with the champion, no verdict.
Segments are judged as one row each (versions as keys); the report holds them in long format,
one `SegmentComparison` result per segment and model (`long_rows`).
"""

from __future__ import annotations

from typing import Any

import polars as pl

from evalctl.analyses.performance import finite, slice_keys
from evalctl.config import ModelConfig
from evalctl.lake.selectors import Selector
from evalctl.metrics import OVERALL, adjust_pvalues
from evalctl.reports import Report
from evalctl.reports.model import worst_status
from evalctl.settings.sections import CompareSettings
from evalctl.stats.paired import col_p, col_s
from evalctl.stats.paired_segments import grouped, materialise_keys

# the paired test's keys in a challenger's result (null in the champion's)
TEST_KEYS = ("delta", "delta_ci_low", "delta_ci_high", "test", "statistic", "p_value",
             "p_adjusted", "significant", "regressed")


def performance_rows(versions: list[str], values: dict[tuple[str, str], list[dict[str, Any]]],
          tests: dict[tuple[str, str], dict[str, dict]], labels: dict[str, str],
          settings: CompareSettings) -> list[dict[str, Any]]:
    """One row per segment: every model's value and test (keyed by version), winner, why."""
    rows = []
    for (name, segment), per_model in values.items():
        if name in labels and segment != "true":
            continue
        models = {v: {"value": finite(m["value"]), "ci_low": finite(m["ci_low"]),
                      "ci_high": finite(m["ci_high"]), "ci_method": m["ci_method"],
                      "reason": m["reason"]} for v, m in zip(versions, per_model, strict=True)}
        row: dict[str, Any] = {"status": "pass", "slice": "discovered" if name in labels
                               else name, "segment": labels.get(name, segment),
                               "n": per_model[0]["n"]}
        vs = {v: dict(tests.get((name, segment), {}).get(v) or {"delta": None})
              for v in versions[1:]}
        for v, t in vs.items():
            if models[v]["value"] is None or models[versions[0]]["value"] is None:
                t.update(delta=None, ci_low=None, ci_high=None, p_value=None)
        row |= {"models": models, "vs_champion": vs}
        if per_model[0]["reason"]:
            row["reason"] = per_model[0]["reason"]
        rows.append(row)
    _adjust(rows, versions[1:], settings)
    for row in rows:
        _judge(row, versions[0], settings)
    return rows


def _adjust(rows: list[dict[str, Any]], challengers: list[str],
            settings: CompareSettings) -> None:
    """Holm: overall across challengers; slices across judged segments, per challenger."""
    overall = [r for r in rows if r["slice"] == OVERALL]
    judged = [r for r in rows if r["slice"] != OVERALL
              and (r["n"] or 0) >= settings.min_slice_size]
    families = [([(r, v) for v in challengers]) for r in overall]
    families += [[(r, v) for r in judged] for v in challengers]
    for family in families:
        p = [r["vs_champion"][v].get("p_value") for r, v in family]
        adjusted = adjust_pvalues([float("nan") if x is None else x for x in p], "holm")
        for (r, v), a in zip(family, adjusted, strict=True):
            r["vs_champion"][v]["p_adjusted"] = finite(a)


def _judge(row: dict[str, Any], champion: str, settings: CompareSettings) -> None:
    small = row["slice"] != OVERALL and (row["n"] or 0) < settings.min_slice_size
    for t in row["vs_champion"].values():
        p, delta = t.get("p_adjusted"), t["delta"]
        t["significant"] = bool(p is not None and p < settings.alpha and delta is not None)
        t["regressed"] = bool(row["slice"] != OVERALL and not small and t["significant"]
                              and delta < -settings.max_slice_drop)
    vs = row["vs_champion"]
    better = [(t["delta"], v) for v, t in vs.items() if t["significant"] and t["delta"] > 0]
    worse = any(t["significant"] and t["delta"] < 0 for t in vs.values())
    row["winner"] = None if small else (max(better)[1] if better else
                                        (champion if worse else None))
    row["why"] = f"fewer than {settings.min_slice_size} rows: not judged" if small else \
        _why(row, settings)
    if small:
        row["status"] = "insufficient"
    if any(t["regressed"] for t in vs.values()):
        row["status"] = "warn"
    if row["slice"] == OVERALL and row["models"][champion]["value"] is None:
        row["status"] = "error"


def _why(row: dict[str, Any], settings: CompareSettings) -> str | None:
    overall = row["slice"] == OVERALL
    parts = []
    for v, t in row["vs_champion"].items():
        if t["delta"] is None:
            parts += [f"{v} not comparable"] if overall else []
        elif t["significant"] or overall:
            word = ("better" if t["delta"] > 0 else "worse") if t["significant"] \
                else "no significant difference"
            beyond = f", beyond {settings.max_slice_drop}" if t["regressed"] else ""
            parts.append(f"{v} {word} ({_delta_text(t['delta'])}, {_p_text(t['p_adjusted'])}"
                         f"{'' if overall else ' Holm'}{beyond})")
    return "; ".join(parts) or None


def _delta_text(delta: float) -> str:
    """A difference to 4 decimals; from a million on, to 4 significant digits (a regression
    model's MAE near 1e160 differs by a 160-digit number)."""
    return f"{delta:+.4f}" if abs(delta) < 1e6 else f"{delta:+.4g}"


def _p_text(p: float | None) -> str:
    if p is None:
        return "p n/a"
    return "p < 0.001" if p < 0.001 else f"p = {p:.3g}"


def _verdict(rows: list[dict[str, Any]], versions: list[str], metric: str,
             settings: CompareSettings) -> tuple[str, str | None, str]:
    """promote | promote_with_caution | keep_champion, the recommended version, and why."""
    champion, challengers = versions[0], versions[1:]
    vs = next(r for r in rows if r["slice"] == OVERALL)["vs_champion"]
    regressed = {v: sorted((r for r in rows if r["vs_champion"][v]["regressed"]),
                           key=lambda r: (r["segment"].count(" & "),  # coarse slices first
                                          r["vs_champion"][v]["delta"])) for v in challengers}
    better = [v for v in challengers if vs[v]["significant"] and vs[v]["delta"] > 0]
    if not better:
        effects = "; ".join(_why({"slice": OVERALL, "vs_champion": {v: vs[v]}}, settings)
                            or v for v in challengers)
        return "keep_champion", None, (f"keep the champion {champion}: no challenger is "
                                       f"significantly better overall ({effects})")
    best = max([v for v in better if not regressed[v]] or better, key=lambda v: vs[v]["delta"])
    effect = f"{_delta_text(vs[best]['delta'])} {metric}, {_p_text(vs[best]['p_adjusted'])}"
    if not regressed[best]:
        return "promote", best, (
            f"promote {best}: better than {champion} overall ({effect}) and no slice of "
            f"{settings.min_slice_size}+ rows is significantly worse by more than "
            f"{settings.max_slice_drop}")
    where = ", ".join(f"{r['slice']}={r['segment']} "
                      f"({_delta_text(r['vs_champion'][best]['delta'])}, "
                      f"{_p_text(r['vs_champion'][best]['p_adjusted'])} Holm)"
                      for r in regressed[best][:3])
    more = len(regressed[best]) - 3
    where += f" and {more} more slice(s)" if more > 0 else ""
    return "promote_with_caution", best, (
        f"{best} is better than {champion} overall ({effect}) but worse on {where}: "
        "promote with caution or fix that slice")


def performance_report(model: ModelConfig, selector: Selector, versions: list[str],
                        rows: list[dict[str, Any]], inputs: dict[str, Any],
                        settings: CompareSettings, gate: bool) -> Report:
    verdict, best, text = _verdict(rows, versions, inputs["metric"], settings)
    if gate and verdict != "promote":
        for r in rows:
            if (best is None and r["slice"] == OVERALL) or (
                    best is not None and r["vs_champion"][best]["regressed"]):
                r["status"], r["why"] = "fail", f"gate: {r['why']}"
    # worst first (the Report keeps this order within a status): the largest loss first
    rows.sort(key=lambda r: (min(
        (t["delta"] for t in r["vs_champion"].values() if t["delta"] is not None),
        default=0.0)))
    regressed = [f"{r['slice']}={r['segment']} ({v})" for r in rows
                 for v, t in r["vs_champion"].items() if t["regressed"]]
    recs = [text]
    overall = next(r for r in rows if r["slice"] == OVERALL)["vs_champion"]
    for v, t in overall.items():
        if best is not None and v != best and t["significant"] and t["delta"] > overall[best][
                "delta"]:
            recs.append(f"{v} gains more overall ({_delta_text(t['delta'])}) but regresses on "
                        + ", ".join(r.removesuffix(f" ({v})") for r in regressed
                                    if r.endswith(f" ({v})")))
    if best is not None and regressed:
        span = f"@{selector.text.partition('@')[2]}" if "@" in selector.text else ""
        recs.append(f"look at where {best} fails: evalctl slices --model {model.name} "
                    f"--selector {inputs['challengers'][versions.index(best) - 1]['envs'][0]}:"
                    f"{best}{span}")
    return Report(
        command="compare", model=model.name, status=worst_status([r["status"] for r in rows]),
        inputs=inputs, results=long_rows(rows, versions),
        summary={"metric": inputs["metric"], "verdict": verdict, "recommended": best,
                 "champion": versions[0], "common_ids": inputs["coverage"]["common"],
                 "evaluated": inputs["coverage"]["evaluated"],
                 "regressed": len(regressed), "regressed_slices": regressed},
        recommendations=recs)


def _agreement_rows(model: ModelConfig, wide: pl.DataFrame, versions: list[str],
                    small: int) -> tuple[list[dict[str, Any]], str, str | None]:
    """Per segment: each model's positive rate (binary) or mean prediction (regression) and
    mean score, and each challenger's agreement with the champion (share of equal predicted
    labels) or, for regression, mean absolute difference of the predictions."""
    regression, k = model.task == "regression", len(versions)
    shown = "mean_prediction" if regression else (
        "positive_rate" if model.task == "binary_classification" else None)
    measure = "mean_abs_diff" if regression else "agreement"
    aggs = [pl.len().alias("n")]
    aggs += [pl.col(col_s(i) if regression else col_p(i)).mean().alias(f"v{i}")
             for i in range(k) if shown]
    aggs += [pl.col(col_s(i)).mean().alias(f"s{i}") for i in range(k)
             if model.task == "binary_classification" and model.score]
    aggs += [((pl.col(col_s(j)) - pl.col(col_s(0))).abs().mean() if regression else
              (pl.col(col_p(j)) == pl.col(col_p(0))).mean()).alias(f"a{j}") for j in range(1, k)]
    frame, keys = materialise_keys(wide, slice_keys(model, wide.lazy()))
    rows = []
    for r in [r for t in grouped(frame.lazy(), keys, aggs) for r in t.iter_rows(named=True)]:
        scores = {v: finite(r[f"a{j}"]) for j, v in enumerate(versions[1:], start=1)}
        known = [v for v in scores if scores[v] is not None] or list(scores)
        pick = (max if regression else min)(known, key=lambda v: scores[v] or 0.0)
        row = {"status": "pass", "slice": r["slice"], "segment": r["segment"], "n": r["n"]}
        row |= {measure: scores[pick], "least_agreeing": pick,
                "models": {v: {shown: finite(r[f"v{i}"]), "mean_score": finite(r.get(f"s{i}"))}
                           for i, v in enumerate(versions)} if shown else {},
                "vs_champion": {v: {measure: x} for v, x in scores.items()}}
        rows.append(row)
    rows.sort(key=lambda r: (r["slice"] != OVERALL, r["n"] < small,
                             -(r[measure] or 0.0) if regression else (r[measure] or 1.0)))
    return rows, measure, shown


def agreement_report(model: ModelConfig, wide: pl.DataFrame, versions: list[str],
                      inputs: dict[str, Any], settings: CompareSettings, gate: bool) -> Report:
    """No ground truth: prediction distributions and agreement per slice, no verdict."""
    rows, measure, shown = _agreement_rows(model, wide, versions, settings.min_slice_size)
    if gate:
        rows[0]["status"] = "fail"
        rows[0]["why"] = "gate: no ground truth yet, performance cannot be judged"
    worst = next((r for r in rows[1:] if r["n"] >= settings.min_slice_size
                  and r[measure] is not None), None)
    recs = [f"no ground truth yet for the {wide.height:,} common {model.id}s of "
            f"{inputs['selection']['selector']!r}: performance cannot be judged — ingest the "
            "labels (the ingest-actuals command) and rerun"]
    if worst is not None:
        recs.append(f"the models disagree most on {worst['slice']}={worst['segment']} "
                    f"({worst['least_agreeing']} vs {versions[0]}: {measure} "
                    f"{worst[measure]:.4g}, n={worst['n']:,})")
    return Report(command="compare", model=model.name,
                  status=worst_status([r["status"] for r in rows]), inputs=inputs,
                  results=long_rows(rows, versions, measure, shown),
                  summary={"metric": measure, "model_columns": shown,
                                         "verdict": "cannot_judge", "recommended": None,
                                         "champion": versions[0], "common_ids": wide.height},
                  recommendations=recs)


def long_rows(rows: list[dict[str, Any]], versions: list[str], measure: str | None = None,
              shown: str | None = None) -> list[dict[str, Any]]:
    """The segment rows in long format: one result per segment and model, champion first,
    each with the segment's status, winner and why. With ground truth: the model's value and
    interval and, for a challenger, its paired test against the champion (`TEST_KEYS`, the
    difference's interval as `delta_ci_low`/`delta_ci_high`). Without: the model's `shown`
    (positive rate or mean prediction), its mean score and, for a challenger, its `measure`
    (agreement or mean absolute difference) with the champion."""
    out = []
    for row in rows:
        head = {"status": row["status"], "slice": row["slice"], "segment": row["segment"],
                "n": row["n"]}
        tail = {k: row[k] for k in ("winner", "why") if k in row}
        for i, version in enumerate(versions):
            entry = head | {"version": version, "role": "challenger" if i else "champion"}
            model = row["models"].get(version, {})
            if measure is None:
                test = row["vs_champion"][version] if i else {}
                entry |= {k: model[k] for k in ("value", "ci_low", "ci_high", "ci_method",
                                                "reason")}
                entry |= {k: test.get(k.removeprefix("delta_")) if k.startswith("delta_")
                          else test.get(k) for k in TEST_KEYS}
            else:
                entry |= ({shown: model.get(shown), "mean_score": model.get("mean_score")}
                          if shown else {})
                entry[measure] = row["vs_champion"][version][measure] if i else None
            out.append(entry | tail)
    return out
