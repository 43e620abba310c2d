"""`evalctl monitor` and `evalctl history`."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from evalctl.cli.options import FailOn, Format, Model, OptionalModel, Output
from evalctl.cli.output import check_output_path, emit
from evalctl.cli.state import AppState
from evalctl.errors import InputError
from evalctl.lake.selectors import check_plausible_date

Day = Annotated[datetime | None, typer.Option(
    "--date", "-d", formats=["%Y-%m-%d"],
    help="Window to check (default: yesterday, the newest complete day).")]


def register(app: typer.Typer) -> None:
    app.command("monitor")(monitor)
    app.command("history")(history)


def monitor(ctx: typer.Context, model: OptionalModel = None, day: Day = None,
            alerts: Annotated[Path | None, typer.Option(
                "--alerts", help="Write one JSON line per new alert to FILE.")] = None,
            fmt: Format = None, output: Output = None, fail_on: FailOn = "fail") -> None:
    """Run every configured check for the newest window, keep the results, alert (cron).

    Volume, freshness, label coverage and latency, drift per feature, performance (realised,
    or estimated while labels are missing), slice regressions, proxies and a retraining
    recommendation — for every model in the config (or --model). Results are appended to the
    store's history (re-running a window replaces it). Exit 1 when any check fails.

    \b
    Example:
      evalctl monitor --model tv-recommender --date 2026-11-30 --alerts alerts.jsonl
    """
    state: AppState = ctx.obj
    workspace = state.workspace()
    if day is not None:
        check_plausible_date("--date", day.date())
    if alerts is not None:
        check_output_path(alerts, "--alerts")
    with state.busy("monitoring …"):
        outcome = workspace.monitor(model, day=day.date() if day else None)
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
            fmt: Format = None, output: Output = None, fail_on: FailOn = "never") -> None:
    """Read the monitor's results history back: one series per check and feature.

    \b
    Example:
      evalctl history --model tv-recommender --check drift --feature age --since 2026-11-01
    """
    state: AppState = ctx.obj
    report = state.workspace().history(model, check=check, feature=feature,
                                       since=since.date() if since else None)
    emit(state, report, fmt, output, fail_on)
