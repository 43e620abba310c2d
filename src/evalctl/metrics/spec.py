"""What a metrics computation is asked for: the model's columns and the statistical options."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

# Internal column names in the materialised base frame (user columns are renamed to these).
LABEL = "__y"
SCORE = "__s"
PREDICTION = "__p"
QUERY = "__q"
VALID = "__v"


@dataclass(frozen=True)
class Columns:
    """The model's columns (user names) and the decision threshold for binary scores."""

    label: str
    score: str | None = None
    prediction: str | None = None
    group: str | None = None
    threshold: float = 0.5
    scores: tuple[str, ...] = ()  # multiclass: each class's probability column
    classes: tuple[str, ...] = ()  # multiclass: the classes, in the order of `scores`


@dataclass(frozen=True)
class Options:
    """Statistical options shared by every task."""

    confidence: float = 0.95
    k: int = 10
    n_boot: int = 1000
    seed: int = 0


def key_name(index: int) -> str:
    """Internal column name of one distinct slice-key expression."""
    return f"__k{index}"


# The task-module protocol of `compute`: select_columns, prepare, fine_stats (sums grouped by the
# slice keys and the module's fine columns), finish (one row per segment), bad_values, finalize;
# plus these three, shared by the tasks whose per-segment sums need no second stage.
def always_additive(metrics: frozenset[str]) -> bool:
    """A segment's sums are the sums of its sub-segments' sums."""
    return True


def no_fine_columns(metrics: frozenset[str]) -> list[str]:
    """Sums are grouped by the slice keys alone."""
    return []


def unchanged(stats: Any, keys: Sequence[str], metrics: frozenset[str]) -> Any:
    """The grouped sums are already one row per segment."""
    return stats
