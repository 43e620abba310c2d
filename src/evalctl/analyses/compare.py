"""`evalctl compare`: which shadow / candidate model would have done best on real traffic?

The champion's rows come from the selector's env (production); each challenger's from shadow
and/or the selector's env (if it was live), for the same dates. All are joined on the model's
id; the ground truth is the champion's label (inline, or the newest delayed actual), else a
challenger's inline label. Every model is judged on the same rows: the ids all of them scored,
with a label and valid outputs. Overall and per declared (optionally discovered) slice: each
model's metric with its interval (`compute_metrics`), the signed difference against the
champion and a paired test (`analyses.paired`), Holm-adjusted across challengers overall and
across slices per challenger. Without ground truth: prediction distributions and agreement.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import polars as pl

from evalctl.analyses.paired import (
    FAMILY,
    Y,
    col_p,
    col_s,
    compare_segments,
    grouped,
    materialise_keys,
)
from evalctl.analyses.performance import default_metric, finite, metrics_frame, slice_keys
from evalctl.config import ModelConfig
from evalctl.errors import ConfigError, InputError, SelectorError
from evalctl.lake.selectors import Selector
from evalctl.lake.store import LABEL_SOURCE_COL, Selection, Store
from evalctl.metrics import OVERALL, SliceKey, adjust_pvalues
from evalctl.reports import Report
from evalctl.reports.model import worst_status

CONFIDENCE = 0.95
RESERVED = {"status", "slice", "segment", "n", "winner", "why", "reason", "models",
            "vs_champion", "agreement", "mean_abs_diff", "least_agreeing"}
_KEYS = {"metric", "max_slice_drop", "min_slice_size", "alpha", "n_boot"}


@dataclass(frozen=True)
class CompareSettings:
    """`checks.compare`: what is compared and what the promotion gate tolerates."""

    metric: str | None = None  # default accuracy (classification), rmse (regression)
    max_slice_drop: float = 0.02  # a slice regresses when worse by more (and significant)
    min_slice_size: int = 100  # smaller segments are reported, not judged
    alpha: float = 0.05  # significance level of the (Holm-adjusted) paired tests
    n_boot: int = 1000  # bootstrap replicates


def parse_compare_settings(key: str, raw: Any) -> CompareSettings:
    """```yaml
    compare: {metric: roc_auc, max_slice_drop: 0.02, min_slice_size: 100, alpha: 0.05,
              n_boot: 1000}
    ```"""
    from evalctl.check_settings import config_number, config_section

    section = config_section(key, raw, _KEYS)
    if section is None:
        return CompareSettings()
    raw = section
    metric = raw.get("metric")
    if metric is not None and not isinstance(metric, str):
        raise ConfigError(f"{key}.metric: expected a metric name")
    return CompareSettings(
        metric=metric,
        max_slice_drop=config_number(f"{key}.max_slice_drop", raw.get("max_slice_drop", 0.02),
                               low=0.0),
        min_slice_size=int(config_number(f"{key}.min_slice_size", raw.get("min_slice_size", 100),
                                   low=1, integer=True)),
        alpha=config_number(f"{key}.alpha", raw.get("alpha", 0.05), low=1e-12, high=0.5),
        n_boot=int(config_number(f"{key}.n_boot", raw.get("n_boot", 1000), low=10, integer=True)))


@dataclass(frozen=True)
class Side:
    """One compared model: its version, role and the files read for it."""

    version: str
    selection: Selection
    envs: tuple[str, ...]


def compare_report(store: Store, model: ModelConfig, selector: Selector, *, champion: str,
                   challengers: list[str], settings: CompareSettings, gate: bool = False,
                   discover: bool = False, seed: int = 0) -> Report:
    """Champion vs challengers on the same rows: per-slice metrics, paired tests, verdict."""
    metric = compare_metric(model, settings.metric)
    sides = open_sides(store, model, selector, champion, challengers)
    versions = [s.version for s in sides]
    wide = joined_frame(store, model, sides, discover)
    usable = _evaluable(model, len(sides))
    inputs = {"selector": selector.text, "metric": metric,
              "test": FAMILY[(model.task, metric)], "champion": _side_inputs(sides[0]),
              "challengers": [_side_inputs(s) for s in sides[1:]],
              "coverage": {"ids": {s.version: s.selection.rows for s in sides},
                           "common": wide.height,
                           "evaluated": int(wide.select(usable.sum()).item()),
                           "from_actuals": int((wide[LABEL_SOURCE_COL] == "actuals").sum())},
              "gate": {"enabled": gate, "alpha": settings.alpha,
                       "max_slice_drop": settings.max_slice_drop,
                       "min_slice_size": settings.min_slice_size},
              "n_boot": settings.n_boot, "seed": seed}
    if inputs["coverage"]["evaluated"] == 0:
        return _agreement_report(model, wide, versions, inputs, settings, gate)
    evaluable = wide.filter(usable)
    del wide  # one copy of the rows at a time
    keys = slice_keys(model, evaluable.lazy())
    labels: dict[str, str] = {}
    if discover:
        keys, labels = _with_discovered(model, evaluable, keys)
    evaluable, keys = materialise_keys(evaluable, keys)
    values: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for i in range(len(sides)):
        frame = metrics_frame(_view(model, i), evaluable.lazy(), [metric], keys, seed)
        for r in frame.iter_rows(named=True):
            values.setdefault((r["slice"], r["segment"]), []).append(r)
    tests = compare_segments(evaluable, keys, FAMILY[(model.task, metric)], metric, versions,
                             n_boot=settings.n_boot, seed=seed, confidence=CONFIDENCE)
    rows = _rows(versions, values, tests, labels, settings)
    return _performance_report(model, selector, versions, rows, inputs, settings, gate)


def compare_metric(model: ModelConfig, metric: str | None) -> str:
    """The compared metric (default accuracy / rmse); it must have a paired test."""
    if model.task == "ranking":
        raise InputError("compare does not support ranking models yet")
    chosen = default_metric(model, metric)
    if (model.task, chosen) not in FAMILY:
        valid = [m for (task, m) in FAMILY if task == model.task]
        raise InputError(f"--metric: compare has no paired test for {chosen!r} "
                         f"(valid for {model.task}: {', '.join(valid)})")
    if chosen in ("roc_auc", "log_loss", "brier") and not model.score:
        raise InputError(f"--metric {chosen}: model {model.name!r} has no `score` column")
    return chosen


def open_sides(store: Store, model: ModelConfig, selector: Selector, champion: str,
               challengers: list[str]) -> list[Side]:
    """The champion from the selector's env; each challenger from shadow and/or that env."""
    if selector.version is not None:
        raise InputError(f"--selector {selector.text!r}: give no version; --champion and "
                         "--challenger choose them")
    if not challengers:
        raise InputError("give at least one --challenger")
    versions = [champion, *challengers]
    if len(set(versions)) < len(versions):
        raise InputError("--champion / --challenger: each version may be named only once")
    envs = tuple(dict.fromkeys(("shadow", selector.env)))
    return [_side(store, model, selector, champion, (selector.env,), "--champion"),
            *[_side(store, model, selector, v, envs, "--challenger") for v in challengers]]


def _side(store: Store, model: ModelConfig, selector: Selector, version: str,
          envs: tuple[str, ...], option: str) -> Side:
    found = []
    for env in envs:
        try:
            found.append(store.select(model.name, replace(selector, env=env, version=version)))
        except SelectorError:
            continue
    if not found:
        have = sorted({f"{r.env}:{r.version}" for r in store.prediction_records(model.name)})
        raise SelectorError(f"{option} {version}: no {' or '.join(envs)} predictions of "
                            f"{model.name!r} in {selector.text!r} (the store has "
                            f"{', '.join(have) or 'none'}; see `evalctl catalog`)")
    selection = Selection(selector=replace(selector, version=version),
                          files=tuple(f for s in found for f in s.files),
                          batches=tuple(b for s in found for b in s.batches))
    return Side(version, selection, tuple(s.selector.env for s in found))


def _side_inputs(side: Side) -> dict[str, Any]:
    return {"version": side.version, "envs": list(side.envs), "rows": side.selection.rows}


def _outputs(model: ModelConfig, i: int) -> list[pl.Expr]:
    """Model i's outputs under internal names (see `analyses.paired`)."""
    if model.task == "regression":
        return [pl.col(str(model.score or model.prediction)).cast(pl.Float64).alias(col_s(i))]
    if model.task == "multiclass_classification":
        return [pl.col(str(model.prediction)).cast(pl.String).alias(col_p(i))]
    score = pl.col(str(model.score)).cast(pl.Float64)
    pred = pl.col(model.prediction).cast(pl.Float64) if model.prediction else (
        score >= model.threshold).cast(pl.Float64)
    return [pred.alias(col_p(i)), *([score.alias(col_s(i))] if model.score else [])]


def _label(model: ModelConfig) -> pl.Expr:
    target = pl.String if model.task == "multiclass_classification" else pl.Float64
    return pl.col(str(model.label)).cast(target)


def joined_frame(store: Store, model: ModelConfig, sides: list[Side], discover: bool
                 ) -> pl.DataFrame:
    """The ids every model scored, one row each: label, outputs and the slicing features.

    Collected once: the actuals join does not keep row order stable across collects."""
    if not model.label:
        raise InputError(f"model {model.name!r} has no `label` column in the config")
    features = sorted({f for s in model.slices for f in s.features}
                      | (set(model.features) if discover else set()))
    first = store.scan(model, sides[0].selection.selector, selection=sides[0].selection)
    lf = first.select(model.id, _label(model).alias(Y), LABEL_SOURCE_COL, *_outputs(model, 0),
                      *features)
    inline = []
    for i, side in enumerate(sides[1:], start=1):
        other = store.scan(model, side.selection.selector, with_actuals=False,
                           selection=side.selection)
        extra = [_label(model).alias(f"__y{i}")] if model.label in other.collect_schema() else []
        inline += [f"__y{i}"] if extra else []
        lf = lf.join(other.select(model.id, *_outputs(model, i), *extra), on=model.id,
                     how="inner")
    wide = lf.with_columns(pl.coalesce(Y, *inline).alias(Y)).drop(inline).collect()
    if wide.height == 0:
        raise InputError(_no_common(store, model, sides))
    ids = wide[model.id]
    duplicated = 0 if ids.hash().n_unique() == wide.height else wide.height - ids.n_unique()
    if duplicated:  # (hashes first: 8x cheaper; the exact check only on a collision)
        raise InputError(f"{duplicated:,} {model.id} values are repeated among the compared "
                         "rows: compare needs one prediction per id and model")
    return wide


def _no_common(store: Store, model: ModelConfig, sides: list[Side]) -> str:
    ids = store.scan(model, sides[0].selection.selector, with_actuals=False,
                     selection=sides[0].selection).select(model.id)
    names = " and ".join(s.version for s in sides)
    for side in sides[1:]:
        other = store.scan(model, side.selection.selector, with_actuals=False,
                           selection=side.selection).select(model.id)
        if ids.join(other, on=model.id, how="semi").select(pl.len()).collect().item() == 0:
            names = f"{sides[0].version} and {side.version}"
            break
    return (f"{names} share no {model.id} in {sides[0].selection.selector.text!r}: compare "
            "needs the challengers scored on the champion's requests (ingest their "
            "predictions with --env shadow)")


def _evaluable(model: ModelConfig, k: int) -> pl.Expr:
    """Rows with a label and every model's outputs valid (as `compute_metrics` counts them)."""
    names = [Y] + [c for i in range(k) for c in (col_p(i), col_s(i))
                   if c in {e.meta.output_name() for e in _outputs(model, i)}]
    if model.task == "multiclass_classification":
        return pl.all_horizontal([pl.col(c).is_not_null() for c in names])
    return pl.all_horizontal([pl.col(c).is_finite() for c in names]).fill_null(False)


def _view(model: ModelConfig, i: int) -> ModelConfig:
    """The model's config pointed at model i's internal columns."""
    if model.task == "regression":
        return replace(model, label=Y, score=col_s(i), prediction=None)
    if model.task == "multiclass_classification":
        return replace(model, label=Y, prediction=col_p(i), score=None)
    return replace(model, label=Y, prediction=col_p(i), score=col_s(i) if model.score else None)


def _with_discovered(model: ModelConfig, frame: pl.DataFrame, keys: list[SliceKey]
                     ) -> tuple[list[SliceKey], dict[str, str]]:
    """Add the champion's SliceLine slices (`evalctl slices --discover` settings)."""
    from evalctl.analyses.slices import SliceOptions, discover
    from evalctl.check_settings import parse_slices_settings
    from evalctl.slicing import Predicate, slice_expr

    options = SliceOptions(**parse_slices_settings("checks.slices",
                                                   model.checks.get("slices") or {}))
    found, _ = discover(frame.lazy(), _view(model, 0), options)
    extra = [SliceKey(r["id"], (slice_expr([Predicate.from_dict(p) for p in r["predicates"]]),))
             for r in found]
    return keys + extra, {r["id"]: r["segment"] for r in found}


# -- rows, verdict, report -----------------------------------------------------------------
def _column(version: str) -> str:
    return f"{version} (model)" if version in RESERVED else version


def _rows(versions: list[str], values: dict[tuple[str, str], list[dict[str, Any]]],
          tests: dict[tuple[str, str], dict[str, dict]], labels: dict[str, str],
          settings: CompareSettings) -> list[dict[str, Any]]:
    """One row per segment: every model's value (a column each), tests, winner, why."""
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
        row |= {_column(v): m["value"] for v, m in models.items()}
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
            parts.append(f"{v} {word} ({t['delta']:+.4f}, {_p_text(t['p_adjusted'])}"
                         f"{'' if overall else ' Holm'}{beyond})")
    return "; ".join(parts) or None


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
    effect = f"{vs[best]['delta']:+.4f} {metric}, {_p_text(vs[best]['p_adjusted'])}"
    if not regressed[best]:
        return "promote", best, (
            f"promote {best}: better than {champion} overall ({effect}) and no slice of "
            f"{settings.min_slice_size}+ rows is significantly worse by more than "
            f"{settings.max_slice_drop}")
    where = ", ".join(f"{r['slice']}={r['segment']} ({r['vs_champion'][best]['delta']:+.4f}, "
                      f"{_p_text(r['vs_champion'][best]['p_adjusted'])} Holm)"
                      for r in regressed[best][:3])
    more = len(regressed[best]) - 3
    where += f" and {more} more slice(s)" if more > 0 else ""
    return "promote_with_caution", best, (
        f"{best} is better than {champion} overall ({effect}) but worse on {where}: "
        "promote with caution or fix that slice")


def _performance_report(model: ModelConfig, selector: Selector, versions: list[str],
                        rows: list[dict[str, Any]], inputs: dict[str, Any],
                        settings: CompareSettings, gate: bool) -> Report:
    verdict, best, text = _verdict(rows, versions, inputs["metric"], settings)
    if gate and verdict != "promote":
        for r in rows:
            if (best is None and r["slice"] == OVERALL) or (
                    best is not None and r["vs_champion"][best]["regressed"]):
                r["status"], r["why"] = "fail", f"gate: {r['why']}"
    rank = {"fail": 0, "error": 1, "warn": 2, "pass": 3}
    rows.sort(key=lambda r: (rank[r["status"]], r["slice"] != OVERALL, min(
        (t["delta"] for t in r["vs_champion"].values() if t["delta"] is not None),
        default=0.0)))
    regressed = [f"{r['slice']}={r['segment']} ({v})" for r in rows
                 for v, t in r["vs_champion"].items() if t["regressed"]]
    recs = [text]
    overall = next(r for r in rows if r["slice"] == OVERALL)["vs_champion"]
    for v, t in overall.items():
        if best is not None and v != best and t["significant"] and t["delta"] > overall[best][
                "delta"]:
            recs.append(f"{v} gains more overall ({t['delta']:+.4f}) but regresses on "
                        + ", ".join(r.removesuffix(f" ({v})") for r in regressed
                                    if r.endswith(f" ({v})")))
    if best is not None and regressed:
        span = f"@{selector.start}..{selector.end}" if selector.start else ""
        recs.append(f"look at where {best} fails: evalctl slices --model {model.name} "
                    f"--selector {inputs['challengers'][versions.index(best) - 1]['envs'][0]}:"
                    f"{best}{span}")
    return Report(
        command="compare", model=model.name, status=worst_status([r["status"] for r in rows]),
        inputs=inputs, results=rows,
        summary={"metric": inputs["metric"], "verdict": verdict, "recommended": best,
                 "champion": versions[0], "common_ids": inputs["coverage"]["common"],
                 "evaluated": inputs["coverage"]["evaluated"], "segments": len(rows),
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
        row |= {_column(v): finite(r[f"v{i}"]) for i, v in enumerate(versions) if shown}
        row |= {measure: scores[pick], "least_agreeing": pick,
                "models": {v: {shown: finite(r[f"v{i}"]), "mean_score": finite(r.get(f"s{i}"))}
                           for i, v in enumerate(versions)} if shown else {},
                "vs_champion": {v: {measure: x} for v, x in scores.items()}}
        rows.append(row)
    rows.sort(key=lambda r: (r["slice"] != OVERALL, r["n"] < small,
                             -(r[measure] or 0.0) if regression else (r[measure] or 1.0)))
    return rows, measure, shown


def _agreement_report(model: ModelConfig, wide: pl.DataFrame, versions: list[str],
                      inputs: dict[str, Any], settings: CompareSettings, gate: bool) -> Report:
    """No ground truth: prediction distributions and agreement per slice, no verdict."""
    rows, measure, shown = _agreement_rows(model, wide, versions, settings.min_slice_size)
    if gate:
        rows[0]["status"] = "fail"
        rows[0]["why"] = "gate: no ground truth yet, performance cannot be judged"
    worst = next((r for r in rows[1:] if r["n"] >= settings.min_slice_size
                  and r[measure] is not None), None)
    recs = [f"no ground truth yet for the {wide.height:,} common {model.id}s of "
            f"{inputs['selector']!r}: performance cannot be judged — ingest the labels "
            "(`evalctl ingest-actuals`) and rerun"]
    if worst is not None:
        recs.append(f"the models disagree most on {worst['slice']}={worst['segment']} "
                    f"({worst['least_agreeing']} vs {versions[0]}: {measure} "
                    f"{worst[measure]:.4g}, n={worst['n']:,})")
    return Report(command="compare", model=model.name,
                  status=worst_status([r["status"] for r in rows]), inputs=inputs,
                  results=rows, summary={"metric": measure, "model_columns": shown,
                                         "verdict": "cannot_judge", "recommended": None,
                                         "champion": versions[0], "common_ids": wide.height,
                                         "segments": len(rows)},
                  recommendations=recs)
