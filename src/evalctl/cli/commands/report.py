"""`evalctl report`."""

from __future__ import annotations

from typing import Annotated

import typer

from evalctl.cli.options import AsOf, Current, FailOn, Format, Model, Output, Window
from evalctl.cli.output import emit
from evalctl.cli.state import AppState

Reference = Annotated[str, typer.Option(
    "--reference", "-r", help="Reference selector for skew and drift ENV[:VERSION][@RANGE].")]
EstimateReference = Annotated[str, typer.Option(
    "--estimate-reference",
    help="Labelled selector the estimate calibrates on ENV[:VERSION][@RANGE].")]


def register(app: typer.Typer) -> None:
    app.command("report")(report)


def report(ctx: typer.Context, model: Model, current: Current,
           reference: Reference = "training",
           estimate_reference: EstimateReference = "validation", window: Window = None,
           as_of: AsOf = None, fmt: Format = None, output: Output = None,
           fail_on: FailOn = "fail") -> None:
    """One model's health on one page: skew, drift, slices, estimate, latest monitor verdict.

    Runs skew and drift (current against the reference), the slice leaderboard and the
    performance estimate on the current selection, and reads the monitor's latest results
    from the history (it does not run the monitor). A part that cannot be made on this data
    says why and the rest goes on. Best as HTML (-o health.html: a table of contents, a
    chart per feature, the JSON embedded). Exit 1 when a part fails.

    \b
    Example:
      evalctl report --model tv-recommender --current production@2026-11-15..2026-11-30 \\
          -o health.html
    """
    state: AppState = ctx.obj
    workspace = state.workspace()
    with state.busy("building the health report …"):
        result = workspace.report(model, current, reference,
                                  estimate_reference=estimate_reference, window=window,
                                  as_of=as_of.date() if as_of else None)
    emit(state, result, fmt, output, fail_on)
