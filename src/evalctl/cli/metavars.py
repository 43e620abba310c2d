"""Value placeholders in --help say what to type (`SELECTOR`, `YYYY-MM-DD`), never a Python
type (`<str>`, `<list[Path]>`, `<%Y-%m-%d>`)."""

from __future__ import annotations

from typing import Any

METAVARS = {
    "alerts": "FILE", "alpha": "P", "as_of": "YYYY-MM-DD", "baseline": "VERSION",
    "candidate": "VERSION", "challenger": "VERSION", "champion": "VERSION", "check": "CHECK",
    "compare_to": "SELECTOR", "current": "SELECTOR", "day": "YYYY-MM-DD", "directory": "DIR",
    "env": "ENV", "error": "KIND", "fail_on": "LEVEL", "feature": "FEATURE", "files": "FILE",
    "fmt": "FORMAT", "input_format": "FORMAT", "join_key": "COLUMN", "max_level": "N",
    "metric": "METRIC", "min_rows": "N", "min_size": "N", "min_support": "N", "model": "MODEL",
    "n_boot": "N", "out": "FILE", "output": "FILE", "reference": "SELECTOR", "sample": "N",
    "seed": "N", "segment": "ID", "selector": "SELECTOR", "since": "YYYY-MM-DD", "top": "N",
    "version": "VERSION", "where": "EXPR", "window": "DURATION", "windows": "N",
    "older_than": "AGE", "ids": "FILE", "batch": "BATCH", "batches": "BATCH",
    "config": "FILE", "store": "DIR", "grace": "AGE", "shell": "SHELL",
}
# where one name means something else in one command
OVERRIDES = {("rca", "baseline"): "SELECTOR"}


def tidy_metavars(command: Any, name: str = "evalctl") -> None:
    """Set a readable metavar on every option and argument of ``command`` and its
    subcommands that has none."""
    tidy_params(command, name)
    for sub_name, sub in getattr(command, "commands", {}).items():
        tidy_metavars(sub, sub_name)


def tidy_params(command: Any, name: str = "evalctl") -> None:
    """`tidy_metavars` of ``command``'s own options and arguments (the root group's: its
    commands get theirs as they load, `evalctl.cli.commands`)."""
    for param in getattr(command, "params", []):
        if getattr(param, "is_flag", False) or getattr(param, "count", False):
            continue
        if getattr(param, "metavar", None) is None:
            label = OVERRIDES.get((name, param.name)) or METAVARS.get(param.name)
            param.metavar = label or param.name.upper().replace("_", "-")
        if type(param).__name__.endswith("Argument"):
            _plain_argument(param)


def _plain_argument(param: Any) -> None:
    """Typer shows a required argument as `{FILE}` in the usage line and drops the `...` of
    one that takes several values; show `FILE...` (and `[DIR]` when optional) as click does."""
    shown = param.metavar + ("..." if param.nargs != 1 else "")
    usage = shown if param.required else f"[{shown}]"
    param.make_metavar = lambda ctx, **_: shown
    param.get_usage_pieces = lambda ctx: [usage]
