"""Predicates of a slice: what a level means, how it reads, its stable id token, its polars filter.

One predicate is one level of one feature:

- ``range`` (numeric): ``low <= x < high``; ``low=None`` means minus infinity, ``high=None`` plus
  infinity. Reads ``age in [16, 25)``, ``age < 16`` or ``age >= 65``; token ``age=[16,25)``,
  ``age=[-inf,16)``, ``age=[65,inf)``.
- ``eq`` (categorical): ``x == value`` after casting to string. Reads ``country = BR``; token
  ``country=BR``.
- ``other`` (categorical): not null and not one of the kept levels (``excluded``). Reads
  ``country = <other>``; token ``country=<other>``. The token alone cannot rebuild the filter;
  the predicate's dict (``to_dict``) can.
- ``null``: the value is null (or NaN for numeric features, hence ``kind``). Token
  ``country=<null>``.

A slice id joins its tokens with ``&`` in the order of the predicates. ``%``, ``&`` and ``=``
inside feature names and values are percent-encoded so that ids always split cleanly.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import polars as pl

from evalctl.errors import InputError

OPS = ("range", "eq", "other", "null")
_ESCAPES = (("%", "%25"), ("&", "%26"), ("=", "%3D"))


def escape(text: str) -> str:
    """Percent-encode the characters that delimit slice ids."""
    for raw, encoded in _ESCAPES:
        text = text.replace(raw, encoded)
    return text


def unescape(text: str) -> str:
    """Inverse of `escape`."""
    for raw, encoded in reversed(_ESCAPES):
        text = text.replace(encoded, raw)
    return text


def format_number(value: float) -> str:
    """Shortest text that reads back as the same float; integral values without ``.0``."""
    value = float(value)
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


@dataclass(frozen=True)
class Predicate:
    """One level of one feature (see the module docstring for the four kinds)."""

    feature: str
    kind: str
    op: str
    low: float | None = None
    high: float | None = None
    value: str | None = None
    excluded: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        """Human-readable condition, e.g. ``age in [16, 25)`` or ``country = BR``."""
        name = self.feature
        if self.op == "eq":
            return f"{name} = {self.value}"
        if self.op in ("other", "null"):
            return f"{name} = <{self.op}>"
        if self.low is None and self.high is None:
            return f"{name} is not null"
        if self.low is None:
            return f"{name} < {format_number(self.high)}"  # type: ignore[arg-type]
        if self.high is None:
            return f"{name} >= {format_number(self.low)}"
        return f"{name} in [{format_number(self.low)}, {format_number(self.high)})"

    @property
    def token(self) -> str:
        """This predicate's part of a slice id, e.g. ``age=[16,25)`` or ``country=BR``."""
        name = escape(self.feature)
        if self.op == "eq":
            return f"{name}={escape(str(self.value))}"
        if self.op in ("other", "null"):
            return f"{name}=<{self.op}>"
        low = "-inf" if self.low is None else format_number(self.low)
        high = "inf" if self.high is None else format_number(self.high)
        return f"{name}=[{low},{high})"

    def expr(self) -> pl.Expr:
        """A boolean polars expression selecting the rows that satisfy this predicate."""
        if self.op == "range":
            x = pl.col(self.feature).cast(pl.Float64)
            cond = x.is_not_null() & x.is_not_nan()
            if self.low is not None:
                cond = cond & (x >= self.low)
            if self.high is not None:
                cond = cond & (x < self.high)
            return cond.fill_null(False)
        if self.op == "null" and self.kind == "numeric":
            x = pl.col(self.feature).cast(pl.Float64)
            return x.is_null() | x.is_nan().fill_null(False)
        if self.op == "null":
            return pl.col(self.feature).is_null()
        x = pl.col(self.feature).cast(pl.String)
        if self.op == "eq":
            return (x == self.value).fill_null(False)
        return (x.is_not_null() & ~x.is_in(list(self.excluded))).fill_null(False)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"feature": self.feature, "kind": self.kind, "op": self.op}
        if self.op == "range":
            out["low"], out["high"] = self.low, self.high
        elif self.op == "eq":
            out["value"] = self.value
        elif self.op == "other":
            out["excluded"] = list(self.excluded)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Predicate:
        op = data["op"]
        if op not in OPS:
            raise InputError(f"unknown predicate op {op!r} (expected one of {', '.join(OPS)})")
        low, high = data.get("low"), data.get("high")
        return cls(
            feature=str(data["feature"]),
            kind=str(data["kind"]),
            op=op,
            low=None if low is None else float(low),
            high=None if high is None else float(high),
            value=None if data.get("value") is None else str(data["value"]),
            excluded=tuple(str(v) for v in data.get("excluded", ())),
        )


def slice_id(predicates: Iterable[Predicate]) -> str:
    """The stable id of a conjunction, e.g. ``age=[16,25)&country=BR``."""
    return "&".join(p.token for p in predicates)


def slice_expr(predicates: Iterable[Predicate]) -> pl.Expr:
    """One boolean polars expression: the conjunction of the predicates (all rows when empty)."""
    return pl.all_horizontal([pl.lit(True), *(p.expr() for p in predicates)])


def parse_slice_id(text: str, kinds: Mapping[str, str]) -> tuple[Predicate, ...]:
    """Rebuild the predicates of a slice id (the inverse of `slice_id`).

    `kinds` maps feature name -> ``numeric`` | ``categorical`` and decides how a value reads.
    ``<other>`` cannot be rebuilt from its token (the kept levels are not in the id): use the
    predicate dicts stored with the slice instead.
    """
    predicates = []
    for token in text.split("&"):
        name, sep, raw = token.partition("=")
        feature = unescape(name)
        if not sep:
            raise InputError(f"segment {text!r}: {token!r} is not FEATURE=LEVEL (segment ids "
                             "look like age=[16,25)&country=BR; for a declared slice's "
                             "segment use --where)")
        if feature not in kinds:
            raise InputError(f"segment {text!r}: {feature!r} is not a feature of the model "
                             f"(features: {', '.join(kinds)})")
        predicates.append(_parse_token(text, feature, kinds[feature], raw))
    return tuple(predicates)


def _parse_token(text: str, feature: str, kind: str, raw: str) -> Predicate:
    if raw == "<null>":
        return Predicate(feature, kind, "null")
    if raw == "<other>":
        raise InputError(f"segment {text!r}: {feature}=<other> needs the stored predicate list")
    if kind != "numeric":
        return Predicate(feature, kind, "eq", value=unescape(raw))
    if not (raw.startswith("[") and raw.endswith(")") and "," in raw):
        raise InputError(f"segment {text!r}: {feature} expects a range like [16,25)")
    low_text, high_text = raw[1:-1].split(",", 1)
    try:
        low, high = float(low_text), float(high_text)
    except ValueError as exc:
        raise InputError(f"segment {text!r}: bad range {raw!r} for {feature}") from exc
    return Predicate(feature, kind, "range", low=None if math.isinf(low) else low,
                     high=None if math.isinf(high) else high)
