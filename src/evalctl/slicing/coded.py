"""The rows as integer codes, and the only code that touches every row: grouped statistics.

A slice's statistics (rows, error sum, max error) for every level combination of a set of
features come from one ``np.bincount`` over a mixed-radix cell index per row. Candidates of
the same features share that pass; candidates whose features share all but the last reuse the
prefix's cell index. With 0/1 errors the error sum counts only the (usually few) error rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

DENSE_LIMIT = 1 << 22  # above this many cells, group with np.unique instead of a dense bincount
Stats = tuple[np.ndarray, np.ndarray, np.ndarray]


@dataclass(frozen=True)
class CodedData:
    """Per-feature codes (``codes[f][row]`` in ``0..cards[f]-1``) and non-negative errors.

    An *item* is one code of one feature, numbered feature by feature.
    """

    codes: list[np.ndarray]
    cards: np.ndarray
    errors: np.ndarray
    binary: bool

    @property
    def n(self) -> int:
        return int(self.errors.shape[0])

    @cached_property
    def mean_error(self) -> float:
        return float(self.errors.mean()) if self.n else 0.0

    @cached_property
    def error_rows(self) -> np.ndarray:
        return np.flatnonzero(self.errors)

    @cached_property
    def item_feature(self) -> np.ndarray:
        return np.repeat(np.arange(len(self.cards)), self.cards)

    @cached_property
    def item_code(self) -> np.ndarray:
        offsets = np.concatenate([[0], np.cumsum(self.cards)[:-1]]).astype(np.int64)
        return np.arange(int(self.cards.sum())) - offsets[self.item_feature]


def item_stats(data: CodedData, need_max: bool) -> Stats:
    """Rows, error sum and max error of every item (every single predicate)."""
    parts = [group_stats(codes, int(card), data, need_max)
             for codes, card in zip(data.codes, data.cards, strict=True)]
    size, err, mx = (np.concatenate([p[i] for p in parts]) for i in range(3))
    return size, err, mx


def group_stats(keys: np.ndarray, cells: int, data: CodedData, need_max: bool) -> Stats:
    """Rows, error sum and max error per key in ``0..cells-1``.

    The max error is only computed when `need_max` (else zeros); with 0/1 errors it is 1
    exactly where the error sum is positive.
    """
    size = np.bincount(keys, minlength=cells).astype(float)
    if data.binary:
        err = np.bincount(keys[data.error_rows], minlength=cells).astype(float)
        return size, err, (err > 0).astype(float)
    err = np.bincount(keys, weights=data.errors, minlength=cells)
    mx = np.zeros(cells)
    if need_max:
        np.maximum.at(mx, keys, data.errors)
    return size, err, mx


def evaluate(data: CodedData, cands: np.ndarray, need_max: bool) -> Stats:
    """Rows, error sum and max error of each candidate (a row of item indices)."""
    size, err, mx = (np.zeros(cands.shape[0]) for _ in range(3))
    if cands.shape[0] == 0:
        return size, err, mx
    feats = data.item_feature[cands]
    codes = data.item_code[cands]
    combo = np.zeros(cands.shape[0], dtype=np.int64)
    for j in range(feats.shape[1]):
        combo = combo * len(data.cards) + feats[:, j]
    order = np.argsort(combo, kind="stable")
    prefix = _PrefixKeys(data)
    for group in np.split(order, np.flatnonzero(np.diff(combo[order])) + 1):
        stats = _combination_stats(data, prefix, feats[group[0]], codes[group], need_max)
        size[group], err[group], mx[group] = stats
    return size, err, mx


class _PrefixKeys:
    """Cell index of the last feature prefix seen (candidates arrive sorted by features).

    Writes into one reused buffer: allocating a fresh n-row array per combination costs
    more (page faults) than the arithmetic.
    """

    def __init__(self, data: CodedData) -> None:
        self.data = data
        self.feats: tuple[int, ...] = ()
        self.keys = np.empty(0, dtype=np.intp)
        self.out = np.empty(data.n, dtype=np.intp)

    def cell_keys(self, feats: tuple[int, ...]) -> np.ndarray:
        """Per-row ``((c1 * k2 + c2) * k3 + c3)...`` for the features `feats`.

        The result is a view of the shared buffer, valid until the next call.
        """
        codes, cards = self.data.codes, self.data.cards
        if len(feats) == 1:
            return codes[feats[0]].astype(np.intp)
        if feats[:-1] != self.feats:
            self.feats, self.keys = feats[:-1], self.cell_keys(feats[:-1]).copy()
        np.multiply(self.keys, np.intp(cards[feats[-1]]), out=self.out)
        np.add(self.out, codes[feats[-1]], out=self.out)
        return self.out


def _combination_stats(data: CodedData, prefix: _PrefixKeys, feats: np.ndarray,
                       cand_codes: np.ndarray, need_max: bool) -> Stats:
    cards = data.cards[feats].astype(np.int64)
    cand_keys = np.zeros(cand_codes.shape[0], dtype=np.int64)
    for j in range(cand_codes.shape[1]):
        cand_keys = cand_keys * cards[j] + cand_codes[:, j]
    keys = prefix.cell_keys(tuple(int(f) for f in feats))
    cells = int(np.prod(cards))
    if cells <= DENSE_LIMIT:
        stats = group_stats(keys, cells, data, need_max)
        return stats[0][cand_keys], stats[1][cand_keys], stats[2][cand_keys]
    uniq, inverse = np.unique(keys, return_inverse=True)
    stats = group_stats(inverse.reshape(-1), uniq.shape[0], data, need_max)
    pos = np.minimum(np.searchsorted(uniq, cand_keys), uniq.shape[0] - 1)
    hit = uniq[pos] == cand_keys
    size, err, mx = (np.where(hit, s[pos], 0.0) for s in stats)
    return size, err, mx
