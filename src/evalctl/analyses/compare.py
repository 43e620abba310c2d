"""`evalctl compare`: which shadow / candidate model would have done best on real traffic?

The champion's rows come from the selector's env (production); each challenger's from shadow
and/or the selector's env (if it was live), for the same dates. All are joined on the model's
id; the ground truth is the champion's label (inline, or the newest delayed actual), else a
challenger's inline label. Every model is judged on the same rows: the ids all of them scored,
with a label and valid outputs. Overall and per declared (optionally discovered) slice: each
model's metric with its interval (`compute_metrics`), the signed difference against the
champion and a paired test (`stats.paired`), Holm-adjusted across challengers overall and
across slices per challenger. Without ground truth: prediction distributions and agreement.

This module opens the compared models, joins their rows and computes the metrics and tests;
`compare_results` turns them into rows, a verdict and the report, and `settings.checks`
parses `checks.compare`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

import polars as pl

from evalctl.analyses.common import side_inputs
from evalctl.analyses.compare_results import (
    agreement_report,
    performance_report,
    performance_rows,
)
from evalctl.analyses.performance import default_metric, metrics_frame, slice_keys
from evalctl.analyses.slices import SliceOptions, discover
from evalctl.config import ModelConfig
from evalctl.errors import InputError, SelectorError
from evalctl.lake.selectors import Selector
from evalctl.lake.store import LABEL_SOURCE_COL, Selection, Store
from evalctl.metrics import SliceKey
from evalctl.metrics.catalogue import needs_score
from evalctl.reports import Report
from evalctl.settings.sections import CompareSettings
from evalctl.slicing import Predicate, slice_expr
from evalctl.stats.paired import FAMILY, Y, col_p, col_s
from evalctl.stats.paired_segments import compare_segments, materialise_keys

CONFIDENCE = 0.95


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
    evaluated = int(wide.select(usable.sum()).item())
    span = selector.text[selector.text.index("@"):] if "@" in selector.text else ""
    inputs = {"selection": side_inputs(store.select(model.name, selector),
                                        compares_versions=True), "metric": metric,
              "test": FAMILY[(model.task, metric)], "champion": _side_inputs(sides[0], span),
              "challengers": [_side_inputs(s, span) for s in sides[1:]],
              "coverage": {"ids": {s.version: s.selection.rows for s in sides},
                           "common": wide.height,
                           "evaluated": evaluated,
                           "from_actuals": int((wide[LABEL_SOURCE_COL] == "actuals").sum())},
              "gate": {"enabled": gate, "alpha": settings.alpha,
                       "max_slice_drop": settings.max_slice_drop,
                       "min_slice_size": settings.min_slice_size},
              "n_boot": settings.n_boot, "seed": seed}
    if evaluated == 0:
        return agreement_report(model, wide, versions, inputs, settings, gate)
    evaluable = wide.filter(usable)
    del wide  # one copy of the rows at a time
    keys = slice_keys(model, evaluable.lazy())
    labels: dict[str, str] = {}
    if discover:
        keys, labels = _with_discovered(model, evaluable, keys)
    evaluable, keys = materialise_keys(evaluable, keys)
    family = FAMILY[(model.task, metric)]
    frames: list[pl.DataFrame] = []  # paired DeLong yields each model's AUC on the way
    tests = compare_segments(evaluable, keys, family, metric, versions,
                             n_boot=settings.n_boot, seed=seed, confidence=CONFIDENCE,
                             auc_values=frames if family == "delong" else None)
    if not frames:
        frames = [metrics_frame(_view(model, i), evaluable.lazy(), [metric], keys, seed)
                  for i in range(len(sides))]
    values: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for frame in frames:
        for r in frame.iter_rows(named=True):
            values.setdefault((r["slice"], r["segment"]), []).append(r)
    rows = performance_rows(versions, values, tests, labels, settings)
    return performance_report(model, selector, versions, rows, inputs, settings, gate)


def compare_metric(model: ModelConfig, metric: str | None) -> str:
    """The compared metric (default accuracy / rmse); it must have a paired test."""
    if model.task == "ranking":
        raise InputError("compare does not support ranking models yet")
    chosen = default_metric(model, metric)
    if (model.task, chosen) not in FAMILY:
        valid = [m for (task, m) in FAMILY if task == model.task]
        raise InputError(f"--metric: compare has no paired test for {chosen!r} "
                         f"(valid for {model.task}: {', '.join(valid)})")
    if needs_score(model.task, chosen) and not model.score:
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


def _side_inputs(side: Side, span: str) -> dict[str, Any]:
    """A compared model as a side (`analyses.common.side_inputs`) plus its version and the
    envs its rows came from; its selector names them (`shadow:v2@… + production:v2@…`)."""
    return {**side_inputs(side.selection),
            "selector": " + ".join(f"{env}:{side.version}{span}" for env in side.envs),
            "version": side.version, "envs": list(side.envs)}


def _outputs(model: ModelConfig, i: int) -> list[pl.Expr]:
    """Model i's outputs under internal names (see `stats.paired`)."""
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

    Collected once; rows in the champion's scan order (deterministic)."""
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
        # maintain_order: the champion's scan order, so that every run samples the same rows
        # for quantile slice edges (an unordered join gave other edges on every run)
        lf = lf.join(other.select(model.id, *_outputs(model, i), *extra), on=model.id,
                     how="inner", maintain_order="left")
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

    options = SliceOptions(**asdict(model.settings.slices))
    found, _ = discover(frame.lazy(), _view(model, 0), options)
    extra = [SliceKey(r["id"], (slice_expr([Predicate.from_dict(p) for p in r["predicates"]]),))
             for r in found]
    return keys + extra, {r["id"]: r["segment"] for r in found}

