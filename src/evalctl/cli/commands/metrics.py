"""`evalctl metrics`: the monitor's latest verdicts as OpenMetrics / Prometheus gauges."""

from __future__ import annotations

from typing import Annotated

import typer

from evalctl.cli.options import FailOn, OptionalModel, Output
from evalctl.cli.output import check_output_path, emit, emit_text, to_file
from evalctl.cli.state import AppState

TEXT_FORMATS = ("openmetrics", "prometheus")
MetricsFormat = Annotated[str | None, typer.Option(
    "--format", "-f", help="openmetrics (default) | prometheus (node-exporter textfile; the "
    "default for -o FILE.prom) | json | table | markdown.")]


def register(app: typer.Typer) -> None:
    app.command("metrics")(metrics)


def metrics(ctx: typer.Context, model: OptionalModel = None, fmt: MetricsFormat = None,
            output: Output = None, fail_on: FailOn = "never") -> None:
    """Print the newest monitored window of each model as gauges (OpenMetrics text).

    Read from the results history `evalctl monitor` keeps: per model, check and feature the
    score, threshold and status code, plus rows, label coverage, estimated or realised metric
    and the last run's time. Reports, does not gate (--fail-on never by default).

    \b
    Example:
      evalctl metrics --model tv-recommender
      evalctl metrics -o /var/lib/node_exporter/textfile_collector/evalctl.prom
    """
    state: AppState = ctx.obj
    report_file = to_file(output)
    chosen = fmt or ("prometheus" if report_file is not None
                     and report_file.suffix.lower() == ".prom" else "openmetrics")
    if chosen not in TEXT_FORMATS:
        report = state.workspace().metrics(model)
        emit(state, report, chosen if fmt else None, output, fail_on)
        return
    if report_file is not None:
        check_output_path(report_file, "--output")
    report = state.workspace().metrics(model)
    from evalctl.alerts.prometheus import exposition  # imported on use

    emit_text(state, exposition(report.results, openmetrics=chosen == "openmetrics"),
              report_file, report.status, fail_on)
