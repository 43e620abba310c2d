"""Slice keys: named polars expressions that give every row its segment.

A slice is a way of cutting the data (``country``, ``age`` bins, ``country x device``); a segment
is one piece of it (``BR``, ``[0, 25)``, ``BR & tv``). Rows are grouped on the key expressions'
native values (integers, categoricals, enums), and the text label of a segment is built only on
the aggregated result: each part cast to text, a null part written ``(missing)``, parts joined
with `` & ``. Segments are ordered by their native values (numbers numerically, bins in order),
nulls last.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import polars as pl

from evalctl.config import SliceSpec
from evalctl.errors import InputError

OVERALL = "overall"
OVERALL_SEGMENT = "all"
MISSING_SEGMENT = "(missing)"
SEGMENT_SEPARATOR = " & "
_OVERALL_COLUMN = "__overall"


@dataclass(frozen=True)
class SliceKey:
    """A named slice: one expression per part of the segment (a cross has several parts)."""

    name: str
    exprs: tuple[pl.Expr, ...]

    def __post_init__(self) -> None:
        if not self.name:
            raise InputError("a slice needs a non-empty name")
        if self.name == OVERALL:
            raise InputError(f"slice name {OVERALL!r} is reserved for the whole data set")
        if not self.exprs:
            raise InputError(f"slice {self.name!r}: give at least one expression")


def column_slice(column: str, *, name: str | None = None) -> SliceKey:
    """One segment per distinct value of `column` (nulls and NaN together as ``(missing)``)."""
    expr = pl.col(column)
    return SliceKey(name or column, (expr,))


def binned_slice(column: str, edges: Sequence[float], *, name: str | None = None) -> SliceKey:
    """Left-closed bins ``[a, b)`` between increasing `edges`, the last bin closed ``[a, b]``.

    Values below the first edge form ``< first``, above the last ``> last``; null and NaN are
    ``(missing)``. The key is an Enum, so bins sort in order and group cheaply.
    """
    edges = [float(e) for e in edges]
    if len(edges) < 2 or any(b <= a for a, b in zip(edges, edges[1:], strict=False)):
        raise InputError(f"slice {name or column!r}: bins need at least two increasing edges")
    return SliceKey(name or column, (bin_expr(pl.col(column), edges),))


def bin_expr(expr: pl.Expr, edges: Sequence[float]) -> pl.Expr:
    """The Enum bin label of `expr` for increasing `edges` (see `binned_slice`)."""
    labels = bin_labels(edges)
    index = sum((expr >= e).cast(pl.UInt32) for e in edges[:-1]) + (expr > edges[-1]).cast(
        pl.UInt32
    )
    index = pl.when(expr.is_nan()).then(None).otherwise(index)
    # gathering from the Enum labels by index is a physical u32 gather (replace_strict is ~3x
    # slower); a null index gives a null key
    return pl.lit(pl.Series(labels, dtype=pl.Enum(labels))).gather(index)


def bin_labels(edges: Sequence[float]) -> list[str]:
    """``< e0``, ``[e0, e1)``, ..., ``[e(n-2), e(n-1)]``, ``> e(n-1)``."""
    text = [f"{e:g}" for e in edges]
    inner = [f"[{a}, {b})" for a, b in zip(text, text[1:], strict=False)]
    inner[-1] = inner[-1][:-1] + "]"
    return [f"< {text[0]}", *inner, f"> {text[-1]}"]


def crossed_slice(*parts: str | SliceKey, name: str | None = None) -> SliceKey:
    """The cross of columns and/or other slices: ``crossed_slice("country", "device")``."""
    if len(parts) < 2:
        raise InputError("a crossed slice needs at least two parts")
    keys = [column_slice(p) if isinstance(p, str) else p for p in parts]
    exprs = tuple(e for key in keys for e in key.exprs)
    return SliceKey(name or " x ".join(key.name for key in keys), exprs)


def slices_from_config(
    specs: Sequence[SliceSpec], quantile_edges: Mapping[str, Sequence[float]] | None = None,
    numeric_edges: Mapping[str, Sequence[float]] | None = None,
) -> list[SliceKey]:
    """Slice keys for a model's declared slices.

    `quantiles` slices need their edges fitted once on the reference data and passed in
    `quantile_edges` (keyed by feature name), so that every window is cut the same way. A
    feature in `numeric_edges` is cut at those edges wherever a slice names it without its own
    `bins` / `quantiles` (in a cross, or alone); other features group on their values.
    """
    numeric_edges = numeric_edges or {}

    def part(feature: str) -> SliceKey:
        edges = numeric_edges.get(feature)
        return column_slice(feature) if edges is None else binned_slice(feature, edges)

    keys = []
    for spec in specs:
        if len(spec.features) > 1:
            if spec.bins is not None or spec.quantiles is not None:
                raise InputError(f"slice {spec.label!r}: bins and quantiles apply to one feature")
            keys.append(crossed_slice(*map(part, spec.features), name=spec.label))
        elif spec.bins is not None:
            keys.append(binned_slice(spec.features[0], spec.bins, name=spec.label))
        elif spec.quantiles is not None:
            edges = (quantile_edges or {}).get(spec.features[0])
            if edges is None:
                raise InputError(f"slice {spec.label!r}: quantile edges were not fitted")
            keys.append(binned_slice(spec.features[0], edges, name=spec.label))
        else:
            keys.append(SliceKey(spec.label, part(spec.features[0]).exprs))
    return keys


def group_exprs(keys: Sequence[str]) -> list[pl.Expr]:
    """Group-by expressions for key columns; the overall slice (no keys) is one constant group."""
    if keys:
        return [pl.col(k) for k in keys]
    return [pl.lit(OVERALL_SEGMENT).alias(_OVERALL_COLUMN)]


def group_names(keys: Sequence[str]) -> list[str]:
    """Names of the columns `group_exprs` produces."""
    return list(keys) or [_OVERALL_COLUMN]


def label_segments(stats: pl.LazyFrame, name: str, keys: Sequence[str]) -> pl.LazyFrame:
    """Order segments by native key values (nulls last), then replace keys by slice/segment."""
    names = group_names(keys)
    parts = [
        pl.col(k).cast(pl.String).fill_null(MISSING_SEGMENT) for k in names
    ]
    segment = pl.concat_str(parts, separator=SEGMENT_SEPARATOR) if keys else pl.lit(
        OVERALL_SEGMENT
    )
    return stats.sort(names, nulls_last=True).select(
        pl.lit(name).alias("slice"), segment.alias("segment"), pl.exclude(names)
    )


def maximal_groupings(slices: list[list[str]]) -> list[list[str]]:
    """The slices' key-part lists that no other slice's parts strictly contain (one per set)."""
    out: list[list[str]] = []
    for names in slices:
        parts = set(names)
        if any(parts < set(other) for other in slices):
            continue
        if all(parts != set(g) for g in out):
            out.append(names)
    return out
