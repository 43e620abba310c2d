"""Library entry points: each returns a Report. The CLI and notebooks call exactly these.

These functions take an open `Store`, a `ModelConfig` (feature kinds declared as a plain list
are resolved against the store here) and parsed `Selector`s. `evalctl.open()` returns a
`Workspace` whose methods take names and selector strings and call these.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evalctl.clock import Clock, now
from evalctl.config import ModelConfig, find_config_path
from evalctl.errors import InputError, StoreError
from evalctl.lake.layout import grace_period, parse_duration
from evalctl.lake.ledger import BatchRecord, FileEntry
from evalctl.lake.lifecycle import Removal, collect_old_batches, remove_batches
from evalctl.lake.selectors import Selector, parse_selector
from evalctl.lake.storage import is_object_url
from evalctl.lake.store import Store
from evalctl.profiles.merged import drop_stale
from evalctl.profiles.reference import current_reference
from evalctl.reports import Report
from evalctl.settings.load import load_config
from evalctl.settings.sections import with_options

if TYPE_CHECKING:
    from evalctl.analyses.monitor import MonitorOutcome
    from evalctl.engines.spark import SparkEngine
    from evalctl.lake.ingest import IngestResult


STARTER_CONFIG = """\
# evalctl configuration. Keys: see README "Config reference".
store: {store}
models:
  my-model:
    task: binary_classification   # | multiclass_classification | regression | ranking
    id: request_id                # unique per prediction; joins actuals and shadow models
    timestamp: ts                 # partitions by date, drives windows
    prediction: predicted_label
    score: score
    label: label                  # may be absent at ingest and arrive later as actuals
    features:
      age: numeric
      country: categorical
    slices:
      - feature: country
"""


def init_store(directory: Path | str, write_config: bool = True,
               storage_options: Mapping[str, str] | None = None) -> Report:
    """Create a store in ``directory`` (a folder or an ``s3://bucket/prefix`` URL) and,
    unless one exists, a starter ``evalctl.yaml`` (beside a folder; in the current folder,
    naming the URL, for an object store)."""
    if is_object_url(directory):
        if storage_options is None and find_config_path(None) is not None:
            storage_options = load_config(None).storage_options  # endpoint, region...
        opened = Store.init(str(directory), storage_options)
        created = [{"path": opened.location, "created": "store", "status": "pass"}]
        config_path = Path("evalctl.yaml")
        if write_config and not config_path.exists():
            config_path.write_text(STARTER_CONFIG.format(store=opened.location),
                                   encoding="utf-8")
            created.append({"path": str(config_path), "created": "config", "status": "pass"})
        return Report(command="init", model=None, status="pass", results=created,
                      summary={"store": opened.location})
    directory = Path(directory)
    Store.init(directory)
    results = [{"path": str(directory), "created": "store", "status": "pass"}]
    # beside the store; `evalctl init .` makes the current folder the store: the config goes
    # there too. `store:` is relative to the config's folder, as the config loader reads it.
    config_path = directory.parent / "evalctl.yaml"
    if write_config and not config_path.exists():
        store = os.path.relpath(directory.resolve(), config_path.parent.resolve())
        config_path.write_text(STARTER_CONFIG.format(store=store), encoding="utf-8")
        results.append({"path": str(config_path), "created": "config", "status": "pass"})
    return Report(command="init", model=None, status="pass", results=results,
                  summary={"store": str(directory)})


def ingest(store: Store, model: ModelConfig, paths: Sequence[Path | str], *, version: str, env: str,
           input_format: str | None = None, clock: Clock | None = None,
           spark: SparkEngine | None = None,
           storage_options: Mapping[str, str] | None = None) -> Report:
    """Ingest prediction exports as one batch (a no-op when already ingested); the ledger
    record is stamped with the clock's time. `spark`: write the batch on Spark executors
    (`evalctl.engines.spark_ingest`); the driver commits it. `storage_options`: object_store
    keys (over the AWS environment) to read ``s3://`` exports with, also into a local store;
    None: the store's own (`Storage.export_options`)."""
    if spark is not None:
        # start-up time: the Spark ingest is loaded only when asked for
        from evalctl.engines.spark_ingest import ingest_on_spark

        result = ingest_on_spark(store, model, paths, spark, version=version, env=env,
                                 input_format=input_format, now=lambda: now(clock),
                                 storage_options=storage_options)
    else:
        # start-up time: the ingest path (export readers, coercion) loads only to ingest
        from evalctl.lake.ingest import ingest_predictions

        result = ingest_predictions(store, model, paths, version=version, env=env,
                                    input_format=input_format, now=lambda: now(clock),
                                    storage_options=storage_options)
    report = _ingest_report("ingest", model.name, paths, result,
                            {"version": version, "env": env})
    if spark is not None:
        report.inputs.update(engine="spark", spark_master=spark.master)
    return report


def ingest_ground_truth(store: Store, model: ModelConfig, paths: Sequence[Path | str], *,
                        input_format: str | None = None, clock: Clock | None = None,
                        spark: SparkEngine | None = None,
                        storage_options: Mapping[str, str] | None = None) -> Report:
    """Ingest delayed actuals as one batch. `spark`: write it on Spark executors
    (`evalctl.engines.spark_actuals`); the driver commits it. `storage_options`: as for
    `ingest`."""
    if spark is not None:
        # start-up time: the Spark ingest is loaded only when asked for
        from evalctl.engines.spark_actuals import ingest_actuals_on_spark

        result = ingest_actuals_on_spark(store, model, paths, spark, input_format=input_format,
                                         now=lambda: now(clock),
                                         storage_options=storage_options)
    else:
        from evalctl.lake.ingest import ingest_actuals  # start-up time, as `ingest`

        result = ingest_actuals(store, model, paths, input_format=input_format,
                                now=lambda: now(clock), storage_options=storage_options)
    report = _ingest_report("ingest-actuals", model.name, paths, result, {})
    if spark is not None:
        report.inputs.update(engine="spark", spark_master=spark.master)
    return report


def _ingest_report(command: str, model: str, paths: Sequence[Path | str], result: IngestResult,
                   target: dict[str, str]) -> Report:
    status = "warn" if result.repeated_ids or result.ids_in_store or result.unmatched_ids \
        else "pass"
    row = {"batch": result.batch, "rows": result.rows, "files": result.files,
           "dates": list(result.dates), "already_ingested": result.already_ingested,
           "dropped_columns": list(result.dropped_columns),
           **({"repeated_ids": result.repeated_ids, "ids_in_store": result.ids_in_store}
              if command == "ingest" else {"unmatched_ids": result.unmatched_ids}),
           "status": status, **target}
    return Report(command=command, model=model, status=status,
                  inputs={"files": [str(p) for p in paths], **target}, results=[row],
                  summary={"rows": result.rows, "already_ingested": result.already_ingested})


def catalog(store: Store, model: str | None = None) -> Report:
    """Models, versions, envs, date ranges, rows and batches, from the ledger alone."""
    groups: dict[tuple[str, str, str], list[BatchRecord]] = {}
    for record in store.records:
        if model is not None and record.model != model:
            continue
        key = (record.model, record.version or "-", record.env or "actuals")
        groups.setdefault(key, []).append(record)
    if model is not None and not groups:
        raise InputError(f"--model: no data for model {model!r} in {store.location} "
                         f"(models in the store: {', '.join(store.models()) or 'none'})")
    results = []
    for (name, version, env), records in sorted(groups.items()):
        dates = sorted({f.date for r in records for f in r.files})
        results.append({"model": name, "version": version, "env": env,
                        "first_date": dates[0] if dates else None,
                        "last_date": dates[-1] if dates else None,
                        "days": len(dates), "rows": sum(r.rows for r in records),
                        "batches": len(records), "status": "pass"})
    return Report(command="catalog", model=model, status="pass",
                  inputs={"store": store.location}, results=results,
                  summary={"models": len({r["model"] for r in results}),
                           "rows": sum(r["rows"] for r in results),
                           "batches": sum(r["batches"] for r in results)})


def batches(store: Store, model: str | None = None) -> Report:
    """The live ledger records, oldest first."""
    results = [{"batch": r.batch, "generation": r.generation, "kind": r.kind, "model": r.model,
                "version": r.version, "env": r.env, "rows": r.rows, "files": len(r.files),
                "created_at": datetime.fromisoformat(r.created_at),
                "sources": [s["path"] for s in r.sources], "status": "pass"}
               for r in store.records if model is None or r.model == model]
    if model is not None and not results:
        raise InputError(f"--model: no batches of model {model!r} in {store.location} "
                         f"(models in the store: {', '.join(store.models()) or 'none'})")
    return Report(command="batches", model=model, status="pass",
                  inputs={"store": store.location}, results=results,
                  summary={"batches": len(results)})


def remove(store: Store, batch_ids: Sequence[str], *, dry_run: bool = False,
           clock: Clock | None = None) -> Report:
    """Remove batches as one commit (a tombstone); their files are collected later."""
    done = remove_batches(store, batch_ids, dry_run=dry_run, now=now(clock))
    if done.tombstone:
        drop_stale(store.storage, {(r.model, r.batch) for r in done.removed})
    return _removal_report("batches remove", store, done, dry_run, {"batches": list(batch_ids)})


def gc(store: Store, older_than: str, *, env: str | None = None, model: str | None = None,
       dry_run: bool = False, clock: Clock | None = None) -> Report:
    """Retention: remove whole batches whose newest date is older than ``older_than``."""
    span = parse_duration(older_than)
    if span is None or span.total_seconds() <= 0 or older_than.strip()[-1] != "d":
        raise InputError(f"--older-than: expected a number of days such as 400d, "
                         f"got {older_than!r}")
    done = collect_old_batches(store, span, env=env, model=model, dry_run=dry_run,
                               now=now(clock))
    if done.tombstone:
        drop_stale(store.storage, {(r.model, r.batch) for r in done.removed})
    return _removal_report("gc", store, done, dry_run,
                           {"older_than": older_than, "env": env, "model": model})


def _removal_report(command: str, store: Store, done: Removal, dry_run: bool,
                    inputs: dict[str, Any]) -> Report:
    action = "would remove" if dry_run else "removed"
    results: list[dict[str, Any]] = [
        {**_batch_row(r), "action": action, "status": "pass"} for r in done.removed]
    results += [{**_batch_row(r), "action": f"kept: newest date {newest} is after the "
                 "cut-off", "status": "warn"} for r, newest in done.kept_partly_older]
    recommendations = [f"{len(done.kept_partly_older)} batch(es) are only partly older than "
                       "the cut-off and were kept; remove them with `evalctl batches remove` "
                       "when all their dates may go"] if done.kept_partly_older else []
    if done.tombstone:
        recommendations.append("the files stay on disk until `evalctl doctor --repair` runs "
                               "after the grace period")
    return Report(command=command, model=inputs.get("model"),
                  status="warn" if done.kept_partly_older else "pass",
                  inputs={"store": store.location, "dry_run": dry_run, **inputs},
                  results=results,
                  summary={"batches": len(done.removed),
                           "rows": sum(r.rows for r in done.removed),
                           "files": sum(len(r.files) for r in done.removed),
                           "tombstone": done.tombstone, "dry_run": dry_run},
                  recommendations=recommendations)


def _batch_row(r: BatchRecord) -> dict[str, Any]:
    dates = sorted(f.date for f in r.files)
    return {"batch": r.batch, "generation": r.generation, "kind": r.kind, "model": r.model,
            "version": r.version, "env": r.env, "rows": r.rows, "files": len(r.files),
            "first_date": dates[0] if dates else None, "last_date": dates[-1] if dates else None}


def erase(store: Store, model: ModelConfig, ids_path: Path, *, dry_run: bool = False,
          clock: Clock | None = None) -> Report:
    """Erase every row of the ids in ``ids_path`` from predictions and actuals, as one
    commit (privacy requests)."""
    from evalctl.lake.erase import erase_ids, read_ids  # start-up time: only erase needs it

    done = erase_ids(store, model, read_ids(ids_path, model.id), dry_run=dry_run,
                     now=now(clock))
    if done.tombstone:
        drop_stale(store.storage, {(model.name, batch) for batch, _, _ in done.batches})
    action = "would erase" if dry_run else "erased"
    results = [{"batch": batch, "kind": kind, "rows": rows, "action": action, "status": "pass"}
               for batch, kind, rows in done.batches]
    recommendations = ["the old files stay on disk until `evalctl doctor --repair` runs "
                       "after the grace period; run it then to finish the erasure"
                       ] if done.tombstone else []
    if _fitted_on(store, model.name, {batch for batch, kind, _ in done.batches
                                      if kind == "predictions"}):
        recommendations.append(
            "the monitoring reference was fitted on batches holding these rows (its bin "
            "edges and vocabularies may hold their values): "
            f"{'after the erasure, ' if dry_run else ''}"
            f"refit it with `evalctl profiles build --model {model.name} --refit`")
    return Report(command="erase", model=model.name, status="pass",
                  inputs={"store": store.location, "ids": str(ids_path), "dry_run": dry_run},
                  results=results,
                  summary={"ids": done.ids, "rows": done.rows, "files": done.files,
                           "batches": len(done.batches), "tombstone": done.tombstone,
                           "dry_run": dry_run},
                  recommendations=recommendations)


def _fitted_on(store: Store, model: str, batches: set[str]) -> bool:
    """Whether the model's current monitoring reference was fitted on any of `batches`."""
    if not batches:
        return False
    try:
        reference = current_reference(store.storage, model)
    except StoreError:
        return False  # a damaged reference: `doctor` names it; the erasure stands
    return reference is not None and any(b in batches for b, _ in reference.batches)


def files(store: Store, model: str, selector: Selector | None, *, actuals: bool = False
          ) -> Report:
    """The committed files of a selection (or of a model's actuals), for outside readers."""
    if actuals == (selector is not None):
        raise InputError("files: give either --selector or --actuals")
    chosen: list[tuple[str | None, str | None, FileEntry]]
    if selector is not None:
        chosen = [(v, e, f) for v, e, f in store.select(model, selector).files]
    else:
        chosen = [(None, None, f) for r in store.actual_records(model) for f in r.files]
        if not chosen:
            raise InputError(f"--actuals: model {model!r} has no actuals in {store.location}")
    results = [{"path": _file_location(store, f.path), "version": version, "env": env,
                "date": f.date, "rows": f.rows, "bytes": f.bytes, "sha256": f.sha256,
                "status": "pass"} for version, env, f in chosen]
    return Report(command="files", model=model, status="pass",
                  inputs={"store": store.location, "actuals": actuals,
                          "selector": selector.text if selector else None},
                  results=results,
                  summary={"files": len(results), "rows": sum(r["rows"] for r in results)})


def _file_location(store: Store, relative: str) -> str:
    """A committed file as `files` lists it: an absolute path, or its URL on object storage."""
    if not store.is_local:
        return store.storage.url(relative)
    return str((store.root / relative).resolve())


def doctor(store: Store, repair: bool = False, grace: str | None = None,
           clock: Clock | None = None) -> Report:
    """Validate the ledger and verify every live file; list (and with ``repair`` remove)
    orphans and the files of batches removed longer than the grace period ago."""
    period = grace_period() if grace is None else parse_duration(grace)
    if period is None:
        raise InputError(f"--grace: expected a duration such as 0s, 2h or 7d, got {grace!r}")
    # start-up time: the store's examination and the merge's check load only for doctor
    from evalctl.lake.doctor import examine_store
    from evalctl.profiles.merged import check_merged

    found = examine_store(store.storage, repair=repair, grace=period, now=now(clock),
                          derived=check_merged)
    results: list[dict[str, Any]] = [
        {"path": d["path"], "batch": d["batch"] or None, "problem": d["problem"],
         "status": "fail"} for d in found.damaged]
    results += [{"path": p, "batch": None,
                 "problem": "orphan (removed)" if p in found.removed else
                 "orphan (younger than the grace period: kept)" if p in found.kept else
                 "orphan (uncommitted)",
                 "status": "pass" if p in found.removed else "warn"} for p in found.orphans]
    results += [{"path": p, "batch": None, "problem": "stray file (never read by evalctl)",
                 "status": "warn"} for p in found.stray]
    results += [{"path": p, "batch": None, "problem": "file of a removed batch (collected)",
                 "status": "pass"} for p in found.collected]
    results += [{"path": p, "batch": None, "problem": "file of a removed batch (collected by "
                 "`doctor --repair` after the grace period)", "status": "pass"}
                for p in found.pending]
    results += [{"path": u["path"], "batch": u["batch"], "problem": u["problem"],
                 "status": "warn"} for u in found.unprofiled]
    results += [{"path": d["path"], "batch": None, "problem": d["problem"],
                 "status": d["status"]} for d in found.derived]
    warned = (set(found.orphans) - set(found.removed)) or found.stray or found.unprofiled \
        or any(d["status"] == "warn" for d in found.derived)
    failed = found.damaged or any(d["status"] == "fail" for d in found.derived)
    status = "fail" if failed else ("warn" if warned else "pass")
    recommendations = []
    if any(not d["batch"] for d in found.damaged):
        recommendations.append("the ledger has invalid records: every other command refuses "
                               "the store until they are restored from a backup or moved out "
                               "of _ledger/"
                               + ("; --repair removed nothing until then (their files would "
                                  "look like orphans)" if found.repair_skipped else ""))
    for batch, commands in found.repairs.items():
        steps = ", then ".join(f"`{c}`" for c in commands)
        recommendations.append(f"batch {batch} is damaged: repair it with {steps}")
    if set(found.orphans) - set(found.removed):
        recommendations.append("orphans are leftovers of interrupted writes and are never "
                               "read; `evalctl doctor --repair` removes those older than the "
                               "grace period (EVALCTL_GRACE or --grace, default 7d)")
    if found.stray:
        recommendations.append("stray files are not written by evalctl and never read by it; "
                               "move them out of the store")
    for model in sorted({u["model"] for u in found.unprofiled}):
        recommendations.append(f"reports on {model} scan rows where profiles are missing: "
                               f"`evalctl profiles build --model {model}` writes them")
    return Report(command="doctor", model=None, status=status,
                  inputs={"store": store.location, "repair": repair}, results=results,
                  summary={"batches": found.checked_batches, "files": found.checked_files,
                           "damaged": len(found.damaged), "orphans": len(found.orphans),
                           "removed": len(found.removed), "stray": len(found.stray),
                           "pending": len(found.pending), "collected": len(found.collected),
                           "repair_skipped": found.repair_skipped,
                           "unprofiled": len(found.unprofiled)},
                  recommendations=recommendations)


def skew(store: Store, model: ModelConfig, reference: Selector, current: Selector, *,
         join_key: str | None = None, engine: str = "auto",
         spark: SparkEngine | None = None) -> Report:
    """Training/serving skew between two selections (the CI gate). `engine`: profiles,
    scan, spark or auto (profiles when they cover the question); `spark`: the Spark engine
    (for spark, or auto with ``engine.kind: spark``)."""
    # start-up time: a command loads only its own analysis
    from evalctl.analyses.skew import skew_report

    model = store.resolve_model(model)
    return skew_report(store, model, reference, current, settings=model.settings.skew,
                       join_key=join_key, engine=engine, spark=spark)


def drift(store: Store, model: ModelConfig, reference: Selector, current: Selector, *,
          window: str | None = None, windows: int | None = None,
          min_rows: int | None = None, multivariate: bool = False,
          engine: str = "auto", spark: SparkEngine | None = None) -> Report:
    """Drift of every column window by window, with onset; with `multivariate`, also a
    classifier two-sample test per window (needs the `evalctl[multivariate]` extra).
    `engine`: profiles, scan, spark or auto (profiles when they cover the question);
    `spark`: the Spark engine (for spark, or auto with ``engine.kind: spark``)."""
    # start-up time: a command loads only its own analysis
    from evalctl.analyses.drift import drift_report

    model = store.resolve_model(model)
    settings = with_options(model.settings.drift, window=window, min_rows=min_rows)
    return drift_report(store, model, reference, current, settings=settings,
                        windows=windows, multivariate=multivariate, engine=engine,
                        spark=spark)


def slices(store: Store, model: ModelConfig, selector: Selector, *,
           compare_to: Selector | None = None, metric: str | None = None, top: int = 10,
           min_size: int | None = None, fdr: float | None = None, discover: bool = False,
           alpha: float | None = None, max_level: int | None = None,
           min_support: float | None = None, error: str | None = None) -> Report:
    """The slice leaderboard (declared slices, optionally SliceLine discovery). Options left
    None take checks.slices from the config, then the defaults of `SliceOptions`."""

    # start-up time: a command loads only its own analysis
    from evalctl.analyses.slices import SliceOptions, slices_report

    model = store.resolve_model(model)
    settings = with_options(model.settings.slices, metric=metric, min_size=min_size, fdr=fdr,
                            alpha=alpha, max_level=max_level, min_support=min_support,
                            error=error)
    options = SliceOptions(top=top, discover=discover, **asdict(settings))
    return slices_report(store, model, selector, options=options, compare_to=compare_to)


def validate(store: Store, model: ModelConfig, selector: Selector, *, candidate: str,
             baseline: str, top: int = 0) -> Report:
    """The promotion gate: candidate vs baseline on the same rows, overall and per slice
    (every failing row; `top` > 0 keeps only that many of the passing ones)."""
    # start-up time: a command loads only its own analysis
    from evalctl.analyses.validate import validate_report

    model = store.resolve_model(model)
    return validate_report(store, model, selector, candidate=candidate, baseline=baseline,
                           settings=model.settings.validate, top=top)


def monitor(store: Store, models: Sequence[ModelConfig], *, day: date | None = None,
            clock: Clock | None = None, run_id: str | None = None,
            spark: SparkEngine | None = None, engine: str = "auto") -> MonitorOutcome:
    """Every configured check for each model's window (`day`, default the day before the
    clock's UTC date); returns the report and the new alerts, and appends the results
    history. Freshness is measured against the clock. Drift scans run on `spark` when
    given; `engine`: where drift's summaries come from (as `drift`'s)."""
    # start-up time: a command loads only its own analysis
    from evalctl.analyses.monitor import MonitorRun, monitor_report

    if not models:
        raise InputError("monitor: no models given")
    run = MonitorRun(now=now(clock), day=day, run_id=run_id, spark=spark, engine=engine)
    return monitor_report(store, [store.resolve_model(m) for m in models], run)


def history(store: Store, model: str, *, check: str | None = None,
            feature: str | None = None, since: date | None = None) -> Report:
    """The monitor's results history as series per (check, feature)."""
    # start-up time: a command loads only its own analysis
    from evalctl.analyses.history import history_report

    return history_report(store, model, check=check, feature=feature, since=since)


def estimate(store: Store, model: ModelConfig, reference: Selector, current: Selector, *,
             window: str | None = None, windows: int | None = None,
             min_rows: int | None = None) -> Report:
    """Estimated performance per window while labels are late (CBPE), beside the realised
    metrics where labels exist, and the proxy metrics."""
    # start-up time: a command loads only its own analysis
    from evalctl.analyses.estimate import estimate_report

    model = store.resolve_model(model)
    settings = with_options(model.settings.estimate, window=window, min_rows=min_rows)
    return estimate_report(store, model, reference, current, settings=settings,
                           windows=windows)


def rca(store: Store, model: ModelConfig, baseline: Selector, current: Selector, *,
        reference: Selector | None = None, metric: str | None = None,
        top: int | None = None, multivariate: bool = False) -> Report:
    """Why did the metric change between two windows? Mix / performance decomposition per
    feature, drift and skew against the reference (default `training`, skipped when the store
    has none), a failure mode and recommendations. With `multivariate` (or
    `checks.rca.multivariate`), features are also ranked by a classifier's permutation
    importance (needs the `evalctl[multivariate]` extra)."""
    # start-up time: a command loads only its own analysis
    from evalctl.analyses.rca import rca_report

    model = store.resolve_model(model)
    settings = with_options(model.settings.rca, metric=metric, top=top,
                            multivariate=multivariate or None)
    return rca_report(store, model, baseline, current, settings=settings,
                      drift=model.settings.skew,
                      reference=reference or parse_selector("training"),
                      reference_required=reference is not None)


def export(store: Store, model: ModelConfig, selector: Selector, out: Path, *,
           where: str | None = None, segment: str | None = None, only_errors: bool = False,
           sample: int | None = None, seed: int = 0) -> Report:
    """Write a selection's examples (filtered, optionally sampled) to Parquet or CSV."""
    # start-up time: a command loads only its own analysis
    from evalctl.analyses.export import ExportOptions, export_report

    _check_seed(seed)
    options = ExportOptions(out=out, where=where, segment=segment, only_errors=only_errors,
                            sample=sample, seed=seed)
    return export_report(store, store.resolve_model(model), selector, options)


def compare(store: Store, model: ModelConfig, selector: Selector, *, champion: str,
            challengers: Sequence[str], metric: str | None = None, gate: bool = False,
            discover: bool = False, n_boot: int | None = None, seed: int = 0) -> Report:
    """Champion vs shadow challengers on the same traffic: per slice, paired tests, verdict."""
    # start-up time: a command loads only its own analysis
    from evalctl.analyses.compare import compare_report

    model = store.resolve_model(model)
    if n_boot is not None and n_boot < 10:
        raise InputError(f"--n-boot: at least 10, got {n_boot}")
    settings = with_options(model.settings.compare, metric=metric, n_boot=n_boot)
    _check_seed(seed)
    return compare_report(store, model, selector, champion=champion,
                          challengers=list(challengers), settings=settings, gate=gate,
                          discover=discover, seed=seed)


def _check_seed(seed: int) -> None:
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise InputError(f"--seed: expected a whole number >= 0, got {seed!r}")


def check_config(path: str | Path | None = None) -> Report:
    """Load and validate a config exactly as every command does (same messages, raised as
    ConfigError); report what it declares, one row per model."""
    found = find_config_path(path)
    if found is None:
        raise InputError("no config found: pass --config, set EVALCTL_CONFIG, or create "
                         "evalctl.yaml or configs/evalctl.yaml")
    config = load_config(found)
    results = [{"model": m.name, "task": m.task, "features": len(m.features),
                "slices": len(m.slices), "checks": ", ".join(sorted(m.checks)) or "-",
                "status": "pass"} for m in config.models.values()]
    return Report(command="config check", model=None, status="pass",
                  inputs={"config": str(found),
                          "store": str(config.store) if config.store else None},
                  results=results, summary={"models": len(results)})


def profiles_build(store: Store, models: Sequence[ModelConfig], *, refit: bool = False,
                   clock: Clock | None = None, spark: SparkEngine | None = None) -> Report:
    """For each model: fit its monitoring reference when needed (first build, changed config,
    `refit`) and profile every stored batch without profiles on it (README: "Profiles")."""
    # start-up time: a command loads only its own analysis
    from evalctl.profiles.build import build_profiles

    if not models:
        raise InputError("profiles build: no model of the config has a `reference:`; add one "
                         "(e.g. reference: training:v1@2026-09-01..2026-10-15)")
    rows, recommendations = [], []
    for model in models:
        model = store.resolve_model(model)
        done = build_profiles(store, model, refit=refit, now=now(clock), spark=spark)
        ref = done.reference
        rows.append({"status": "pass", "model": model.name, "reference": ref.hash,
                     "selector": ref.selector, "granularity": ref.granularity,
                     "fitted": done.fitted is not None, "fitted_because": done.fitted,
                     "fitted_at": ref.fitted_at, "reference_batches": len(ref.batches),
                     "reference_rows": ref.rows, "versions": list(ref.versions),
                     "dates": list(ref.dates), "batches": done.batches, "files": done.files,
                     "rows": done.rows, "already": done.already})
        if not (done.batches or done.fitted):
            recommendations.append(
                f"{model.name}: every batch already has profiles on reference {ref.hash}; "
                f"`evalctl profiles build --model {model.name} --refit` refits the reference")
    return Report(command="profiles build",
                  model=models[0].name if len(models) == 1 else None, status="pass",
                  inputs={"store": store.location, "models": [m.name for m in models],
                          "refit": refit,
                          **({"engine": "spark", "spark_master": spark.master} if spark
                             else {})},
                  results=rows,
                  summary={"models": len(rows), "batches": sum(r["batches"] for r in rows),
                           "files": sum(r["files"] for r in rows),
                           "rows": sum(r["rows"] for r in rows),
                           "already": sum(r["already"] for r in rows)},
                  recommendations=recommendations)
