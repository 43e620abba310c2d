"""The readers every settings parser shares: a section's keys, numbers in a range, windows.

Each raises `ConfigError` naming the key path, e.g. ``models.m.checks.drift.k: expected a
number, got 'x'``."""

from __future__ import annotations

import math
import re
from datetime import timedelta
from typing import Any

from evalctl.errors import ConfigError, InputError

WINDOW_PATTERN = re.compile(r"^(\d{1,9})([hdw])$")
_UNITS = {"h": "hours", "d": "days", "w": "weeks"}
MAX_WINDOW = timedelta(days=36_600)  # a century: longer windows are a typo


def window_length(text: Any, key: str = "--window") -> timedelta:
    """``1h`` / ``1d`` / ``7d`` / ``2w`` -> timedelta: the one window rule, for the config
    (a ConfigError naming the key) and the command line (an InputError naming the option)."""
    error = InputError if key.startswith("-") else ConfigError
    match = WINDOW_PATTERN.match(text) if isinstance(text, str) else None
    if not match or int(match[1]) < 1:
        raise error(f"{key}: expected e.g. 1h, 1d or 7d, got {text!r}")
    if int(match[1]) * {"h": 1, "d": 24, "w": 168}[match[2]] >= MAX_WINDOW / timedelta(hours=1):
        raise error(f"{key}: {text!r} is longer than 100 years")
    return timedelta(**{_UNITS[match[2]]: int(match[1])})


def config_section(key: str, raw: Any, valid: set[str]) -> dict[str, Any] | None:
    """A check's settings mapping, or None when absent; anything else, or an unknown key, is a
    ConfigError naming the key path and the valid keys."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise ConfigError(f"{key}: expected a mapping, got {type(raw).__name__}")
    unknown = set(raw) - valid
    if unknown:
        raise ConfigError(f"{key}.{sorted(unknown)[0]}: unknown key (valid keys: "
                          f"{', '.join(sorted(valid))})")
    return raw


def config_number(key: str, value: Any, low: float | None = None, high: float | None = None,
                  integer: bool = False) -> float:
    """A finite number (an integer when `integer`) within [low, high]."""
    if isinstance(value, bool) or not isinstance(value, int | float) or (
            integer and not isinstance(value, int)):
        raise ConfigError(f"{key}: expected {'an integer' if integer else 'a number'}, "
                          f"got {value!r}")
    if not math.isfinite(value):  # .nan passes every range comparison
        raise ConfigError(f"{key}: expected a finite number, got {value}")
    if (low is not None and value < low) or (high is not None and value > high):
        raise ConfigError(f"{key}: {value} is out of range [{low}, {high}]")
    return float(value)


def config_integer(key: str, value: Any, low: int) -> int:
    return int(config_number(key, value, low=low, integer=True))


def config_mapping(key: str, raw: Any) -> dict[str, Any]:
    """A mapping, empty when absent."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{key}: expected a mapping")
    return raw


def check_order(key: str, low: tuple[str, float | None], high: tuple[str, float | None],
                strict: bool = False) -> None:
    """A cross-field rule: the value named first must be at most (below, when `strict`) the
    second, e.g. ``...monitor.volume_warn: 0.9 must be below volume_fail (0.8)``."""
    (low_name, low_value), (high_name, high_value) = low, high
    if low_value is None or high_value is None:
        return
    if low_value > high_value or (strict and low_value == high_value):
        order = "below" if strict else "at most"
        raise ConfigError(f"{key}.{low_name}: {low_value} must be {order} {high_name} "
                          f"({high_value})")
