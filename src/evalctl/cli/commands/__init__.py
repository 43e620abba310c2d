"""One module per command family, named after its commands; each has `register(app)`.

The root group imports a module only when one of its commands is looked up (`LazyCommands`):
`evalctl drift` loads neither `rca`'s nor `estimate`'s module, nor what only they import
(start-up time). `--help`, shell completion and "Did you mean" list every name without
loading; `--help` then loads every module for the one-line help texts.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, MutableMapping
from typing import Any

import typer

from evalctl.cli.metavars import tidy_metavars

# every command, in `evalctl --help`'s order, and the module here that registers it
MODULES = {
    "init": "store", "ingest": "store", "ingest-actuals": "store", "catalog": "store",
    "files": "store", "gc": "store", "erase": "store", "doctor": "store",
    "skew": "skew_drift", "drift": "skew_drift",
    "slices": "slices_validate", "validate": "slices_validate",
    "compare": "compare", "rca": "rca_export", "export": "rca_export",
    "monitor": "monitor_history", "history": "monitor_history", "metrics": "metrics",
    "estimate": "estimate", "report": "report", "batches": "store",
    "config": "config_check", "profiles": "profiles",
}


class LazyCommands(MutableMapping[str, Any]):
    """The root group's commands by name (`MODULES` plus any added), each built from its
    module's `register` on first access, with readable metavars (`tidy_metavars`)."""

    def __init__(self, added: MutableMapping[str, Any]) -> None:
        self._loaded: dict[str, Any] = dict(added)

    def __getitem__(self, name: str) -> Any:
        if name not in self._loaded and name in MODULES:
            self._load(MODULES[name])
        return self._loaded[name]

    def _load(self, module_name: str) -> None:
        module = importlib.import_module(f"{__name__}.{module_name}")
        family = typer.Typer(rich_markup_mode=None)
        module.register(family)
        for name, command in typer.main.get_group(family).commands.items():
            tidy_metavars(command, name)
            self._loaded.setdefault(name, command)

    def __setitem__(self, name: str, command: Any) -> None:
        self._loaded[name] = command

    def __delitem__(self, name: str) -> None:
        del self._loaded[name]

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys([*MODULES, *self._loaded]))

    def __len__(self) -> int:
        return len(set(MODULES) | set(self._loaded))
