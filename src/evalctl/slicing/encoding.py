"""Turn each feature into small integer codes, one per predicate, with polars.

Numeric features are cut at ``edges`` into left-closed bins ``(-inf, e1), [e1, e2), ...,
[ek, inf)`` (code ``i`` is the bin above ``i`` edges) and null/NaN gets code ``k + 1``. The
edges are the caller's (reference) edges when given, else the data's ``1/n_bins, 2/n_bins, ...``
quantiles with lower interpolation (every edge is a real value, so integer features cut on
integers), deduplicated. Categorical features keep their ``max_categories`` most frequent levels
(ties by name) as codes ``0..T-1``; every other level is ``T`` (``<other>``) and null is
``T + 1``. Codes that no row takes simply never form a slice.

`fit_encodings` and `encode` collect `BATCH` columns at a time, so peak memory stays near
the codes (about a byte per feature per row) plus `BATCH` raw columns, however wide the input.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from evalctl.slicing.predicates import Predicate

ERROR_COLUMN = "__error"
BATCH = 8  # columns per collect: bounds peak memory on wide inputs


@dataclass(frozen=True)
class FeatureCoding:
    """How one feature's values map to codes ``0..len(predicates) - 1``."""

    name: str
    kind: str
    edges: tuple[float, ...] = ()
    levels: tuple[str, ...] = ()

    @property
    def predicates(self) -> tuple[Predicate, ...]:
        """The predicate of every code, in code order."""
        name, kind = self.name, self.kind
        if kind == "numeric":
            bounds = [None, *self.edges, None]
            bins = [Predicate(name, kind, "range", low=lo, high=hi)
                    for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)]
            return (*bins, Predicate(name, kind, "null"))
        eq = [Predicate(name, kind, "eq", value=level) for level in self.levels]
        return (*eq, Predicate(name, kind, "other", excluded=self.levels),
                Predicate(name, kind, "null"))

    @property
    def cardinality(self) -> int:
        return len(self.edges) + 2 if self.kind == "numeric" else len(self.levels) + 2

    def code_expr(self) -> pl.Expr:
        """The polars expression computing this feature's code for every row."""
        dtype = _code_dtype(self.cardinality)
        null_code = self.cardinality - 1
        if self.kind == "numeric":
            x = pl.col(self.name).cast(pl.Float64)
            bins = pl.sum_horizontal([pl.lit(0, pl.UInt32), *((x >= e) for e in self.edges)])
            missing = x.is_null() | x.is_nan()
        else:
            x = pl.col(self.name).cast(pl.String)
            bins = x.replace_strict(list(self.levels), list(range(len(self.levels))),
                                    default=len(self.levels), return_dtype=pl.UInt32)
            missing = x.is_null()
        return pl.when(missing).then(pl.lit(null_code)).otherwise(bins).cast(dtype)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"feature": self.name, "kind": self.kind}
        if self.kind == "numeric":
            out["edges"] = list(self.edges)
        else:
            out["levels"] = list(self.levels)
        return out


def _code_dtype(cardinality: int) -> type[pl.DataType]:
    if cardinality <= 255:
        return pl.UInt8
    return pl.UInt16 if cardinality <= 65_535 else pl.UInt32


def fit_encodings(
    base: pl.LazyFrame,
    features: dict[str, str],
    n_bins: int,
    bin_edges: dict[str, list[float]],
    max_categories: int,
) -> list[FeatureCoding]:
    """Fit edges (numeric) and kept levels (categorical), `BATCH` columns per collect."""
    quantiled = [f for f, k in features.items() if k == "numeric" and f not in bin_edges]
    categorical = [f for f, k in features.items() if k == "categorical"]
    quantiles: dict[str, list[float] | None] = {}
    for batch in _batches(quantiled):
        quantiles.update(_quantiles_query(base, batch, n_bins).collect().row(0, named=True))
    levels: dict[str, tuple[str, ...]] = {}
    for batch in _batches(categorical):
        frames = pl.collect_all([_levels_query(base, f, max_categories) for f in batch])
        levels.update({f: tuple(str(v) for v in frame["level"].to_list())
                       for f, frame in zip(batch, frames, strict=True)})
    codings = []
    for name, kind in features.items():
        if kind == "categorical":
            codings.append(FeatureCoding(name, kind, levels=levels[name]))
        else:
            raw = bin_edges[name] if name in bin_edges else (quantiles[name] or [])
            codings.append(FeatureCoding(name, kind, edges=_clean_edges(raw)))
    return codings


def _batches(names: list[str]) -> list[list[str]]:
    return [names[i: i + BATCH] for i in range(0, len(names), BATCH)]


def _quantiles_query(base: pl.LazyFrame, names: list[str], n_bins: int) -> pl.LazyFrame:
    levels = [i / n_bins for i in range(1, n_bins)]
    exprs = []
    for name in names:
        x = pl.col(name).cast(pl.Float64)
        exprs.append(x.filter(x.is_finite()).quantile(levels, interpolation="lower").alias(name))
    return base.select(exprs)


def _levels_query(base: pl.LazyFrame, name: str, max_categories: int) -> pl.LazyFrame:
    return (
        base.select(pl.col(name).cast(pl.String).alias("level"))
        .drop_nulls()
        .group_by("level")
        .len()
        .sort(["len", "level"], descending=[True, False])
        .head(max_categories)
    )


def _clean_edges(raw: Sequence[float | None]) -> tuple[float, ...]:
    values = np.asarray([v for v in raw if v is not None], dtype=float)
    return tuple(np.unique(values[np.isfinite(values)]).tolist())


def encode(
    base: pl.LazyFrame, codings: list[FeatureCoding], error: pl.Expr
) -> tuple[list[np.ndarray], np.ndarray]:
    """Per-feature code arrays and the float64 error array (`BATCH` features per collect)."""
    codes: list[np.ndarray] = []
    for start in range(0, len(codings), BATCH):
        batch = codings[start: start + BATCH]
        frame = base.select([c.code_expr().alias(f"__code{i}") for i, c in enumerate(batch)])
        codes.extend(series.to_numpy() for series in frame.collect().iter_columns())
    errors = base.select(error.alias(ERROR_COLUMN)).collect().to_series().to_numpy()
    return codes, errors.astype(np.float64, copy=False)
