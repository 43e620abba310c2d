"""The Typer app and the one error boundary where exceptions become exit codes."""

from __future__ import annotations

import atexit
import contextlib
import gc
import os
import re
import sys
import threading
import traceback
from pathlib import Path
from typing import Annotated, Any, NoReturn, TextIO

import typer

from evalctl import _loading
from evalctl.cli import signals
from evalctl.cli.commands import LazyCommands
from evalctl.cli.errors import ErrorRequest, describe_os_error, os_error_in, write_error
from evalctl.cli.metavars import tidy_params
from evalctl.cli.state import AppState
from evalctl.clock import Clock, system_clock
from evalctl.errors import ConfigError, EvalctlError, ExitCode, StoreError
from evalctl.version import __version__

HELP = """evalctl — an evaluation store for machine-learning models.

Keeps training, validation, shadow and production predictions in a partitioned Parquet lake
and answers: is production skewed from training, what drifted, where does the model fail.

Global options (--quiet, --verbose, --no-color, --debug) may also be written after the command.

\b
Example:
  evalctl init ./evalstore
  evalctl ingest train.parquet --model churn --version v1 --env training
  evalctl catalog
"""


class RootGroup(typer.core.TyperGroup):
    """`evalctl`: its commands load on first use (`evalctl.cli.commands.LazyCommands`)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.commands = LazyCommands(self.commands)


app = typer.Typer(cls=RootGroup, help=HELP, no_args_is_help=True, add_completion=True,
                  pretty_exceptions_enable=False, rich_markup_mode=None,
                  context_settings={"help_option_names": ["-h", "--help"]})

# flags of the global callback that people also write after the command (`skew … --quiet`)
GLOBAL_FLAGS = ("--quiet", "-q", "--verbose", "--no-color", "--debug")


def _version(value: bool) -> None:
    if value:
        print(f"evalctl {__version__}")
        raise typer.Exit()


@app.callback()
def _global(ctx: typer.Context,
            config: Annotated[str | None, typer.Option(
                "--config", "-c", envvar="EVALCTL_CONFIG", metavar="FILE",
                help="Config file (default: ./evalctl.yaml, then ./configs/evalctl.yaml).")
            ] = None,
            store: Annotated[str | None, typer.Option(
                "--store", "-s", envvar="EVALCTL_STORE", metavar="DIR",
                help="Store folder (overrides the config's `store`).")] = None,
            quiet: Annotated[bool, typer.Option(
                "--quiet", "-q", help="Print nothing on stderr but errors.")] = False,
            verbose: Annotated[bool, typer.Option(
                "--verbose", help="Timestamped progress lines on stderr (for CI logs and "
                "cron mail).")] = False,
            no_color: Annotated[bool, typer.Option(
                "--no-color", help="No colours (also when NO_COLOR is set).")] = False,
            debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks.")] = False,
            version: Annotated[bool, typer.Option("--version", callback=_version,
                                                  is_eager=True, help="Print the version.")
                               ] = False) -> None:
    state: AppState = ctx.obj
    state.config_path, state.store_path, state.debug = config, store, debug
    state.quiet, state.verbose = quiet, verbose and not quiet
    state.color = not no_color and not os.environ.get("NO_COLOR")
    state.command = ctx.invoked_subcommand or ""
    if config is not None and not Path(config).is_file():
        raise ConfigError(f"{config}: config file not found (from --config or EVALCTL_CONFIG)",
                          file=config, key="--config")


def run(args: list[str], stdout: TextIO | None = None, stderr: TextIO | None = None,
        clock: Clock | None = None) -> int:
    """Run the CLI exactly as the `evalctl` entry point does; return the exit code. ``clock``
    (default the system clock) is what `last-Nd` and `monitor` read as now."""
    state = AppState(stdout=stdout or sys.stdout, stderr=stderr or sys.stderr,
                     clock=clock or system_clock)
    if len(args) == 2 and args[0] in COMPLETION and args[1] in SHELLS:
        return _completion(state, args[0], args[1])
    args = hoist_global_flags(list(args))
    state.debug = "--debug" in args
    request = ErrorRequest.from_args(args, state.stdout, state.clock)
    command = typer.main.get_command(app)
    tidy_params(command)  # the global options (each command's own: as it loads)
    try:
        with contextlib.redirect_stdout(state.stdout):  # help text goes where stdout goes
            returned = command.main(args=args, prog_name="evalctl", standalone_mode=False,
                                    obj=state)
    except KeyboardInterrupt:  # in-process callers (tests, notebooks) keep Python's handler
        return _interrupted(state, ExitCode.INTERRUPTED)
    except EvalctlError as exc:
        return _fail(state, request, exc, str(exc), exc.exit_code)
    except typer.Exit as exc:
        return int(exc.exit_code)
    except typer.Abort:
        return _interrupted(state, ExitCode.INTERRUPTED)
    except typer.TyperException as exc:  # usage errors: bad or missing options
        return _usage_error(state, request, exc)
    except BrokenPipeError:
        return _closed_pipe()
    except OSError as exc:  # the store or a file cannot be read or written as it stands
        damage = state.damage_behind(exc)
        if damage is not None:
            return _fail(state, request, damage, str(damage), damage.exit_code)
        message = describe_os_error(exc)
        if message is not None:
            return _fail(state, request, StoreError(message), message, ExitCode.STORE_DAMAGED)
        return _internal(state, request, exc)
    except Exception as exc:  # the one place a bug becomes exit 4
        damage = state.damage_behind(exc)  # unless a damaged committed file caused it
        if damage is not None:
            return _fail(state, request, damage, str(damage), damage.exit_code)
        message = os_error_in(exc)
        if message is not None:  # polars reports OS errors inside its own exceptions
            return _fail(state, request, StoreError(message), message, ExitCode.STORE_DAMAGED)
        return _internal(state, request, exc)
    if returned == ExitCode.INTERRUPTED:  # typer turns a KeyboardInterrupt into Exit(130)
        return _interrupted(state, ExitCode.INTERRUPTED)
    return state.exit_code


COMPLETION = ("--show-completion", "--install-completion")
SHELLS = ("bash", "zsh", "fish", "powershell", "pwsh")


def _completion(state: AppState, option: str, shell: str) -> int:
    """`--show-completion bash` prints the script for the named shell and `--install-completion
    bash` installs it. Typer detects the shell from the parent process and ignores a named one
    whenever it can detect (so under a CI runner or a script it printed "Shell  not
    supported"); a shell named on the command line wins here."""
    # only for --show/--install-completion (start-up time)
    from typer._completion_shared import get_completion_script, install

    if option == "--show-completion":
        state.stdout.write(get_completion_script(prog_name="evalctl",
                                                 complete_var="_EVALCTL_COMPLETE",
                                                 shell=shell) + "\n")
        return int(ExitCode.OK)
    installed, path = install(shell=shell, prog_name="evalctl", complete_var="_EVALCTL_COMPLETE")
    state.stderr.write(f"evalctl: {installed} completion installed in {path}; it takes effect "
                       "in a new shell\n")
    return int(ExitCode.OK)


def hoist_global_flags(args: list[str]) -> list[str]:
    """Move global flags written after the command (`skew … --quiet`) in front of it, as git
    users expect of `--no-color`. Nothing after a `--` is touched."""
    end = args.index("--") if "--" in args else len(args)
    flags = [a for a in args[:end] if a in GLOBAL_FLAGS]
    if not flags:
        return args
    rest = [a for a in args[:end] if a not in GLOBAL_FLAGS]
    return flags + rest + args[end:]


def _usage_error(state: AppState, request: ErrorRequest, exc: typer.TyperException) -> int:
    ctx = getattr(exc, "ctx", None)
    if type(exc).__name__ == "NoArgsIsHelpError" and ctx is not None:
        state.stdout.write(ctx.get_help() + "\n")
        return int(ExitCode.OK)
    path = ctx.command_path if ctx is not None else "evalctl"
    message = exc.format_message()
    error = EvalctlError(message, hint=f"see `{path} --help`", key=_option_in(message))
    error.kind = "usage"
    return _fail(state, request, error, f"{message} (see `{path} --help`)", ExitCode.BAD_INPUT)


def _option_in(message: str) -> str | None:
    found = re.search(r"(?:'|option: )(--?[\w-]+)", message)
    return found.group(1) if found else None


def _internal(state: AppState, request: ErrorRequest, exc: Exception) -> int:
    name = f"{type(exc).__name__}: {exc}".splitlines()[0]
    message = f"internal error: {name} (rerun with --debug; please report it)"
    error = EvalctlError(message, hint="rerun with --debug and report the traceback")
    return _fail(state, request, error, message, ExitCode.INTERNAL)


def _fail(state: AppState, request: ErrorRequest, exc: EvalctlError, message: str,
          code: ExitCode) -> int:
    if state.debug and sys.exc_info()[0] is not None:
        traceback.print_exc(file=state.stderr)
    state.stderr.write(f"evalctl: error: {_one_line(message)}\n")
    state.stderr.flush()
    with contextlib.suppress(OSError, EvalctlError):  # the line above already told the user
        write_error(request, exc, str(exc), code)
    return int(code)


def _one_line(message: str) -> str:
    return " ".join(message.split("\n"))


def _interrupted(state: AppState, code: ExitCode) -> int:
    with contextlib.suppress(OSError, ValueError):
        state.stderr.write("evalctl: interrupted\n")
        state.stderr.flush()
    return int(code)


def _closed_pipe() -> int:
    """stdout was closed early (`evalctl catalog | head -1`): stop quietly, as a Unix tool
    killed by SIGPIPE does (exit 141), without Python's 'Exception ignored' on exit."""
    with contextlib.suppress(OSError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    return 128 + 13


def _safe_streams() -> None:
    """A stream that cannot encode a character (LANG=C) writes a replacement, never fails."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure: Any = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            with contextlib.suppress(ValueError, OSError):
                reconfigure(errors="replace")


def main() -> NoReturn:
    """Console-script entry point."""
    gc.freeze()  # what the import made lives until exit: later collections skip it
    _loading.release()  # the collector, paused since evalctl began loading (`_loading`)
    _safe_streams()
    signals.install()
    exit_now(run(sys.argv[1:]))


def exit_now(code: int) -> NoReturn:
    """End the process with `code` without the interpreter's teardown: freeing polars',
    numpy's and every module's objects one by one costs a profile-served command ~0.05-0.1 s
    of CPU and gives back nothing the OS does not reclaim at once. What an exit owes the
    user is done first: other non-daemon threads joined, atexit handlers run (temporary
    folders' finalizers among them), stdout and stderr flushed (a reader that closed the pipe
    early costs nothing: see `_closed_pipe`).

    The handlers are run by ``atexit._run_exitfuncs``: private, but in every CPython 3 (it
    runs what the interpreter's own exit runs; `tests/test_cli_startup.py` fails if it goes),
    and no public call runs them. The public ways out were measured (2026-12-04, `skew` on a
    20k-row store, 9 alternating runs under `chrt -f 10` at load 12-20, CPU median):
    ``sys.exit`` runs them but pays the teardown (1.44 s CPU against 1.24 s here);
    ``sys.exit`` with an atexit handler of evalctl's that calls ``os._exit`` (handlers run
    last-registered first, so one registered early runs near the end) is as quick (1.26 s)
    but skips every handler registered before it — those of ``sitecustomize`` and ``.pth``
    start-up files (coverage's subprocess measurement, tests/test_memory.py's probe), which
    load before evalctl can register anything."""
    for thread in threading.enumerate():
        if thread is not threading.main_thread() and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError, AttributeError):
            stream.flush()
    os._exit(code)


if __name__ == "__main__":
    main()

__all__ = ["app", "exit_now", "hoist_global_flags", "main", "run"]
