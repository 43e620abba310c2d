"""`evalctl monitor` and `evalctl history`."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from evalctl.cli.options import FailOn, Format, Model, OptionalModel, Output
from evalctl.cli.output import (
    check_output_path,
    emit,
    emit_text,
    to_file,
    write_atomic,
)
from evalctl.cli.state import AppState
from evalctl.errors import InputError
from evalctl.lake.selectors import check_plausible_date

Day = Annotated[datetime | None, typer.Option(
    "--date", "-d", formats=["%Y-%m-%d"],
    help="Window to check (default: yesterday, the newest complete day).")]


def register(app: typer.Typer) -> None:
    app.command("monitor")(monitor)
    app.command("history")(history)


Notify = Annotated[bool | None, typer.Option(
    "--notify/--no-notify",
    help="Deliver each model's alerts: webhooks (default: when configured). --notify also "
    "sends in quiet hours and requires alerts: for every model; --no-notify sends nothing.")]
Prometheus = Annotated[Path | None, typer.Option(
    "--prometheus", metavar="FILE",
    help="Also write the verdicts as Prometheus gauges to FILE (node-exporter textfile "
    "format, replaced atomically).")]
HistoryFormat = Annotated[str | None, typer.Option(
    "--format", "-f", help="table | json | markdown | csv (default: table on a terminal, else "
    "json; csv: one row per check, feature and window).")]


MonitorEngine = Annotated[str, typer.Option(
    "--engine", help="Where the drift check's summaries come from: profiles, scan, spark (the "
    "scan, on the config's `engine:` Spark master), or auto (profiles when they cover it, "
    "else a scan; inputs.engine says which and why). Labels, performance and slices always "
    "read the window's rows.")]


def monitor(ctx: typer.Context, model: OptionalModel = None, day: Day = None,
            alerts: Annotated[Path | None, typer.Option(
                "--alerts", help="Write one JSON line per new alert to FILE.")] = None,
            notify: Notify = None, prometheus: Prometheus = None, engine: MonitorEngine = "auto",
            fmt: Format = None, output: Output = None, fail_on: FailOn = "fail") -> None:
    """Run every configured check for the newest window, keep the results, alert (cron).

    Volume, freshness, label coverage and latency, drift per feature, performance (realised,
    or estimated while labels are missing), slice regressions, proxies and a retraining
    recommendation — for every model in the config (or --model). Results are appended to the
    store's history (re-running a window replaces it). Exit 1 when any check fails.

    \b
    Example:
      evalctl monitor --model tv-recommender --date 2026-11-30 --alerts alerts.jsonl
      evalctl monitor --model tv-recommender --engine scan
    """
    state: AppState = ctx.obj
    workspace = state.workspace()
    if day is not None:
        check_plausible_date("--date", day.date())
    for path, option in ((alerts, "--alerts"), (prometheus, "--prometheus")):
        if path is not None:
            check_output_path(path, option)
    report_file = to_file(output)
    with state.busy("monitoring …"):
        outcome = workspace.monitor(
            model, day=day.date() if day else None, notify=notify, engine=engine,
            report_link=str(report_file.resolve()) if report_file is not None else None)
    for warning in outcome.report.summary.get("notifications", {}).get("warnings", []):
        state.warn(warning)
    if prometheus is not None:
        from evalctl.alerts.prometheus import monitor_exposition  # imported on use

        write_atomic(prometheus, monitor_exposition(outcome.report), "--prometheus")
    if alerts is not None:
        from evalctl.analyses.monitor import append_alerts  # imported on use: fast --help

        try:
            append_alerts(alerts, outcome.alerts)
        except OSError as exc:
            raise InputError(f"--alerts {alerts}: cannot write ({exc.strerror})",
                             key="--alerts", file=str(alerts)) from exc
    emit(state, outcome.report, fmt, output, fail_on)


def history(ctx: typer.Context, model: Model,
            check: Annotated[str | None, typer.Option("--check", help="Only this check.")
                             ] = None,
            feature: Annotated[str | None, typer.Option(
                "--feature", help="Only this feature (or slice, proxy, metric).")] = None,
            since: Annotated[datetime | None, typer.Option(
                "--since", formats=["%Y-%m-%d"], help="Only windows from this date.")] = None,
            fmt: HistoryFormat = None, output: Output = None, fail_on: FailOn = "never"
            ) -> None:
    """Read the monitor's results history back: one series per check and feature.

    \b
    Example:
      evalctl history --model tv-recommender --check drift --feature age --since 2026-11-01
      evalctl history --model tv-recommender --format csv -o history.csv
    """
    state: AppState = ctx.obj
    report_file = to_file(output)
    as_csv = fmt == "csv" or (fmt is None and report_file is not None
                              and report_file.suffix.lower() == ".csv")
    if report_file is not None:
        check_output_path(report_file, "--output")
    report = state.workspace().history(model, check=check, feature=feature,
                                       since=since.date() if since else None)
    if not as_csv:
        emit(state, report, fmt, output, fail_on)
        return
    from evalctl.analyses.history import history_csv  # imported on use

    emit_text(state, history_csv(report), report_file, report.status, fail_on)
