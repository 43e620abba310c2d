"""`evalctl monitor`: every configured check of every model for one window, kept as history."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evalctl import progress
from evalctl.analyses import monitor_checks as checks
from evalctl.analyses import monitor_perf as quality
from evalctl.analyses.skew import output_columns
from evalctl.checks.aggregate import feature_verdict, output_drift
from evalctl.checks.multivariate import require_sklearn
from evalctl.clock import rfc3339
from evalctl.config import ModelConfig
from evalctl.lake.results import publish_window
from evalctl.lake.selectors import Selector
from evalctl.lake.store import Store
from evalctl.profiles.source import check_engine
from evalctl.reports import Report
from evalctl.reports.model import sort_worst_first, worst_status
from evalctl.settings.sections import MonitorSettings

if TYPE_CHECKING:  # only a type here: the Spark engine loads when one is given
    from evalctl.engines.spark import SparkEngine

RUN_SCHEMA = "https://evalctl.dev/schemas/monitor-run.v1.json"  # each stored run file's
CHECKS = ("volume", "freshness", "labels", "drift", "multivariate", "performance", "slices",
          "proxies", "retraining")


@dataclass(frozen=True)
class MonitorRun:
    """When the run happens and which window it judges."""

    now: datetime
    day: date | None = None  # --date; default: yesterday (the newest complete day)
    run_id: str | None = None
    spark: SparkEngine | None = None  # where drift scans run (config engine.kind: spark)
    engine: str = "auto"  # where drift's summaries come from (`drift --engine`)


@dataclass(frozen=True)
class MonitorOutcome:
    """The run's report and the alerts that are new for their window."""

    report: Report
    alerts: list[dict[str, Any]]


def monitor_report(store: Store, models: list[ModelConfig], run: MonitorRun) -> MonitorOutcome:
    """Run every check for each model on its window, store the history, collect new alerts."""
    results: list[dict[str, Any]] = []
    alerts: list[dict[str, Any]] = []
    recommendations: list[str] = []
    windows: dict[str, str] = {}
    engines: dict[str, dict[str, str]] = {}
    check_engine(run.engine)  # before any check: drift, which reads it, may not run
    for model in models:  # before anything is read or written: a missing extra is exit 2
        if model.settings.monitor.multivariate:
            require_sklearn(f"models.{model.name}.checks.monitor.multivariate",
                            key=f"models.{model.name}.checks.monitor.multivariate")
    leads: list[tuple[list[dict[str, Any]], dict[str, Any]]] = []
    checked = []
    for n, model in enumerate(models):
        progress.phase(f"monitoring {model.name}", total=len(models), unit="models")
        progress.advance(n)
        settings = model.settings.monitor
        day = run.day or (run.now.astimezone(UTC).date() - timedelta(days=1))
        rows, how = monitor_model(store, model, day, settings, run.now, run.spark, run.engine)
        checked.append((model, day, rows, how))
    # every model checked before any history is stored: a run that fails (an --engine that
    # cannot serve a model) stores nothing
    for model, day, rows, how in checked:
        if how:
            engines[model.name] = how
        alerts += store_history(store, model, day, rows, run)
        results += rows
        leads += drift_lead(model, rows)
        windows[model.name] = day.isoformat()
        recommendations += [r["summary"] for r in rows if r["check"] == "retraining"]
        recommendations += [quality_decided(model, r) for r in rows if r.get("decided_by")]
    results = sort_worst_first(results, key="severity")
    for row in results:
        row.pop("severity", None)
    report = Report(
        command="monitor", model=models[0].name if len(models) == 1 else None,
        status=worst_status([r["status"] for r in results]),
        inputs={"models": [m.name for m in models], "windows": windows,
                "run_at": run.now.replace(microsecond=0), **engine_inputs(engines)},
        results=results,
        summary={"new_alerts": len(alerts),
                 "output_drift": [o for outputs, _ in leads for o in outputs],
                 "features": [verdict for _, verdict in leads]},
        recommendations=recommendations, generated_at=run.now)
    return MonitorOutcome(report, alerts)


def engine_inputs(engines: dict[str, dict[str, str]]) -> dict[str, str]:
    """`inputs.engine` and `inputs.engine_reason` of a run, from each model's drift check (the
    one check that reads feature distributions; volume and freshness read the ledger, labels,
    performance and slices the window's rows): ``profiles`` when every model's drift merged
    profiles, else the first other engine. None of them when no drift was computed."""
    if not engines:
        return {}
    used = [how["engine"] for how in engines.values()]
    engine = next((e for e in used if e != "profiles"), "profiles")
    named = len(engines) > 1
    reason = "; ".join(f"{f'{name} ' if named else ''}drift: {how['engine_reason']}"
                       for name, how in engines.items())
    return {"engine": engine,
            "engine_reason": f"{reason}; labels, performance and slices read the window's rows"}


def drift_lead(model: ModelConfig, rows: list[dict[str, Any]]
               ) -> list[tuple[list[dict[str, Any]], dict[str, Any]]]:
    """The model's output drift and its verdict across features, from its drift rows (none
    when drift could not be computed): `summary.output_drift` and `summary.features`."""
    drift = [{**r, "score": r["value"]} for r in rows if r["check"] == "drift" and r.get("role")]
    if not drift:
        return []
    outputs = [{"model": model.name, **o}
               for o in output_drift(drift, [c for c in output_columns(model)])]
    features = [r["feature"] for r in drift if r["role"] == "feature"]
    return [(outputs, {"model": model.name, **feature_verdict(drift, features, outputs)})]


def quality_decided(model: ModelConfig, row: dict[str, Any]) -> str:
    """Why a drift row alerts although its measure is within its threshold."""
    return (f"{model.name} {row['feature']}: the drift {row['status']} comes from the "
            f"data-quality check {row['decided_by_text']}, not from {row['method']} "
            f"{_short(row['value'])}: check the column's producer (missing or out-of-range "
            "values), not the population — no reason to retrain")


def _short(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, int | float) else "n/a"


def monitor_model(store: Store, model: ModelConfig, day: date, settings: MonitorSettings,
                  now: datetime, spark: SparkEngine | None = None, engine: str = "auto"
                  ) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """All checks of one model for one day, each a result row tagged with its check, and
    where the drift check's summaries came from (`monitor_checks.drift`; empty when there
    was none)."""
    volume = checks.volume(store, model, day, settings)
    rows = [volume, checks.freshness(store, model, day, settings, now)]
    if volume["value"] == 0:
        rows.append(quality.nothing_to_judge(day))
        return _tag(rows, model, day), {}
    window = Selector(text=f"production@{day}", env="production", start=day, end=day)
    lf = store.scan(model, window)
    labels = checks.labels(lf, model, settings)
    rows.append(labels)
    drift_rows, how = checks.drift(store, model, day, settings, spark, engine)
    rows += drift_rows
    if settings.multivariate:
        rows.append(checks.multivariate(store, model, day, settings))
    rows.append(quality.performance(store, model, window, lf, labels, settings))
    rows += quality.slice_regressions(store, model, window, labels, settings)
    rows += quality.proxies(store, model, lf, settings)
    new_labels = quality.new_labels_since_training(store, model, day)
    rows.append(quality.retraining_decision(rows, settings, new_labels))
    return _tag(rows, model, day), how


def _tag(rows: list[dict[str, Any]], model: ModelConfig, day: date) -> list[dict[str, Any]]:
    for row in rows:
        row.setdefault("feature", None)
        row["model"], row["window"] = model.name, day.isoformat()
        row["severity"] = {"fail": 3, "warn": 2, "error": 1}.get(row["status"], 0)
    return rows


def store_history(store: Store, model: ModelConfig, day: date, rows: list[dict[str, Any]],
                  run: MonitorRun) -> list[dict[str, Any]]:
    """One history entry per (model, check, window): re-running replaces it. Returns the
    alerts that are new against the entries replaced; of concurrent runs of one window, each
    alert is returned by one run only (see `lake.results.publish_window`)."""
    stamp = rfc3339(run.now, timespec="seconds")
    alerts: list[dict[str, Any]] = []
    for check in CHECKS:
        mine = [{k: v for k, v in r.items() if k != "severity"} for r in rows
                if r["check"] == check]
        if not mine:
            continue
        payload = {"$schema": RUN_SCHEMA, "window": day.isoformat(), "run_at": stamp,
                   "results": mine,
                   **({"run_id": run.run_id} if run.run_id else {})}
        alerts += publish_window(store.storage, model.name, check, day, payload,
                                 partial(new_alerts, model, day, mine))
    return alerts


def new_alerts(model: ModelConfig, day: date, rows: list[dict[str, Any]],
               before: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Warn/fail results that the stored results they replace (``before``) did not hold."""
    seen = {(r["check"], r.get("feature"), r["status"])
            for r in (before or {"results": []})["results"]}
    return [{"model": model.name, "check": row["check"], "feature": row.get("feature"),
             "window": day.isoformat(), "status": row["status"], "value": row.get("value"),
             "threshold": row.get("threshold"), "summary": row.get("summary")}
            for row in rows if row["status"] in ("warn", "fail")
            and (row["check"], row.get("feature"), row["status"]) not in seen]


def append_alerts(path: Path, alerts: list[dict[str, Any]]) -> None:
    """Append one JSON line per alert to ``path`` (created when absent, even with no alert) in
    one write of an append-mode file, so concurrent runs writing one file never overwrite or
    interleave each other's alerts; flushed to disk before returning."""
    payload = "".join(json.dumps(a, default=str) + "\n" for a in alerts).encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        view = memoryview(payload)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)


__all__ = ["MonitorOutcome", "MonitorRun", "append_alerts", "monitor_report"]
