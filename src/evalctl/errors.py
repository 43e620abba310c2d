"""One exception tree. Each class knows its exit code; the CLI boundary turns them into exits."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit codes, exactly as DESIGN.md's table."""

    OK = 0
    CHECK_FAILED = 1
    BAD_INPUT = 2
    STORE_DAMAGED = 3
    INTERNAL = 4


class EvalctlError(Exception):
    """Base of every error evalctl raises on purpose."""

    exit_code: ExitCode = ExitCode.INTERNAL


class InputError(EvalctlError):
    """Bad usage, bad config, bad or empty input (exit 2)."""

    exit_code = ExitCode.BAD_INPUT


class ConfigError(InputError):
    """The YAML config is missing, unreadable or invalid; the message names the key path."""


class SelectorError(InputError):
    """A dataset selector could not be parsed, or matched nothing."""


class IngestError(InputError):
    """An input file cannot be ingested; the message names the file and column."""


class StoreError(EvalctlError):
    """The store is damaged: a committed file is missing, truncated or altered (exit 3)."""

    exit_code = ExitCode.STORE_DAMAGED
