"""The Typer app and the one error boundary where exceptions become exit codes."""

from __future__ import annotations

import contextlib
import sys
import traceback
from pathlib import Path
from typing import Annotated, TextIO

import typer

from evalctl.cli import (
    compare_cmds,
    drift_cmds,
    estimate_cmds,
    monitor_cmds,
    perf_cmds,
    rca_cmds,
    store_cmds,
)
from evalctl.cli.state import AppState
from evalctl.errors import EvalctlError, ExitCode
from evalctl.version import __version__

HELP = """evalctl — an evaluation store for machine-learning models.

Keeps training, validation, shadow and production predictions in a partitioned Parquet lake
and answers: is production skewed from training, what drifted, where does the model fail.

\b
Example:
  evalctl init ./evalstore
  evalctl ingest train.parquet --model churn --version v1 --env training
  evalctl catalog
"""

app = typer.Typer(help=HELP, no_args_is_help=True, add_completion=False,
                  pretty_exceptions_enable=False, rich_markup_mode=None)


def _version(value: bool) -> None:
    if value:
        print(f"evalctl {__version__}")
        raise typer.Exit()


@app.callback()
def _global(ctx: typer.Context,
            config: Annotated[str | None, typer.Option(
                "--config", "-c", envvar="EVALCTL_CONFIG",
                help="Config file (default: ./evalctl.yaml, then ./configs/evalctl.yaml).")
            ] = None,
            store: Annotated[str | None, typer.Option(
                "--store", "-s", envvar="EVALCTL_STORE", help="Store folder (overrides the "
                "config's `store`).")] = None,
            debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks.")] = False,
            version: Annotated[bool, typer.Option("--version", callback=_version,
                                                  is_eager=True, help="Print the version.")
                               ] = False) -> None:
    state: AppState = ctx.obj
    state.config_path, state.store_path, state.debug = config, store, debug


store_cmds.register(app)
drift_cmds.register(app)
perf_cmds.register(app)
compare_cmds.register(app)
rca_cmds.register(app)
monitor_cmds.register(app)
estimate_cmds.register(app)


def run(args: list[str], stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    """Run the CLI exactly as the `evalctl` entry point does; return the exit code."""
    state = AppState(stdout=stdout or sys.stdout, stderr=stderr or sys.stderr)
    state.debug = "--debug" in args
    command = typer.main.get_command(app)
    try:
        with contextlib.redirect_stdout(state.stdout):  # help text goes where stdout goes
            command.main(args=args, prog_name="evalctl", standalone_mode=False, obj=state)
    except EvalctlError as exc:
        return _fail(state, str(exc), exc.exit_code)
    except typer.Exit as exc:
        return int(exc.exit_code)
    except typer.Abort:
        return _fail(state, "aborted", ExitCode.BAD_INPUT)
    except typer.TyperException as exc:  # usage errors: bad or missing options
        return _usage_error(state, exc)
    except Exception as exc:  # the one place a bug becomes exit 4
        damage = state.damage_behind(exc)  # unless a damaged committed file caused it
        if damage is not None:
            return _fail(state, str(damage), damage.exit_code)
        name = f"{type(exc).__name__}: {exc}".splitlines()[0]
        return _fail(state, f"internal error: {name} (rerun with --debug; please report it)",
                     ExitCode.INTERNAL)
    return state.exit_code


def _usage_error(state: AppState, exc: typer.TyperException) -> int:
    ctx = getattr(exc, "ctx", None)
    if type(exc).__name__ == "NoArgsIsHelpError" and ctx is not None:
        state.stdout.write(ctx.get_help() + "\n")
        return int(ExitCode.OK)
    hint = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
    return _fail(state, exc.format_message() + hint, ExitCode.BAD_INPUT)


def _fail(state: AppState, message: str, code: ExitCode) -> int:
    if state.debug and sys.exc_info()[0] is not None:
        traceback.print_exc(file=state.stderr)
    state.stderr.write(f"evalctl: error: {message}\n")
    return int(code)


def main() -> None:
    """Console-script entry point."""
    sys.exit(run(sys.argv[1:]))


if __name__ == "__main__":
    main()

__all__ = ["Path", "app", "main", "run"]
