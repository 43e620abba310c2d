"""Decompose a metric change over one feature's segments into mix, performance and interaction.

A metric that is a mean over labelled rows (accuracy, Brier score, log loss, MAE) is a
share-weighted sum of its segment values: ``M = sum_s w_s * m_s`` with ``w_s`` the segment's
share of the labelled rows and ``m_s`` the metric inside it. Between a baseline (0) and a
current window (1), with ``dw = w1 - w0`` and ``dm = m1 - m0``::

    M1 - M0 = sum_s [ dw * (m0 - M0) ]    mix:          the population moved between segments
            + sum_s [ w0 * dm ]           performance:  the model changed inside segments
            + sum_s [ dw * dm ]           interaction:  both at once

This is exact (``w1 m1 - w0 m0 = dw m0 + w0 dm + dw dm`` segment by segment). The mix term is
centred on the baseline overall ``M0`` - which changes no total, since ``sum_s dw = 0`` - so a
segment's own mix term says whether moving people into it helped (a strong segment) or hurt
(a weak one). A segment without baseline rows takes ``m0 = m1`` (its whole effect is mix: a new
population); one without current rows takes ``m1 = m0`` (its effect is mix: a population gone).
Both keep the identity exact. Everything here is pure: per-segment counts and sums in, arrays out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from evalctl.metrics.intervals import sample_variance, wilson_interval, z_value
from evalctl.slicing.predicates import Predicate
from evalctl.stats.exact import exact_sums, with_grids

FloatArray = np.ndarray


@dataclass(frozen=True)
class Decomposition:
    """Per-segment terms (arrays aligned with the input segments) and the window totals."""

    share0: FloatArray
    share1: FloatArray
    metric0: FloatArray
    metric1: FloatArray
    mix: FloatArray
    performance: FloatArray
    interaction: FloatArray
    total0: float
    total1: float

    @property
    def change(self) -> float:
        return self.total1 - self.total0

    @property
    def contribution(self) -> FloatArray:
        """Each segment's whole share of the change (mix + performance + interaction)."""
        return self.mix + self.performance + self.interaction

    def sums(self) -> dict[str, float]:
        return {"mix": float(self.mix.sum()), "performance": float(self.performance.sum()),
                "interaction": float(self.interaction.sum()), "change": self.change}


def decompose(n0: Any, sum0: Any, n1: Any, sum1: Any) -> Decomposition:
    """Decompose the change of a mean metric over segments.

    `n0`/`n1` are the labelled rows per segment in each window and `sum0`/`sum1` the sums of the
    per-row metric term (e.g. 1 for a correct prediction). Each window needs at least one
    labelled row (raises ValueError otherwise).
    """
    n0, s0, n1, s1 = (np.asarray(a, dtype=float) for a in (n0, sum0, n1, sum1))
    if n0.sum() <= 0 or n1.sum() <= 0:
        raise ValueError("both windows need labelled rows")
    total0, total1 = s0.sum() / n0.sum(), s1.sum() / n1.sum()
    w0, w1 = n0 / n0.sum(), n1 / n1.sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        m0, m1 = s0 / n0, s1 / n1
    m0 = np.where(n0 > 0, m0, np.where(n1 > 0, m1, total0))
    m1 = np.where(n1 > 0, m1, m0)
    dw, dm = w1 - w0, m1 - m0
    return Decomposition(share0=w0, share1=w1, metric0=m0, metric1=m1,
                         mix=dw * (m0 - total0), performance=w0 * dm, interaction=dw * dm,
                         total0=float(total0), total1=float(total1))


def shifted_mix(rows0: Any, rows1: Any, n0: Any, sum0: Any) -> float:
    """The change the population shift alone would cause if every segment kept its baseline
    metric: ``sum_s (r1 - r0) * (m0 - M0)`` with ``r`` the shares of ALL rows (labelled or not).

    The estimate when the current window has too few labels. Segments without baseline labels
    count as average (they contribute nothing).
    """
    r0, r1, n0, s0 = (np.asarray(a, dtype=float) for a in (rows0, rows1, n0, sum0))
    if n0.sum() <= 0 or r0.sum() <= 0 or r1.sum() <= 0:
        return float("nan")
    total0 = s0.sum() / n0.sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        m0 = np.where(n0 > 0, s0 / n0, total0)
    return float(((r1 / r1.sum() - r0 / r0.sum()) * (m0 - total0)).sum())


def best_range(count0: Any, count1: Any, n0: Any, sum0: Any, direction: float,
               n1: Any = None, sum1: Any = None) -> tuple[int, int, float] | None:
    """The contiguous run of ordered segments (bins of a numeric feature) whose merged mix term
    moves the metric furthest in `direction` (-1: down, +1: up): ``(start, stop, mix *
    direction)`` with the run ``[start, stop)``, or None.

    Shares come from `count0`/`count1` (labelled rows, or all rows for the population-only
    estimate), baseline metrics from `n0`/`sum0`; a run without baseline labels takes its
    current metric (`n1`/`sum1`) when given, else counts as average. Merged segments are
    re-decomposed from their summed counts (a merged mix term is not the sum of its parts).
    Runs covering every segment are skipped: their share cannot change.
    """
    r0, r1, n0, s0 = (np.asarray(a, dtype=float) for a in (count0, count1, n0, sum0))
    n1 = np.zeros_like(n0) if n1 is None else np.asarray(n1, dtype=float)
    s1 = np.zeros_like(n0) if sum1 is None else np.asarray(sum1, dtype=float)
    k = n0.size
    if k < 2 or n0.sum() <= 0 or r0.sum() <= 0 or r1.sum() <= 0:
        return None
    cr0, cr1, c0, cs0, c1, cs1 = (np.concatenate([[0.0], np.cumsum(a)])
                                  for a in (r0, r1, n0, s0, n1, s1))
    starts, stops = np.triu_indices(k + 1, 1)
    keep = (stops - starts) < k
    starts, stops = starts[keep], stops[keep]

    def run(cum: np.ndarray) -> np.ndarray:
        return cum[stops] - cum[starts]

    total0 = s0.sum() / n0.sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        m0 = np.where(run(c0) > 0, run(cs0) / run(c0),
                      np.where(run(c1) > 0, run(cs1) / run(c1), total0))
        mix = (run(cr1) / r1.sum() - run(cr0) / r0.sum()) * (m0 - total0) * direction
    mix = np.where(np.isfinite(mix), mix, -np.inf)
    if mix.max() <= 0:
        return None
    best = int(np.argmax(mix))
    return int(starts[best]), int(stops[best]), float(mix[best])


def change_interval(n0: float, sum0: float, sumsq0: float, n1: float, sum1: float,
                    sumsq1: float, *, proportion: bool, confidence: float = 0.95
                    ) -> tuple[float, float, str]:
    """Confidence interval of ``mean1 - mean0`` for two independent windows, from their sums.

    Proportions (accuracy): Newcombe's hybrid score interval (method 10, 1998) built from the
    two Wilson intervals - good coverage near 0 and 1 and on small samples. Other mean metrics:
    Welch's normal interval with the windows' sample variances. NaN when a window has fewer
    than two labelled rows.
    """

    if n0 < 2 or n1 < 2:
        return float("nan"), float("nan"), "none"
    p0, p1 = sum0 / n0, sum1 / n1
    diff = p1 - p0
    if proportion:
        (l0,), (u0,) = wilson_interval(np.array([sum0]), np.array([n0]), confidence)
        (l1,), (u1,) = wilson_interval(np.array([sum1]), np.array([n1]), confidence)
        low = diff - float(np.hypot(p1 - l1, u0 - p0))
        high = diff + float(np.hypot(u1 - p1, p0 - l0))
        return low, high, "newcombe (wilson)"
    var0 = float(sample_variance(np.array(sum0), np.array(sumsq0), np.array(n0)))
    var1 = float(sample_variance(np.array(sum1), np.array(sumsq1), np.array(n1)))
    half = z_value(confidence) * float(np.sqrt(var0 / n0 + var1 / n1))
    return diff - half, diff + half, "normal (welch)"


# -- segments of one feature, as aggregated by the rca scan -----------------------------------

_SUMS = ("rows", "n", "sum")


@dataclass(frozen=True)
class Segments:
    """One feature's segments in both windows (aggregated rows only, never data rows).

    The first `ordered` segments are the numeric bins in order (the null segment follows);
    categorical features have ``ordered == 0``: their levels by baseline size, then the rare
    levels grouped as ``<other>``, then null.
    """

    feature: str
    kind: str
    predicates: tuple[Predicate, ...]
    ordered: int
    rows0: FloatArray
    n0: FloatArray
    sum0: FloatArray
    rows1: FloatArray
    n1: FloatArray
    sum1: FloatArray


def feature_segments(table: pl.DataFrame, feature: str, kind: str, edges: Sequence[float],
                     vocabulary: Sequence[str], min_share: float) -> Segments:
    """Align a feature's per-window segment rows (`table`: side 1 | 2, feature, integer segment
    code, rows, n, sum) and group rare categories (below `min_share` of the rows in both
    windows) with the levels outside the vocabulary as ``<other>``."""
    rows = table.filter(pl.col("feature") == feature)
    side = [rows.filter(pl.col("side") == i).select(
        "segment", *(pl.col(c).cast(pl.Float64).alias(f"{c}{j}") for c in _SUMS))
        for j, i in enumerate((1, 2))]
    wide = side[0].join(side[1], on="segment", how="full", coalesce=True)
    wide = wide.with_columns(pl.exclude("segment").fill_null(0.0))
    if kind == "numeric":
        wide = wide.sort(pl.col("segment") < 0, "segment")
        codes = wide["segment"].to_list()
        predicates = [_bin_predicate(feature, c, edges) for c in codes]
        ordered = sum(c >= 0 for c in codes)
    else:
        wide, predicates = _group_rare(wide, feature, list(vocabulary), min_share)
        ordered = 0
    arrays = {c: wide[c].to_numpy() for c in ("rows0", "n0", "sum0", "rows1", "n1", "sum1")}
    return Segments(feature, kind, tuple(predicates), ordered, **arrays)


def _bin_predicate(feature: str, code: int, edges: Sequence[float]) -> Predicate:
    if code < 0:
        return Predicate(feature, "numeric", "null")
    low = float(edges[code - 1]) if code > 0 else None
    high = float(edges[code]) if code < len(edges) else None
    return Predicate(feature, "numeric", "range", low=low, high=high)


def _group_rare(wide: pl.DataFrame, feature: str, vocabulary: list[str], min_share: float
                ) -> tuple[pl.DataFrame, list[Predicate]]:
    other = len(vocabulary)
    share = pl.max_horizontal(pl.col("rows0") / pl.col("rows0").sum(),
                              pl.col("rows1") / pl.col("rows1").sum()).fill_nan(0.0)
    code = pl.when((share < min_share) & (pl.col("segment") >= 0)).then(other).otherwise(
        pl.col("segment").clip(upper_bound=other))
    sums = [c for c in wide.columns if c != "segment"]  # floats: summed order-free
    wide = (with_grids(wide.lazy().with_columns(code.alias("segment")), sums)
            .group_by("segment").agg(exact_sums(sums)).collect()
            .sort(pl.col("segment") < 0, pl.col("segment") == other, -pl.col("rows0"),
                  "segment"))
    codes = wide["segment"].to_list()
    kept = tuple(sorted(vocabulary[c] for c in codes if 0 <= c < other))
    predicates = [Predicate(feature, "categorical", "null") if c < 0
                  else Predicate(feature, "categorical", "other", excluded=kept) if c == other
                  else Predicate(feature, "categorical", "eq", value=vocabulary[c])
                  for c in codes]
    return wide, predicates


def segment_view(seg: Segments, chosen: np.ndarray, measured: bool) -> dict[str, Any]:
    """The chosen segments merged into one (a run of bins, or one level) against the rest:
    shares, metric there and elsewhere, and its own mix / performance / interaction terms."""
    inside = np.zeros(seg.n0.size, dtype=bool)
    inside[chosen] = True

    def split(a: FloatArray) -> FloatArray:
        return np.array([a[inside].sum(), a[~inside].sum()])

    n0, s0, n1, s1 = split(seg.n0), split(seg.sum0), split(seg.n1), split(seg.sum1)
    r0, r1 = split(seg.rows0), split(seg.rows1)
    predicate = _merged(seg.predicates, np.flatnonzero(inside))
    view: dict[str, Any] = {
        "feature": seg.feature, "segment": predicate.label, **_ids(predicate),
        "predicates": [predicate.to_dict()],
        "rows_share_baseline": _ratio(r0[0], r0.sum()),
        "rows_share_current": _ratio(r1[0], r1.sum()),
        "n_baseline": int(n0[0]), "n_current": int(n1[0]),
        "metric_baseline": _ratio(s0[0], n0[0]), "rest_baseline": _ratio(s0[1], n0[1]),
        "metric_current": _ratio(s1[0], n1[0]), "rest_current": _ratio(s1[1], n1[1])}
    if measured:
        dec = decompose(n0, s0, n1, s1)
        view |= {"share_baseline": float(dec.share0[0]), "share_current": float(dec.share1[0]),
                 "mix": float(dec.mix[0]), "performance": float(dec.performance[0]),
                 "interaction": float(dec.interaction[0])}
    else:
        view |= {"share_baseline": view["rows_share_baseline"],
                 "share_current": view["rows_share_current"],
                 "estimated_mix": shifted_mix(r0, r1, n0, s0)}
    return view


def _merged(predicates: tuple[Predicate, ...], index: np.ndarray) -> Predicate:
    first, last = predicates[index[0]], predicates[index[-1]]
    if len(index) == 1 or first.op != "range":
        return first
    return Predicate(first.feature, "numeric", "range", low=first.low, high=last.high)


def _ids(predicate: Predicate) -> dict[str, str | None]:
    """The segment id (`--segment`) or, for grouped rare levels, an equivalent `--where`."""
    if predicate.op != "other":
        return {"id": predicate.token, "where": None}
    name = predicate.feature if predicate.feature.isidentifier() else f"`{predicate.feature}`"
    levels = ", ".join("'" + v.replace("'", "''") + "'" for v in predicate.excluded)
    return {"id": None, "where": f"{name} not in ({levels})" if levels else f"{name} is not null"}


def _ratio(a: float, b: float) -> float | None:
    return float(a / b) if b > 0 else None


def top_mix_segment(seg: Segments, direction: float, measured: bool) -> np.ndarray | None:
    """Indices of the segment (a run of numeric bins, or one segment) whose mix term moves the
    metric furthest in `direction`; None when no segment moves it that way."""
    if seg.n0.sum() <= 0:
        return None
    later: tuple[Any, Any] = (seg.n1, seg.sum1) if measured else (None, None)
    counts0, counts1 = (seg.n0, seg.n1) if measured else (seg.rows0, seg.rows1)
    if counts0.sum() <= 0 or counts1.sum() <= 0:
        return None
    total0 = seg.sum0.sum() / seg.n0.sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        fallback = (np.where(seg.n1 > 0, seg.sum1 / seg.n1, total0) if measured
                    else np.full(seg.n0.size, total0))
        m0 = np.where(seg.n0 > 0, seg.sum0 / seg.n0, fallback)
    mix = (counts1 / counts1.sum() - counts0 / counts0.sum()) * (m0 - total0) * direction
    best_index, best = np.array([int(np.argmax(mix))]), float(mix.max())
    if seg.ordered >= 2:
        k = seg.ordered
        run = best_range(counts0[:k], counts1[:k], seg.n0[:k], seg.sum0[:k], direction,
                         *(a[:k] if a is not None else None for a in later))
        if run is not None and run[2] > best:
            best_index, best = np.arange(run[0], run[1]), run[2]
    return best_index if best > 0 else None


# -- reading the numbers: the change's verdict and each feature's failure mode ----------------

def judge_change(base: dict[str, Any], cur: dict[str, Any], *, metric: str,
                 lower_is_better: bool, max_drop: float, min_labels: int,
                 confidence: float = 0.95) -> dict[str, Any]:
    """The overall change from two windows' totals (`n`, `sum`, `sumsq` of the row term): value,
    interval, whether it is noise, a gain or a drop, and the gate (fail: a significant drop
    beyond `max_drop`; warn: a smaller significant drop, or too few labels to tell)."""
    n0, n1 = base["n"], cur["n"]
    row: dict[str, Any] = {
        "section": "change", "feature": "(overall)", "metric": metric,
        "baseline": base["sum"] / n0 if n0 else None, "current": cur["sum"] / n1 if n1 else None,
        "change": None, "ci_low": None, "ci_high": None, "ci_method": None, "n_baseline": n0,
        "n_current": n1, "significant": False, "lower_is_better": lower_is_better,
        "status": "pass", "measured": n0 >= min_labels and n1 >= min_labels}
    if not row["measured"]:
        row |= {"mode": "performance_unknown", "status": "warn" if n0 else "error"}
        row["finding"] = (f"too few labelled rows to measure {metric} (baseline {n0:,}, current "
                          f"{n1:,}; min_labels {min_labels}): performance is unknown — only "
                          "drift and the population mix can be judged")
        return row
    low, high, method = change_interval(n0, base["sum"], base["sumsq"], n1, cur["sum"],
                                        cur["sumsq"], proportion=metric == "accuracy",
                                        confidence=confidence)
    delta = row["current"] - row["baseline"]
    worse = -delta if lower_is_better else delta
    significant = not low <= 0.0 <= high
    row |= {"change": delta, "ci_low": low, "ci_high": high, "ci_method": method,
            "significant": significant, "direction": float(np.sign(delta)),
            "mode": "within_noise" if not significant else ("drop" if worse < 0 else "gain")}
    if row["mode"] == "drop":
        row["status"] = "fail" if -worse > max_drop else "warn"
    text = (f"{metric} {row['baseline']:.4f} → {row['current']:.4f} ({delta:+.4f}, "
            f"{confidence:.0%} CI {low:+.4f} .. {high:+.4f})")
    row["finding"] = text + {
        "within_noise": ": within noise — nothing to explain",
        "gain": ": a significant improvement",
        "drop": f": significantly worse, {'beyond' if row['status'] == 'fail' else 'within'} "
                f"the allowed {max_drop}"}[row["mode"]]
    return row


def classify(row: dict[str, Any], change: dict[str, Any], min_explained: float,
             max_drop: float) -> None:
    """Set a feature row's failure `mode` and `status` from its mix share, drift and skew.

    population_shift: its mix effect explains >= `min_explained` of a significant drop (without
    current labels: its population shift alone would move the metric the harmful way by >=
    `min_explained * max_drop`). pipeline: differs from the reference in both windows but not
    between them. drift_without_effect: drifted between the windows, explains little.
    """
    if row.get("status") == "error":
        row["mode"] = "error"
        return
    drifted = row.get("drift_status") in ("warn", "fail")
    statuses = [row.get(f"skew_{s}_status") for s in ("baseline", "current")]
    skewed = all(s in ("warn", "fail") for s in statuses)
    explained = row.get("explained")
    if change.get("measured"):
        cause = change["mode"] == "drop" and (explained or 0.0) >= min_explained
    else:
        estimate = row.get("estimated_mix")
        harm = 1.0 if change["lower_is_better"] else -1.0
        cause = drifted and estimate is not None and estimate * harm >= min_explained * max_drop
    if cause:
        row["mode"] = "population_shift"
    elif skewed and not drifted:
        row["mode"] = "pipeline"
    elif drifted and abs(explained or 0.0) < min_explained:
        row["mode"] = "drift_without_effect"
    else:
        row["mode"] = "none"
    row["status"] = "pass" if row["mode"] == "none" else "warn"
