"""`evalctl estimate`."""

from __future__ import annotations

from typing import Annotated

import typer

from evalctl.cli.options import (
    AsOf,
    Current,
    FailOn,
    Format,
    MinRows,
    Model,
    Output,
    Window,
    Windows,
)
from evalctl.cli.output import emit
from evalctl.cli.state import AppState

Reference = Annotated[str, typer.Option(
    "--reference", "-r", help="Labelled reference selector ENV[:VERSION][@RANGE] (calibration).")]


def register(app: typer.Typer) -> None:
    app.command("estimate")(estimate)


def estimate(ctx: typer.Context, model: Model, current: Current,
             reference: Reference = "validation",
             window: Window = None, windows: Windows = None, min_rows: MinRows = None,
             as_of: AsOf = None, fmt: Format = None, output: Output = None,
             fail_on: FailOn = "fail") -> None:
    """How is the model probably doing while its labels are late?

    Binary classifiers: confidence-based performance estimation (CBPE) — the scores are
    calibrated on the labelled reference (isotonic regression), then each window's expected
    accuracy, precision, recall, F1 and ROC AUC come with a band, beside the realised values
    wherever labels exist. Multiclass classifiers (config `scores:`): one-vs-rest CBPE, the
    expected accuracy, macro F1 and macro ROC AUC. Regression models: direct loss estimation
    of MAE and RMSE (gradient-boosted models of the loss, learnt on the labelled reference;
    needs evalctl[multivariate]). Assumes P(label | score) has not changed since the
    reference: it cannot see concept drift, but flags labelled windows whose realised value
    contradicts the estimate. Proxy columns (config `proxies`) are tracked for every task.
    Exit 1 when a window's estimate fails checks.estimate.

    \b
    Example:
      evalctl estimate --model tv-recommender --reference validation \\
          --current production@2026-11-20..2026-11-30 --window 1d
      evalctl estimate --model tv-recommender --current production@last-30d \\
          --as-of 2026-11-30 --windows 10
    """
    state: AppState = ctx.obj
    workspace = state.workspace()
    with state.busy("estimating performance …"):
        report = workspace.estimate(model, current, reference, window=window, windows=windows,
                                    min_rows=min_rows, as_of=as_of.date() if as_of else None)
    emit(state, report, fmt, output, fail_on)
