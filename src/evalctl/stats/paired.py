"""Paired tests: two models scored on the same rows, per segment.

Two models evaluated on the same rows are correlated, so testing them as independent samples
wastes power (see `metrics.compare_to_reference`). Here every segment is summarised by sums
over its *paired* rows (one group-by per slice, no per-segment scans), and each family returns,
per segment, the difference challenger − champion signed so that positive means better, its
interval, a statistic and a two-sided p-value.

=========================  =====================================================================
family (metrics)           test and interval
=========================  =====================================================================
``mcnemar`` (accuracy,     McNemar on the discordant counts b (only the champion right) and c
binary and multiclass)     (only the challenger right): mid-p exact binomial when b + c < 25
                           (Fagerland, Lydersen & Laake 2013), else chi-square with continuity
                           correction ``max(|b − c| − 1, 0)² / (b + c)``. Interval: paired
                           bootstrap over the (champion right, challenger right) cells.
``delong`` (roc_auc)       paired DeLong (DeLong, DeLong & Clarke-Pearson 1988): the variance of
                           the difference of the structural components V10 (per positive) and V01
                           (per negative), from average ranks (ties count one half); normal
                           interval, z-test.
``cells`` (precision,      paired bootstrap, multinomial over the joint cells (label, champion
recall, f1; multiclass     prediction, challenger prediction): an exact row bootstrap, since these
macro_f1, weighted_f1)     metrics depend on the rows only through the cell counts.
``moments`` (log_loss,     paired Gaussian multiplier bootstrap from per-segment moments (sums and
brier, mae, rmse, mape,    cross-products of per-row terms of both models): replicate means
r2)                        ``mean + L z / √n`` with ``L Lᵀ`` the terms' covariance, so each
                           replicate is Σ wᵢ tᵢ / n with wᵢ ~ N(1, 1) — a multiplier bootstrap
                           whose replicate sums have exactly the row bootstrap's mean and
                           covariance, computed from mergeable sums. Resampling rows would cost
                           rows × replicates per slice (10¹⁰ operations for 5M rows, 200
                           replicates and 20 slices); it differs from this only through the
                           skewness of the terms, which fades as 1/√n.
=========================  =====================================================================

Bootstrap p-values come from the bootstrap standard error (z = delta / sd of the replicates,
two-sided normal); the interval is the percentile interval. A percentile p-value would bottom
at 2 / (B + 1), which no Holm correction over many slices could pass. Replicates are drawn from
one generator per (slice, challenger), seeded by the caller, so results are reproducible and a
slice's numbers do not depend on which other slices were computed.

This module holds the tests, the bootstrap engines and the per-segment sums they need;
`paired_segments` evaluates them for every segment of every slice (`compare_segments`).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from evalctl.metrics.catalogue import (
    PAIRED_FAMILY,
    absolute_error,
    log_loss_term,
    squared_error,
)
from evalctl.metrics.intervals import sample_variance, z_value
from evalctl.metrics.multiclass import _f1_scores
from evalctl.stats.exact import (
    bound_scale,
    exact_sum,
    fixed_point,
    from_fixed_point,
    scale_name,
)

EXACT_BELOW = 25
Y, PREFIX_P, PREFIX_S = "__y", "__p", "__s"  # label; prediction / score of model i

FAMILY: dict[tuple[str, str], str] = PAIRED_FAMILY  # (task, metric) -> family, from the catalogue
TEST_NAMES = {"delong": "delong (paired)", "cells": "paired bootstrap (joint cells)",
              "moments": "paired bootstrap (gaussian multiplier)"}


@dataclass(frozen=True)
class PairedTest:
    """One challenger against the champion, arrays aligned with a slice's segments."""

    delta: np.ndarray  # challenger − champion, signed: positive = better
    ci_low: np.ndarray
    ci_high: np.ndarray
    statistic: np.ndarray
    p_value: np.ndarray
    test: list[str]


def col_p(i: int) -> str:
    return f"{PREFIX_P}{i}"


def col_s(i: int) -> str:
    return f"{PREFIX_S}{i}"


# -- tests on summaries --------------------------------------------------------------------
def mcnemar(b: Any, c: Any, exact_below: int = EXACT_BELOW
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Statistic (continuity-corrected chi-square), two-sided p-value and whether the mid-p
    exact binomial was used, for discordant counts `b` and `c` (vectorised)."""
    # scipy is imported only when this is computed (start-up time)
    from scipy.special import bdtr, chdtrc, comb

    b, c = (np.atleast_1d(np.asarray(a, dtype=float)) for a in np.broadcast_arrays(b, c))
    n = b + c
    with np.errstate(divide="ignore", invalid="ignore"):
        stat = np.where(n > 0, np.maximum(np.abs(b - c) - 1.0, 0.0) ** 2 / n, 0.0)
    p = chdtrc(1, stat)
    exact = n < exact_below
    small = exact & (n > 0)
    k, m = np.minimum(b, c)[small].astype(np.int64), n[small].astype(np.int64)
    p[small] = 2.0 * bdtr(k, m, 0.5) - comb(m, k) * 0.5**m  # mid-p: P(X = k) counts half
    p[n == 0] = 1.0
    return stat, np.clip(p, 0.0, 1.0), exact


def paired_delong(pos: Any, neg: Any, s10: Any, s10sq: Any, s01: Any, s01sq: Any
                  ) -> tuple[np.ndarray, np.ndarray]:
    """AUC difference and its standard error from the structural components' differences
    D10 = V10_b − V10_a (sum, sum of squares over positives) and D01 (over negatives)."""

    pos, neg = np.asarray(pos, dtype=float), np.asarray(neg, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        delta = np.asarray(s10, dtype=float) / pos
        var = sample_variance(s10, s10sq, pos) / pos + sample_variance(s01, s01sq, neg) / neg
    return delta, np.sqrt(var)


def normal_test(delta: np.ndarray, se: np.ndarray, confidence: float
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Interval delta ± z·se, statistic delta / se and its two-sided p (se 0: p 1 or 0)."""
    # scipy is imported only when this is computed (start-up time)
    from scipy.special import ndtr


    with np.errstate(divide="ignore", invalid="ignore"):
        stat = np.where(se > 0, delta / se, np.nan)
        p = np.where(se > 0, 2.0 * ndtr(-np.abs(stat)), np.where(delta == 0, 1.0, 0.0))
    half = z_value(confidence) * se
    return delta - half, delta + half, stat, np.where(np.isfinite(delta), p, np.nan)


# -- bootstrap engines ----------------------------------------------------------------------
def cell_draws(counts: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """Multinomial resamples of each segment's cell counts: (segments, cells) ->
    (segments, n_boot, cells); every replicate keeps the segment's row count."""
    counts = np.asarray(counts, dtype=float)
    n = counts.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        probs = np.where(n[:, None] > 0, counts / n[:, None], 1.0 / counts.shape[1])
    draws = rng.multinomial(n.astype(np.int64)[:, None], probs[:, None, :],
                            size=(len(n), n_boot))
    return draws.astype(float)


def multiplier_means(n: np.ndarray, sums: np.ndarray, cross: np.ndarray, n_boot: int,
                     rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Point means (segments, k) and Gaussian-multiplier replicate means (segments, B, k)
    from row counts, sums (segments, k) and cross-product sums (segments, k, k).

    A segment's replicates are NaN (no interval, no p-value) where its covariance is not
    known: products that overflowed (terms beyond ~1e154: inf or NaN, which `eigh` cannot
    take), or squares that underflowed (terms below ~1e-154: a term's sum of squares 0 while
    its sum is not, a zero covariance that is not)."""
    n = np.asarray(n, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        mean = sums / n[:, None]
        cov = cross / n[:, None, None] - mean[:, :, None] * mean[:, None, :]
    squares = np.diagonal(cross, axis1=1, axis2=2)
    unknown = ~np.isfinite(cov).all(axis=(1, 2)) | (
        (squares == 0) & (sums != 0)).any(axis=1)
    values, vectors = np.linalg.eigh(np.where(unknown[:, None, None], 0.0, cov))
    root = vectors * np.sqrt(np.clip(values, 0.0, None))[:, None, :]
    z = rng.standard_normal((len(n), n_boot, mean.shape[1]))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        spread = np.einsum("sij,sbj->sbi", root, z) / np.sqrt(n)[:, None, None]
        draws = mean[:, None, :] + spread
    draws[unknown] = np.nan
    return mean, draws


def bootstrap_test(delta: np.ndarray, replicates: np.ndarray, confidence: float
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Percentile interval, z = delta / sd(replicates) and its normal two-sided p, per
    segment; replicates (segments, B) where NaN ones (undefined metric) are dropped."""


    alpha = (1.0 - confidence) / 2.0
    ok = np.isfinite(replicates)
    reps = np.where(ok, replicates, np.nan)
    filled = np.where(ok, replicates, 0.0)
    with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN segments give NaN
        low, high = np.nanquantile(reps, [alpha, 1.0 - alpha], axis=1)
        sd = np.sqrt(sample_variance(filled.sum(axis=1), (filled**2).sum(axis=1),
                                     ok.sum(axis=1)))
    _, _, stat, p = normal_test(delta, sd, confidence)
    return low, high, stat, np.where(np.isfinite(sd), p, np.nan)


# -- per-segment aggregations (polars) -----------------------------------------------------
def aggregations(family: str, metric: str, j: int, grids: dict[str, float] | None = None
                 ) -> list[pl.Expr]:
    """Sums per segment that the family's test needs, for challenger j against model 0.
    Moment sums are order-free: `grids` holds the frame's `moment_grids`."""
    y, a, b = pl.col(Y), pl.col(col_p(0)), pl.col(col_p(j))
    if family == "mcnemar":
        ca, cb = a == y, b == y
        return [(ca & ~cb).sum().alias(f"b{j}"), (~ca & cb).sum().alias(f"c{j}")]
    if family == "cells" and metric in ("macro_f1", "weighted_f1"):
        cell = pl.struct(y.alias("y"), a.alias("a"), b.alias("b")).alias("cell")
        return [cell.value_counts().alias(f"cells{j}")]
    if family == "cells":
        code = (4 * y + 2 * a + b).cast(pl.Int8)
        return [(code == c).sum().alias(f"cell{j}_{c}") for c in range(8)]
    if grids is None:
        raise ValueError("moment sums need the frame's grids (moment_grids)")
    if metric != "r2":  # the terms are columns already (`moment_columns`)
        return [_fixed_sum(name, grids[scale_name(name)]) for name, _ in _products(
            moment_terms(metric, y, y, y), j)]
    terms = moment_terms(metric, y, pl.col(col_s(0)), pl.col(col_s(j)),
                         y_grid=grids.get("__y_grid", 0.0))
    return [exact_sum(t, grids[scale_name(name)]).alias(name) for name, t in _products(terms, j)]


def additive_sums(family: str, metric: str, j: int, grids: dict[str, float]
                  ) -> tuple[list[pl.Expr], list[pl.Expr]] | None:
    """The sums of `aggregations` split so that a coarser segment's are the sums of its finer
    segments' (`paired_segments.grouped` rolls slices up from finer ones): the per-segment
    sums, integers where `aggregations` gives integers or fixed-point totals, and the
    `with_columns` expressions turning the rolled-up fixed-point totals into the floats
    `aggregations` gives (the same bits). None for the sums that do not add up this way
    (R²'s segment-centred terms, the joint-cell value counts of macro / weighted F1)."""
    if family == "mcnemar" or (family == "cells" and metric not in ("macro_f1", "weighted_f1")):
        return aggregations(family, metric, j), []
    if family != "moments" or metric == "r2":
        return None
    names = [name for name, _ in _products(moment_terms(metric, *[pl.col(Y)] * 3), j)]
    fixed = [n for n in names if grids[scale_name(n)] > 0]
    return ([pl.col(n).sum().alias(n) for n in names],
            [from_fixed_point(pl.col(n), grids[scale_name(n)]).alias(n) for n in fixed])


def moment_columns(family: str, metric: str, j: int, grids: dict[str, float]) -> list[pl.Expr]:
    """`with_columns` expressions: each moment sum's per-row term on its grid as an Int128
    integer (`fixed_point`), computed once for every slice's group-by (none for R², whose
    centred terms depend on the segment). A term with a non-finite value stays float and is
    summed as such."""
    if family in ("mcnemar", "cells") or metric == "r2":
        return []
    terms = moment_terms(metric, pl.col(Y), pl.col(col_s(0)), pl.col(col_s(j)))
    out = []
    for name, t in _products(terms, j):
        grid = grids[scale_name(name)]
        out.append(fixed_point(t, grid).alias(name) if grid > 0 else t.alias(name))
    return out


def _fixed_sum(name: str, grid: float) -> pl.Expr:
    if grid <= 0:
        return pl.col(name).sum()
    return from_fixed_point(pl.col(name).sum(), grid).alias(name)


def moment_grids(family: str, metric: str, frame: pl.DataFrame, challengers: Sequence[int]
                 ) -> dict[str, float]:
    """The grids `aggregations` and `moment_columns` need for challengers `challengers`:
    the fixed-point grid of each moment sum (see `evalctl.stats.exact`), from one `select`
    reading each term's largest |value| (NaN if any is NaN) once; a product of two terms is
    bounded by the product of theirs. Empty for the families that sum no floats."""
    if family in ("mcnemar", "cells"):
        return {}
    y = pl.col(Y)
    largest: dict[str, pl.Expr] = {"__y": y.abs().nan_max()} if metric == "r2" else {}
    for j in challengers:
        terms = moment_terms(metric, y, pl.col(col_s(0)), pl.col(col_s(j)), centre=False)
        largest |= {f"{j}~{i}": t.abs().nan_max() for i, t in enumerate(terms)}
    found = frame.select(e.alias(k) for k, e in largest.items()).row(0, named=True)
    grids = {"__y_grid": bound_scale(_finite_or_nan(found["__y"]))} if metric == "r2" else {}
    for j in challengers:
        count = sum(1 for k in found if k.startswith(f"{j}~"))
        bounds = [_finite_or_nan(found[f"{j}~{i}"]) for i in range(count)]
        grids |= {scale_name(name): bound_scale(b) for name, b in _products(bounds, j)}
    return grids


def _finite_or_nan(value: float | None) -> float:
    """A largest |value| as a float bound: NaN (no grid) when there was none."""
    return float("nan") if value is None else float(value)


def _products(terms: Sequence[Any], j: int) -> list[tuple[str, Any]]:
    """The terms (expressions, or bounds) and their pairwise products, named as `finish`
    reads them."""
    out = [(f"m{j}_{i}", t) for i, t in enumerate(terms)]
    return out + [(f"m{j}_{i}_{k}", terms[i] * terms[k])
                  for i in range(len(terms)) for k in range(i, len(terms))]


def moment_terms(metric: str, y: pl.Expr, a: pl.Expr, b: pl.Expr, *, centre: bool = True,
                 y_grid: float = 0.0) -> list[pl.Expr]:
    """Per-row terms whose means give both models' metric (see MOMENT_VALUES). With
    `centre=False`, R²'s centred label is replaced by 2|y|, which bounds it in magnitude;
    `y_grid` is the label's grid, for the order-free sum of R²'s segment mean."""
    if metric == "log_loss":
        return [log_loss_term(y, s) for s in (a, b)]
    if metric in ("brier", "rmse"):
        return [squared_error(y, s) for s in (a, b)]
    if metric == "mae":
        return [absolute_error(y, s) for s in (a, b)]
    if metric == "mape":
        nz = y != 0
        return [nz.cast(pl.Float64), *[pl.when(nz).then((s - y).abs() / y.abs()).otherwise(0.0)
                                        for s in (a, b)]]
    # the segment's own mean (R² is shift-invariant), from an order-free sum: one grid per
    # segment, as this is a per-group value
    centred = y - exact_sum(y, y_grid) / y.count() if centre else 2.0 * y.abs()
    return [(a - y) ** 2, (b - y) ** 2, centred, centred**2]


def _r2(m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    var = m[..., 3] - m[..., 2] ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        return 1 - m[..., 0] / var, 1 - m[..., 1] / var


MOMENT_VALUES: dict[str, Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]] = {
    "log_loss": lambda m: (m[..., 0], m[..., 1]),
    "brier": lambda m: (m[..., 0], m[..., 1]),
    "mae": lambda m: (m[..., 0], m[..., 1]),
    "rmse": lambda m: (np.sqrt(m[..., 0]), np.sqrt(m[..., 1])),
    "mape": lambda m: (m[..., 1] / m[..., 0], m[..., 2] / m[..., 0]),
    "r2": _r2,
}


# -- per-segment results from the sums -----------------------------------------------------
def finish(family: str, metric: str, stats: pl.DataFrame, j: int, *, sign: float,
           n_boot: int, confidence: float, rng: np.random.Generator) -> PairedTest:
    """The test of challenger j for every segment (row) of one slice's `stats`."""
    if family == "mcnemar":
        return _finish_mcnemar(stats, j, n_boot, confidence, rng)
    if family == "delong":
        return _finish_delong(stats, j, confidence)
    if family == "cells":
        a, b = _cell_values(metric, stats, j, n_boot, rng)
    else:
        a, b = _moment_values(metric, stats, j, n_boot, rng)
    with np.errstate(invalid="ignore"):  # inf - inf: both models' values overflowed
        delta, reps = sign * (b[:, 0] - a[:, 0]), sign * (b[:, 1:] - a[:, 1:])
    # one row: every replicate equals it, a zero-width interval and p = 0 for any difference
    reps[_numbers(stats, "n") < 2] = np.nan
    low, high, stat, p = bootstrap_test(delta, reps, confidence)
    return PairedTest(delta, low, high, stat, p, [TEST_NAMES[family]] * stats.height)


def _numbers(stats: pl.DataFrame, name: str) -> np.ndarray:
    return stats.get_column(name).fill_null(0).cast(pl.Float64).to_numpy()


def _finish_mcnemar(stats: pl.DataFrame, j: int, n_boot: int, confidence: float,
                    rng: np.random.Generator) -> PairedTest:
    n, b, c = (_numbers(stats, k) for k in ("n", f"b{j}", f"c{j}"))
    stat, p, exact = mcnemar(b, c)
    draws = cell_draws(np.column_stack([b, c, n - b - c]), n_boot, rng)
    with np.errstate(divide="ignore", invalid="ignore"):
        delta = (c - b) / n
        reps = (draws[..., 1] - draws[..., 0]) / n[:, None]
    low, high, _, _ = bootstrap_test(delta, reps, confidence)
    tests = ["mcnemar (mid-p)" if e else "mcnemar (chi-square, continuity)" for e in exact]
    return PairedTest(delta, low, high, stat, p, tests)


def _finish_delong(stats: pl.DataFrame, j: int, confidence: float) -> PairedTest:
    n, pos = _numbers(stats, "n"), _numbers(stats, "P")
    neg = n - pos
    dp, dp2, dn, dn2 = (_numbers(stats, k) for k in (f"dp{j}", f"dp2_{j}", f"dn{j}",
                                                       f"dn2_{j}"))
    with np.errstate(divide="ignore", invalid="ignore"):
        delta, se = paired_delong(pos, neg, dp / neg, dp2 / neg**2, -dn / pos, dn2 / pos**2)
    low, high, stat, p = normal_test(delta, se, confidence)
    return PairedTest(delta, np.clip(low, -1, 1), np.clip(high, -1, 1), stat, p,
                      [TEST_NAMES["delong"]] * stats.height)


_CODES = np.arange(8)
_LABEL_BIT, _A_BIT, _B_BIT = (_CODES >> 2) & 1, (_CODES >> 1) & 1, _CODES & 1


def _cell_values(metric: str, stats: pl.DataFrame, j: int, n_boot: int,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Both models' metric, point (column 0) then replicates, per segment."""
    if metric in ("macro_f1", "weighted_f1"):
        rows = [_multiclass_f1(c, metric, n_boot, rng) for c in stats[f"cells{j}"].to_list()]
        return np.array([r[0] for r in rows]), np.array([r[1] for r in rows])
    counts = np.column_stack([_numbers(stats, f"cell{j}_{c}") for c in range(8)])
    every = np.concatenate([counts[:, None, :], cell_draws(counts, n_boot, rng)], axis=1)
    out = []
    for bit in (_A_BIT, _B_BIT):
        tp, fp = every @ (_LABEL_BIT & bit), every @ ((1 - _LABEL_BIT) & bit)
        fn = every @ (_LABEL_BIT & (1 - bit))
        num, den = {"precision": (tp, tp + fp), "recall": (tp, tp + fn),
                    "f1": (2 * tp, 2 * tp + fp + fn)}[metric]
        with np.errstate(divide="ignore", invalid="ignore"):
            out.append(np.where(den > 0, num / den, np.nan))
    return out[0], out[1]


def _multiclass_f1(cells: list[dict[str, Any]], metric: str, n_boot: int,
                   rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Macro or weighted F1 of both models over one segment's (label, a, b) cells."""

    items = sorted(((str(c["cell"]["y"]), str(c["cell"]["a"]), str(c["cell"]["b"])),
                    c["count"]) for c in cells)  # a fixed cell order: reproducible draws
    triples = np.array([t for t, _ in items], dtype=object).astype(str)
    counts = np.array([n for _, n in items], dtype=float)
    classes, codes = np.unique(triples, return_inverse=True)
    codes = codes.reshape(triples.shape)
    onehot = [np.equal.outer(codes[:, i], np.arange(len(classes))).astype(float)
              for i in range(3)]
    every = np.vstack([counts, rng.multinomial(int(counts.sum()), counts / counts.sum(),
                                               size=n_boot)])
    pick = 0 if metric == "macro_f1" else 1
    out = [_f1_scores(every, onehot[0], onehot[i], (codes[:, 0] == codes[:, i]).astype(float))
           [pick] for i in (1, 2)]
    return out[0], out[1]


def _moment_values(metric: str, stats: pl.DataFrame, j: int, n_boot: int,
                   rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    k = len(moment_terms(metric, *[pl.lit(0.0)] * 3))
    sums = np.column_stack([_numbers(stats, f"m{j}_{i}") for i in range(k)])
    cross = np.empty((stats.height, k, k))
    for i in range(k):
        for m in range(i, k):
            cross[:, i, m] = cross[:, m, i] = _numbers(stats, f"m{j}_{i}_{m}")
    mean, draws = multiplier_means(_numbers(stats, "n"), sums, cross, n_boot, rng)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):  # undefined: NaN
        a, b = MOMENT_VALUES[metric](np.concatenate([mean[:, None, :], draws], axis=1))
    return a, b
