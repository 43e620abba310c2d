"""`compute_metrics`: every metric for every segment of every slice, from one scan.

The input is scanned into a narrow frame (label, score/prediction, query, one column per
slice-key part) with the per-row terms every slice shares (flags, losses, per-query metrics for
ranking). Then, never one pass per slice:

* when the requested metrics are sums over rows (everything but the binary rank metrics), only
  the slices no other slice refines are grouped over the rows, all in one `pl.collect_all` that
  reads the input once; a slice whose key parts are a subset of another's (``country`` of
  ``country x device``, and ``overall`` of anything) is rolled up from that slice's small
  per-segment sums;
* the rank metrics (ROC AUC, average precision) need each segment's rows in score order: the
  frame is materialised sorted by score once and every slice runs its windowed sums over it,
  again in one `pl.collect_all`.

The per-segment sums are turned into metrics and intervals with numpy.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import ModuleType
from typing import Any

import polars as pl

from evalctl.config import ModelConfig
from evalctl.errors import InputError
from evalctl.metrics import binary, multiclass, ranking, regression
from evalctl.metrics.catalogue import METRIC_NAMES
from evalctl.metrics.frame import COUNT_COLUMNS, assemble
from evalctl.metrics.slices import (
    OVERALL,
    SliceKey,
    group_exprs,
    group_names,
    label_segments,
    maximal_groupings,
    slices_from_config,
)
from evalctl.metrics.spec import Columns, Options, key_name
from evalctl.stats.exact import exact_sums, scale_name, with_grids

TASKS: dict[str, ModuleType] = {
    "binary_classification": binary,
    "multiclass_classification": multiclass,
    "regression": regression,
    "ranking": ranking,
}
METRICS: dict[str, tuple[str, ...]] = METRIC_NAMES  # task -> its metrics, from the catalogue


def compute_metrics(
    lf: pl.LazyFrame | pl.DataFrame,
    task: str,
    *,
    label: str,
    score: str | None = None,
    prediction: str | None = None,
    group: str | None = None,
    threshold: float = 0.5,
    scores: Mapping[str, str] | None = None,
    slices: Sequence[SliceKey] | None = None,
    metrics: Sequence[str] | None = None,
    k: int = 10,
    confidence: float = 0.95,
    n_boot: int = 1000,
    seed: int = 0,
    low_memory: bool = False,
) -> pl.DataFrame:
    """Metrics with confidence intervals for the whole data set and every segment of `slices`.

    `task` is one of TASKS; `label` is the ground truth; `score` the positive-class probability
    (binary), the predicted value (regression) or the ranking score; `prediction` the predicted
    class (binary: derived as score >= `threshold` when absent); `group` the query id (ranking
    only); `scores` a multiclass model's class -> probability column (`macro_roc_auc`); `k`
    the cut-off of NDCG and hit rate; `metrics` a subset of METRICS[task] (default:
    all the columns allow); `n_boot` and `seed` drive the bootstraps. `low_memory` streams each
    row-level group-by over the input on its own (memory flat in the row count, each query
    reads only its columns) instead of sharing one in-memory read; the rank metrics always
    hold the score-sorted rows.

    Returns the long frame described in `evalctl.metrics` (one row per slice, segment, metric).
    Raises InputError for an unknown task or metric, a missing column or a column of the
    wrong type, non-binary labels for a binary task, or an input without rows.
    """
    module = TASKS.get(task)
    if module is None:
        raise InputError(f"unknown task {task!r} (valid tasks: {', '.join(TASKS)})")
    lf = lf.lazy()
    chosen = choose_metrics(task, metrics, has_score=score is not None or bool(scores))
    # the class probabilities are read only for the metric that needs them
    scores = dict(scores or {}) if "macro_roc_auc" in chosen else {}
    cols = Columns(label, score, prediction, group, float(threshold),
                   tuple(scores.values()), tuple(scores))
    options = Options(confidence, int(k), int(n_boot), int(seed))
    _check_options(options)
    schema = lf.collect_schema()
    _check_columns(task, cols, schema)
    keyed, parts = _key_parts(list(slices or []))
    base = _prepared(lf, module, cols, chosen, options, parts, keyed)
    if module.additive(chosen):
        stats = _rolled_up_stats(base, module, keyed, chosen, low_memory)
    else:
        frame = base.collect()
        plans = [label_segments(module.slice_stats(frame.lazy(), names, chosen), name, names)
                 for name, names in keyed]
        stats = pl.concat(pl.collect_all(plans), how="vertical_relaxed")
    overall = stats.filter(pl.col("slice") == OVERALL)
    # a group_by on a constant key yields one all-zero group even for no rows: count the rows
    if sum(overall.get_column(c).fill_null(0).sum() for c in COUNT_COLUMNS) == 0:
        raise InputError("no rows to evaluate")
    problem = module.bad_values(overall, cols)
    if problem:
        raise InputError(problem)
    return assemble(stats, module.finalize(stats, chosen, options))


def compute_model_metrics(
    lf: pl.LazyFrame | pl.DataFrame,
    model: ModelConfig,
    *,
    slices: Sequence[SliceKey] | None = None,
    quantile_edges: Mapping[str, Sequence[float]] | None = None,
    **options: Any,
) -> pl.DataFrame:
    """`compute_metrics` with a configured model's columns and, by default, its declared slices
    (quantile slices need `quantile_edges` fitted on the reference data)."""
    if model.label is None:
        raise InputError(f"model {model.name!r} has no label column configured")
    if slices is None:
        slices = slices_from_config(model.slices, quantile_edges)
    return compute_metrics(
        lf, model.task, label=model.label, score=model.score, prediction=model.prediction,
        group=model.group, threshold=model.threshold, scores=model.scores, slices=slices,
        **options,
    )


def choose_metrics(task: str, metrics: Sequence[str] | None, *, has_score: bool) -> frozenset[str]:
    """The requested metrics (default: every metric the task's columns allow)."""
    module = TASKS[task]
    if isinstance(metrics, str):
        metrics = [metrics]
    available = [m for m in module.METRICS if has_score or m not in module.SCORE_METRICS]
    if metrics is None:
        return frozenset(available)
    for name in metrics:
        if name not in module.METRICS:
            raise InputError(f"unknown metric {name!r} for {task} "
                             f"(valid metrics: {', '.join(module.METRICS)})")
        if name not in available:
            raise InputError(f"metric {name!r} needs a score column")
    if not metrics:
        raise InputError("give at least one metric")
    return frozenset(metrics)


def _check_options(options: Options) -> None:
    if not 0.0 < options.confidence < 1.0:
        raise InputError(f"confidence must be between 0 and 1, got {options.confidence}")
    if options.k < 1:
        raise InputError(f"k must be at least 1, got {options.k}")
    if options.n_boot < 10:
        raise InputError(f"n_boot must be at least 10, got {options.n_boot}")


def _check_columns(task: str, cols: Columns, schema: pl.Schema) -> None:
    needed = {"label": cols.label}
    if task == "multiclass_classification":
        needed["prediction"] = _required(cols.prediction, "prediction", task)
    elif task == "ranking":
        needed["group"] = _required(cols.group, "group", task)
        needed["score"] = _required(cols.score, "score", task)
    elif cols.score is None and cols.prediction is None:
        raise InputError(f"{task} needs a score or a prediction column")
    for role, name in (("score", cols.score), ("prediction", cols.prediction)):
        if name is not None:
            needed.setdefault(role, name)
    needed |= {f"score of class {c}": name for c, name in zip(cols.classes, cols.scores,
                                                                strict=True)}
    for role, name in needed.items():
        if name not in schema:
            raise InputError(f"{role} column {name!r} not found (columns: {', '.join(schema)})")
        numeric = schema[name].is_numeric() or schema[name] == pl.Boolean
        must_be_numeric = role.startswith("score") or (
            task != "multiclass_classification" and role in ("label", "prediction")
        )
        if must_be_numeric and not numeric:
            raise InputError(f"{role} column {name!r} must be numeric or boolean, "
                             f"got {schema[name]}")


def _required(name: str | None, role: str, task: str) -> str:
    if name is None:
        raise InputError(f"{task} needs a {role} column")
    return name


def _key_parts(slices: list[SliceKey]) -> tuple[list[tuple[str, list[str]]], list[pl.Expr]]:
    """Each slice's key column names, and the distinct key expressions (computed once even when
    several slices share them, as crosses do)."""
    keyed: list[tuple[str, list[str]]] = [(OVERALL, [])]
    parts: list[pl.Expr] = []
    for key in slices:
        if key.name in {name for name, _ in keyed}:
            raise InputError(f"slice name {key.name!r} is used twice")
        names = []
        for expr in key.exprs:
            index = next((i for i, seen in enumerate(parts) if seen.meta.eq(expr)), len(parts))
            if index == len(parts):
                parts.append(expr)
            names.append(key_name(index))
        if len(set(names)) < len(names):
            raise InputError(f"slice {key.name!r} crosses an expression with itself")
        keyed.append((key.name, names))
    return keyed, parts


def _prepared(
    lf: pl.LazyFrame, module: ModuleType, cols: Columns, metrics: frozenset[str],
    options: Options, parts: list[pl.Expr], keyed: list[tuple[str, list[str]]],
) -> pl.LazyFrame:
    """The lazy narrow frame: task columns, slice-key parts, per-row terms.

    NaN float keys become null. Text keys become categoricals when the frame is materialised
    for the rank metrics (cheap to sort and gather there); summed slices group on the text.
    """
    materialised = not module.additive(metrics)
    keys = []
    for i, expr in enumerate(parts):
        name = key_name(i)
        try:
            dtype = lf.select(expr.alias(name)).collect_schema()[name]
        except pl.exceptions.PolarsError as exc:
            user = next(s for s, names in keyed if name in names)
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise InputError(f"slice {user!r}: {first}") from exc
        if dtype == pl.String and materialised:
            expr = expr.cast(pl.Categorical)
        elif dtype.is_float():
            expr = expr.fill_nan(None)
        keys.append(expr.alias(name))
    base = lf.select([*module.select_columns(cols, lf.collect_schema()), *keys])
    return module.prepare(base, cols, metrics, options, [key_name(i) for i in range(len(keys))])


def _rolled_up_stats(base: pl.LazyFrame, module: ModuleType,
                     keyed: list[tuple[str, list[str]]], metrics: frozenset[str],
                     low_memory: bool = False) -> pl.DataFrame:
    """Per-segment sums of every slice: the maximal slices grouped over the rows in one
    collect, every other slice rolled up from the smallest maximal slice that contains its
    key parts. The group-bys share one read of the input, or with `low_memory` each streams
    its own."""
    groupings = maximal_groupings([names for _, names in keyed])
    plans = [module.fine_stats(base, names, metrics) for names in groupings]
    if low_memory:
        fine = pl.collect_all(plans, engine="streaming",
                              optimizations=pl.QueryOptFlags(comm_subplan_elim=False))
    else:
        fine = pl.collect_all(plans)
    extra = module.fine_columns(metrics)
    plans = []
    for name, names in keyed:
        source = min((i for i, g in enumerate(groupings) if set(names) <= set(g)),
                     key=lambda i: len(groupings[i]))
        grain = groupings[source]
        stats = fine[source].lazy()
        if set(names) != set(grain):
            schema = fine[source].schema
            sums = [c for c in schema if c not in {*group_names(grain), *extra}]
            grids = [c for c in sums if c.endswith(scale_name(""))]  # one value: kept
            floats = [c for c in sums if schema[c].is_float() and c not in grids]
            stats = with_grids(stats, floats).group_by(  # order-free: see stats.exact
                [*group_exprs(names), *map(pl.col, extra)]).agg(
                *[exact_sums([c])[0] if c in floats else pl.col(c).first() if c in grids
                  else pl.col(c).sum() for c in sums])
        plans.append(label_segments(module.finish(stats, names, metrics), name, names))
    return pl.concat(pl.collect_all(plans), how="vertical_relaxed")
