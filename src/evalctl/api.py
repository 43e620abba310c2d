"""Library entry points: each returns a Report. The CLI and notebooks call exactly these."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from evalctl.check_settings import drift_settings
from evalctl.config import Config, ModelConfig
from evalctl.errors import InputError
from evalctl.lake.doctor import examine_store
from evalctl.lake.ingest import IngestResult, ingest_actuals, ingest_predictions
from evalctl.lake.ledger import BatchRecord
from evalctl.lake.selectors import Selector
from evalctl.lake.store import Store
from evalctl.reports import Report

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


def open_store(config: Config, store_override: str | Path | None) -> Store:
    """--store / EVALCTL_STORE first, then the config's `store`."""
    root = store_override or config.store
    if root is None:
        raise InputError("no store given: pass --store, set EVALCTL_STORE, or set `store:` "
                         "in the config")
    return Store.open(root)


def init_store(directory: Path, write_config: bool = True) -> Report:
    """Create a store in ``directory`` and, unless one exists, a starter ``evalctl.yaml``."""
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


def ingest(store: Store, model: ModelConfig, paths: Sequence[Path], *, version: str, env: str,
           input_format: str | None = None) -> Report:
    """Ingest prediction exports as one batch (a no-op when already ingested)."""
    result = ingest_predictions(store, model, paths, version=version, env=env,
                                input_format=input_format)
    return _ingest_report("ingest", model.name, paths, result,
                          {"version": version, "env": env})


def ingest_ground_truth(store: Store, model: ModelConfig, paths: Sequence[Path], *,
                        input_format: str | None = None) -> Report:
    """Ingest delayed actuals as one batch."""
    result = ingest_actuals(store, model, paths, input_format=input_format)
    return _ingest_report("ingest-actuals", model.name, paths, result, {})


def _ingest_report(command: str, model: str, paths: Sequence[Path], result: IngestResult,
                   target: dict[str, str]) -> Report:
    status = "warn" if result.repeated_ids or result.ids_in_store else "pass"
    row = {"batch": result.batch, "rows": result.rows, "files": result.files,
           "dates": list(result.dates), "already_ingested": result.already_ingested,
           "dropped_columns": list(result.dropped_columns),
           **({"repeated_ids": result.repeated_ids, "ids_in_store": result.ids_in_store}
              if command == "ingest" else {}),
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
        raise InputError(f"--model: no data for model {model!r} in {store.root} "
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
                  inputs={"store": str(store.root)}, results=results,
                  summary={"models": len({r["model"] for r in results}),
                           "rows": sum(r["rows"] for r in results),
                           "batches": sum(r["batches"] for r in results)})


def batches(store: Store, model: str | None = None) -> Report:
    """The ledger records, oldest first."""
    results = [{"batch": r.batch, "kind": r.kind, "model": r.model, "version": r.version,
                "env": r.env, "rows": r.rows, "files": len(r.files),
                "created_at": r.created_at, "sources": [s["path"] for s in r.sources],
                "status": "pass"}
               for r in store.records if model is None or r.model == model]
    if model is not None and not results:
        raise InputError(f"--model: no batches of model {model!r} in {store.root} "
                         f"(models in the store: {', '.join(store.models()) or 'none'})")
    return Report(command="batches", model=model, status="pass",
                  inputs={"store": str(store.root)}, results=results,
                  summary={"batches": len(results)})


def doctor(store: Store, repair: bool = False) -> Report:
    """Verify every committed file; list (and with ``repair`` remove) orphans."""
    found = examine_store(store.root, repair=repair)
    results: list[dict[str, Any]] = [
        {"path": d["path"], "batch": d["batch"], "problem": d["problem"], "status": "fail"}
        for d in found.damaged]
    results += [{"path": p, "batch": None,
                 "problem": "orphan (removed)" if p in found.removed else
                 "orphan (younger than the grace period: kept)" if p in found.kept else
                 "orphan (uncommitted)",
                 "status": "pass" if p in found.removed else "warn"} for p in found.orphans]
    status = "fail" if found.damaged else ("warn" if set(found.orphans) - set(found.removed)
                                            else "pass")
    recommendations = []
    if found.damaged:
        recommendations.append("committed files are damaged: restore them from a backup; "
                               "evalctl never rewrites committed files")
    if status == "warn":
        recommendations.append("orphans are leftovers of interrupted writes and are never "
                               "read; `evalctl doctor --repair` removes those older than the "
                               "grace period (EVALCTL_GRACE, default 7d)")
    return Report(command="doctor", model=None, status=status,
                  inputs={"store": str(store.root), "repair": repair}, results=results,
                  summary={"batches": found.checked_batches, "files": found.checked_files,
                           "damaged": len(found.damaged), "orphans": len(found.orphans),
                           "removed": len(found.removed)},
                  recommendations=recommendations)


def skew(store: Store, model: ModelConfig, reference: Selector, current: Selector, *,
         join_key: str | None = None) -> Report:
    """Training/serving skew between two selections (the CI gate)."""
    from evalctl.analyses.skew import skew_report

    settings = drift_settings(model.checks, "skew", model.checked_columns)
    return skew_report(store, model, reference, current, settings=settings, join_key=join_key)


def drift(store: Store, model: ModelConfig, reference: Selector, current: Selector, *,
          window: str | None = None, windows: int | None = None,
          min_rows: int | None = None) -> Report:
    """Drift of every column window by window, with onset."""
    from dataclasses import replace

    from evalctl.analyses.drift import drift_report

    settings = drift_settings(model.checks, "drift", model.checked_columns)
    if min_rows is not None:
        settings = replace(settings, min_rows=min_rows)
    return drift_report(store, model, reference, current, settings=settings, window=window,
                        windows=windows)


def slices(store: Store, model: ModelConfig, selector: Selector, *,
           compare_to: Selector | None = None, **options: Any) -> Report:
    """The slice leaderboard (declared slices, optionally SliceLine discovery)."""
    from evalctl.analyses.slices import SliceOptions, slices_report
    from evalctl.check_settings import parse_slices_settings

    defaults = parse_slices_settings("checks.slices", model.checks.get("slices") or {})
    chosen = {**defaults, **{k: v for k, v in options.items() if v is not None}}
    return slices_report(store, model, selector, options=SliceOptions(**chosen),
                         compare_to=compare_to)


def validate(store: Store, model: ModelConfig, selector: Selector, *, candidate: str,
             baseline: str, top: int = 0) -> Report:
    """The promotion gate: candidate vs baseline on the same rows, overall and per slice
    (every failing row; `top` > 0 keeps only that many of the passing ones)."""
    from evalctl.analyses.validate import validate_report
    from evalctl.check_settings import validate_settings

    return validate_report(store, model, selector, candidate=candidate, baseline=baseline,
                           settings=validate_settings(model.checks), top=top)


def monitor(store: Store, models: list[ModelConfig], *, day: Any = None, now: Any = None,
            run_id: str | None = None) -> Any:
    """Every configured check for each model's newest complete window (or `day`); returns a
    MonitorOutcome (report + new alerts) and appends the results history."""
    from datetime import UTC, datetime

    from evalctl.analyses.monitor import MonitorRun, monitor_report

    run = MonitorRun(now=now or datetime.now(UTC), day=day, run_id=run_id)
    return monitor_report(store, models, run)


def history(store: Store, model: str, *, check: str | None = None,
            feature: str | None = None, since: Any = None) -> Report:
    """The monitor's results history as series per (check, feature)."""
    from evalctl.analyses.history import history_report

    return history_report(store, model, check=check, feature=feature, since=since)


def estimate(store: Store, model: ModelConfig, reference: Selector, current: Selector, *,
             window: str | None = None, windows: int | None = None,
             min_rows: int | None = None) -> Report:
    """Estimated performance per window while labels are late (CBPE), beside the realised
    metrics where labels exist, and the proxy metrics."""
    from dataclasses import replace

    from evalctl.analyses.estimate import estimate_report, parse_estimate_settings

    settings = parse_estimate_settings("checks.estimate", model.checks.get("estimate"),
                                       model.proxies)
    if min_rows is not None:
        settings = replace(settings, min_rows=min_rows)
    return estimate_report(store, model, reference, current, settings=settings, window=window,
                           windows=windows)


def rca(store: Store, model: ModelConfig, baseline: Selector, current: Selector, *,
        reference: Selector | None = None, metric: str | None = None,
        top: int | None = None) -> Report:
    """Why did the metric change between two windows? Mix / performance decomposition per
    feature, drift and skew against the reference (default `training`, skipped when the store
    has none), a failure mode and recommendations."""
    from dataclasses import replace

    from evalctl.analyses.rca import rca_report
    from evalctl.analyses.rca_settings import parse_rca_settings
    from evalctl.lake.selectors import parse_selector

    settings = parse_rca_settings("checks.rca", model.checks.get("rca"))
    if metric is not None:
        settings = replace(settings, metric=metric)
    if top is not None:
        settings = replace(settings, top=top)
    return rca_report(store, model, baseline, current, settings=settings,
                      drift=drift_settings(model.checks, "skew", model.checked_columns),
                      reference=reference or parse_selector("training"),
                      reference_required=reference is not None)


def export(store: Store, model: ModelConfig, selector: Selector, out: Path, *,
           where: str | None = None, segment: str | None = None, only_errors: bool = False,
           sample: int | None = None, seed: int = 0) -> Report:
    """Write a selection's examples (filtered, optionally sampled) to Parquet or CSV."""
    from evalctl.analyses.export import ExportOptions, export_report

    _check_seed(seed)
    options = ExportOptions(out=out, where=where, segment=segment, only_errors=only_errors,
                            sample=sample, seed=seed)
    return export_report(store, model, selector, options)


def compare(store: Store, model: ModelConfig, selector: Selector, *, champion: str,
            challengers: Sequence[str], metric: str | None = None, gate: bool = False,
            discover: bool = False, n_boot: int | None = None, seed: int = 0) -> Report:
    """Champion vs shadow challengers on the same traffic: per slice, paired tests, verdict."""
    from dataclasses import replace

    from evalctl.analyses.compare import compare_report
    from evalctl.analyses.compare_settings import parse_compare_settings

    settings = parse_compare_settings("checks.compare", model.checks.get("compare") or {})
    if metric is not None:
        settings = replace(settings, metric=metric)
    if n_boot is not None:
        if n_boot < 10:
            raise InputError(f"--n-boot: at least 10, got {n_boot}")
        settings = replace(settings, n_boot=n_boot)
    _check_seed(seed)
    return compare_report(store, model, selector, champion=champion,
                          challengers=list(challengers), settings=settings, gate=gate,
                          discover=discover, seed=seed)


def _check_seed(seed: int) -> None:
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise InputError(f"--seed: expected a whole number >= 0, got {seed!r}")
