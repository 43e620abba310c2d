"""The monitoring reference: bins and vocabularies fitted once on the config's `reference:`
selection, frozen to the batches it read, stored by the hash of its content.

``profiles/model=<m>/reference-<hash>.json`` holds the fit (the `Binning`, its parameters,
the profile granularity) and what it was fitted on (selector, batch generations, files,
versions, dates, rows). ``profiles/model=<m>/reference.json`` points at the current one. A
reference is fitted by `evalctl profiles build` when the model has none, when the config's
`reference:` (or granularity, columns, ``checks.skew.top_k``) changed since, or with
``--refit``; a later ingest of reference data never refits it silently.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import chain
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from evalctl.config import ModelConfig, output_kinds
from evalctl.errors import InputError, StoreError
from evalctl.lake.durable import fsync_dir, temp_path, write_exclusive
from evalctl.lake.layout import current_reference_file, reference_file
from evalctl.lake.selectors import parse_selector
from evalctl.lake.storage import Storage, as_storage
from evalctl.lake.store import Store
from evalctl.profiles.parts import file_scans
from evalctl.stats.binning import Binning, fit_binning

# only a type here: the Spark engine imports profiles.source, which imports this module
if TYPE_CHECKING:
    from evalctl.engines.spark import SparkEngine

N_BINS, FINE_BINS, MAX_LEVELS = 10, 1000, 10_000  # fit_binning's defaults, recorded
# the reference file's and pointer's layout; part of the hashed content, so it stays 1 when
# the profile tables' format changes (a change here would make every fitted reference stale)
REFERENCE_FORMAT = 1


@dataclass(frozen=True)
class Reference:
    """A fitted, frozen monitoring reference."""

    model: str
    hash: str
    selector: str
    granularity: str
    params: dict[str, int]
    batches: tuple[tuple[str, int], ...]
    files: tuple[str, ...]
    versions: tuple[str, ...]
    dates: tuple[str, str]
    rows: int
    fitted_at: str
    binning: Binning

    def to_dict(self) -> dict[str, Any]:
        return {"format": REFERENCE_FORMAT, "model": self.model, "hash": self.hash,
                "selector": self.selector, "granularity": self.granularity,
                "params": self.params, "batches": [list(b) for b in self.batches],
                "files": list(self.files), "versions": list(self.versions),
                "dates": list(self.dates), "rows": self.rows, "fitted_at": self.fitted_at,
                "binning": self.binning.to_dict()}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Reference:
        return cls(model=raw["model"], hash=raw["hash"], selector=raw["selector"],
                   granularity=raw["granularity"], params=dict(raw["params"]),
                   batches=tuple((str(b), int(g)) for b, g in raw["batches"]),
                   files=tuple(raw["files"]), versions=tuple(raw["versions"]),
                   dates=(raw["dates"][0], raw["dates"][1]), rows=int(raw["rows"]),
                   fitted_at=raw["fitted_at"], binning=Binning.from_dict(raw["binning"]))


def profiled_columns(model: ModelConfig) -> dict[str, str]:
    """Every column a profile summarises: the features and the model's outputs."""
    return {**model.features, **output_kinds(model.task, model.score, model.prediction)}


def content_hash(binning: Binning, params: dict[str, int], granularity: str,
                 batches: tuple[tuple[str, int], ...]) -> str:
    """16 hex digits of the SHA-256 of the fit, its parameters, the granularity and the batch
    generations it read (ids derived from their content): profiles on one hash are comparable
    with each other, and with nothing else."""
    content = {"format": REFERENCE_FORMAT, "binning": binning.to_dict(), "params": params,
               "granularity": granularity, "batches": sorted(batches)}
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:16]


def fit_reference(store: Store, model: ModelConfig, now: datetime | None = None,
                  spark: SparkEngine | None = None) -> Reference:
    """Fit the model's reference on what its `reference:` selector matches now (streamed
    passes over its files, one file at a time: memory does not grow with the reference),
    on `spark`'s executors when given (the same `Binning`)."""
    text = model.profiles.reference
    if text is None:
        raise InputError(f"models.{model.name}.reference: not set; profiles need a monitoring "
                         "reference, e.g. reference: training:v1@2026-09-01..2026-10-15",
                         key=f"models.{model.name}.reference")
    selector = parse_selector(text)
    selection = store.select(model.name, selector)
    lf = store.scan(model, selector, with_actuals=False, selection=selection)
    params = {"top_k": model.settings.skew.top_k, "n_bins": N_BINS, "fine_bins": FINE_BINS,
              "max_levels": MAX_LEVELS}
    schema = lf.collect_schema()
    on_parts = None if spark is None else spark.on_parts(store.storage, model, selection, schema)
    binning = fit_binning(lf, profiled_columns(model), n_bins=N_BINS, top_k=params["top_k"],
                          fine_bins=FINE_BINS, max_levels=MAX_LEVELS, on_parts=on_parts,
                          parts=() if spark else file_scans(store, model, selection, schema))
    files = tuple(sorted(entry.path for _, _, entry in selection.files))
    dates = sorted(entry.date for _, _, entry in selection.files)
    batches = tuple(sorted((r.batch, r.generation) for r in selection.records))
    stamp = f"{(now or datetime.now(UTC)).astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}"
    granularity = model.profiles.granularity
    return Reference(
        model=model.name, hash=content_hash(binning, params, granularity, batches),
        selector=selector.text, granularity=granularity, params=params,
        batches=batches, files=files, versions=tuple(selection.versions),
        dates=(dates[0], dates[-1]), rows=selection.rows, fitted_at=stamp, binning=binning)


def staleness(reference: Reference, model: ModelConfig) -> str | None:
    """Why `reference` no longer answers the config (None when it does): its selector,
    granularity, columns or vocabulary size changed since the fit."""
    if reference.selector != model.profiles.reference:
        return (f"the config's reference is {model.profiles.reference!r}, the fitted one "
                f"{reference.selector!r}")
    if reference.granularity != model.profiles.granularity:
        return (f"the config's profile granularity is {model.profiles.granularity}, the "
                f"fitted reference's {reference.granularity}")
    if reference.binning.kinds != profiled_columns(model):
        return "the model's features or outputs changed since the reference was fitted"
    if reference.params.get("top_k") != model.settings.skew.top_k:
        return (f"checks.skew.top_k is {model.settings.skew.top_k}, the fitted reference's "
                f"{reference.params.get('top_k')}")
    return None


def save_reference(root: Path | Storage, reference: Reference) -> None:
    """Store the reference (first writer wins: the same hash is the same content) and make it
    the model's current one (the pointer is replaced atomically)."""
    storage = as_storage(root)
    if not storage.is_local:  # a create-if-absent put, then an (atomic) overwrite
        payload = json.dumps(reference.to_dict(), indent=1, sort_keys=True).encode()
        storage.put_exclusive(reference_file(reference.model, reference.hash), payload)
        storage.put(current_reference_file(reference.model),
                    json.dumps({"format": REFERENCE_FORMAT, "hash": reference.hash}).encode())
        return
    root = Path(storage.location)
    target = root / reference_file(reference.model, reference.hash)
    target.parent.mkdir(parents=True, exist_ok=True)
    payload = json.dumps(reference.to_dict(), indent=1, sort_keys=True).encode()
    write_exclusive(target, payload)
    pointer = root / current_reference_file(reference.model)
    temp = temp_path(pointer)
    try:
        with open(temp, "wb") as handle:
            handle.write(json.dumps({"format": REFERENCE_FORMAT, "hash": reference.hash}).encode())
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, pointer)
    finally:
        temp.unlink(missing_ok=True)
    fsync_dir(pointer.parent)


def read_reference(text: str) -> Reference:
    """The reference a file's JSON holds: `Reference.from_dict(json.loads(text))`, the same
    bits, in ~4 ms instead of ~9 at the benchmark's 21 numeric columns (every profile-served
    command reads it). Its ~30k bin edges are decimals of up to 17 digits, which Python's
    `float` converts at ~0.3 µs each; they are read as text and converted by one polars cast,
    correctly rounded as `float` is. The format's only numbers with a fraction or an exponent
    are the bin edges (the rest are integers, which `json` reads as before); NaN and the
    infinities are read by `json` itself."""
    raw = json.loads(text, parse_float=str)
    edges = [bins[key] for bins in raw["binning"]["numeric"].values()
             for key in ("edges", "psi_edges")]
    try:
        values = pl.Series(list(chain.from_iterable(edges)), dtype=pl.String,
                           strict=False).cast(pl.Float64).to_list()
    except pl.exceptions.InvalidOperationError as exc:  # as float("abc") would refuse it
        raise ValueError("a bin edge is not a number") from exc
    start = 0
    for column in edges:
        column[:] = values[start:start + len(column)]
        start += len(column)
    return Reference.from_dict(raw)


def current_reference(root: Path | Storage, model: str) -> Reference | None:
    """The model's current reference, or None when none was fitted (two reads: the pointer,
    then the reference it names; a local store and object storage alike)."""
    storage = as_storage(root)
    pointer = storage.url(current_reference_file(model))
    try:
        raw = storage.read_bytes(current_reference_file(model))
    except FileNotFoundError:
        return None
    path = pointer
    try:
        reference = _named_hash(raw)
        relative = reference_file(model, reference)
        path = storage.url(relative)
        loaded = read_reference(storage.read_bytes(relative).decode("utf-8"))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise StoreError(f"{pointer}: the model's monitoring reference is unreadable ({exc}); "
                         f"refit it with `evalctl profiles build --model {model} --refit`",
                         file=pointer) from exc
    if loaded.hash != reference:
        raise StoreError(f"{path}: holds reference {loaded.hash}, not {reference}", file=path)
    return loaded


def current_reference_hash(root: Path | Storage, model: str) -> str | None:
    """The hash the model's pointer names (one small read), or None: no reference, or a
    pointer that cannot be read (`current_reference` then says what is wrong)."""
    try:
        return _named_hash(as_storage(root).read_bytes(current_reference_file(model)))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _named_hash(pointer: bytes) -> str:
    """The reference hash a pointer file names."""
    found = json.loads(pointer.decode("utf-8"))["hash"]
    if not isinstance(found, str):
        raise ValueError(f"its hash {found!r} is not text")
    return found
