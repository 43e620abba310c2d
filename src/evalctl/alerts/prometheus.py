"""The monitor's verdicts as gauges, for Prometheus: the text format node-exporter's textfile
collector reads (`monitor --prometheus FILE`) and OpenMetrics (`evalctl metrics`).

Metric and label names are stable (README: "Alerts and integrations"). One sample per
(model, check, feature); a result without a feature gets ``feature=""``. Values that are not
finite numbers are left out rather than written as NaN.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from evalctl.errors import InputError
from evalctl.lake.results import history_models, latest_window
from evalctl.lake.storage import Storage
from evalctl.reports import Report
from evalctl.reports.model import sort_worst_first, worst_status

# evalctl_check_status: how bad, as a number an alert rule can compare
STATUS_CODES = {"pass": 0, "warn": 1, "fail": 2, "error": 3, "insufficient": -1}
FAMILIES = {
    "evalctl_check_score": "The check's measured value (drift score, metric, share, hours ...)",
    "evalctl_check_threshold": "The value at which the check fails",
    "evalctl_check_status": "Check status: 0 pass, 1 warn, 2 fail, 3 error, -1 insufficient",
    "evalctl_model_status": "Worst status of the model's window: 0 pass, 1 warn, 2 fail, 3 error",
    "evalctl_rows": "Production rows in the monitored window",
    "evalctl_label_coverage": "Share of the window's predictions with ground truth",
    "evalctl_estimated_metric": "Performance estimated without labels (CBPE) for the window",
    "evalctl_realised_metric": "Performance measured on the window's labels",
    "evalctl_window_timestamp_seconds": "Start of the monitored window (Unix seconds, UTC)",
    "evalctl_last_run_timestamp_seconds": "When monitor last judged the model (Unix seconds)",
}


@dataclass(frozen=True)
class ModelRun:
    """One model's judged window: its results (each with `check`, `feature`, `status`,
    `value`, `threshold`) and when it ran."""

    model: str
    window: date
    run_at: datetime
    rows: list[dict[str, Any]]


LABELS = {name: ("model", "check", "feature") if name.startswith("evalctl_check_") else
          ("model", "metric") if name.endswith("_metric") else ("model",) for name in FAMILIES}


def samples(runs: list[ModelRun]) -> list[dict[str, Any]]:
    """Every gauge sample of ``runs``: `gauge` (the metric name), its labels (`model`, and
    `check`/`feature` or `metric`), `value`, and the `status` of the result it measures. One
    sample per gauge and label set (the first, i.e. worst, result wins)."""
    found: dict[tuple[Any, ...], dict[str, Any]] = {}

    def add(gauge: str, value: Any, status: str, **labels: str) -> None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return
        if not math.isfinite(value):
            return
        key = (gauge, *labels.values())
        found.setdefault(key, {"gauge": gauge, **labels, "value": value, "status": status})

    for run in sorted(runs, key=lambda r: r.model):
        m = run.model
        worst = worst_status([r["status"] for r in run.rows])
        add("evalctl_model_status", STATUS_CODES.get(worst, 0), worst, model=m)
        midnight = datetime(run.window.year, run.window.month, run.window.day, tzinfo=UTC)
        add("evalctl_window_timestamp_seconds", int(midnight.timestamp()), worst, model=m)
        add("evalctl_last_run_timestamp_seconds", int(run.run_at.timestamp()), worst, model=m)
        for row in run.rows:
            status, check = row["status"], row["check"]
            labels = {"model": m, "check": check, "feature": row.get("feature") or ""}
            add("evalctl_check_score", row.get("value"), status, **labels)
            add("evalctl_check_threshold", row.get("threshold"), status, **labels)
            add("evalctl_check_status", STATUS_CODES.get(status, 0), status, **labels)
            if check == "volume":
                add("evalctl_rows", row.get("value"), status, model=m)
            elif check == "labels":
                add("evalctl_label_coverage", row.get("value"), status, model=m)
            elif check == "performance" and row.get("source") in ("estimated", "realised"):
                add(f"evalctl_{row['source']}_metric", row.get("value"), status, model=m,
                    metric=row.get("feature") or "")
    order = list(FAMILIES)
    return sorted(found.values(), key=lambda s: (order.index(s["gauge"]),
                                                 [str(s[k]) for k in LABELS[s["gauge"]]]))


def exposition(rows: list[dict[str, Any]], openmetrics: bool) -> str:
    """Samples as text: the Prometheus text format (0.0.4, what node-exporter's textfile
    collector reads from `*.prom` files), or OpenMetrics 1.0 (`# EOF` last)."""
    out = []
    for gauge in FAMILIES:
        mine = sorted((r for r in rows if r["gauge"] == gauge),
                      key=lambda r: [str(r[k]) for k in LABELS[gauge]])
        if not mine:
            continue
        help_text = FAMILIES[gauge].replace("\\", "\\\\").replace("\n", "\\n")
        out += [f"# HELP {gauge} {help_text}", f"# TYPE {gauge} gauge"]
        for row in mine:
            inner = ",".join(f'{k}="{_escape(str(row[k]))}"' for k in LABELS[gauge])
            out.append(f"{gauge}{{{inner}}} {_number(row['value'])}")
    text = "".join(line + "\n" for line in out)
    return text + "# EOF\n" if openmetrics else text


def runs_from_results(results: list[dict[str, Any]], windows: dict[str, str],
                      run_at: datetime) -> list[ModelRun]:
    """The runs of a monitor report: its results (each tagged with `model`) per model."""
    return [ModelRun(model, date.fromisoformat(str(day)), run_at,
                     [r for r in results if r.get("model") == model])
            for model, day in windows.items()]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if isinstance(value, int):
        return str(value)
    return str(int(value)) if value.is_integer() and abs(value) < 2 ** 53 else repr(value)


def metrics_report(root: Path | Storage, model: str | None = None) -> Report:
    """`evalctl metrics`: the gauges of each model's newest window in the results history
    (every model the history holds, or ``model``), as a report whose results are the
    samples (rendered as OpenMetrics by default)."""

    names = [model] if model else history_models(root)
    runs = []
    for name in names:
        latest = latest_window(root, name)
        if latest is None:
            continue
        day, stored = latest
        rows = [{**r, "check": check} for check, entry in sorted(stored.items())
                for r in entry["results"]]
        run_at = max(datetime.fromisoformat(str(e["run_at"]).replace("Z", "+00:00"))
                     for e in stored.values())
        runs.append(ModelRun(name, day, run_at, sort_worst_first(rows, key="value")))
    if not runs:
        which = f"model {model!r}" if model else "any model"
        raise InputError(f"no monitor history for {which} in {root} (run `evalctl monitor` "
                         "first)")
    found = samples(runs)
    models = [r.model for r in runs]
    status_of = {r["model"]: r["status"] for r in found if r["gauge"] == "evalctl_model_status"}
    return Report(command="metrics", model=model,
                  status=worst_status([status_of[m] for m in models]),
                  inputs={"models": models, "windows": {r.model: r.window for r in runs},
                          "run_at": {r.model: r.run_at for r in runs}},
                  results=found, summary={"models": len(runs), "samples": len(found)})


def monitor_exposition(report: Report) -> str:
    """A monitor report's gauges in the Prometheus text format (`monitor --prometheus`)."""
    run_at = report.inputs["run_at"]
    runs = runs_from_results(report.results, report.inputs["windows"], run_at)
    return exposition(samples(runs), openmetrics=False)
