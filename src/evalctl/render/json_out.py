"""JSON: written directly, never through Rich (which wraps at 80 columns when piped).

The text is exactly ``json.dumps(report, indent=2, allow_nan=False)``'s, made faster: with an
indent the standard library encodes in pure Python, token by token, which cost about a fifth
of a profile-served `drift`'s CPU. Here every container holding no container (a table row, a
list of numbers: nearly all of a report) is encoded by the C encoder in one call, its item
separator carrying the newline and indent; only the few containers above them are walked in
Python. Anything the fast path does not know (a non-string key in an outer container) is
encoded by the standard library instead, so the bytes never differ.
"""

from __future__ import annotations

import json
from json.encoder import c_make_encoder, encode_basestring_ascii  # type: ignore[attr-defined]
from typing import Any

from evalctl.reports import Report

INDENT = "  "


def render_json(report: Report) -> str:
    return dumps(report.to_dict()) + "\n"


def dumps(value: Any) -> str:
    """``json.dumps(value, indent=2, allow_nan=False)``, the same text."""
    parts: list[str] = []
    try:
        _encode(value, 0, parts)
    except (_Unusual, RecursionError):  # RecursionError: a cycle, which it reports
        return json.dumps(value, indent=2, allow_nan=False)
    return "".join(parts)


class _Unusual(Exception):
    """A value the fast path leaves to the standard library."""


_leaf_encoders: dict[int, Any] = {}


def _leaf_encoder(depth: int) -> Any:
    """The encoder of a container whose items sit at `depth` (items joined by a comma, a
    newline and their indent): the C encoder `json.JSONEncoder.encode` would make for these
    settings, made once (making it per call cost as much as the encoding)."""
    encode = _leaf_encoders.get(depth)
    if encode is None:
        encoder = json.JSONEncoder(separators=(",\n" + INDENT * depth, ": "), allow_nan=False)
        if c_make_encoder is None:  # no C accelerator: the standard library's own path
            encode = encoder.encode
        else:
            iterate = c_make_encoder(  # no markers: a leaf holds no container to revisit
                None, encoder.default, encode_basestring_ascii, None, encoder.key_separator,
                encoder.item_separator, False, False, False)

            def encode(value: Any) -> str:
                return "".join(iterate(value, 0))
        _leaf_encoders[depth] = encode
    return encode


def _encode(value: Any, depth: int, parts: list[str]) -> None:
    """Append the encoding of `value`, a container's item at `depth` (its first line not
    indented: the caller wrote the indent)."""
    if isinstance(value, str):
        parts.append(encode_basestring_ascii(value))
    elif isinstance(value, dict):
        if not value:
            parts.append("{}")
        elif not any(isinstance(v, list | tuple | dict) for v in value.values()):
            _leaf(value, depth, parts)
        else:
            inner = "\n" + INDENT * (depth + 1)
            separator = "{" + inner
            for key, item in value.items():
                if not isinstance(key, str):  # the standard library's key rules
                    raise _Unusual
                parts.append(separator)
                parts.append(encode_basestring_ascii(key))
                parts.append(": ")
                _encode(item, depth + 1, parts)
                separator = "," + inner
            parts.append("\n" + INDENT * depth + "}")
    elif isinstance(value, list | tuple):
        if not value:
            parts.append("[]")
        elif not any(isinstance(v, list | tuple | dict) for v in value):
            _leaf(value, depth, parts)
        else:
            inner = "\n" + INDENT * (depth + 1)
            separator = "[" + inner
            for item in value:
                parts.append(separator)
                _encode(item, depth + 1, parts)
                separator = "," + inner
            parts.append("\n" + INDENT * depth + "]")
    else:  # a scalar: the C encoder (floats by repr; NaN/inf raise, as allow_nan=False)
        parts.append(_leaf_encoder(depth)(value))


def _leaf(value: dict[Any, Any] | list[Any] | tuple[Any, ...], depth: int,
          parts: list[str]) -> None:
    """A non-empty container of scalars, in one C call: ``[a,\\n<indent>b]`` opened and
    closed on their own lines."""
    text = _leaf_encoder(depth + 1)(value)
    inner = "\n" + INDENT * (depth + 1)
    parts.append(text[0] + inner + text[1:-1] + "\n" + INDENT * depth + text[-1])
