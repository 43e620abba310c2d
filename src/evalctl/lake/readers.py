"""Input exports (CSV, Parquet, JSON lines) -> lazy frames, with clear errors naming the file."""

from __future__ import annotations

import hashlib
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
    if not path.is_file():
        raise IngestError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise IngestError(f"{path}: file is empty")
    try:
        if fmt == "csv":
            sep = "\t" if path.suffix.lower() == ".tsv" else ","
            # Everything as text: types are coerced by the config, never guessed from a sample.
            lf = pl.scan_csv(path, separator=sep, infer_schema=False, raise_if_empty=True)
        elif fmt == "parquet":
            lf = pl.scan_parquet(path)
        else:
            lf = pl.scan_ndjson(path, infer_schema_length=10_000)
        schema = dict(lf.collect_schema())
    except (pl.exceptions.PolarsError, OSError, ValueError) as exc:
        raise IngestError(f"{path}: cannot read as {fmt}: {first_line(exc)}") from exc
    if not schema:
        raise IngestError(f"{path}: file has no columns")
    return lf, schema


def file_sha256(path: Path) -> str:
    """Streaming SHA-256 of a file's bytes."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
