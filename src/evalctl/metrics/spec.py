"""What a metrics computation is asked for: the model's columns and the statistical options."""

from __future__ import annotations

from dataclasses import dataclass

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
