"""Data-quality checks: null-rate change, values outside the reference range, schema changes."""

from __future__ import annotations

from typing import Any

from evalctl.checks.measure import Score
from evalctl.stats.summary import NumericSummary, Summary


def null_rate(summary: Summary) -> float | None:
    """Share of null rows; None without rows or when the column is missing."""
    if not summary.rows or summary.nulls is None:
        return None
    return summary.nulls / summary.rows


def null_rate_change(ref: Summary, cur: Summary) -> Score:
    """Absolute change of the null share, ``|cur - ref|`` (the signed change is in `change`).

    Absolute, not relative: 0.1% -> 1% nulls is rarely a problem, 2% -> 12% usually is. 0.05
    warns and 0.1 fails. Either direction counts: a pipeline that starts filling nulls with a
    default value changes the data as much as one that starts dropping values.
    """
    r, c = null_rate(ref), null_rate(cur)
    if r is None or c is None:
        side, summary = ("reference", ref) if r is None else ("current", cur)
        why = summary.error if summary.nulls is None else "no rows"
        return Score(None, reason=f"{side}: {why}")
    return Score(abs(c - r), {"change": c - r, "reference_null_rate": r, "current_null_rate": c})


def out_of_range_share(ref: NumericSummary, cur: NumericSummary) -> Score:
    """Share of current finite values below the reference minimum or above its maximum.

    Models extrapolate badly outside what they were trained on. 5% warns, 20% fails.
    """
    share = (cur.below + cur.above) / cur.count if cur.count else None
    details = {"below": cur.below, "above": cur.above,
               "reference_min": ref.minimum, "reference_max": ref.maximum}
    if share is None:
        return Score(None, details, "the current window has no finite values")
    return Score(share, details)


def compare_schemas(reference: dict[str, str], current: dict[str, str], *,
                    compare_types: bool = True) -> dict[str, Any]:
    """Columns missing from / new in `current`, and columns whose dtype string changed.

    `compare_types` False (a side came from a text format such as CSV, which carries no
    types) reports no column as retyped. `status` is ``warn`` when anything differs, else
    ``pass``: a schema change is a lead to follow, the columns' own checks say whether it
    matters. Lists are sorted by column name.
    """
    missing = sorted(set(reference) - set(current))
    new = sorted(set(current) - set(reference))
    retyped = [{"column": name, "reference": reference[name], "current": current[name]}
               for name in sorted(set(reference) & set(current))
               if compare_types and reference[name] != current[name]]
    status = "warn" if missing or new or retyped else "pass"
    return {"status": status, "missing": missing, "new": new, "retyped": retyped}
