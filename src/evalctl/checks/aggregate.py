"""Output drift first, then one verdict across features (issue #15 item 2).

Rabanser et al. ("Failing Loudly", 2019) found the model's own outputs plus per-column tests
combined with a multiple-testing correction the most reliable shift detector — at their sample
sizes. At millions of rows every p-value is tiny, so a corrected p-value still flags negligible
shifts: here the verdict counts the columns whose *effect size* reached its threshold (their
status), and the Benjamini-Hochberg adjusted p-values are reported beside it, never gating.

Pure: summaries and result rows in, numbers out.
"""

from __future__ import annotations

from typing import Any

from evalctl.checks.distribution import bucket_counts
from evalctl.checks.ecdf import ks_p_value, ks_p_values, ks_statistic, ks_statistics
from evalctl.checks.histogram import chi_square
from evalctl.checks.series import adjust_pvalues_bh
from evalctl.stats.summary import NumericSummary, Summary

SIGNIFICANCE = 0.05  # adjusted p-values below it are counted (reported, not used to decide)
MOVED = ("warn", "fail")
NAMES_SHOWN = 8


def column_p_value(ref: Summary, cur: Summary) -> tuple[str, float | None]:
    """The test matching the column's kind and its p-value: Kolmogorov-Smirnov (asymptotic,
    on the binned summaries: exact when the reference has at most `fine_bins` distinct
    values) for numeric columns, Pearson's chi-square of homogeneity over the reference
    buckets for categorical ones. None when either side has no values (or an error)."""
    test = "ks" if isinstance(ref, NumericSummary) else "chi_square"
    if not _testable(ref, cur):
        return test, None
    if isinstance(ref, NumericSummary) and isinstance(cur, NumericSummary):
        return test, ks_p_value(ks_statistic(ref, cur).value, ref.count, cur.count)
    r, _ = bucket_counts(ref)
    c, _ = bucket_counts(cur)
    if len(r) != len(c):
        return test, None
    return test, chi_square(r, c)[1]


def column_p_values(ref: Summary, curs: list[Summary], statistics: list[float] | None = None
                    ) -> list[tuple[str, float | None]]:
    """`column_p_value` of `ref` against each of `curs` (drift's windows): a numeric column's
    KS statistics from one running sum over every window's cells (`ks_statistics`, the same
    bits; their p-values at once: `ks_p_values`) unless given (`statistics`: every window's, as
    `evalctl.checks.evaluate.window_scores_and_ks` gives them); a categorical column's tests
    one by one (a few buckets each)."""
    if not isinstance(ref, NumericSummary):
        return [column_p_value(ref, cur) for cur in curs]
    found: list[tuple[str, float | None]] = [("ks", None)] * len(curs)
    sound = [(i, cur) for i, cur in enumerate(curs)
             if isinstance(cur, NumericSummary) and _testable(ref, cur)]
    if sound:
        known = (ks_statistics(ref, [cur for _, cur in sound]).tolist() if statistics is None
                 else [statistics[i] for i, _ in sound])
        p_values = ks_p_values(known, ref.count, [cur.count for _, cur in sound])
        for (i, _), p_value in zip(sound, p_values, strict=True):
            found[i] = ("ks", p_value)
    return found


def _testable(ref: Summary, cur: Summary) -> bool:
    """Both sides hold values of the same kind and binning (`column_p_value` tests them)."""
    if ref.error or cur.error or ref.kind != cur.kind or not ref.count or not cur.count:
        return False
    return not (isinstance(ref, NumericSummary) and isinstance(cur, NumericSummary)
                and ref.edges != cur.edges)


def attach_p_values(results: list[dict[str, Any]],
                    p_values: dict[str, tuple[str, float | None]]) -> None:
    """Each result's `p_test`, `p_value` and `p_adjusted` (Benjamini-Hochberg across every
    column of `p_values`: one family per comparison). Missing p-values stay None and are not
    counted among the tests."""
    columns = list(p_values)
    adjusted = dict(zip(columns, adjust_pvalues_bh([p_values[c][1] for c in columns]),
                        strict=True))
    for result in results:
        column = result["feature"]
        if column in p_values:
            result["p_test"], result["p_value"] = p_values[column]
            result["p_adjusted"] = adjusted[column]


def outputs_first(results: list[dict[str, Any]], outputs: list[str],
                  rank: dict[str, int]) -> list[dict[str, Any]]:
    """`results` (already worst first) with the output columns' rows first within each
    status (`rank`: status -> order); stable otherwise."""
    named = set(outputs)
    return sorted(results, key=lambda r: (rank.get(r.get("status", "pass"), len(rank)),
                                          r.get("feature") not in named))


def output_drift(results: list[dict[str, Any]], outputs: list[str]) -> list[dict[str, Any]]:
    """One entry per output column (in `outputs` order): its method, score, status."""
    by_column = {r["feature"]: r for r in results}
    return [{"feature": c, "kind": by_column[c].get("kind"), "method": by_column[c].get("method"),
             "score": by_column[c].get("score"), "threshold": by_column[c].get("threshold"),
             "status": by_column[c]["status"], "p_adjusted": by_column[c].get("p_adjusted")}
            for c in outputs if c in by_column]


def feature_verdict(results: list[dict[str, Any]], features: list[str],
                    outputs: list[dict[str, Any]]) -> dict[str, Any]:
    """How many input features moved materially (status warn or fail from their effect
    size), which (worst first, as `results` are ordered), and the verdict with the outputs.

    `verdict` is one of: ``stable`` (nothing moved), ``inputs_and_outputs`` (features moved
    and so did the model's outputs: the shift reaches the predictions), ``inputs_only``
    (features moved, the outputs did not: the model may not rely on them), ``outputs_only``
    (an output moved, no single feature did: a joint shift, or an input that is not checked).
    Without output columns the outputs count as not moved. `significant` counts features with
    a BH-adjusted p-value below 0.05: reported, not used for the verdict."""
    named = set(features)
    rows = [r for r in results if r.get("feature") in named]
    judged = [r for r in rows if r["status"] in ("pass", *MOVED)]
    moved = [r["feature"] for r in judged if r["status"] in MOVED]
    failed = sum(r["status"] == "fail" for r in judged)
    significant = sum(1 for r in judged if r.get("p_adjusted") is not None
                      and r["p_adjusted"] < SIGNIFICANCE)
    outputs_moved = [o for o in outputs if o["status"] in MOVED]
    verdict = ("inputs_and_outputs" if moved and outputs_moved else "inputs_only" if moved
               else "outputs_only" if outputs_moved else "stable")
    return {"checked": len(judged), "moved": len(moved), "failed": failed,
            "moved_features": moved, "not_judged": len(rows) - len(judged),
            "significant": significant, "verdict": verdict,
            "verdict_text": _verdict_text(verdict, moved, len(judged), outputs, outputs_moved)}


def _verdict_text(verdict: str, moved: list[str], checked: int, outputs: list[dict[str, Any]],
                  outputs_moved: list[dict[str, Any]]) -> str:
    shown = ", ".join(moved[:NAMES_SHOWN]) + (" …" if len(moved) > NAMES_SHOWN else "")
    features = f"{len(moved)} of {checked} features moved materially" + (
        f" ({shown})" if moved else "")
    out = "; ".join(f"{o['feature']}: {o['method']} {_num(o['score'])}, {o['status']}"
                    for o in outputs_moved)
    if verdict == "inputs_and_outputs":
        return f"the model's outputs moved ({out}) and {features}: the shift reaches the " \
               "predictions"
    if verdict == "outputs_only":
        return (f"the model's outputs moved ({out}) while no single feature did: a joint "
                "shift (drift --multivariate) or an input that is not checked")
    if verdict == "inputs_only" and outputs:
        return (f"{features}, but the model's outputs did not: the shift may not reach the "
                "predictions; check performance before retraining")
    if verdict == "inputs_only":
        return f"{features} (no score or prediction column is configured to check)"
    return f"no output and none of {checked} features moved materially" if outputs else \
        f"none of {checked} features moved materially"


def _num(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, int | float) else "n/a"
