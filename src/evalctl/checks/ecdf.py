"""Kolmogorov-Smirnov and Wasserstein from binned summaries, with proven error bounds.

A `NumericSummary` knows, for the reference-quantile edges ``e0 < ... < em``, how many values sit
exactly on each edge and how many (and their sum) lie strictly between neighbours. Write
``D(x) = F_ref(x) - F_cur(x)`` for the two empirical CDFs. D is known exactly at every edge; inside
an open cell ``(a, b)`` each CDF rises from its value at ``a`` by at most the cell's mass
``o_ref`` / ``o_cur``.

KS statistic ``sup |D|``:
    lower = max |D| at every cell boundary (each is attained by a data point);
    upper = max(lower, max over open cells of max(D(a) + o_ref, o_cur - D(a))).
    The reported statistic is `lower` (it is attained); the exact one exceeds it by at most
    ``upper - lower <= max over open cells of min(o_ref, o_cur) < 1 / fine_bins`` (0.001 with
    the default 1000 bins, on any data: two neighbouring quantile edges enclose fewer than
    ``n_ref / fine_bins`` reference values), and by 0 when no open cell holds
    values of both samples -- always the case when the reference has at most `fine_bins`
    distinct values (integer ages, codes), since then every reference value is an edge.

Wasserstein-1 ``integral |D(x)| dx``:
    Per-cell sums make ``integral_a^b D`` exact (``integral_a^b F = sum_{a<x<b} (b - x) / n`` plus
    the known level at ``a``). ``integral |D| = |integral D| + 2 min(integral D+, integral D-)``
    and each of these is bounded by the cell's masses and sums (see `_interior_gap`), giving a
    proven [lower, upper]; outside the reference range the integral is exact unless both
    samples have values there. The reported value models each open cell of each sample as
    three point masses that reproduce its count, sum, min and max (`_cell_points`): exact
    whenever no cell holds more than three values of a sample (so sparse, heavy tails are
    exact), and clamped into [lower, upper]. Measured against scipy it is within 1% relative
    on normal, exponential, log-normal (sigma 2), Pareto and Cauchy samples of 10^4 rows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from evalctl.stats.summary import NumericSummary


@dataclass(frozen=True)
class Bounded:
    """A reported `value` for a statistic proven to lie in [lower, upper]."""

    value: float
    lower: float
    upper: float

    @property
    def max_error(self) -> float:
        """How far the exact (unbinned) statistic can be from `value`."""
        return max(self.value - self.lower, self.upper - self.value)


def _cell_proportions(s: NumericSummary) -> np.ndarray:
    counts = s.cells.counts
    return counts / counts.sum()


def ks_statistic(ref: NumericSummary, cur: NumericSummary) -> Bounded:
    """Bounds on the two-sample KS statistic ``sup |F_ref - F_cur|`` (see module docstring)."""
    r, c = _cell_proportions(ref), _cell_proportions(cur)
    cumulative = np.cumsum(r - c)
    lower = float(np.max(np.abs(cumulative)))
    d_left = np.concatenate([[0.0], cumulative[1::2]])
    upper = max(lower, float(np.max(d_left + r[0::2])), float(np.max(c[0::2] - d_left)))
    return Bounded(lower, lower, min(upper, 1.0))


def ks_statistics(ref: NumericSummary, curs: list[NumericSummary]) -> np.ndarray:
    """`ks_statistic(ref, cur).value` (the attained statistic) of each of `curs` (drift's
    windows, binned as `ref`) at once: one running sum down every window's cells, a row per
    window (the same bits)."""
    counts = np.stack([cur.counts for cur in curs]).astype(float)
    c = counts / counts.sum(axis=1)[:, None]  # whole numbers: each row's total is exact
    return np.max(np.abs(np.cumsum(_cell_proportions(ref) - c, axis=1)), axis=1)


EXACT_KS_MAX_N = 10_000  # above this effective size the limiting distribution is used


def ks_p_value(statistic: float, n_ref: int, n_cur: int) -> float:
    """Asymptotic two-sided p-value: up to an effective size en = n_ref·n_cur/(n_ref + n_cur)
    of `EXACT_KS_MAX_N`, exactly ``scipy.stats.ks_2samp(..., method="asymp")`` (the
    distribution of the one-sample statistic at en); above it, the limiting Kolmogorov
    distribution with Stephens' small-sample correction, Q((√en + 0.12 + 0.11/√en)·D), within
    1% of scipy's value wherever p > 1e-4 (and of no practical difference below: p-values are
    reported beside the effect sizes, never deciding) — scipy's exact tail takes up to 0.4 s
    per call at en = 500,000, ten windows of thirty columns would take minutes."""
    return ks_p_values([statistic], n_ref, [n_cur])[0]


def ks_p_values(statistics: list[float], n_ref: int, n_curs: list[int]) -> list[float]:
    """`ks_p_value` of each window's statistic (`n_curs`: its values) against one reference:
    the limiting distribution's series of every window past `EXACT_KS_MAX_N` in one numpy
    call each (`kolmogorov_sfs`; drift asks for 600 at once), the rest one by one."""
    found = [0.0] * len(statistics)
    limiting: list[int] = []
    arguments: list[float] = []
    for slot, (statistic, n_cur) in enumerate(zip(statistics, n_curs, strict=True)):
        en = max(float(round(n_ref * n_cur / (n_ref + n_cur))), 1.0)  # half to even, as
        if en > EXACT_KS_MAX_N:  # np.round
            root = math.sqrt(en)
            limiting.append(slot)
            arguments.append((root + 0.12 + 0.11 / root) * statistic)
        else:  # scipy is imported only when this is computed (start-up time)
            from scipy.stats import kstwo

            found[slot] = _unit(float(kstwo.sf(statistic, en)))
    for slot, p in zip(limiting, kolmogorov_sfs(arguments), strict=True):
        found[slot] = _unit(p)
    return found


def _unit(value: float) -> float:
    """``float(np.clip(value, 0.0, 1.0))`` of a Python float, without numpy's call (-0.0
    and NaN kept, as there: tested)."""
    if value < 0.0:
        return 0.0
    return 1.0 if value > 1.0 else value


KOLMOGOROV_CUTOVER = 0.82  # below it the complementary (theta-function) series converges faster
_K = np.arange(1, 11, dtype=float)  # ten terms: the dropped ones are below 1e-60


def kolmogorov_sf(x: float) -> float:
    """The limiting Kolmogorov distribution's survival function ``P(K > x)``: the same two
    series (and cut-over) as ``scipy.special.kolmogorov``, which it matches to 1e-13
    relative above 1e-300 (tested) -- written out because importing scipy.special costs
    ~0.2 s of start-up, more than the rest of a profile-served `skew`.
    ``2 sum (-1)^(k-1) exp(-2 k^2 x^2)`` above `KOLMOGOROV_CUTOVER`, one minus
    ``sqrt(2 pi) / x sum exp(-(2k-1)^2 pi^2 / (8 x^2))`` below it."""
    return kolmogorov_sfs([x])[0]


_ODD_SQUARES = -((2 * _K - 1) ** 2)  # the series below the cut-over: exponents / (pi/x)^2/8
_SQUARES = -2 * _K ** 2  # above it: exponents / x^2
_SIGNS = np.where(_K % 2 == 1, 2.0, -2.0)


def kolmogorov_sfs(xs: list[float]) -> list[float]:
    """`kolmogorov_sf` of each of `xs`: each series' terms of every x in one numpy call (a row
    per x, each element the operations of one x's row, in the same order), summed row by row
    with ``math.fsum``. NaN gives NaN, as scipy; x <= 0 gives 1."""
    x = np.array(xs, dtype=float)
    below = np.flatnonzero((x > 0.0) & (x < KOLMOGOROV_CUTOVER))
    above = np.flatnonzero(x >= KOLMOGOROV_CUTOVER)
    found = [1.0 if v <= 0.0 else math.nan for v in xs]
    if below.size:
        scales = math.pi ** 2 / (8 * x[below] * x[below])
        terms = np.exp(_ODD_SQUARES * scales[:, None]).tolist()
        for slot, row in zip(below.tolist(), terms, strict=True):
            found[slot] = 1.0 - math.sqrt(2 * math.pi) / xs[slot] * math.fsum(row)
    if above.size:
        at = x[above][:, None]
        terms = (_SIGNS * np.exp(_SQUARES * at * at)).tolist()
        for slot, row in zip(above.tolist(), terms, strict=True):
            found[slot] = max(math.fsum(row), 0.0)
    return found


def wasserstein_distance(ref: NumericSummary, cur: NumericSummary) -> Bounded:
    """The (unnormalised) Wasserstein-1 distance: a cell-model estimate within proven bounds
    (`wasserstein_distances` of one window)."""
    return wasserstein_distances(ref, [cur])[0]


BLOCK = 8192  # cells judged at once: a block's temporaries stay in a core's cache (and under
# glibc's mmap threshold: in a drift process 16384 was no quicker, 32768 cost 74k page faults)


def wasserstein_distances(ref: NumericSummary, curs: list[NumericSummary]) -> list[Bounded]:
    """`wasserstein_distance` of `ref` against each of `curs` (drift's windows) at once:
    windows' cells are rows of (windows, cells) arrays, a block of windows at a time (about
    `BLOCK` cells, so the temporaries stay in cache), each step one numpy call over the block;
    the reference's quantities are computed once (`_ReferenceCells`). The same elementwise
    operations, the same order of points in each cell (`_merge_codes` finds the stable sort
    without sorting), the same running sums and each window's totals summed over its own row
    — so every value has the very bits of the per-window computation it replaced (tested
    against it)."""
    return wasserstein_and_ks(ref, curs)[0]


def wasserstein_and_ks(ref: NumericSummary, curs: list[NumericSummary]
                       ) -> tuple[list[Bounded], list[float]]:
    """`wasserstein_distances` and `ks_statistics` of the same windows (the very bits of
    each): the KS statistic is the largest |D| of the running sum the distances start from,
    so drift, which reports both, stacks and sums every window's cells once (their own stack
    and running sum were ~11 ms of the ~110 ms of both over the 1M benchmark's 21 columns ×
    30 windows)."""
    if not curs:
        return [], []
    fixed = _ReferenceCells.of(ref)
    cells = _WindowCells(np.stack([cur.counts for cur in curs]).astype(float),
                         np.stack([cur.sums for cur in curs]),
                         np.stack([cur.lows for cur in curs]),
                         np.stack([cur.highs for cur in curs]))
    step = max(1, BLOCK // fixed.edges.size)
    found: list[Bounded] = []
    statistics: list[float] = []
    for start in range(0, len(curs), step):
        distances, block_statistics = _block_distances(
            fixed, cells.rows(slice(start, start + step)))
        found += distances
        statistics += block_statistics
    return found, statistics


@dataclass(frozen=True)
class _WindowCells:
    """Windows' cells, a row per window: counts (as floats) of every cell, sums, lows and
    highs of the open ones."""

    counts: np.ndarray
    sums: np.ndarray
    lows: np.ndarray
    highs: np.ndarray

    def rows(self, windows: slice) -> _WindowCells:
        return _WindowCells(self.counts[windows], self.sums[windows], self.lows[windows],
                            self.highs[windows])


@dataclass(frozen=True)
class _ReferenceCells:
    """What `wasserstein_distances` needs of the reference, computed once for every window:
    its cell proportions, the points of its open cells (`_cell_points`; an empty slot's at
    its cell's right edge, the last cell's set per window), its tails and its part of the
    interior gap (`_interior_gaps`)."""

    summary: NumericSummary
    edges: np.ndarray
    r: np.ndarray
    at: np.ndarray
    mass: np.ndarray
    below: float
    above: float
    ig: np.ndarray

    @classmethod
    def of(cls, ref: NumericSummary) -> _ReferenceCells:
        edges = ref.edge_array
        r = _cell_proportions(ref)
        b = np.append(edges, np.nan)  # the last cell's end differs by window
        at, mass = _cell_points(ref, b)
        counts, sums, n = ref.counts, ref.sums, ref.count
        below = max(edges[0] * counts[0] - sums[0], 0.0) / n
        above = max(sums[-1] - edges[-1] * counts[-1], 0.0) / n
        inner, low, high = slice(1, -1), edges[:-1], edges[1:]
        o_r, mu_r = r[0::2][inner], _open_cell_means(ref)[inner]
        ig = np.clip(o_r * (high - np.where(np.isnan(mu_r), high, mu_r)), 0.0,
                     (high - low) * o_r)  # NaN in an empty cell: take b, so IG = 0
        return cls(ref, edges, r, at, mass, below, above, ig)


def _block_distances(fixed: _ReferenceCells, block: _WindowCells
                     ) -> tuple[list[Bounded], list[float]]:
    """`wasserstein_and_ks` of a block of windows."""
    ref, edges = fixed.summary, fixed.edges
    counts, sums, lows, highs = block.counts, block.sums, block.lows, block.highs
    totals = counts.sum(axis=1)  # whole numbers below 2**53: exact in any order
    c = counts / totals[:, None]
    d_left = np.empty((counts.shape[0], edges.size + 1))
    d_left[:, 0] = 0.0
    running = np.subtract(fixed.r, c)  # D at every cell's right end: `ks_statistics`' sum
    d_left[:, 1:] = np.cumsum(running, axis=1, out=running)[:, 1::2]
    statistics = np.abs(running, out=running).max(axis=1).tolist()
    a = np.empty_like(d_left)
    b = np.empty_like(d_left)
    a[:, 1:], b[:, :-1] = edges, edges
    a[:, 0] = _first_present(ref.lows[0], lows[:, 0], edges[0], np.less)
    b[:, -1] = _first_present(ref.highs[-1], highs[:, -1], edges[-1], np.greater)
    points = np.empty((6, *d_left.shape))
    jumps = np.empty((6, *d_left.shape))
    points[:3] = fixed.at[:, None, :]
    points[:3, :, -1] = np.where(fixed.mass[:, -1:] > 0, fixed.at[:, -1:], b[:, -1])
    jumps[:3] = fixed.mass[:, None, :]
    open_counts = counts[:, 0::2]
    _cell_points_into(open_counts, sums, lows, highs, totals[:, None], b, points[3:],
                      jumps[3:])
    np.negative(jumps[3:], out=jumps[3:])
    at, jump = points.reshape(6, -1), jumps.reshape(6, -1)  # a column per cell
    signed, absolute = _step_integrals(a.reshape(-1), b.reshape(-1), d_left.reshape(-1),
                                       at, jump, _merge_codes(at))
    lower = np.abs(signed, out=signed).reshape(d_left.shape).sum(axis=1).tolist()
    estimate = absolute.reshape(d_left.shape).sum(axis=1).tolist()
    mu_c = np.divide(sums, open_counts, out=np.full_like(sums, np.nan), where=open_counts > 0)
    gaps = (_tail_gaps(fixed, counts, sums, totals)
            + _interior_gaps(fixed, d_left, c[:, 0::2], mu_c)).tolist()
    return [Bounded(min(max(e, lo), lo + gap), lo, lo + gap)
            for e, lo, gap in zip(estimate, lower, gaps, strict=True)], statistics


def _first_present(ref_value: float, cur_values: np.ndarray, edge: float, before: np.ufunc
                   ) -> np.ndarray:
    """Per window, Python's ``min`` (`before` np.less) or ``max`` (np.greater) of
    ``(ref_value, cur_value, edge)`` without the NaNs, as `wasserstein_distance` takes it:
    the first of equal values wins."""
    found = np.where(np.isnan(ref_value) | before(cur_values, ref_value), cur_values,
                     ref_value)
    return np.where(np.isnan(found) | before(edge, found), edge, found)


def _open_cell_means(s: NumericSummary) -> np.ndarray:
    """Mean of the values in each open cell (NaN where the cell is empty)."""
    counts = s.cells.counts[0::2]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, s.cells.sums / counts, np.nan)


def _cell_points(s: NumericSummary, fallback: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Three point masses per open cell that reproduce its count, sum, min and max exactly.

    One value sits at the cell's min, one at its max, the other ``count - 2`` at the mean of the
    rest; with at most three values in a cell this *is* the data. Shape (3, cells) — a row per
    point, so the work along the points is a few whole-row operations —, masses as shares of
    the sample. Empty slots have mass 0 at `fallback`.
    """
    cells = s.cells
    count = cells.counts[0::2]
    at, mass = np.empty((3, *count.shape)), np.empty((3, *count.shape))
    _cell_points_into(count, cells.sums, cells.lows, cells.highs, s.count, fallback, at, mass)
    return at, mass


def _cell_points_into(count: np.ndarray, sums: np.ndarray, low: np.ndarray, high: np.ndarray,
                      total: np.ndarray | int, fallback: np.ndarray, at: np.ndarray,
                      mass: np.ndarray) -> None:
    """`_cell_points` of open cells' arrays of any shape (a window per row, `total` values
    each), written into `at` and `mass` (each (3, *cells))."""
    rest = at[2]  # (sums - low - high) / (count - 2), computed in place
    with np.errstate(invalid="ignore", divide="ignore"):
        np.subtract(sums, low, out=rest)
        rest -= high
        rest /= count - 2
    np.copyto(rest, 0.0, where=np.isnan(rest))  # no third value (a mass of 0); ±inf is
    np.minimum(np.maximum(rest, low, out=rest), high, out=rest)  # clipped (np.clip's bits)
    np.divide(np.minimum(count, 1), total, out=mass[0])
    np.divide(count >= 2, total, out=mass[1])
    np.divide(np.maximum(count - 2, 0), total, out=mass[2])
    at[0], at[1] = low, high
    np.copyto(at, fallback, where=np.logical_not(mass > 0))  # a slot without mass


def _merge_orders() -> np.ndarray:
    """Every stable sort order of a cell's six points (`_merge_codes`), by code: 64 × whether
    the reference's max follows its third point, 128 × the same for the current, and
    ``c0 + 4 c1 + 16 c2`` with ``ci`` the current's points (sorted) below the reference's
    i-th (sorted). Row `code` lists the points' rows (0-2 reference, 3-5 current) in order."""
    orders = np.zeros((256, 6), dtype=np.intp)
    for c0 in range(4):
        for c1 in range(c0, 4):
            for c2 in range(c1, 4):
                below = (c0, c1, c2)
                for swap_ref in (0, 1):
                    for swap_cur in (0, 1):
                        rows = [0, 1 + swap_ref, 2 - swap_ref, 3, 4 + swap_cur, 5 - swap_cur]
                        code = c0 + 4 * c1 + 16 * c2 + 64 * swap_ref + 128 * swap_cur
                        for i in range(3):  # the i-th of each side and how many go before it
                            orders[code, i + below[i]] = rows[i]
                            orders[code, i + sum(c <= i for c in below)] = rows[3 + i]
    return orders


_MERGE_ROWS = _merge_orders()  # (256, 6): a code's order
_MERGE_ROWS_T = np.ascontiguousarray(_MERGE_ROWS.T)  # (6, 256): a column per code


def _merge_codes(at: np.ndarray) -> np.ndarray | None:
    """Per cell, the code (`_merge_orders`) of ``np.argsort(at, axis=0, kind="stable")`` of
    its six points (rows: the reference's min, max and third point, then the current's),
    without a sort: each side's min comes first and its other two are in order or swapped,
    so the order is the merge of two sorted triples (a reference point first on ties, as a
    stable sort puts it). None when a side's min is not its smallest point (not cells'
    `_cell_points`, or NaN): sort then."""
    low_r, high_r, rest_r, low_c, high_c, rest_c = at
    if not bool(np.all(low_r <= high_r) and np.all(low_r <= rest_r)
                and np.all(low_c <= high_c) and np.all(low_c <= rest_c)):
        return None
    x = np.empty((3, 1, at.shape[1]))  # each side's points in order
    y = np.empty((1, 3, at.shape[1]))
    x[0, 0], y[0, 0] = low_r, low_c
    np.minimum(high_r, rest_r, out=x[1, 0])
    np.maximum(high_r, rest_r, out=x[2, 0])
    np.minimum(high_c, rest_c, out=y[0, 1])
    np.maximum(high_c, rest_c, out=y[0, 2])
    below = np.less(y, x).view(np.uint8).sum(axis=1, dtype=np.uint8)  # (3, cells)
    code = np.greater(high_r, rest_r).view(np.uint8) << 6  # codes fit a byte
    code |= np.greater(high_c, rest_c).view(np.uint8) << 7
    code |= below[0]
    code |= below[1] << 2
    code |= below[2] << 4
    return code


def _step_integrals(
    a: np.ndarray, b: np.ndarray, d_left: np.ndarray, at: np.ndarray, jump: np.ndarray,
    codes: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Per cell (a, b): integrals of D and |D| where D starts at `d_left` and jumps by `jump`
    at the points `at` (shape (k, cells)): the points and jumps in the stable order of `at`
    down its rows (`_MERGE_ROWS_T` of `codes` when known), then running sums and totals down
    the k rows, each a vector operation over every cell — the same additions, in the same
    order, as along a row of k (the order of ``np.cumsum`` and ``np.sum`` down axis 0).
    Points are clipped into [a, b] as ``np.clip`` clips."""
    k, cells = at.shape
    if codes is None:
        flat = np.argsort(at, axis=0, kind="stable")
        flat *= cells
    else:  # a code's order scaled to rows of `at`, gathered a cell at a time
        flat = np.take(_MERGE_ROWS_T * cells, codes, axis=1)
    flat += np.arange(cells)  # where each position's point is in `at`
    points = np.empty((k + 2, cells))
    points[0], points[-1] = a, b
    inner = points[1:-1]
    np.take(at, flat, out=inner, mode="clip")  # "clip": unbuffered (indices are in range)
    np.maximum(inner, a, out=inner)  # np.clip(·, a, b) bit for bit (signed zeros, NaN:
    np.minimum(inner, b, out=inner)  # tested), without clip's slower broadcasting path
    levels = np.empty((k + 1, cells))
    levels[0] = d_left
    np.take(jump, flat, out=levels[1:], mode="clip")
    for row in range(2, k + 1):  # np.cumsum down axis 0, row by row (the same additions)
        np.add(levels[row - 1], levels[row], out=levels[row])
    levels[1:] += d_left
    lengths = np.subtract(points[1:], points[:-1])  # np.diff's bits, without its checks
    terms = np.multiply(lengths, levels, out=points[1:])  # the points are spent: reuse them
    signed = np.sum(terms, axis=0)
    np.multiply(lengths, np.abs(levels, out=levels), out=terms)
    return signed, np.sum(terms, axis=0)


def _tail_gaps(fixed: _ReferenceCells, counts: np.ndarray, sums: np.ndarray,
               totals: np.ndarray) -> np.ndarray:
    """Per window (a row of `counts` and `sums`, `totals` values each): outside [e0, em] D has
    one sign unless both samples have values there."""
    edges = fixed.edges
    below = np.maximum(edges[0] * counts[:, 0] - sums[:, 0], 0.0) / totals
    above = np.maximum(sums[:, -1] - edges[-1] * counts[:, -1], 0.0) / totals
    # Python's min(ref, cur), as the per-window code took it: the reference's unless less
    return (2 * np.where(below < fixed.below, below, fixed.below)
            + 2 * np.where(above < fixed.above, above, fixed.above))


def _interior_gaps(fixed: _ReferenceCells, d_left: np.ndarray, o_c: np.ndarray,
                   mu_c: np.ndarray) -> np.ndarray:
    """Per window (a row of `d_left`, `o_c`, `mu_c`), a bound on the sum over interior cells
    (a, b) of ``integral |D| - |integral D|``.

    With G(x) = F(x) - F(a) in [0, o] and IG = integral_a^b G = o (b - mean):
    ``integral D+ <= min(IG_ref + w max(D(a), 0), w max(D(a) + o_ref, 0))``,
    ``integral D- <= min(IG_cur + w max(-D(a), 0), w max(o_cur - D(a), 0))``, and the gap is
    ``2 min(integral D+, integral D-)``. The interior cells lie between the reference's
    edges, the same in every window: IG_ref is the reference's (`_ReferenceCells`).
    """
    inner = slice(1, -1)
    a, b, d = fixed.edges[:-1], fixed.edges[1:], d_left[:, inner]
    o_r, o_c, width = fixed.r[0::2][inner], o_c[:, inner], b - a
    ig_c = np.subtract(b, mu_c[:, inner])  # NaN (an empty cell) as b - b: IG = 0
    np.copyto(ig_c, 0.0, where=np.isnan(ig_c))  # (the edges are finite)
    ig_c *= o_c
    np.minimum(np.maximum(ig_c, 0.0, out=ig_c), width * o_c, out=ig_c)  # np.clip's bits
    positive = np.maximum(d, 0)  # in place below: each product and sum as written out
    positive *= width  # min(IG_ref + w max(D(a), 0), w max(D(a) + o_ref, 0))
    positive += fixed.ig
    np.minimum(positive, _times(width, np.maximum(np.add(d, o_r), 0)), out=positive)
    negative = np.maximum(np.negative(d), 0)  # min(IG_cur + w max(-D(a), 0),
    negative *= width  # w max(o_cur - D(a), 0))
    negative += ig_c
    np.minimum(negative, _times(width, np.maximum(np.subtract(o_c, d), 0)), out=negative)
    np.minimum(positive, negative, out=positive)
    positive *= 2
    return positive.sum(axis=1)


def _times(width: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``width * values``, written into `values`."""
    return np.multiply(values, width, out=values)
