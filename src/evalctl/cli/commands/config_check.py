"""`evalctl config check`."""

from __future__ import annotations

from typing import Annotated

import typer

from evalctl import api
from evalctl.cli.options import Format, Output
from evalctl.cli.output import emit
from evalctl.cli.state import AppState

config_app = typer.Typer(help="Work with the config file.", no_args_is_help=True,
                         context_settings={"help_option_names": ["-h", "--help"]})


def register(app: typer.Typer) -> None:
    app.add_typer(config_app, name="config")


@config_app.command("check")
def check(ctx: typer.Context,
          config: Annotated[str | None, typer.Option(
              "--config", "-c", help="Config file to check (default: the global --config, "
              "$EVALCTL_CONFIG, ./evalctl.yaml, ./configs/evalctl.yaml).")] = None,
          fmt: Format = None, output: Output = None) -> None:
    """Validate a config with the same rules and messages as every command's load.

    Exit 0 and one row per model when it is valid; exit 2 and one line naming the key
    when it is not.

    \b
    Example:
      evalctl config check --config configs/evalctl.yaml
    """
    state: AppState = ctx.obj
    emit(state, api.check_config(config or state.config_path), fmt, output)
