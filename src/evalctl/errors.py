"""One exception tree. Each class knows its exit code; the CLI boundary turns them into exits."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit codes, exactly as docs/contract.md's table."""

    OK = 0
    CHECK_FAILED = 1
    BAD_INPUT = 2
    STORE_DAMAGED = 3
    INTERNAL = 4
    INTERRUPTED = 130  # SIGINT (128 + 2)
    TERMINATED = 143  # SIGTERM (128 + 15)


class EvalctlError(Exception):
    """Base of every error evalctl raises on purpose.

    ``hint`` is a next step for the user; ``key``, ``file`` and ``column`` name the offending
    config key, file or column when the raiser knows it. All four reach the JSON error envelope.
    """

    exit_code: ExitCode = ExitCode.INTERNAL
    kind: str = "internal"

    def __init__(self, message: str, *, hint: str | None = None, key: str | None = None,
                 file: str | None = None, column: str | None = None) -> None:
        super().__init__(message)
        self.hint, self.key, self.file, self.column = hint, key, file, column


class InputError(EvalctlError):
    """Bad usage, bad config, bad or empty input (exit 2)."""

    exit_code = ExitCode.BAD_INPUT
    kind = "input"


class EngineUnavailable(InputError):
    """`--engine` names no engine, or one that cannot answer the question as asked (e.g.
    `profiles` where profiles do not cover it): exit 2, also from `monitor`, which otherwise
    records a check it could not compute as an error row and goes on."""


class ConfigError(InputError):
    """The YAML config is missing, unreadable or invalid; the message names the key path."""

    kind = "config"


class SelectorError(InputError):
    """A dataset selector could not be parsed, or matched nothing."""

    kind = "selector"


class IngestError(InputError):
    """An input file cannot be ingested; the message names the file and column."""

    kind = "ingest"


class StoreError(EvalctlError):
    """The store is damaged, or cannot be read or written as it stands (exit 3): a committed
    file missing, truncated or altered; a read-only store, a full disk, a newer format."""

    exit_code = ExitCode.STORE_DAMAGED
    kind = "store"
