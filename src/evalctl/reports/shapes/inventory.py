"""The inventory row: what the store holds, wrote or removed (init, ingest, catalog, batches,
removals, files, doctor, config check, export, profiles build, metrics)."""

from __future__ import annotations

from evalctl.reports.shape import (
    Shape,
    Use,
    columns,
    common,
    fields,
)

InventoryRow = Shape(
    "InventoryRow",
    "one thing the store holds, wrote or removed: a store, batch, model version, file, problem, "
    "model setting, export, profile build or gauge sample",
    fields=common("status reason model kind check metric") + fields("""
        path               string
        created            string
        batch              string?
        rows               integer
        files              integer
        dates              array
        already_ingested   boolean
        dropped_columns    array
        repeated_ids       integer    ids of this batch that repeat within it
        ids_in_store       integer    ids of this batch already in the store (other batches)
        version            string?
        env                string?
        unmatched_ids      integer    actuals whose id matches no prediction (yet)
        first_date         date
        last_date          date
        days               integer    partition days with rows
        batches            integer    batches profiled by this run
        generation         integer
        created_at         timestamp  when the record was committed (RFC 3339, Z)
        sources            array
        action             string
        date               date
        bytes              integer
        sha256             string
        problem            string
        task               string     the model's task (binary_classification, regression...)
        features           integer    features declared
        slices             integer    slices declared
        checks             string     the check sections configured, comma-separated (- when none)
        file               string     the file written
        format             string     its format: parquet or csv
        columns            array      the columns written
        where              string?    the --where filter applied; null when none
        segment            string?
        only_errors        boolean    whether only rows the model got wrong were kept
        sample             number?    the --sample fraction or row count; null when not sampled
        seed               number?    the sampling seed; null when not sampled
        reference          string     the reference's content hash (16 hex digits)
        selector           string     the config's reference: selector it was fitted on
        granularity        string     the profiles' time bucket: 1d or 1h
        fitted             boolean    this run (re)fitted the reference
        fitted_because     string?    why the reference was (re)fitted; null when it was reused
        fitted_at          string     when the reference was fitted (RFC 3339, Z)
        reference_batches  integer    batches the reference was fitted on
        reference_rows     integer    rows the reference was fitted on
        versions           array      model versions profiled by this run
        already            integer    batches that already had profiles on the reference
        gauge              string     the metric name (evalctl_check_score, evalctl_rows, …)
        feature            string     metrics: the feature the sample is about; empty for a result
            without one
        value              number     metrics: the sample's value (status: its result's status)
    """),
    columns=columns("""
        created@0, path@0, batch@0, version, env, rows, files@3, dates@2/words,
        already_ingested=already@2, model@0, first_date=first, last_date=last, days@3, batches@2,
        kind@2, created_at=created@2, generation, action, status@0, date, bytes, sha256,
        problem@0/text, task, features, slices, checks, format@2, file, where@2/text, segment@2,
        only_errors=only errors@3, sample@3, reference@0, selector@2,
        fitted_because=fitted because@3/words, already=already profiled, gauge@0, check,
        feature/words, metric@2, value@0
    """),
    uses=(
        Use("init", None,
            "path created status ?reason",
            "created, path"),
        Use("ingest", None,
            "batch! rows files dates already_ingested dropped_columns ?repeated_ids "
            "?ids_in_store status ?version! ?env! ?reason ?unmatched_ids",
            "batch, version, env, rows, files, dates, already_ingested"),
        Use("ingest-actuals", None,
            "batch! rows files dates already_ingested dropped_columns ?repeated_ids "
            "?ids_in_store status ?version! ?env! ?reason ?unmatched_ids",
            "batch, version, env, rows, files, dates, already_ingested"),
        Use("catalog", None,
            "model version! env! first_date last_date days rows batches status ?reason",
            "model, version@0, env@0, first_date, last_date, days, rows, batches"),
        Use("batches", None,
            "batch! generation kind model version env rows files created_at sources status "
            "?reason",
            "batch, kind, model@3, version, env, rows, files, created_at"),
        Use("gc", None,
            "batch! ?generation kind ?model ?version ?env rows ?files ?first_date ?last_date "
            "action status ?reason",
            "batch@1, generation, kind@1, model@1, version, env, rows, files@1, "
            "first_date=first_date, last_date=last_date, action, status"),
        Use("batches remove", None,
            "batch! ?generation kind ?model ?version ?env rows ?files ?first_date ?last_date "
            "action status ?reason",
            "batch@1, generation, kind@1, model@1, version, env, rows, files@1, "
            "first_date=first_date, last_date=last_date, action, status"),
        Use("erase", None,
            "batch! ?generation kind ?model ?version ?env rows ?files ?first_date ?last_date "
            "action status ?reason",
            "batch@1, generation, kind@1, model@1, version, env, rows, files@1, "
            "first_date=first_date, last_date=last_date, action, status"),
        Use("files", None,
            "path version env date rows bytes sha256 status ?reason",
            "path@1, version, env, date, rows, bytes, sha256, status"),
        Use("doctor", None,
            "status path batch problem ?reason",
            "status, problem, path@1/text"),
        Use("config check", None,
            "model task features slices checks status ?reason",
            "model@1, task, features, slices, checks, status"),
        Use("export", None,
            "file format rows columns where segment only_errors sample seed status ?reason",
            "status, rows@0, format, file, where, segment, only_errors, sample"),
        Use("profiles build", None,
            "status ?reason model reference selector granularity fitted fitted_because fitted_at"
            " reference_batches reference_rows versions dates batches files rows already",
            "model, reference, selector, fitted_because, batches=batches profiled@0, files@2, "
            "rows, already"),
        Use("metrics", None,
            "gauge model ?check ?feature ?metric value status",
            "status, gauge, model@3, check, feature, metric, value"),
    ),
)
