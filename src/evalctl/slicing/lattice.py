"""SliceLine's level-wise lattice search over integer-coded features (pure numpy).

Sagadeeva & Boehm, "SliceLine: Fast, Linear-Algebra-based Slice Finding for ML Model
Debugging", SIGMOD 2021. An *item* is one code of one feature; a slice at level L is L items
of L different features, kept as a sorted row of item indices. Per level:

1. join: two valid slices of level L-1 sharing their first L-2 items make one candidate
   (apriori join, so each candidate is made exactly once); a candidate whose other parents
   are not all valid is dropped (a parent below min support, without error, redundant or
   pruned bounds every descendant too).
2. bound: from the parents' sizes, error sums and max errors (the minimum over the parents
   bounds the child's), the paper's upper bound of the score of the candidate *and of every
   descendant*; a candidate whose bound is below the current K-th best score (0 while fewer
   than K positive slices are known) is pruned.
3. evaluate: sizes, error sums (and max errors while another level follows) of the surviving
   candidates, with one ``np.bincount`` over the rows per combination of features.
4. keep as parents the candidates with size >= min support, error > 0 and fewer rows than
   their smallest parent (a conjunction selecting the same rows as a parent is redundant:
   it never beats the simpler slice, and neither do its descendants); merge the positive
   scores into the top K, ordered by (score desc, level asc, items asc).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from evalctl.slicing.coded import CodedData, evaluate, item_stats

_TOLERANCE = 1e-9


@dataclass(frozen=True)
class SearchParams:
    alpha: float
    k: int
    max_level: int
    min_support: int


@dataclass(frozen=True)
class LevelCounts:
    """Bookkeeping of one level: made by the join, pruned unevaluated, evaluated, kept."""

    level: int
    candidates: int
    pruned: int
    evaluated: int
    valid: int


@dataclass
class TopK:
    """The best slices so far: item rows padded with -1, their level, score, size, error sum."""

    items: np.ndarray
    level: np.ndarray
    score: np.ndarray
    size: np.ndarray
    error_sum: np.ndarray

    @classmethod
    def empty(cls, max_level: int) -> TopK:
        return cls(np.empty((0, max_level), np.int64), np.empty(0, np.int64),
                   np.empty(0), np.empty(0), np.empty(0))


@dataclass
class SearchResult:
    top: TopK
    levels: list[LevelCounts] = field(default_factory=list)
    level_reached: int = 0


def score(size: np.ndarray, error_sum: np.ndarray, n: int, mean_error: float,
          alpha: float) -> np.ndarray:
    """The paper's score; -inf for empty slices."""
    size = np.asarray(size, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        sc = alpha * ((error_sum / size) / mean_error - 1) - (1 - alpha) * (n / size - 1)
    return np.where(size > 0, sc, -np.inf)


def upper_bound(size: np.ndarray, error_sum: np.ndarray, max_error: np.ndarray, n: int,
                mean_error: float, params: SearchParams) -> np.ndarray:
    """Upper bound of the score of any slice with at least min-support rows, at most `size`
    rows, error sum at most `error_sum` and every error at most `max_error`.

    For a fixed size s the best error sum is ``min(error_sum, s * max_error)``; the score is
    monotone in s on each side of ``error_sum / max_error``, so its maximum over
    ``[min_support, size]`` is at one of three probes.
    """
    lo = float(params.min_support)
    with np.errstate(divide="ignore", invalid="ignore"):
        knee = np.clip(error_sum / max_error, lo, np.maximum(size, lo))
    best = np.full(size.shape, -np.inf)
    for s in (np.full(size.shape, lo), knee, size.astype(float)):
        e = np.minimum(s * max_error, error_sum)
        best = np.maximum(best, score(s, e, n, mean_error, params.alpha))
    feasible = (size >= lo) & (error_sum > 0) & (max_error > 0)
    return np.where(feasible, np.nan_to_num(best, nan=-np.inf), -np.inf)


def search(data: CodedData, params: SearchParams) -> SearchResult:
    """Run the lattice search; the top K slices with positive score and per-level counts."""
    n, ebar = data.n, data.mean_error
    size, err, mx = item_stats(data, need_max=params.max_level > 1)
    items = np.arange(size.shape[0], dtype=np.int64)[:, None]
    valid = (size >= params.min_support) & (err > 0) & (size < n)
    sc = score(size, err, n, ebar, params.alpha)
    result = SearchResult(TopK.empty(params.max_level), level_reached=1)
    result.top = _merge_top(result.top, items[valid], sc[valid], size[valid], err[valid], params)
    result.levels.append(LevelCounts(1, len(size), 0, len(size), int(valid.sum())))
    parents, stats = items[valid], np.column_stack([size, err, mx])[valid]
    level = 1
    while level < params.max_level and parents.shape[0] > 1:
        level += 1
        parents, stats, counts = _next_level(data, params, result, parents, stats, level)
        result.levels.append(counts)
        if counts.evaluated:
            result.level_reached = level
    return result


def _next_level(data: CodedData, params: SearchParams, result: SearchResult,
                parents: np.ndarray, stats: np.ndarray,
                level: int) -> tuple[np.ndarray, np.ndarray, LevelCounts]:
    n, ebar = data.n, data.mean_error
    cands, bound_stats, made = join_candidates(parents, stats, data.item_feature)
    ub = upper_bound(bound_stats[:, 0], bound_stats[:, 1], bound_stats[:, 2], n, ebar, params)
    keep = ub >= _threshold(result.top, params.k)
    cands, bound_stats = cands[keep], bound_stats[keep]
    size, err, mx = evaluate(data, cands, need_max=level < params.max_level)
    valid = (size >= params.min_support) & (err > 0) & (size < bound_stats[:, 0])
    sc = score(size, err, n, ebar, params.alpha)
    result.top = _merge_top(result.top, cands[valid], sc[valid], size[valid], err[valid], params)
    counts = LevelCounts(level, made, made - len(cands), len(cands), int(valid.sum()))
    return cands[valid], np.column_stack([size, err, mx])[valid], counts


def _threshold(top: TopK, k: int) -> float:
    """The bound a candidate must reach: the K-th best score once K are known, else 0."""
    kth = float(top.score[k - 1]) if top.score.shape[0] >= k else 0.0
    return kth - _TOLERANCE * max(1.0, abs(kth))


def _merge_top(top: TopK, items: np.ndarray, sc: np.ndarray, size: np.ndarray,
               err: np.ndarray, params: SearchParams) -> TopK:
    positive = sc > 0
    items, sc, size, err = items[positive], sc[positive], size[positive], err[positive]
    padded = np.full((items.shape[0], params.max_level), -1, dtype=np.int64)
    padded[:, : items.shape[1]] = items
    all_items = np.vstack([top.items, padded])
    level = np.concatenate([top.level, np.full(items.shape[0], items.shape[1])])
    all_sc = np.concatenate([top.score, sc])
    keys = [all_items[:, j] for j in reversed(range(params.max_level))]
    order = np.lexsort([*keys, level, -all_sc])[: params.k]
    return TopK(all_items[order], level[order], all_sc[order],
                np.concatenate([top.size, size])[order],
                np.concatenate([top.error_sum, err])[order])


def join_candidates(parents: np.ndarray, stats: np.ndarray,
                    item_feature: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Level-L candidates from sorted, unique level-(L-1) `parents` (rows of items).

    Returns the candidates (lexicographically sorted), the minimum over all their parents of
    (size, error sum, max error), and how many the join made before the all-parents check.
    """
    left, right = _prefix_pairs(parents)
    distinct = item_feature[parents[left, -1]] != item_feature[parents[right, -1]]
    left, right = left[distinct], right[distinct]
    cands = np.column_stack([parents[left], parents[right, -1]])
    bound = np.minimum(stats[left], stats[right])
    made = cands.shape[0]
    if parents.shape[1] < 2 or made == 0:
        return cands, bound, made
    base = int(item_feature.shape[0])
    parent_keys = _row_keys(parents, base)
    found = np.ones(made, dtype=bool)
    for drop in range(parents.shape[1] - 1):
        keys = _row_keys(np.delete(cands, drop, axis=1), base)
        pos = np.minimum(np.searchsorted(parent_keys, keys), parent_keys.shape[0] - 1)
        found &= parent_keys[pos] == keys
        bound = np.minimum(bound, stats[pos])
    return cands[found], bound[found], made


def _prefix_pairs(parents: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All index pairs i < j of rows sharing every item but the last."""
    m = parents.shape[0]
    if m < 2:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    prefix = parents[:, :-1]
    changed = np.zeros(m, dtype=bool)
    changed[0] = True
    if prefix.shape[1]:
        changed[1:] = np.any(prefix[1:] != prefix[:-1], axis=1)
    starts = np.flatnonzero(changed)
    ends = np.append(starts[1:], m)
    row_end = np.repeat(ends, ends - starts)
    partners = row_end - np.arange(m) - 1
    left = np.repeat(np.arange(m), partners)
    first = np.repeat(np.cumsum(partners) - partners, partners)
    right = left + 1 + (np.arange(left.shape[0]) - first)
    return left, right


def _row_keys(rows: np.ndarray, base: int) -> np.ndarray:
    """Mixed-radix int64 key of each row; sorted rows give sorted keys."""
    if base ** rows.shape[1] >= 2**62:
        raise ValueError("too many levels for a slice key; lower max_level or max_categories")
    keys = np.zeros(rows.shape[0], dtype=np.int64)
    for j in range(rows.shape[1]):
        keys = keys * base + rows[:, j]
    return keys
