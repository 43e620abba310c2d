"""evalctl: an evaluation store for machine-learning models, as a library and a CLI.

    import evalctl

    ws = evalctl.open("configs/evalctl.yaml")
    report = ws.skew("tv-recommender", current="production@last-7d")

`open` returns a `Workspace` with one method per command, each returning a `Report` (or, for
`monitor`, a `MonitorOutcome`); errors are raised as `InputError` (exit 2 at the CLI) and
`StoreError` (exit 3) and their subclasses. `evalctl.api` holds the lower-level functions on a
`Store`, a `ModelConfig` and parsed `Selector`s.
"""

import os
import sys
from typing import TYPE_CHECKING, Any

from evalctl import _loading  # first: pauses the garbage collector while evalctl loads

_command = False  # whether this process is the `evalctl` command (not a library user)
try:
    # before anything imports polars: its allocator reads the options once, as polars loads
    from evalctl.memory import allocator_environ, is_evalctl_command, keep_arrays_in_heap

    _command = is_evalctl_command(sys.argv, sys.orig_argv)
    os.environ.update(allocator_environ(_command, os.environ))
    if _command:  # numpy's arrays from the heap, not a fresh mapping each (`evalctl.memory`)
        keep_arrays_in_heap(os.environ)
    # and before numpy: OpenBLAS starts its threads as numpy loads
    from evalctl.blas import blas_environ

    os.environ.update(blas_environ(_command, os.environ))

    from evalctl.clock import Clock, fixed_clock, system_clock
    from evalctl.config import Config, ModelConfig
    from evalctl.errors import (
        ConfigError,
        EvalctlError,
        IngestError,
        InputError,
        SelectorError,
        StoreError,
    )
    from evalctl.lake import Selector, Store, parse_selector
    from evalctl.reports import Report
    from evalctl.settings.load import load_config
    from evalctl.version import __version__
    from evalctl.workspace import Workspace
    from evalctl.workspace import open_workspace as open
finally:  # a failed import too leaves the collector as it was found (the command's: paused
    # until its entry point has frozen what the imports made, `evalctl.cli.app.main`)
    _loading.resume(hold=_command)

if TYPE_CHECKING:
    from evalctl.analyses.monitor import MonitorOutcome


def __getattr__(name: str) -> Any:
    """`MonitorOutcome` on first use: importing it loads every check `monitor` runs (drift,
    multivariate, estimate, ...), which a CLI command that does not monitor never needs
    (start-up time)."""
    if name == "MonitorOutcome":
        from evalctl.analyses.monitor import MonitorOutcome

        return MonitorOutcome
    raise AttributeError(f"module 'evalctl' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), "MonitorOutcome"})


__all__ = [
    "Clock", "Config", "ConfigError", "EvalctlError", "IngestError", "InputError",
    "ModelConfig", "MonitorOutcome", "Report", "Selector", "SelectorError", "Store",
    "StoreError", "Workspace", "__version__", "fixed_clock", "load_config", "open",
    "parse_selector", "system_clock",
]
