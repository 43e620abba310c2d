"""The Store: open a lake, list what is committed, scan selections as polars lazy frames."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from evalctl.config import ModelConfig
from evalctl.errors import InputError, SelectorError, StoreError
from evalctl.lake import coerce, labels
from evalctl.lake.layout import ACTUALS, LEDGER, MARKER, PREDICTIONS, RESULTS, STAGING
from evalctl.lake.ledger import FORMAT, BatchRecord, FileEntry, read_records, store_format
from evalctl.lake.locking import LOCK_FILE
from evalctl.lake.selectors import Selector
from evalctl.lake.storage import Storage, as_storage, is_object_url, open_storage
from evalctl.version import __version__

if TYPE_CHECKING:  # imported on use: keeps CLI start-up fast
    import pyarrow as pa

VERSION_COL = "_version"
ENV_COL = "_env"
LABEL_SOURCE_COL = "_label_source"
DOCTOR_HINT = ("run `evalctl doctor`: it names the damaged batch and the two commands that "
               "repair it")
LABEL_AT_COL = "_label_at"  # when the winning delayed actual arrived (null for inline labels)


@dataclass(frozen=True)
class Selection:
    """What a selector matched: the files, their rows, and the versions/dates they cover."""

    selector: Selector
    files: tuple[tuple[str, str, FileEntry], ...]  # (version, env, file)
    batches: tuple[str, ...] = ()
    # the ledger records of `batches` (versions, timestamps, per-export columns), in that order
    records: tuple[BatchRecord, ...] = field(default=(), compare=False)

    @property
    def rows(self) -> int:
        return sum(f.rows for _, _, f in self.files)

    @property
    def versions(self) -> list[str]:
        return sorted({v for v, _, _ in self.files})


class Store:
    """An evaluation store in a local folder or under an ``s3://`` URL (docs/contract.md,
    "The lake"; `evalctl.lake.storage`)."""

    def __init__(self, root: Path | Storage) -> None:
        self.storage = as_storage(root)
        self._records: list[BatchRecord] | None = None
        self._handed_out: dict[str, FileEntry] = {}  # committed files given to scans

    @property
    def root(self) -> Path:
        """The folder of a local store (an object store has none: use `storage`)."""
        if not self.storage.is_local:
            raise StoreError(f"{self.location}: this operation needs a local store folder "
                             "(it is not supported on an s3:// store)")
        return Path(self.storage.location)

    @property
    def location(self) -> str:
        """The folder or the ``s3://`` URL, fit to print."""
        return self.storage.location

    @property
    def is_local(self) -> bool:
        return self.storage.is_local

    @classmethod
    def init(cls, root: str | Path, storage_options: Mapping[str, str] | None = None) -> Store:
        """Create the store's folders and marker (idempotent). On object storage: the marker,
        with a create-if-absent put (folders do not exist there)."""
        if is_object_url(root):
            return cls._init_object(open_storage(root, storage_options))
        root = Path(root)
        marker = root / MARKER
        if marker.exists():
            store_format(root)  # a newer store is refused, not silently accepted
        root.mkdir(parents=True, exist_ok=True)
        for sub in (PREDICTIONS, ACTUALS, RESULTS, LEDGER, STAGING):
            (root / sub).mkdir(exist_ok=True)
        if not (root / LOCK_FILE).exists():
            (root / LOCK_FILE).touch()  # the store lock (lake/locking.py)
        if not marker.exists():
            marker.write_text(json.dumps({"format": FORMAT, "created_by": __version__}) + "\n")
        return cls(root)

    @classmethod
    def _init_object(cls, storage: Storage) -> Store:
        payload = json.dumps({"format": FORMAT, "created_by": __version__}) + "\n"
        if not storage.put_exclusive(MARKER, payload.encode("utf-8")):
            store_format(storage)  # a newer store is refused, not silently accepted
        elif storage.put_exclusive(MARKER, payload.encode("utf-8")):
            # the same bytes again, so harmless: a backend that accepts the second
            # create-if-absent put ignores `If-None-Match`, and the commit protocol would be
            # a race there (README "Object storage")
            raise StoreError(f"{storage.location}: the backend ignores conditional writes "
                             "(a second create-if-absent put of evalctl-store.json succeeded); "
                             "evalctl's commit protocol needs If-None-Match: * support",
                             hint="use AWS S3, MinIO, Ceph RGW or R2, or a local folder")
        return cls(storage)

    @classmethod
    def open(cls, root: str | Path, storage_options: Mapping[str, str] | None = None) -> Store:
        """Open an existing store; a folder without the marker is an input error, a store of
        a newer format than this evalctl reads is refused (StoreError)."""
        if is_object_url(root):
            storage = open_storage(root, storage_options)
            try:  # a GET, not a HEAD: its error body tells a missing bucket (exit 3)
                marker = storage.read_bytes(MARKER)
            except FileNotFoundError:
                raise InputError(f"{storage.location}: not an evalctl store (no {MARKER}); "
                                 "create one with `evalctl init`") from None
            store_format(storage, marker)
            return cls(storage)
        path = Path(root)
        if not (path / MARKER).is_file():
            raise InputError(f"{path}: not an evalctl store (no {MARKER}); "
                             "create one with `evalctl init`")
        store_format(path)
        return cls(path)

    # -- ledger ---------------------------------------------------------------------------
    @property
    def records(self) -> list[BatchRecord]:
        """The live batch records (committed, not removed), validated; oldest first."""
        if self._records is None:
            self._records = read_records(self.storage)
        return self._records

    def refresh(self) -> None:
        self._records = None

    def has_batch(self, batch: str) -> bool:
        """Whether a live record of ``batch`` is committed (read afresh)."""
        self.refresh()
        return any(r.batch == batch for r in self.records)

    def prediction_records(self, model: str) -> list[BatchRecord]:
        return [r for r in self.records if r.kind == "predictions" and r.model == model]

    def actual_records(self, model: str) -> list[BatchRecord]:
        return [r for r in self.records if r.kind == "actuals" and r.model == model]

    def resolve_model(self, model: ModelConfig) -> ModelConfig:
        """Fix feature kinds given as a plain list: the first committed batch's kinds win."""
        if "auto" not in model.features.values():
            return model
        first = next(iter(self.prediction_records(model.name)), None)
        known = first.features if first else {}
        kinds = {f: known.get(f, k) for f, k in model.features.items()}
        return replace(model, features=kinds)

    # -- selections -----------------------------------------------------------------------
    def select(self, model: str, selector: Selector) -> Selection:
        """The committed files a selector names; an empty selection is an input error."""
        files, batches, records = [], [], []
        for record in self.prediction_records(model):
            if record.env != selector.env:
                continue
            if selector.version is not None and record.version != selector.version:
                continue
            chosen = [(record.version or "", record.env, f) for f in record.files
                      if selector.covers(date.fromisoformat(f.date))]
            if chosen:
                files += chosen
                batches.append(record.batch)
                records.append(record)
        if not files:
            raise SelectorError(self._nothing_matched(model, selector))
        files.sort(key=lambda item: (item[0], item[2].date, item[2].path))
        return Selection(selector=selector, files=tuple(files), batches=tuple(batches),
                         records=tuple(records))

    def source_columns(self, selection: Selection) -> tuple[dict[str, str], bool]:
        """The raw exports' columns behind a selection, and whether all of them were typed
        (CSV carries no types). Conflicting types across batches show as ``a | b``."""
        columns: dict[str, set[str]] = {}
        typed = True
        for record in self.records:
            if record.batch not in selection.batches:
                continue
            for source in record.sources:
                typed = typed and source.get("format") != "csv"
                for name, dtype in source.get("columns", {}).items():
                    columns.setdefault(name, set()).add(dtype)
        return {c: " | ".join(sorted(t)) for c, t in columns.items()}, typed

    def _nothing_matched(self, model: str, selector: Selector) -> str:
        have = sorted({f"{r.env}:{r.version}" for r in self.prediction_records(model)})
        if not have:
            return f"selector {selector.text!r}: model {model!r} has no data in {self.location}"
        return (f"selector {selector.text!r} matched no data for model {model!r} "
                f"(the store has {', '.join(have)}; see `evalctl catalog`)")

    def scan(self, model: ModelConfig, selector: Selector, *, with_actuals: bool = True,
             selection: Selection | None = None) -> pl.LazyFrame:
        """A lazy frame of the selection's rows, with `_version`, `_env` and joined actuals.

        Only files named by committed ledger records are read (partition pruning on
        model / version / env / date happens here, before polars sees a path).
        """
        selection = selection or self.select(model.name, selector)
        stored = {f.path: r.schema for r in self.prediction_records(model.name) for f in r.files}
        expected = coerce.stored_types(
            coerce.prediction_columns(model, selector.env, model.features), model.features)
        frames = []
        groups: dict[tuple[str, str, tuple[str, ...]], list[str]] = {}
        for version, env, entry in selection.files:
            changed = _changed_types(stored.get(entry.path, {}), expected)
            groups.setdefault((version, env, changed), []).append(str(self.checked_path(entry)))
        for (version, env, changed), paths in groups.items():
            frame = self.scan_files(paths, changed, expected, missing_columns="insert",
                                    extra_columns="ignore")
            frames.append(frame.with_columns(pl.lit(version).alias(VERSION_COL),
                                             pl.lit(env).alias(ENV_COL)))
        lf = pl.concat(frames, how="diagonal_relaxed") if len(frames) > 1 else frames[0]
        if with_actuals and model.label:
            lf = self._join_actuals(lf, model, selection)
        return lf

    def _join_actuals(self, lf: pl.LazyFrame, model: ModelConfig,
                      selection: Selection | None = None) -> pl.LazyFrame:
        actuals = self.scan_actuals(model, selection)
        label = model.label or "label"
        if actuals is None:
            return lf.with_columns(
                pl.when(pl.col(label).is_not_null()).then(pl.lit("inline"))
                .otherwise(None).alias(LABEL_SOURCE_COL),
                pl.lit(None, pl.Datetime("us")).alias(LABEL_AT_COL))
        # a stable sort: rows tied on both keys keep their order in the batch (the last wins),
        # and every scan (pruned by the label index or not) picks the same one
        newest = (actuals.sort([model.timestamp, "_ingested_at"], nulls_last=False,
                               maintain_order=True)
                  .group_by(model.id).agg(pl.col(label).last().alias("_actual"),
                                          pl.col(model.timestamp).last().alias(LABEL_AT_COL)))
        # maintain_order: the scan's rows keep one order however often they are collected,
        # so column batches of separate queries line up (slice discovery relies on it)
        return (lf.join(newest, on=model.id, how="left", maintain_order="left")
                .with_columns(
                    pl.when(pl.col("_actual").is_not_null()).then(pl.lit("actuals"))
                    .when(pl.col(label).is_not_null()).then(pl.lit("inline"))
                    .otherwise(None).alias(LABEL_SOURCE_COL),
                    pl.coalesce(pl.col("_actual"), pl.col(label)).alias(label))
                .drop("_actual"))

    def scan_actuals(self, model: ModelConfig, selection: Selection | None = None
                     ) -> pl.LazyFrame | None:
        """The committed delayed ground truth of a model — for a ``selection``, only the
        batches the label index says can hold its ids (`lake.labels`) — or None when there
        is none (labels stored under another task's type are read as the config's)."""
        expected = coerce.stored_types(coerce.actuals_columns(model), {})
        groups: dict[tuple[str, ...], list[str]] = {}
        every = self.actual_records(model.name)
        records = every if selection is None else labels.actuals_for(self, model.name, selection)
        if every and not records:  # none can match: no rows, but the columns of the join
            records = every[:1]
            limit: int | None = 0
        else:
            limit = None
        for record in records:
            changed = _changed_types(record.schema, expected)
            groups.setdefault(changed, []).extend(str(self.checked_path(f)) for f in record.files)
        frames = [self.scan_files(paths, changed, expected) for changed, paths in groups.items()]
        if not frames:
            return None
        lf = pl.concat(frames, how="diagonal_relaxed") if len(frames) > 1 else frames[0]
        return lf if limit is None else lf.limit(limit)

    def scan_files(self, paths: list[str], changed: tuple[str, ...] = (),
                   expected: dict[str, str] | None = None, **options: Any) -> pl.LazyFrame:
        """A lazy scan of committed files (paths or URLs from `checked_path`), with the
        store's `storage_options` on object storage; ``changed`` columns read as
        ``expected`` says (see `_scan_as`)."""
        if not self.storage.is_local:
            options["storage_options"] = self.storage.options
        return _scan_as(paths, changed, expected or {}, **options)

    def dictionary_reader(self, entry: FileEntry) -> DictionaryReader | None:
        """A committed local file's columns as Arrow batches, text columns as dictionary
        arrays (what the Parquet file stores: its dictionary and an index per row), for a
        reader that looks each distinct value up once (`evalctl.stats.levels`); None on
        object storage (the scan reads those). Raw columns: the caller checks that `scan`
        reads them as stored (no type the config changed since)."""
        if not self.is_local:
            return None
        path = self.checked_path(entry)
        assert isinstance(path, Path)
        return DictionaryReader(path)

    def checked_path(self, entry: FileEntry) -> Path | str:
        """The path of a committed file about to be read: present and of its recorded size
        (else StoreError), and remembered, so a failed read can be traced to it. On object
        storage its URL, unchecked (a HEAD per file would cost a request each; a failed read
        is traced by `damage_behind`)."""
        if not self.storage.is_local:
            self._handed_out[entry.path] = entry
            return self.storage.url(entry.path)
        path = self.root / entry.path
        if not path.is_file():
            raise StoreError(f"{path}: committed file is missing (run `evalctl doctor`)",
                             file=str(path), hint=DOCTOR_HINT)
        size = path.stat().st_size
        if size != entry.bytes:
            raise StoreError(f"{path}: committed file is damaged ({size} bytes, {entry.bytes} "
                             "recorded; run `evalctl doctor`)", file=str(path), hint=DOCTOR_HINT)
        self._handed_out[entry.path] = entry
        return path

    def damage_behind(self, exc: BaseException) -> StoreError | None:
        """After a read failed: the damaged committed file behind it, found by verifying the
        files this store gave to scans (present, size, checksum, footer) and then, cheaply,
        the sizes of every live file (other readers, such as ingest's id check, read
        committed files too); None when they are sound (then the failure is not the store's)."""
        if not isinstance(exc, pl.exceptions.PolarsError | OSError | ValueError):
            return None
        from evalctl.lake.doctor import verify_file  # imported on use: only on failures

        if not self.storage.is_local:
            return self._object_damage(exc)
        for entry in self._committed_handed_out():
            problem = verify_file(self.root, entry.path, entry.sha256, entry.rows)
            if problem:
                return _damaged(self.root / entry.path, problem)
        if self._records is None:
            return None
        for entry in (f for r in self._records for f in r.files):
            path = self.root / entry.path
            size = path.stat().st_size if path.is_file() else None
            if size != entry.bytes:
                return _damaged(path, "missing" if size is None else
                                f"{size} bytes, {entry.bytes} recorded")
        return None

    def _object_damage(self, exc: BaseException) -> StoreError | None:
        """`damage_behind` on object storage: the first handed-out file that is missing or
        not of its recorded size (one HEAD each); else, when the failed read was polars'
        cloud IO (the endpoint, the credentials), a StoreError saying so in one line."""
        try:
            found_damage = self._damaged_object()
        except StoreError as failed:  # the store itself cannot be reached now
            return failed
        if found_damage is not None:
            return found_damage
        text = str(exc)
        if any(w in text.lower() for w in ("object-store", "object_store", "s3", "http",
                                           "connect", "credential")):
            return StoreError(f"{self.location}: cannot read the committed files: "
                              f"{self.storage.explain(exc)}",
                              hint="check the bucket, the endpoint and the credentials "
                                   "(README: Object storage)")
        return None

    def _committed_handed_out(self) -> list[FileEntry]:
        """The files given to scans that a commit names: an ingest also scans the files it
        has moved but not committed (its profiles, its id check), and deletes them when it
        fails; their absence is not damage."""
        if self._records is None:
            return list(self._handed_out.values())
        committed = {f.path for r in self._records for f in r.files}
        return [e for e in self._handed_out.values() if e.path in committed]

    def _damaged_object(self) -> StoreError | None:
        for entry in self._committed_handed_out():
            found = self.storage.head(entry.path)
            if found is None or found.size != entry.bytes:
                problem = "missing" if found is None else \
                    f"{found.size} bytes, {entry.bytes} recorded"
                return StoreError(f"{self.storage.url(entry.path)}: committed file is damaged "
                                  f"({problem}) and could not be read; run `evalctl doctor`",
                                  file=self.storage.url(entry.path), hint=DOCTOR_HINT)
        return None

    def models(self) -> list[str]:
        return sorted({r.model for r in self.records})


class DictionaryReader:
    """One opened Parquet data file (`Store.dictionary_reader`): its stored Arrow schema and
    a stream of some of its columns, text as dictionary arrays."""

    def __init__(self, path: Path) -> None:
        import pyarrow.parquet as pq

        opened = pq.ParquetFile(path)
        self.path, self._metadata = path, opened.metadata
        self.schema: pa.Schema = opened.schema_arrow

    def batches(self, columns: list[str], batch_rows: int) -> Iterator[pa.RecordBatch]:
        """`columns`, every row in order, in record batches of at most `batch_rows` rows
        (and at most a row group's), one thread."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        text = [c for c in columns if not pa.types.is_integer(self.schema.field(c).type)]
        reader = pq.ParquetFile(self.path, metadata=self._metadata, read_dictionary=text)
        return reader.iter_batches(batch_size=batch_rows, columns=columns, use_threads=False)


def _damaged(path: Path, problem: str) -> StoreError:
    return StoreError(f"{path}: committed file is damaged ({problem}) and could not be read; "
                      "run `evalctl doctor`", file=str(path), hint=DOCTOR_HINT)


def _scan_as(paths: list[str], changed: tuple[str, ...], expected: dict[str, str],
             **options: Any) -> pl.LazyFrame:
    """Files that store `changed` columns under another type (the config changed since they
    were written), read as the config says now."""
    frame = pl.scan_parquet(paths, glob=False, **options)
    return frame.with_columns(coerce.read_as(c, expected[c]) for c in changed) \
        if changed else frame


def _changed_types(stored: dict[str, str], expected: dict[str, str]) -> tuple[str, ...]:
    """The columns a file stores under another type than the config now gives them."""
    return tuple(sorted(c for c, dtype in stored.items() if c in expected and
                        expected[c] != dtype))
