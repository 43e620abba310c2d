"""Shared pieces of the performance analyses (slices, validate): metrics of a selection."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import polars as pl

from evalctl.config import ModelConfig
from evalctl.errors import InputError
from evalctl.lake.store import LABEL_SOURCE_COL
from evalctl.metrics import compute_metrics, slices_from_config
from evalctl.metrics.catalogue import DEFAULT_METRIC, LOWER_IS_BETTER
from evalctl.metrics.catalogue import METRIC_NAMES as METRICS

# Selections of more rows than this are evaluated in low-memory mode: every maximal slice's
# group-by streams its own columns from the lake instead of all of them sharing one in-memory
# read (~1.4x slower, memory flat in the row count). EVALCTL_IN_MEMORY_ROWS overrides it.
IN_MEMORY_ROWS = 10_000_000


def default_metric(model: ModelConfig, metric: str | None) -> str:

    chosen = metric or DEFAULT_METRIC[model.task]
    if chosen not in METRICS[model.task]:
        raise InputError(f"--metric: {chosen!r} is not a {model.task} metric "
                         f"(valid: {', '.join(METRICS[model.task])})")
    return chosen


def worse(metric: str, a: float, b: float) -> bool:
    """Whether value `a` is worse than `b` for this metric."""
    return a > b if metric in LOWER_IS_BETTER else a < b


def signed_gap(metric: str, value: float | None, reference: float | None) -> float | None:
    """value - reference, signed so that negative always means worse."""
    if value is None or reference is None:
        return None
    gap = value - reference
    return (-gap if metric in LOWER_IS_BETTER else gap) + 0.0  # + 0.0: never -0.0


def moved_text(metric: str, before: float, after: float) -> str:
    """``log_loss rose 0.3725 → 0.5207``: the movement in words, never a signed gap that reads
    as "dropped" when a lower-is-better metric rose (callers say whether that is worse)."""
    if after == before:
        return f"{metric} stayed at {after:.4f}"
    return f"{metric} {'rose' if after > before else 'fell'} {before:.4f} → {after:.4f}"


def gap_text(gap: float, digits: int = 3) -> str:
    """A signed gap (negative = worse, see `signed_gap`) in words: ``0.148 worse``."""
    if gap == 0:
        return "no different"
    return f"{abs(gap):.{digits}f} {'worse' if gap < 0 else 'better'}"


QUANTILE_SAMPLE = 200_000
DEFAULT_QUANTILES = 5  # a numeric feature sliced without bins / quantiles of its own


def slice_keys(model: ModelConfig, lf: pl.LazyFrame, rows: int | None = None) -> list[Any]:
    """The model's declared slices; `quantiles` edges fitted on `lf` (one sample per feature,
    `fit_quantile_edges`; `rows`, when the caller knows it, saves counting `lf` again).

    A numeric feature that a slice names without bins of its own (in a cross, or alone) is cut
    like the feature's first single-feature slice with `bins` or `quantiles`, else at
    DEFAULT_QUANTILES quantiles: grouping a continuous value would make one segment per
    distinct value. Two `quantiles` slices of one feature each get their own edges."""


    numeric = {f for f, kind in model.features.items() if kind == "numeric"}
    own = {s.features[0]: s for s in reversed(model.slices)
           if len(s.features) == 1 and (s.bins or s.quantiles)}  # the first one wins
    bare = {f for s in model.slices if len(s.features) > 1 or not (s.bins or s.quantiles)
            for f in s.features if f in numeric}
    wanted: dict[str, set[int]] = {}
    for spec in model.slices:
        if spec.quantiles:
            wanted.setdefault(spec.features[0], set()).add(spec.quantiles)
    for feature in bare - set(own):
        wanted.setdefault(feature, set()).add(DEFAULT_QUANTILES)
    fitted = _fit_edges(lf, wanted, rows) if wanted else {}
    specs = [replace(s, bins=tuple(fitted[(s.features[0], s.quantiles)]), quantiles=None)
             if s.quantiles else s for s in model.slices]
    numeric_edges = {}
    for f in bare:
        first = own.get(f)
        numeric_edges[f] = list(first.bins) if first and first.bins else \
            fitted[(f, first.quantiles if first and first.quantiles else DEFAULT_QUANTILES)]
    return slices_from_config(specs, None, numeric_edges)


def fit_quantile_edges(lf: pl.LazyFrame, wanted: dict[str, int], rows: int | None = None
                       ) -> dict[str, list[float]]:
    """Bin edges per feature for `quantiles: q` slices, in one query.

    The outer edges are the exact finite minimum and maximum; the inner edges are "nearest"
    quantiles of the finite values, taken above QUANTILE_SAMPLE rows from every k-th row
    (k = rows // QUANTILE_SAMPLE), a deterministic subsample whose rank error is about
    1 / QUANTILE_SAMPLE.
    """
    fitted = _fit_edges(lf, {f: {q} for f, q in wanted.items()}, rows)
    return {f: fitted[(f, q)] for f, q in wanted.items()}


def _fit_edges(lf: pl.LazyFrame, wanted: dict[str, set[int]], rows: int | None
               ) -> dict[tuple[str, int], list[float]]:
    """`fit_quantile_edges` for several q per feature: one sample per feature, its edges for
    every q, keyed (feature, q)."""
    if rows is None:
        rows = lf.select(pl.len()).collect().item()
    step = max(rows // QUANTILE_SAMPLE, 1)
    exprs = [e for i, f in enumerate(wanted) for e in _sample_and_extremes(f, step, str(i))]
    found = lf.select(exprs).collect(engine="streaming")  # holds the sample, not the rows
    edges = {}
    for i, (feature, qs) in enumerate(wanted.items()):
        sample = found.get_column(f"s{i}")[0].to_numpy()  # the list cell, as a Series
        low, high = found.get_column(f"lo{i}")[0], found.get_column(f"hi{i}")[0]
        for q in sorted(qs):
            edges[(feature, q)] = quantile_edges(sample, q, low, high)
    return edges


def _sample_and_extremes(feature: str, step: int, tag: str) -> list[pl.Expr]:
    """Every `step`-th value (as a list), and the finite minimum and maximum."""
    x = pl.col(feature).cast(pl.Float64)
    finite = pl.when(x.is_finite()).then(x)  # null otherwise: min / max skip it
    sample = x.gather_every(step) if step > 1 else x
    return [sample.implode().alias(f"s{tag}"), finite.min().alias(f"lo{tag}"),
            finite.max().alias(f"hi{tag}")]


def quantile_edges(sample: np.ndarray, q: int, low: float | None = None,
                   high: float | None = None) -> list[float]:
    """Increasing bin edges: `low`, the "nearest" inner q-quantiles of the finite `sample`
    values, `high` (the sample's extremes when not given); duplicates merged. A constant or
    empty input still gets two edges."""
    values = sample[np.isfinite(sample)]
    inner: list[float] = []
    if len(values):
        low = float(values.min()) if low is None else low
        high = float(values.max()) if high is None else high
        index = np.rint(np.arange(1, q) / q * (len(values) - 1)).astype(np.int64)
        inner = np.partition(values, index)[index].tolist()  # order statistics, no full sort
    found = sorted({float(v) for v in (low, *inner, high) if v is not None})
    if len(found) >= 2:
        return found
    if not found:
        return [0.0, 1.0]
    # a constant beyond 2**53 equals itself plus 1: its upper edge is then the next float
    # (inf above the largest), so the edges still increase
    above = found[0] + 1.0
    return [found[0], above if above > found[0] else math.nextafter(found[0], math.inf)]


def metrics_frame(model: ModelConfig, lf: pl.LazyFrame, metrics: Sequence[str] | None,
                  slices: list[Any], seed: int = 0, low_memory: bool = False) -> pl.DataFrame:
    """compute_metrics over a lake selection with the model's column roles."""

    if not model.label:
        raise InputError(f"model {model.name!r} has no `label` column in the config")
    return compute_metrics(
        lf, model.task, label=model.label, score=model.score,
        prediction=model.prediction,  # regression: the predicted value is score or prediction
        group=model.group, threshold=model.threshold, scores=model.scores, slices=slices,
        metrics=metrics,
        seed=seed, low_memory=low_memory)


def too_large_for_memory(rows: int) -> bool:
    """Whether a selection of `rows` rows is evaluated in low-memory mode: more rows than
    EVALCTL_IN_MEMORY_ROWS (a whole number >= 0), else IN_MEMORY_ROWS."""
    raw = os.environ.get("EVALCTL_IN_MEMORY_ROWS")
    if raw is None:
        return rows > IN_MEMORY_ROWS
    try:
        limit = int(raw.replace("_", ""))
    except ValueError:
        limit = -1
    if limit < 0:
        raise InputError(f"EVALCTL_IN_MEMORY_ROWS: expected a whole number of rows, got {raw!r}")
    return rows > limit


@dataclass(frozen=True)
class Evaluated:
    """What slice metrics read: the selection's rows in memory, or (low_memory) the lake scan
    itself; and the label coverage."""

    lf: pl.LazyFrame
    coverage: dict[str, int]
    low_memory: bool


def evaluated_selection(lf: pl.LazyFrame, model: ModelConfig, *, hold: bool = True
                        ) -> Evaluated:
    """The columns slice metrics read (ground truth, outputs, slice features), read once so
    that quantile edges and metrics run in memory, and the label coverage from the same scan.

    Above IN_MEMORY_ROWS rows, or without `hold` (the rank metrics hold their own score-sorted
    copy), nothing is held: the scan is returned and each query reads what it needs."""
    large = too_large_for_memory(lf.select(pl.len()).collect().item())
    if large or not hold:
        coverage = _coverage(lf, model).collect(engine="streaming")
        return Evaluated(lf, _counts(coverage), low_memory=large)
    wanted = [model.label, model.score, model.prediction, model.group, *model.scores.values(),
              *(f for spec in model.slices for f in spec.features)]
    frame, coverage = pl.collect_all([lf.select(list(dict.fromkeys(c for c in wanted if c))),
                                      _coverage(lf, model)])
    return Evaluated(frame.lazy(), _counts(coverage), low_memory=False)


def _coverage(lf: pl.LazyFrame, model: ModelConfig) -> pl.LazyFrame:
    return lf.select(
        pl.len().alias("rows"),
        pl.col(model.label or "").is_not_null().sum().alias("labelled"),
        (pl.col(LABEL_SOURCE_COL) == "actuals").sum().alias("from_actuals"),
    )


def _counts(row: pl.DataFrame) -> dict[str, int]:
    return {k: int(v or 0) for k, v in row.row(0, named=True).items()}


def finite(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if np.isfinite(value) else None
