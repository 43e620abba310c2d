"""What slice discovery returns: plain dataclasses with ``to_dict`` (data first, no rendering)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import polars as pl

from evalctl.slicing.encoding import FeatureCoding
from evalctl.slicing.lattice import LevelCounts
from evalctl.slicing.predicates import Predicate, slice_expr


@dataclass(frozen=True)
class Slice:
    """One discovered slice: a conjunction of predicates on different features.

    `id` (e.g. ``age=[16,25)&country=BR``) is stable for the same data, features and binning;
    `expr()` selects its rows in any frame holding the feature columns, and the predicate dicts
    (``to_dict()["predicates"]``) rebuild it with `Predicate.from_dict`.
    """

    id: str
    predicates: tuple[Predicate, ...]
    size: int
    share: float
    error_sum: float
    error_mean: float
    score: float
    test: str
    statistic: float | None
    p_value: float | None
    p_adjusted: float | None
    significant: bool

    @property
    def level(self) -> int:
        return len(self.predicates)

    @property
    def label(self) -> str:
        """e.g. ``age in [16, 25) & country = BR``."""
        return " & ".join(p.label for p in self.predicates)

    def expr(self) -> pl.Expr:
        """Boolean polars expression selecting the slice's rows."""
        return slice_expr(self.predicates)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "label": self.label,
            "level": self.level,
            "predicates": [p.to_dict() for p in self.predicates],
            "size": self.size,
            "share": self.share,
            "error_sum": self.error_sum,
            "error_mean": self.error_mean,
            "score": self.score,
            "test": self.test,
            "statistic": self.statistic,
            "p_value": self.p_value,
            "p_adjusted": self.p_adjusted,
            "significant": self.significant,
        }


@dataclass(frozen=True)
class SliceDiscovery:
    """The top slices (score descending) and everything needed to report how they were found.

    `levels` holds, per lattice level, how many candidates the join made, how many were pruned
    before evaluation (a parent missing or the score bound), evaluated, and kept as parents.
    `level_reached` is the deepest level at which any candidate was evaluated (0 when the search
    did not run, e.g. every error is zero).
    """

    slices: tuple[Slice, ...]
    n_rows: int
    n_excluded: int
    mean_error: float
    error_kind: str
    alpha: float
    k: int
    max_level: int
    min_support: int
    fdr: float
    level_reached: int
    levels: tuple[LevelCounts, ...]
    codings: tuple[FeatureCoding, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "slices": [s.to_dict() for s in self.slices],
            "n_rows": self.n_rows,
            "n_excluded": self.n_excluded,
            "mean_error": self.mean_error,
            "error_kind": self.error_kind,
            "alpha": self.alpha,
            "k": self.k,
            "max_level": self.max_level,
            "min_support": self.min_support,
            "fdr": self.fdr,
            "level_reached": self.level_reached,
            "levels": [
                {"level": c.level, "candidates": c.candidates, "pruned": c.pruned,
                 "evaluated": c.evaluated, "valid": c.valid}
                for c in self.levels
            ],
            "features": [c.to_dict() for c in self.codings],
        }
