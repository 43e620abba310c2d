"""The two records every check family shares: a computed `Score` and a registered `Measure`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from evalctl.stats.summary import Summary


@dataclass(frozen=True)
class Score:
    """A measure's value plus what is needed to reproduce it; `value` None means `reason`."""

    value: float | None
    details: dict[str, Any] = field(default_factory=dict)
    reason: str | None = None


@dataclass(frozen=True)
class Measure:
    """A registered drift / quality measure: a pure function plus its defaults.

    `needs_values`: the measure compares value distributions, so both summaries must hold at
    least one non-null value (null-rate change only needs rows). `batch`: the same scores of
    one reference against many currents (drift's windows) at once, where a measure has that
    form (each score the very one `function` gives).
    """

    name: str
    kinds: tuple[str, ...]
    warn: float
    fail: float
    higher_is_worse: bool
    function: Callable[[Summary, Summary], Score]
    doc: str
    needs_values: bool = True
    batch: Callable[..., list[Score]] | None = None
