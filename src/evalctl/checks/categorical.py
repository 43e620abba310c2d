"""Categories that appear or disappear between reference and current windows."""

from __future__ import annotations

from typing import Any

from evalctl.checks.measure import Score
from evalctl.stats.summary import CategoricalSummary

NAMES_SHOWN = 5


def unseen_categories(cur: CategoricalSummary) -> dict[str, Any]:
    """Current values whose category never occurred in the reference."""
    share = cur.unseen / cur.count if cur.count else None
    return {"rows": cur.unseen, "share": share, "levels": cur.unseen_levels,
            "levels_exact": cur.unseen_levels_exact and cur.known_complete,
            "names": list(cur.unseen_names[:NAMES_SHOWN])}


def vanished_categories(ref: CategoricalSummary, cur: CategoricalSummary) -> dict[str, Any]:
    """Reference top-K categories with no current value, and the reference share they held."""
    gone = [(count, name) for name, count, now in
            zip(ref.vocabulary, ref.counts, cur.counts, strict=False) if count and not now]
    gone.sort(key=lambda item: (-item[0], item[1]))
    share = sum(count for count, _ in gone) / ref.count if ref.count else None
    return {"count": len(gone), "reference_share": share,
            "names": [name for _, name in gone[:NAMES_SHOWN]]}


def unseen_share(ref: CategoricalSummary, cur: CategoricalSummary) -> Score:
    """Share of current non-null values in categories the reference never had.

    New categories are invisible to a model trained without them. 5% warns, 20% fails (the same
    as values outside the reference range for numeric features).
    """
    details = unseen_categories(cur)
    return Score(details["share"], {"unseen": details})


def vanished_share(ref: CategoricalSummary, cur: CategoricalSummary) -> Score:
    """Reference share held by top-K categories absent from the current window; 5% / 20%.

    Only the top-K reference categories are tracked, so rarer ones can vanish unnoticed; on a
    small window, rare categories are naturally missing, so read it with the row counts.
    """
    details = vanished_categories(ref, cur)
    return Score(details["reference_share"], {"vanished": details})
