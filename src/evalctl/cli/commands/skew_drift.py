"""`evalctl skew` and `evalctl drift`."""

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
    "--reference", "-r", help="Reference selector ENV[:VERSION][@RANGE].")]
Engine = Annotated[str, typer.Option(
    "--engine", help="Where summaries come from: profiles, scan, spark (the scan, on the "
    "config's `engine:` Spark master), or auto (profiles when they cover the question, else "
    "a scan, on Spark when the config's engine.kind is spark; inputs.engine says which and "
    "why).")]


def register(app: typer.Typer) -> None:
    app.command("skew")(skew)
    app.command("drift")(drift)


def skew(ctx: typer.Context, model: Model, current: Current, reference: Reference = "training",
         join_key: Annotated[str | None, typer.Option(
             "--join-key", help="Also compare the same ids row by row (transformation skew).")
         ] = None,
         as_of: AsOf = None, engine: Engine = "auto", fmt: Format = None,
         output: Output = None, fail_on: FailOn = "fail") -> None:
    """Is the current selection different from the reference (training/serving skew)?

    Compares every feature and the model's outputs (PSI / Jensen-Shannon by default), data
    quality (null rate, out-of-range values, schema) and, with --join-key, the same ids row
    by row. Exit 1 when a column fails: the CI gate.

    \b
    Example:
      evalctl skew --model tv-recommender --reference training --current production@last-7d
      evalctl skew --model tv-recommender --reference training:v2 \\
          --current production:v1@2026-11-01..2026-11-07 --join-key request_id
    """
    state: AppState = ctx.obj
    workspace = state.workspace()
    with state.busy("computing skew …"):
        report = workspace.skew(model, current, reference, join_key=join_key,
                                as_of=as_of.date() if as_of else None, engine=engine)
    emit(state, report, fmt, output, fail_on)


def drift(ctx: typer.Context, model: Model, current: Current, reference: Reference = "training",
          window: Window = None, windows: Windows = None, min_rows: MinRows = None,
          multivariate: Annotated[bool, typer.Option(
              "--multivariate", help="Also a classifier two-sample test per window (shifts "
              "in the joint distribution; needs the evalctl[multivariate] extra).")] = False,
          as_of: AsOf = None, engine: Engine = "auto", fmt: Format = None,
          output: Output = None, fail_on: FailOn = "fail") -> None:
    """What drifted over time, and since when?

    Every feature and output, window by window against the reference, with the onset (the
    first window of the sustained crossing). Exit 1 when a column fails in its latest window.
    --multivariate adds, per window, a classifier trained to tell sampled reference rows from
    window rows: its AUROC (0.5 = no drift), interval, p-value and the features it relied on.

    \b
    Example:
      evalctl drift --model tv-recommender --reference training \\
          --current production@2026-11-01..2026-11-30 --window 1d
      evalctl drift --model tv-recommender --current production@last-7d --multivariate
    """
    state: AppState = ctx.obj
    workspace = state.workspace()
    with state.busy("computing drift …"):
        report = workspace.drift(model, current, reference, window=window, windows=windows,
                                 min_rows=min_rows, as_of=as_of.date() if as_of else None,
                                 multivariate=multivariate, engine=engine)
    emit(state, report, fmt, output, fail_on)
