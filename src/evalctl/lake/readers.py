"""Input exports (CSV, Parquet, JSON lines) -> lazy frames, with clear errors naming the file."""

from __future__ import annotations

import csv
import hashlib
import json
import re
from pathlib import Path

import polars as pl

from evalctl.errors import IngestError

FORMATS = ("csv", "parquet", "jsonl")
_EXTENSIONS = {
    ".csv": "csv", ".tsv": "csv", ".parquet": "parquet", ".pq": "parquet",
    ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl",
}


def detect_format(path: Path, override: str | None) -> str:
    """The input format, from ``--input-format`` or the file's extension."""
    if override:
        if override not in FORMATS:
            raise IngestError(f"--input-format: expected one of {', '.join(FORMATS)}, "
                              f"got {override!r}")
        return override
    fmt = _EXTENSIONS.get(path.suffix.lower())
    if fmt is None:
        raise IngestError(f"{path}: cannot tell the format from the extension "
                          f"{path.suffix!r}; pass --input-format {'|'.join(FORMATS)}")
    return fmt


def open_input(path: Path, fmt: str) -> tuple[pl.LazyFrame, dict[str, pl.DataType]]:
    """A lazy scan of one export and its schema; corrupt or empty files are input errors."""
    try:
        if not path.is_file():
            raise IngestError(f"{path}: no such file", file=str(path))
        empty = path.stat().st_size == 0
    except OSError as exc:  # a name too long, no permission on a folder...
        raise IngestError(f"{_shown(path)}: cannot open: {exc.strerror}",
                          file=_shown(path)) from exc
    if empty:
        raise IngestError(f"{path}: file is empty", file=str(path))
    sep = "\t" if path.suffix.lower() == ".tsv" else ","
    if fmt == "parquet":  # polars refuses these with a less helpful message
        _refuse_duplicate_columns(path, fmt, sep, {})
    try:
        # Paths are literal (glob=False): a '[' or '*' in a file name is just a character.
        if fmt == "csv":
            # Everything as text: types are coerced by the config, never guessed from a sample.
            lf = pl.scan_csv(path, separator=sep, infer_schema=False, raise_if_empty=True,
                             glob=False)
        elif fmt == "parquet":
            lf = pl.scan_parquet(path, glob=False)
        else:
            lf = pl.scan_ndjson(_glob_escaped(path), infer_schema_length=10_000)
        schema = dict(lf.collect_schema())
    except (pl.exceptions.PolarsError, OSError, ValueError) as exc:
        raise IngestError(f"{path}: cannot read as {fmt}: {_reason(exc)}",
                          file=str(path)) from exc
    if not schema:
        raise IngestError(f"{path}: file has no columns", file=str(path))
    _refuse_duplicate_columns(path, fmt, sep, schema)
    return lf, schema


def _refuse_duplicate_columns(path: Path, fmt: str, sep: str,
                              schema: dict[str, pl.DataType]) -> None:
    duplicate = _duplicate_column(path, fmt, sep, schema)
    if duplicate is not None:
        raise IngestError(f"{path}: column {duplicate!r} appears more than once; give each "
                          "column its own name", file=str(path), column=duplicate)


def _glob_escaped(path: Path) -> str:
    """The path as a glob that matches only itself (scan_ndjson always globs)."""
    return "".join(f"[{ch}]" if ch in "[*?" else ch for ch in str(path))


def _duplicate_column(path: Path, fmt: str, sep: str, schema: dict[str, pl.DataType]
                      ) -> str | None:
    """A column name the export repeats (polars would rename or drop the copies)."""
    if fmt == "csv":
        if not any(_COPY.match(name) for name in schema):
            return None
        with open(path, encoding="utf-8", errors="replace", newline="") as handle:
            names = next(csv.reader(handle, delimiter=sep), [])
    elif fmt == "parquet":
        import pyarrow.parquet as pq  # imported on use: keeps CLI start-up fast

        try:
            names = pq.read_schema(path).names
        except (OSError, ValueError):
            return None
    else:
        names = _first_object_keys(path)
    seen: set[str] = set()
    for name in names:
        if name in seen:
            return name
        seen.add(name)
    return None


def _first_object_keys(path: Path) -> list[str]:
    """The keys of a JSON-lines file's first object, repeats included (a writer that repeats
    a key does so on every line; polars keeps the first silently)."""

    keys: list[str] = []

    def collect(pairs: list[tuple[str, object]]) -> dict[str, object]:
        if not keys:
            keys.extend(k for k, _ in pairs)
        return dict(pairs)

    with open(path, "rb") as handle:
        for line in handle:
            if line.strip():
                try:
                    json.loads(line, object_pairs_hook=collect)
                except ValueError:
                    return []  # explained when the file is read
                return keys
    return []


_COPY = re.compile(r".+_duplicated_[0-9]+$")  # polars' name for a repeated CSV header


def unreadable(path: Path, fmt: str, lf: pl.LazyFrame) -> str | None:
    """Why an export cannot be read to its end (bad encoding, a broken line after the rows
    the schema was taken from), as a message naming the file; None when it reads."""
    try:
        lf.select(pl.all().null_count()).collect(engine="streaming")
    except (pl.exceptions.PolarsError, OSError, ValueError) as exc:
        where = _broken_json_line(path) if fmt == "jsonl" else None
        return f"{path}: cannot read as {fmt}: {where or _reason(exc)}"
    return None


def _broken_json_line(path: Path) -> str | None:
    """The first line of a JSON-lines file that is not a JSON object (failure path only:
    polars does not say which line it could not parse)."""

    with open(path, "rb") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except ValueError as exc:  # also bad UTF-8
                return f"line {number} is not valid JSON ({first_line(exc)})"
            if not isinstance(value, dict):
                return f"line {number} is not a JSON object"
    return None


def _reason(exc: BaseException) -> str:
    text = first_line(exc)
    if "utf-8" in text.lower() or "utf8" in text.lower():
        return "not UTF-8 text (re-export the file as UTF-8)"
    return text


def file_sha256(path: Path) -> str:
    """Streaming SHA-256 of a file's bytes."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _shown(path: Path) -> str:
    text = str(path)
    return text if len(text) <= 120 else f"{text[:60]}... ({len(text):,} characters)"


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
