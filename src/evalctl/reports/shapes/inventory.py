"""Shapes of the store commands' results: init, ingest, catalog, batches, removals, files,
doctor, config check, export."""

from __future__ import annotations

from evalctl.reports.shape import (
    ARRAY,
    BOOLEAN,
    DATE,
    INTEGER,
    NUMBER,
    STATUS,
    STRING,
    TEXT,
    TIMESTAMP,
    WORDS,
    Shape,
)
from evalctl.reports.shape import Column as C
from evalctl.reports.shape import Field as F

StoreCreated = Shape(
    "StoreCreated", "the store `init` created or found",
    fields=(
        F("path", STRING),
        F("created", STRING),
        F("status", STATUS),
        F("reason", STRING, null=True, optional=True),
    ),
    columns=(
        C("created", "created", 0),
        C("path", "path", 0),
    ),
    rows_of=(("init", None),),
)


IngestedBatch = Shape(
    "IngestedBatch", "one ingested batch (predictions, or actuals without version and env)",
    fields=(
        F("batch", STRING),
        F("rows", INTEGER),
        F("files", INTEGER),
        F("dates", ARRAY),
        F("already_ingested", BOOLEAN),
        F("dropped_columns", ARRAY),
        F("repeated_ids", INTEGER, optional=True),
        F("ids_in_store", INTEGER, optional=True),
        F("status", STATUS),
        F("version", STRING, optional=True),
        F("env", STRING, optional=True),
        F("reason", STRING, null=True, optional=True),
        F("unmatched_ids", INTEGER, "actuals whose id matches no prediction (yet)",
          optional=True),
    ),
    columns=(
        C("batch", "batch", 0),
        C("version", "version", 1),
        C("env", "env", 1),
        C("rows", "rows", 1),
        C("files", "files", 3),
        C("dates", "dates", 2, WORDS),
        C("already_ingested", "already", 2),
    ),
    rows_of=(("ingest", None), ("ingest-actuals", None)),
)


CatalogEntry = Shape(
    "CatalogEntry", "one model version in one env: its dates, rows and batches",
    fields=(
        F("model", STRING),
        F("version", STRING),
        F("env", STRING),
        F("first_date", DATE, "first partition date"),
        F("last_date", DATE, "last partition date"),
        F("days", INTEGER),
        F("rows", INTEGER),
        F("batches", INTEGER),
        F("status", STATUS),
        F("reason", STRING, null=True, optional=True),
    ),
    columns=(
        C("model", "model", 0),
        C("version", "version", 0),
        C("env", "env", 0),
        C("first_date", "first", 1),
        C("last_date", "last", 1),
        C("days", "days", 3),
        C("rows", "rows", 1),
        C("batches", "batches", 2),
    ),
    rows_of=(("catalog", None),),
)


BatchRecord = Shape(
    "BatchRecord", "one live batch of the ledger",
    fields=(
        F("batch", STRING),
        F("generation", INTEGER),
        F("kind", STRING),
        F("model", STRING),
        F("version", STRING, null=True),
        F("env", STRING, null=True),
        F("rows", INTEGER),
        F("files", INTEGER),
        F("created_at", TIMESTAMP, "when the record was committed (RFC 3339, Z)"),
        F("sources", ARRAY),
        F("status", STATUS),
        F("reason", STRING, null=True, optional=True),
    ),
    columns=(
        C("batch", "batch", 0),
        C("kind", "kind", 2),
        C("model", "model", 3),
        C("version", "version", 1),
        C("env", "env", 1),
        C("rows", "rows", 1),
        C("files", "files", 3),
        C("created_at", "created", 2),
    ),
    rows_of=(("batches", None),),
)


BatchAction = Shape(
    "BatchAction", "one batch a removal (batches remove, gc, erase) acts on, and what it does",
    fields=(
        F("batch", STRING),
        F("generation", INTEGER, optional=True),
        F("kind", STRING),
        F("model", STRING, optional=True),
        F("version", STRING, null=True, optional=True),
        F("env", STRING, null=True, optional=True),
        F("rows", INTEGER),
        F("files", INTEGER, optional=True),
        F("first_date", DATE, "first partition date", optional=True),
        F("last_date", DATE, "last partition date", optional=True),
        F("action", STRING),
        F("status", STATUS),
        F("reason", STRING, null=True, optional=True),
    ),
    columns=(
        C("batch", "batch", 1),
        C("generation", "generation", 1),
        C("kind", "kind", 1),
        C("model", "model", 1),
        C("version", "version", 1),
        C("env", "env", 1),
        C("rows", "rows", 1),
        C("files", "files", 1),
        C("first_date", "first_date", 1),
        C("last_date", "last_date", 1),
        C("action", "action", 1),
        C("status", "status", 0),
    ),
    rows_of=(("gc", None), ("batches remove", None), ("erase", None)),
)


StoredFile = Shape(
    "StoredFile", "one committed data file",
    fields=(
        F("path", STRING),
        F("version", STRING, null=True),
        F("env", STRING, null=True),
        F("date", DATE),
        F("rows", INTEGER),
        F("bytes", INTEGER),
        F("sha256", STRING),
        F("status", STATUS),
        F("reason", STRING, null=True, optional=True),
    ),
    columns=(
        C("path", "path", 1),
        C("version", "version", 1),
        C("env", "env", 1),
        C("date", "date", 1),
        C("rows", "rows", 1),
        C("bytes", "bytes", 1),
        C("sha256", "sha256", 1),
        C("status", "status", 0),
    ),
    rows_of=(("files", None),),
)


StoreProblem = Shape(
    "StoreProblem", "one problem doctor found in the store",
    fields=(
        F("status", STATUS),
        F("path", STRING),
        F("batch", STRING, null=True),
        F("problem", STRING),
        F("reason", STRING, null=True, optional=True),
    ),
    columns=(
        C("status", "status", 0),
        C("problem", "problem", 0, TEXT),
        C("path", "path", 1, TEXT),
    ),
    rows_of=(("doctor", None),),
)


ModelSettings = Shape(
    "ModelSettings", "one model of the config: its task, features, slices and checks",
    fields=(
        F("model", STRING),
        F("task", STRING),
        F("features", INTEGER),
        F("slices", INTEGER),
        F("checks", STRING),
        F("status", STATUS),
        F("reason", STRING, null=True, optional=True),
    ),
    columns=(
        C("model", "model", 1),
        C("task", "task", 1),
        C("features", "features", 1),
        C("slices", "slices", 1),
        C("checks", "checks", 1),
        C("status", "status", 0),
    ),
    rows_of=(("config check", None),),
)


ExportedFile = Shape(
    "ExportedFile", "the file export wrote",
    fields=(
        F("file", STRING),
        F("format", STRING),
        F("rows", INTEGER),
        F("columns", ARRAY),
        F("where", STRING, null=True),
        F("segment", STRING, "the segment of the slice (all for overall)", null=True),
        F("only_errors", BOOLEAN),
        F("sample", NUMBER, null=True),
        F("seed", NUMBER, null=True),
        F("status", STATUS),
        F("reason", STRING, null=True, optional=True),
    ),
    columns=(
        C("status", "status", 0),
        C("rows", "rows", 0),
        C("format", "format", 2),
        C("file", "file", 1),
        C("where", "where", 2, TEXT),
        C("segment", "segment", 2),
        C("only_errors", "only errors", 3),
        C("sample", "sample", 3),
    ),
    rows_of=(("export", None),),
)


ProfileBuild = Shape(
    "ProfileBuild", "one model's monitoring reference and the profiles `profiles build` wrote",
    fields=(
        F("status", STATUS),
        F("reason", STRING, null=True, optional=True),
        F("model", STRING),
        F("reference", STRING, "the reference's content hash (16 hex digits)"),
        F("selector", STRING, "the config's reference: selector it was fitted on"),
        F("granularity", STRING, "the profiles' time bucket: 1d or 1h"),
        F("fitted", BOOLEAN, "this run (re)fitted the reference"),
        F("fitted_because", STRING, null=True),
        F("fitted_at", STRING),
        F("reference_batches", INTEGER),
        F("reference_rows", INTEGER),
        F("versions", ARRAY),
        F("dates", ARRAY),
        F("batches", INTEGER, "batches profiled by this run"),
        F("files", INTEGER),
        F("rows", INTEGER),
        F("already", INTEGER, "batches that already had profiles on the reference"),
    ),
    columns=(
        C("model", "model", 0),
        C("reference", "reference", 0),
        C("selector", "selector", 2),
        C("fitted_because", "fitted because", 3, WORDS),
        C("batches", "batches profiled", 0),
        C("files", "files", 2),
        C("rows", "rows", 1),
        C("already", "already profiled", 1),
    ),
    rows_of=(("profiles build", None),),
)
