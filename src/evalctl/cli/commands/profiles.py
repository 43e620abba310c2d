"""`evalctl profiles build`."""

from __future__ import annotations

from typing import Annotated

import typer

from evalctl.cli.options import Format, OptionalModel, Output
from evalctl.cli.output import emit
from evalctl.cli.state import AppState


def register(app: typer.Typer) -> None:
    profiles_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None,
                               help="Profiles: summaries computed once per stored file, on "
                                    "the model's frozen monitoring reference.")
    profiles_app.command("build")(build)
    app.add_typer(profiles_app, name="profiles")


def build(ctx: typer.Context, model: OptionalModel = None,
          refit: Annotated[bool, typer.Option(
              "--refit", help="Refit the monitoring reference on what the config's "
              "`reference:` matches now, then profile every batch on it.")] = False,
          engine: Annotated[str, typer.Option(
              "--engine", help="Where the profiles are computed: local, spark (the config's "
              "`engine:` names the master), or auto (spark when the config's engine.kind is "
              "spark).")] = "auto",
          fmt: Format = None, output: Output = None) -> None:
    """Fit the monitoring reference if needed and profile every stored batch without profiles.

    The reference is fitted once, on the config's `reference:` selector, and frozen: later
    ingests never refit it; --refit or a change of `reference:` does. Resumable and
    idempotent: a second run profiles only what the first did not finish.

    \b
    Example:
      evalctl profiles build --model churn
      evalctl profiles build --model churn --refit
      evalctl profiles build --model churn --engine spark
    """
    state: AppState = ctx.obj
    with state.busy("building profiles …"):
        report = state.workspace().profiles_build(model, refit=refit, engine=engine)
    emit(state, report, fmt, output, "never")
