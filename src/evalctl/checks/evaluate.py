"""Compare a reference and a current summary with one measure and return a JSON-ready verdict."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from evalctl.checks.categorical import unseen_categories, vanished_categories
from evalctl.checks.measure import Measure, Score
from evalctl.checks.numeric import wasserstein_scores_and_ks
from evalctl.checks.quality import null_rate, out_of_range_share
from evalctl.checks.registry import DEFAULT_METHOD, MEASURES
from evalctl.errors import InputError
from evalctl.stats.summary import CategoricalSummary, NumericSummary, Summary


def resolve_measure(kind: str, method: str | None = None) -> Measure:
    """The registered measure for `method` (or the kind's default); InputError lists choices."""
    if kind not in DEFAULT_METHOD:
        raise InputError(f"unknown feature kind {kind!r} (expected numeric or categorical)")
    name = method or DEFAULT_METHOD[kind]
    if name not in MEASURES or kind not in MEASURES[name].kinds:
        valid = sorted(n for n, m in MEASURES.items() if kind in m.kinds)
        raise InputError(f"unknown {kind} method {name!r} (valid: {', '.join(valid)})")
    return MEASURES[name]


def resolve_thresholds(
    measure: Measure, warn: float | None = None, fail: float | None = None
) -> tuple[float, float]:
    """Defaults filled in; InputError when warn is beyond fail or a threshold is not finite."""
    warn = measure.warn if warn is None else float(warn)
    fail = measure.fail if fail is None else float(fail)
    if not (math.isfinite(warn) and math.isfinite(fail)):
        raise InputError(f"{measure.name}: thresholds must be finite numbers")
    if (warn > fail) if measure.higher_is_worse else (warn < fail):
        order = "at most" if measure.higher_is_worse else "at least"
        raise InputError(f"{measure.name}: warn ({warn}) must be {order} fail ({fail})")
    return warn, fail


def judge(score: float, warn: float, fail: float, higher_is_worse: bool = True) -> str:
    """``fail`` when the score reaches the fail threshold, ``warn`` when it reaches warn."""
    sign = 1.0 if higher_is_worse else -1.0
    if sign * score >= sign * fail:
        return "fail"
    return "warn" if sign * score >= sign * warn else "pass"


def compute_score(ref: Summary, cur: Summary, kind: str, method: str | None = None,
                  computed: Score | None = None, *, detailed: bool = True) -> Score:
    """The measure's score, or a Score with value None and the reason it cannot be computed;
    `computed`: the measure's raw score already computed (`window_scores`). Without
    `detailed`, the value or reason alone (no JSON-safe copy of the details: the quality
    checks and drift's windows read nothing else, 2,500 scores in a 30-window drift)."""
    measure = resolve_measure(kind, method)
    reason = _input_problem(ref, cur, kind, measure)
    if reason:
        return Score(None, reason=reason)
    score = measure.function(ref, cur) if computed is None else computed
    details = json_safe(score.details) if detailed else {}
    if score.value is None or not math.isfinite(score.value):
        return Score(None, details, score.reason or "the measure is not finite for these data")
    return Score(float(score.value), details)


def window_scores(ref: Summary, curs: list[Summary], kind: str, method: str | None = None
                  ) -> list[Score | None]:
    """The measure's raw score of `ref` against each of `curs`, computed at once where the
    measure has a batched form (`Measure.batch`), for `compute_score`'s `computed`; None for
    a window it does not cover (an input problem, or no batched form: computed one by one)."""
    measure = resolve_measure(kind, method)
    found: list[Score | None] = [None] * len(curs)
    if measure.batch is None:
        return found
    sound = [i for i, cur in enumerate(curs) if _input_problem(ref, cur, kind, measure) is None]
    for i, score in zip(sound, measure.batch(ref, [curs[i] for i in sound]), strict=True):
        found[i] = score
    return found


def window_scores_and_ks(ref: Summary, curs: list[Summary], kind: str,
                         method: str | None = None
                         ) -> tuple[list[Score | None], list[float] | None]:
    """`window_scores`, with each window's KS statistic when both come from one running sum
    of the cells (`evalctl.checks.numeric.wasserstein_scores_and_ks`): the Wasserstein
    measure, the numeric default, with every window scorable (then every window is also
    testable: `evalctl.checks.aggregate.column_p_values`' `statistics`); else None."""
    measure = resolve_measure(kind, method)
    numeric = [cur for cur in curs if isinstance(cur, NumericSummary)]
    if (measure.name != "wasserstein" or not isinstance(ref, NumericSummary) or not curs
            or len(numeric) < len(curs)
            or any(_input_problem(ref, cur, kind, measure) for cur in curs)):
        return window_scores(ref, curs, kind, method), None
    scores, statistics = wasserstein_scores_and_ks(ref, numeric)
    return list(scores), statistics


def _input_problem(ref: Summary, cur: Summary, kind: str, measure: Measure) -> str | None:
    for side, summary in (("reference", ref), ("current", cur)):
        if summary.kind != kind:
            return f"the {side} summary is {summary.kind}, not {kind}"
        if not measure.needs_values:
            continue
        if summary.error:
            return f"{side}: {summary.error}"
        if summary.rows == 0:
            return f"the {side} has no rows"
        if summary.count == 0:
            values = "finite" if kind == "numeric" else "non-null"
            return f"the {side} has no {values} values"
    if measure.needs_values and _binning_of(ref) != _binning_of(cur):
        return "reference and current were summarised with different binnings"
    return None


def _binning_of(summary: Summary) -> tuple[Any, ...]:
    if isinstance(summary, NumericSummary):
        return summary.edges, summary.psi_edges
    return summary.vocabulary


def evaluate_feature(
    ref: Summary,
    cur: Summary,
    kind: str,
    method: str | None = None,
    warn: float | None = None,
    fail: float | None = None,
    described: bool = True,
    computed: Score | None = None,
) -> dict[str, Any]:
    """One feature's JSON-ready result: score, thresholds, status; with `described` (the
    default) also how to reproduce it (the measure's details), both sides' counts and a
    summary line (`describe`); `computed`: the measure's raw score already computed
    (`window_scores`).

    ``status`` is pass | warn | fail, or ``error`` with ``reason`` when the score cannot be
    computed (missing or mistyped column, no values, constant reference for Wasserstein...).
    Non-finite numbers never appear: they become None with a reason.
    """
    measure = resolve_measure(kind, method)
    warn, fail = resolve_thresholds(measure, warn, fail)
    score = compute_score(ref, cur, kind, measure.name, computed, detailed=described)
    result: dict[str, Any] = {
        "feature": ref.feature, "kind": kind, "method": measure.name, "score": score.value,
        "warn": warn, "threshold": fail, "higher_is_worse": measure.higher_is_worse,
    }
    if score.value is None:
        result |= {"status": "error", "reason": score.reason}
    else:
        result["status"] = judge(score.value, warn, fail, measure.higher_is_worse)
    if described:
        result |= json_safe(describe(ref, cur))
    result |= score.details  # JSON-safe already (`compute_score`; none undescribed)
    if score.value is None:
        result["summary"] = score.reason
    return result


def describe(ref: Summary, cur: Summary) -> dict[str, Any]:
    """Context every result carries: both sides' counts, quality figures, a human summary."""
    out: dict[str, Any] = {"reference": _side(ref), "current": _side(cur)}
    r, c = null_rate(ref), null_rate(cur)
    out["null_rate_change"] = c - r if r is not None and c is not None else None
    if ref.error or cur.error or ref.kind != cur.kind:
        return out
    if isinstance(ref, NumericSummary) and isinstance(cur, NumericSummary):
        out["out_of_range_share"] = out_of_range_share(ref, cur).value
        out["summary"] = _numeric_summary_line(ref, cur)
    elif isinstance(ref, CategoricalSummary) and isinstance(cur, CategoricalSummary):
        out["unseen"] = unseen_categories(cur)
        out["vanished"] = vanished_categories(ref, cur)
        out["summary"] = _categorical_summary_line(ref, cur)
    return out


def _side(s: Summary) -> dict[str, Any]:
    side: dict[str, Any] = {"rows": s.rows, "nulls": s.nulls, "null_rate": null_rate(s)}
    if s.error:
        return side
    if isinstance(s, NumericSummary):
        side |= {"values": s.count, "nonfinite": s.nonfinite, "mean": s.mean if s.count else None,
                 "std": s.std, "min": s.minimum, "max": s.maximum}
    else:
        side |= {"values": s.count, "categories": len(s.vocabulary)}
    return side


def _numeric_summary_line(ref: NumericSummary, cur: NumericSummary) -> str:
    if not ref.count or not cur.count:
        return "no finite values on one side"
    return (f"mean {ref.mean:.4g} -> {cur.mean:.4g}, "
            f"std {ref.std or 0.0:.4g} -> {cur.std or 0.0:.4g}")


def _categorical_summary_line(ref: CategoricalSummary, cur: CategoricalSummary) -> str:
    if not ref.count or not cur.count or ref.vocabulary != cur.vocabulary:
        return "no comparable values on one side"
    p = np.asarray(ref.counts) / ref.count
    q = np.asarray(cur.counts) / cur.count
    order = sorted(range(len(p)), key=lambda i: (-abs(q[i] - p[i]), i))[:3]
    parts = [f"{ref.labels[i]} {p[i]:.1%} -> {q[i]:.1%}" for i in order if p[i] or q[i]]
    return "largest share changes: " + ", ".join(parts)


def json_safe(value: Any) -> Any:
    """Plain JSON types only: numpy scalars unwrapped, NaN / inf turned into None. Exact
    types are looked up first (a report holds tens of thousands of plain values)."""
    kind = type(value)
    if kind is float:
        return value if math.isfinite(value) else None
    if kind in _PLAIN:
        return value
    if kind is dict:
        return {k if type(k) is str else str(k): json_safe(v) for k, v in value.items()}
    if kind is list or kind is tuple:
        return [json_safe(v) for v in value]
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


_PLAIN = frozenset({str, int, bool, type(None)})
