"""Reading timestamps unambiguously: ISO 8601 / RFC 3339 text, a configured strftime format, or
numeric epochs in a configured unit; never a guessed day/month order.

A file's ISO texts are read in the form of its first one (``2026-11-01T10:00:00.25Z`` gives
``%Y-%m-%dT%H:%M:%S%.fZ``; fractions are optional, the date and time may be separated by
``T``, ``t`` or a space), each checked against the ISO pattern, so
a value that is not ISO text, or has another form (a UTC offset where the first had none...),
fails the strict parse, which aborts the write; the caller then asks `explain` why, for the
first bad row. Rarer first forms (``,`` fractions, ``+02`` offsets, a space before the offset)
are read through one normalisation to ``YYYY-MM-DDTHH:MM:SS.f[+HH:MM]`` (slower; the offset
rule still holds).
"""

from __future__ import annotations

import re

import polars as pl

TIMESTAMP = pl.Datetime("us")
ISO_PATTERN = (r"^([0-9]{4}-[0-9]{2}-[0-9]{2})"
               r"(?:[Tt ]([01][0-9]|2[0-3]):([0-5][0-9])(?::([0-5][0-9])(?:[.,]([0-9]{1,9}))?)?)?"
               r"[ ]*(?:([Zz])|([+-])([01][0-9]|2[0-3])(?::?([0-5][0-9]))?)?$")
_ISO = re.compile(ISO_PATTERN)
_LEAP = r"[0-9]{2}:[0-9]{2}:60(?:[^0-9]|$)"
_CANONICAL = "%Y-%m-%dT%H:%M:%S%.f"
_MICROS = {"s": 1_000_000, "ms": 1_000, "us": 1}
UNIT_NAMES = {"s": "seconds", "ms": "milliseconds", "us": "microseconds"}


def text_has_offset(value: str) -> bool:
    """Whether an ISO timestamp text carries a UTC offset (``Z``, ``+02:00``...)."""
    match = _ISO.match(value.strip())
    return bool(match and (match[6] or match[7]))


def iso_form(first: str | None) -> str | None:
    """The strftime format of an ISO text's form (None: a rarer form, or not ISO)."""
    text = first.strip() if first else ""
    match = _ISO.match(text)
    if match is None or "," in text or (match[7] and not match[9]):
        return None
    zone = 6 if match[6] else 7 if match[7] else None
    if zone is not None and text[match.start(zone) - 1] == " ":
        return None
    form = "%Y-%m-%d"
    if match[2]:
        form += "T%H:%M" + (":%S%.f" if match[4] else "")  # T, t or a space: read as T
    if zone == 6:
        return form + match[6]
    if zone == 7:
        return form + ("%:z" if ":" in text[match.start(7):] else "%z")
    return form


def parse_text(text: pl.Expr, *, fmt: str | None, first: str | None,
               strict: bool) -> pl.Expr:
    """Trimmed text -> naive UTC Datetime(us); with ``strict`` a bad value raises. ``fmt``:
    the configured strftime format; else ISO in the form of ``first``, the file's first."""
    leap = text.str.contains(_LEAP)
    form = iso_form(first) if fmt is None else None
    if fmt is not None or form is not None:
        bad = leap if fmt is not None else ~text.str.contains(ISO_PATTERN)
        good = text.str.replace("[t ]", "T", n=1) if form and "T" in form else text
        usable = pl.when(bad).then(pl.lit("!") + text).otherwise(good)
        parsed = usable.str.to_datetime(format=fmt or form, strict=strict, time_unit="us",
                                        time_zone="UTC")
        return parsed.dt.replace_time_zone(None)
    offsets = bool(first) and text_has_offset(str(first))
    part = text.str.extract_groups(ISO_PATTERN).struct.field
    offset = (pl.when(part("6").is_not_null()).then(pl.lit("+00:00"))
              .when(part("7").is_not_null())
              .then(pl.concat_str(part("7"), part("8"), pl.lit(":"),
                                  part("9").fill_null("00"))))
    canonical = pl.concat_str(
        part("1"), pl.lit("T"), part("2").fill_null("00"), pl.lit(":"),
        part("3").fill_null("00"), pl.lit(":"), part("4").fill_null("00"), pl.lit("."),
        part("5").fill_null("0"), offset.fill_null(""))
    matched = part("1").is_not_null() & (offset.is_not_null() == offsets)
    # a value that is not ISO text (or breaks the column's offset rule) cannot match the format
    usable = pl.when(matched).then(canonical).otherwise(pl.lit("!") + text)
    parsed = usable.str.to_datetime(format=_CANONICAL + ("%:z" if offsets else ""),
                                    strict=strict, time_unit="us", time_zone="UTC")
    return parsed.dt.replace_time_zone(None)


def from_epoch(value: pl.Expr, unit: str, *, strict: bool) -> pl.Expr:
    """Numbers (or numeric text, already trimmed) counted in ``unit`` since 1970 -> Datetime."""
    micros = (value.cast(pl.Float64, strict=strict) * _MICROS[unit]).round()
    return micros.cast(pl.Int64, strict=strict).cast(TIMESTAMP)


def explain(raw: object, parsed: str | None, *, row: int, key: str, fmt: str | None,
            unit: str | None, first: str | None, years: tuple[int, int]) -> str:
    """Why one timestamp value was refused, naming its row and the config key that decides."""
    if parsed is not None:
        return (f"{parsed} is outside the plausible years {years[0]}-{years[1]} (row {row}); "
                f"set {key}.timestamp_years if it is right")
    if unit is not None:
        return f"cannot read {raw!r} as epoch {UNIT_NAMES[unit]} (row {row}; {key}.timestamp_unit)"
    text = str(raw).strip()
    if re.search(_LEAP, text):
        return (f"cannot read {raw!r} as a timestamp (row {row}): leap second 23:59:60 is "
                "not representable")
    if fmt is not None:
        return f"cannot read {raw!r} with {key}.timestamp_format {fmt!r} (row {row})"
    match = _ISO.match(text)
    if match is None:
        return (f"cannot read {raw!r} as a timestamp (row {row}): only ISO 8601 / RFC 3339 "
                f"text is read unless {key}.timestamp_format (strftime) says otherwise; "
                f"numeric epochs need {key}.timestamp_unit: s|ms|us")
    offsets = bool(first) and text_has_offset(str(first))
    if bool(match[6] or match[7]) != offsets:
        has, other = ("has", "none") if not offsets else ("has no", "one")
        return (f"{raw!r} {has} UTC offset but the column's first timestamp {first!r} has "
                f"{other} (row {row}); give every timestamp an offset, or none")
    form = iso_form(first)
    if form is not None and iso_form(text) != form:
        return (f"{raw!r} is written in another form than the column's first timestamp "
                f"{first!r} (row {row}); write every timestamp in one ISO 8601 form")
    return f"cannot read {raw!r} as a timestamp (row {row}): not a valid date or time"
