"""Every slice at once: the per-segment machinery of the paired tests in `stats.paired`.

`materialise_keys` evaluates each slice key once as a categorical column, `grouped` collects the
overall and per-slice aggregations together (labelled as `compute_metrics` labels them), and
`compare_segments` runs the family's paired test of every challenger for every segment. Paired
DeLong needs per-row structural components, so its sums come from numpy instead
(`segment_codes`, `opposite_below`): one score sort per model and a radix sort per slice.
"""

from __future__ import annotations

import os
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np
import polars as pl

from evalctl.metrics import OVERALL, SliceKey, binary
from evalctl.metrics.catalogue import LOWER_IS_BETTER
from evalctl.metrics.frame import assemble
from evalctl.metrics.intervals import segment_rng
from evalctl.metrics.slices import group_exprs, group_names, label_segments, maximal_groupings
from evalctl.metrics.spec import Options
from evalctl.stats.paired import (
    PREFIX_P,
    PREFIX_S,
    Y,
    additive_sums,
    aggregations,
    col_s,
    finish,
    moment_columns,
    moment_grids,
)


def materialise_keys(frame: pl.DataFrame, keys: list[Any]) -> tuple[pl.DataFrame, list[Any]]:
    """Evaluate every distinct slice-key expression once, as a categorical column (Enum bins
    stay Enum; NaN is null, as in `compute_metrics`), keep only the compared columns, and
    return the slice keys rewritten over those columns."""

    parts: list[pl.Expr] = []
    rewritten = []
    for key in keys:
        names = []
        for expr in key.exprs:
            i = next((i for i, seen in enumerate(parts) if seen.meta.eq(expr)), len(parts))
            parts += [expr] if i == len(parts) else []
            names.append(f"__k{i}")
        rewritten.append(SliceKey(key.name, tuple(pl.col(n) for n in names)))
    schema = frame.lazy().select([e.alias(f"__k{i}") for i, e in enumerate(parts)]
                                 ).collect_schema()
    exprs = []
    for name, expr in zip(schema, parts, strict=True):
        dtype = schema[name]
        if dtype.is_float():
            expr = expr.fill_nan(None)
        if not isinstance(dtype, pl.Enum | pl.Categorical):
            expr = expr.cast(pl.String).cast(pl.Categorical)
        exprs.append(expr.alias(name))
    kept = [c for c in frame.columns if c == Y or c[:3] in (PREFIX_P, PREFIX_S)]
    return frame.select(*kept, *exprs), rewritten


def segment_codes(frame: pl.DataFrame, names: list[str]) -> np.ndarray:
    """Dense integer segment codes of a slice's key columns (null is a segment too)."""
    if not names:
        return np.zeros(frame.height, dtype=np.uint16)
    code = pl.Series(np.zeros(frame.height, dtype=np.int64))
    for name in names:
        part = frame[name].to_physical().cast(pl.Int64)
        top = _max_or_zero(part) + 1
        code = code * (top + 1) + part.fill_null(top)
    if _max_or_zero(code) >= 2**16:
        code = code.rank("dense") - 1
    out = code.to_numpy()
    return out.astype(np.uint16 if out.max(initial=0) < 2**16 else np.int64)


def _max_or_zero(ints: pl.Series) -> int:
    """Largest value of an integer series; 0 when it is empty or all null."""
    top = ints.max()
    return int(top) if isinstance(top, int) else 0


def opposite_below(codes: np.ndarray, ranked: tuple[np.ndarray, np.ndarray, np.ndarray]
                   ) -> np.ndarray:
    """Per row: rows of the other class in its segment with a lower score, ties one half
    (its average rank among all minus among its class). `ranked` is (order, score[order],
    positive[order]) for `order` sorting the score ascending; a stable sort of the segment
    codes in that order gives the rows by (segment, score)."""
    order, sorted_score, sorted_positive = ranked
    if not np.any(sorted_score[1:] == sorted_score[:-1]):
        return _opposite_below_untied(codes, order, sorted_positive)
    in_order = codes[order]
    perm = np.argsort(in_order, kind="stable")  # radix sort for small codes
    g, s, pos = in_order[perm], sorted_score[perm], sorted_positive[perm]
    n = len(perm)
    new_segment = np.empty(n, dtype=bool)
    new_segment[0] = True
    np.not_equal(g[1:], g[:-1], out=new_segment[1:])
    new_run = new_segment.copy()
    new_run[1:] |= s[1:] != s[:-1]  # runs of tied scores within a segment
    starts = np.flatnonzero(new_run)
    ends = np.append(starts[1:], n)
    seg_start = np.flatnonzero(new_segment)[np.cumsum(new_segment[starts]) - 1]
    cum_pos = np.zeros(n + 1, dtype=np.int32 if n < 2**31 else np.int64)
    np.cumsum(pos, out=cum_pos[1:])
    cum_neg = np.arange(n + 1, dtype=cum_pos.dtype) - cum_pos
    # per run: other-class rows below it in the segment, plus half of those tied with it;
    # interleaved (negatives' value, positives' value) so each row needs one gather
    below = np.empty((len(starts), 2))
    for column, c in enumerate((cum_pos, cum_neg)):
        below[:, column] = 0.5 * (c[starts] + c[ends]) - c[seg_start]
    run = np.cumsum(new_run) - 1
    out = np.empty(n)
    out[order[perm]] = below.ravel()[2 * run + pos]
    return out


def grouped(lazy: pl.LazyFrame, keys: list[Any], aggs: list[pl.Expr], overall: bool = True,
            *, additive: tuple[list[pl.Expr], list[pl.Expr]] | None = None
            ) -> list[pl.DataFrame]:
    """Overall and one aggregation per slice, collected together; rows labelled slice /
    segment exactly as `compute_metrics` labels them.

    With `additive` = (sums, finals), `aggs` are `pl.len()` as "n" plus `sums`, each a sum
    over rows whose coarser segments' values are their finer segments' sums (integers, or
    fixed-point totals): only the slices no other slice refines are grouped over the rows,
    every other slice (the overall one included) is rolled up from the smallest of them
    that holds its key columns, as `compute_metrics` does, and `finals` (`with_columns`)
    runs last on every slice. Integer sums make the rolled-up values identical to those
    grouped over the rows."""
    keyed: list[tuple[str, list[str]]] = [(OVERALL, [])] if overall else []
    keyed += [(k.name, [e.meta.output_name() for e in k.exprs]) for k in keys]
    if additive is None:
        return pl.collect_all([label_segments(lazy.group_by(group_exprs(names)).agg(aggs),
                                              name, names) for name, names in keyed])
    finals = additive[1]
    groupings = maximal_groupings([names for _, names in keyed])
    fine = pl.collect_all([lazy.group_by(group_exprs(g)).agg(aggs) for g in groupings])
    plans = []
    for name, names in keyed:
        source = min((i for i, g in enumerate(groupings) if set(names) <= set(g)),
                     key=lambda i: len(groupings[i]))
        stats = fine[source].lazy()
        if set(names) != set(groupings[source]):
            sums = [c for c in fine[source].columns if c not in group_names(groupings[source])]
            stats = stats.group_by(group_exprs(names)).agg(pl.col(c).sum() for c in sums)
        plans.append(label_segments(stats.with_columns(finals) if finals else stats,
                                    name, names))
    return pl.collect_all(plans)


def compare_segments(frame: pl.DataFrame, keys: list[Any], family: str, metric: str,
                     versions: list[str], *, n_boot: int, seed: int,
                     confidence: float = 0.95,
                     auc_values: list[pl.DataFrame] | None = None
                     ) -> dict[tuple[str, str], dict[str, dict]]:
    """Paired test of every challenger (versions[1:]) against versions[0] for every segment of
    overall and `keys` (over `materialise_keys` columns): {(slice, segment): {version: test}}.

    With the ``delong`` family, `auc_values` (a list) receives each model's ROC AUC per
    segment (`auc_frames`, computed from the same per-row counts as the test)."""

    k = len(versions)
    aggs = [pl.len().alias("n")] + ([(pl.col(Y) == 1).sum().alias("P")]
                                    if family == "delong" else [])
    if family == "delong":
        stats = _delong_stats(frame, keys, k, aggs)
        if auc_values is not None:
            auc_values.extend(auc_frames(stats, k, confidence))
    else:
        grids = moment_grids(family, metric, frame, range(1, k))
        terms = [e for j in range(1, k) for e in moment_columns(family, metric, j, grids)]
        lazy = frame.with_columns(terms).lazy() if terms else frame.lazy()
        parts = [additive_sums(family, metric, j, grids) for j in range(1, k)]
        if all(p is not None for p in parts):  # slices rolled up from finer ones
            sums = [e for p in parts if p is not None for e in p[0]]
            finals = [e for p in parts if p is not None for e in p[1]]
            stats = grouped(lazy, keys, [*aggs, *sums], additive=(sums, finals))
        else:
            aggs += [e for j in range(1, k) for e in aggregations(family, metric, j, grids)]
            stats = grouped(lazy, keys, aggs)
    sign = -1.0 if metric in LOWER_IS_BETTER else 1.0
    out: dict[tuple[str, str], dict[str, dict]] = {}
    for table in stats:
        name = table["slice"][0]
        for j, version in enumerate(versions[1:], start=1):
            rng = segment_rng(seed, "compare", metric, name, version)
            t = finish(family, metric, table, j, sign=sign, n_boot=n_boot,
                       confidence=confidence, rng=rng)
            for i, segment in enumerate(table["segment"]):
                out.setdefault((name, segment), {})[version] = {
                    "delta": _finite(t.delta[i]), "ci_low": _finite(t.ci_low[i]),
                    "ci_high": _finite(t.ci_high[i]), "test": t.test[i],
                    "statistic": _finite(t.statistic[i]), "p_value": _finite(t.p_value[i])}
    return out


def _delong_stats(frame: pl.DataFrame, keys: list[Any], k: int, aggs: list[pl.Expr]
                  ) -> list[pl.DataFrame]:
    """Per slice: sums of D10 (over positives) and D01 (over negatives) from per-row
    other-class counts (numpy: one global score sort per model, a radix sort per slice, the
    models in threads since numpy releases the GIL), summed by segment code and attached to
    the slice's labelled segments. Two slices' row terms are held at a time (the next one
    is queued while this one is summed)."""

    y = frame[Y].to_numpy() == 1
    with ThreadPoolExecutor(max_workers=min(k, os.cpu_count() or 1)) as pool:
        ranked = list(pool.map(lambda i: _ranked(frame[col_s(i)].to_numpy(), y), range(k)))

        def start(key: Any) -> tuple[Any, np.ndarray, list[Future[np.ndarray]]]:
            names = [] if key is None else [e.meta.output_name() for e in key.exprs]
            codes = segment_codes(frame, names)
            return key, codes, [pool.submit(opposite_below, codes, r) for r in ranked]

        tables = []
        todo = [None, *keys]
        running = start(todo[0])
        for i in range(len(todo)):
            key, codes, futures = running
            if i + 1 < len(todo):  # queue the next slice: no thread idles at a slice's end
                running = start(todo[i + 1])
            below = [f.result() for f in futures]
            table = grouped(frame.lazy().with_columns(pl.Series("__code", codes)),
                            [] if key is None else [key], [*aggs, pl.col("__code").first()],
                            overall=key is None)[0]
            tables.append(table.with_columns(_delong_sums(table, codes, y, below)))
    return tables


def _opposite_below_untied(codes: np.ndarray, order: np.ndarray, sorted_positive: np.ndarray
                           ) -> np.ndarray:
    """`opposite_below` when no two scores are equal (3x faster): each row's count is the
    other class's rows before it in (segment, score) order, with no runs of ties to pool."""
    in_order = codes[order]
    perm = np.argsort(in_order, kind="stable")
    g, pos = in_order[perm], sorted_positive[perm]
    n = len(perm)
    starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])  # each segment's first row
    lengths = np.diff(np.append(starts, n))
    before_pos = np.cumsum(pos, dtype=np.int64) - pos  # positives before the row (exclusive)
    before_neg = np.arange(n, dtype=np.int64) - before_pos
    below = np.where(pos, before_neg - np.repeat(before_neg[starts], lengths),
                     before_pos - np.repeat(before_pos[starts], lengths))
    out = np.empty(n)
    out[order[perm]] = below
    return out


def _ranked(score: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    order = np.argsort(score, kind="stable")
    return order, score[order], y[order]


def _delong_sums(table: pl.DataFrame, codes: np.ndarray, y: np.ndarray,
                 below: list[np.ndarray]) -> list[pl.Series]:
    """Σ d and Σ d² over each segment's positives (dp) and negatives (dn), d = challenger's
    minus champion's count, in the order of the table's segments."""
    cell = 2 * table["__code"].to_numpy().astype(np.int64)  # + 1 for positives
    by_class = 2 * codes.astype(np.int64) + y

    def sums(values: np.ndarray, prefix: str, j: int) -> list[pl.Series]:
        """Σ values and Σ values² per segment, over its positives (`{prefix}p`) and
        negatives (`{prefix}n`)."""
        first, second = (np.bincount(by_class, weights=w, minlength=cell.max() + 2)
                         for w in (values, values * values))
        return [pl.Series(f"{prefix}p{j}", first[cell + 1]),
                pl.Series(f"{prefix}p2_{j}", second[cell + 1]),
                pl.Series(f"{prefix}n{j}", first[cell]), pl.Series(f"{prefix}n2_{j}", second[cell])]

    out = [s for j in range(1, len(below)) for s in sums(below[j] - below[0], "d", j)]
    # each model's own counts: its AUC and DeLong variance (`auc_frames`)
    return out + [s for j, b in enumerate(below) for s in sums(b, "b", j)]


def auc_frames(tables: list[pl.DataFrame], k: int, confidence: float) -> list[pl.DataFrame]:
    """Each model's ROC AUC per segment, in `compute_metrics`' long format, from the
    per-segment sums of its other-class counts below each row (`_delong_sums`: bp / bn and
    their squares). The rank sums `binary.finalize` takes are their complements: a positive
    has N - below negatives above it, a negative P - below positives; ties count one half on
    both sides. Saves the rank pass `compute_metrics` would make per model and slice."""

    options = Options(confidence=confidence)  # the AUC uses only the confidence
    frames = []
    for j in range(k):
        parts = []
        for t in tables:
            n, pos = t["n"].cast(pl.Float64), t["P"].cast(pl.Float64)
            neg = n - pos
            bp, bp2, bn, bn2 = (t[f"{c}{j}"] for c in ("bp", "bp2_", "bn", "bn2_"))
            parts.append(t.select("slice", "segment").with_columns(
                n=n, P=pos, tp=0.0, fp=0.0, n_missing_label=0, n_excluded=0,
                S1=pos * neg - bp, S2=pos * neg**2 - 2 * neg * bp + bp2,
                T1=neg * pos - bn, T2=neg * pos**2 - 2 * pos * bn + bn2,
                tS1=0.0, tS2=0.0, tT1=0.0, tT2=0.0))
        stats = pl.concat(parts, how="vertical_relaxed")
        frames.append(assemble(stats, binary.finalize(stats, frozenset({"roc_auc"}), options)))
    return frames


def _finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None
