"""`evalctl skew`: is the current selection statistically different from the reference?"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from evalctl import progress
from evalctl.analyses.common import (
    checked_columns,
    chunk_index,
    method_for,
    open_side,
    overall_status,
    side_inputs,
)
from evalctl.analyses.hints import JoinHint, joinable_selectors
from evalctl.analyses.skew_join import join_skew
from evalctl.checks import (
    MEASURES,
    adjust_pvalues_bh,
    chunk_band_thresholds,
    compare_schemas,
    compute_score,
    evaluate_feature,
    judge,
    resolve_measure,
)
from evalctl.checks.aggregate import (
    attach_p_values,
    column_p_value,
    feature_verdict,
    output_drift,
    outputs_first,
)
from evalctl.checks.measure import Score
from evalctl.config import ModelConfig
from evalctl.errors import InputError
from evalctl.lake.selectors import Selector
from evalctl.lake.store import Selection, Store
from evalctl.profiles.parts import CHUNK, chunked_scans, file_scans
from evalctl.profiles.source import Plan, fallback, plan_engine, read_profiles, restricted
from evalctl.reports import Report
from evalctl.reports.model import RESULT_STATUSES, sort_worst_first
from evalctl.settings.sections import DriftSettings
from evalctl.stats import Binning, fit_binning, merge, summarize
from evalctl.stats.summary import CategoricalSummary, NumericSummary, Summary

if TYPE_CHECKING:  # only a type here: the Spark engine loads when one is given
    from evalctl.engines.spark import SparkEngine

QUALITY = ("null_rate_change", "out_of_range")
RANK = {status: rank for rank, status in enumerate(RESULT_STATUSES)}
UNIT_FACTORS = {60.0: "seconds vs minutes", 1 / 60: "minutes vs seconds",
                3600.0: "seconds vs hours", 1000.0: "a factor of 1000 (e.g. ms vs s, g vs kg)",
                0.001: "a factor of 1/1000", 100.0: "percent vs fraction",
                0.01: "fraction vs percent", 24.0: "hours vs days"}


def skew_report(store: Store, model: ModelConfig, reference: Selector, current: Selector, *,
                settings: DriftSettings, join_key: str | None = None,
                engine: str = "auto", spark: SparkEngine | None = None) -> Report:
    """Compare every feature and output of two selections; optionally row by row on an id.
    `engine`: where the summaries come from (`evalctl.profiles.source`); `spark`: the Spark
    engine a scan runs on (`evalctl.engines.spark`)."""
    ref_sel, ref_lf = open_side(store, model, reference)
    cur_sel, cur_lf = open_side(store, model, current)
    kinds = checked_columns(model, settings)
    plan, summaries = skew_summaries(store, model, (ref_sel, ref_lf), (cur_sel, cur_lf), kinds,
                                     settings, engine, join_key, spark)
    ref_summary, cur_summary, chunk_summaries = summaries
    results = judge_features(kinds, ref_summary, cur_summary, settings, chunk_summaries)
    for result in results:
        result["histogram"] = histogram(ref_summary[result["feature"]],
                                        cur_summary[result["feature"]])
    results.append(schema_result(store, model, ref_sel, cur_sel))
    match: dict[str, Any] = {}
    if join_key:
        inputs_only = {c: k for c, k in kinds.items() if c in model.features}
        transform, match = transformation_results(ref_lf, cur_lf, join_key, inputs_only,
                                                  ref_sel, cur_sel, store, model)
        if match["joined"] == 0:
            raise InputError(no_shared_ids(store, model, reference, current, join_key))
        results += transform
    results, summary = lead_with_outputs(sort_worst_first(results), model, kinds)
    failed = any(r.get("section") == "distribution" and r["status"] == "fail" for r in results)
    join = joinable_selectors(store, model, reference, current) if failed and not join_key \
        else None
    return Report(
        command="skew", model=model.name, status=overall_status(results),
        inputs={"reference": side_inputs(ref_sel), "current": side_inputs(cur_sel),
                **({"join_key": join_key, "match": match} if join_key else {}),
                **plan.inputs()},
        results=results, summary=summary,
        recommendations=skew_recommendations(results, model, reference, current, join)
        + ([plan.reason] if plan.stale else []))


Side = tuple[Selection, Any]  # a selection and its lazy scan


def skew_summaries(store: Store, model: ModelConfig, reference: Side, current: Side,
                   kinds: dict[str, str], settings: DriftSettings, engine: str,
                   join_key: str | None, spark: SparkEngine | None = None
                   ) -> tuple[Plan, tuple[dict[str, Summary], dict[str, Summary],
                                          list[dict[str, Summary]] | None]]:
    """The source of summaries: (reference, current, reference chunks) merged from profiles
    when they cover the question, else from a scan (bins fitted on the reference), on Spark
    when `spark` is given."""
    (ref_sel, ref_lf), (cur_sel, cur_lf) = reference, current
    needs_rows = ("--join-key compares rows" if join_key else
                  "thresholds: reference_chunks needs row chunks"
                  if settings.thresholds == "reference_chunks" else None)
    plan = plan_engine(store, model, ref_sel, cur_sel, kinds, settings.top_k,
                       requested="scan" if engine == "spark" else engine,
                       needs_rows=needs_rows)
    if spark is not None:  # start-up time: the Spark engine loads only when one is given
        from evalctl.engines.spark import on_spark

        plan = on_spark(plan, spark, engine, needs_rows)
    if plan.engine == "profiles" and plan.reference is not None:
        progress.phase("merging profiles")
        binning = restricted(plan.reference.binning, kinds)
        merged = [read_profiles(store, plan, sel, binning) for sel in (ref_sel, cur_sel)]
        scan = fallback(plan, merged, engine)
        if scan is None:
            return plan, (merged[0].summaries[None], merged[1].summaries[None], None)
        plan = scan
    progress.phase(f"fitting bins on the reference ({ref_sel.rows:,} rows)")
    ref_parts = file_scans(store, model, ref_sel, ref_lf.collect_schema())
    on_parts = (spark.on_parts(store.storage, model, ref_sel, ref_lf.collect_schema())
                if plan.engine == "spark" and spark is not None else None)  # fit on executors
    binning = fit_binning(ref_lf, kinds, top_k=settings.top_k, parts=ref_parts,
                          on_parts=on_parts)
    if plan.engine == "spark" and spark is not None:
        progress.phase(f"summarising {len(kinds)} columns on Spark ({spark.master})")
        merged = [spark.merged(store.storage, model, binning, sel) for sel in (ref_sel, cur_sel)]
        scan = fallback(plan, merged, "auto")
        if scan is None:
            return plan, (merged[0].summaries[None], merged[1].summaries[None], None)
        plan = scan
    ref_summary, chunk_summaries = reference_summaries(
        ref_lf, binning, model, settings, ref_parts,
        reference_chunks(store, model, ref_sel, ref_lf, settings))
    progress.phase(f"summarising {len(kinds)} columns of the current ({cur_sel.rows:,} rows)")
    cur_parts = file_scans(store, model, cur_sel, cur_lf.collect_schema())
    return plan, (ref_summary, summarize(cur_lf, binning, parts=cur_parts)[None],
                  chunk_summaries)


def lead_with_outputs(results: list[dict[str, Any]], model: ModelConfig, kinds: dict[str, str]
                      ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Output drift first (issue #15): each checked column's row gets its `role` (output or
    feature), the outputs' rows go first within their status, and the summary leads with
    `output_drift` (one entry per output) and `features` (how many and which features moved
    materially, and the verdict with the outputs: `evalctl.checks.aggregate`)."""
    outputs = [c for c in output_columns(model) if c in kinds]
    for row in results:
        if row.get("feature") in kinds and row.get("section") in (None, "distribution"):
            row["role"] = "output" if row["feature"] in outputs else "feature"
    ordered = outputs_first(results, outputs, RANK)
    rows = [r for r in ordered if r.get("role")]
    drift_of_outputs = output_drift(rows, outputs)
    features = [c for c in kinds if c not in outputs]
    return ordered, {"output_drift": drift_of_outputs,
                     "features": feature_verdict(rows, features, drift_of_outputs)}


def output_columns(model: ModelConfig) -> list[str]:
    """The model's output columns: its score, then its prediction (those configured)."""
    return [c for c in (model.score, model.prediction) if c]


def reference_chunks(store: Store, model: ModelConfig, selection: Selection, lf: Any,
                     settings: DriftSettings) -> list[Any] | None:
    """The reference file by file with each row's equal-row chunk (`chunked_scans`) when
    the thresholds come from reference chunks, else None."""
    if settings.thresholds != "reference_chunks":
        return None
    return chunked_scans(store, model, selection, lf.collect_schema(), settings.chunks)


def reference_summaries(ref_lf: Any, binning: Binning, model: ModelConfig,
                        settings: DriftSettings, parts: list[Any] | None = None,
                        chunked: list[Any] | None = None
                        ) -> tuple[dict[str, Summary], list[dict[str, Summary]] | None]:
    """The whole reference's summaries and, for data-driven thresholds, its chunks' — from
    one grouped scan (chunks merge into the whole: summaries are mergeable). `parts`: the
    reference file by file (`evalctl.profiles.parts.file_scans`); `chunked`: the same with
    each row's chunk (`reference_chunks`), read part by part. Without `chunked`, equal-row
    chunks rank every row of `ref_lf` at once."""
    if settings.thresholds != "reference_chunks":
        return summarize(ref_lf, binning, parts=parts or ())[None], None
    if chunked:
        by_chunk = summarize(ref_lf, binning, by=CHUNK, parts=chunked)
    else:
        by_chunk = summarize(ref_lf, binning, by=chunk_index(model.timestamp, settings.chunks))
    chunks = list(by_chunk.values())
    whole = {f: _merge_all([c[f] for c in chunks]) for f in chunks[0]}
    return whole, chunks


def _merge_all(parts: list[Summary]) -> Summary:
    total = parts[0]
    for part in parts[1:]:
        total = merge(total, part)
    return total


def judge_features(kinds: dict[str, str], ref: dict[str, Summary], cur: dict[str, Summary],
                   settings: DriftSettings, chunks: list[dict[str, Summary]] | None,
                   described: bool = True, computed: dict[str, Score] | None = None,
                   p_values: dict[str, tuple[str, float | None]] | None = None
                   ) -> list[dict[str, Any]]:
    """One result per column: its distribution measure, raised by data-quality alerts, with
    the p-value of the test matching its kind and its BH adjustment across the columns
    (reported beside the effect size, never deciding: `evalctl.checks.aggregate`).
    `described`: with both sides' counts and summary line (`evaluate_feature`; drift's
    windows keep only the verdict); `computed`: measures' raw scores already computed, by
    column (`evalctl.checks.evaluate.window_scores`); `p_values`: every column's test and
    p-value already computed (`evalctl.checks.aggregate.column_p_values`)."""
    computed = computed or {}
    results = [judge_feature(c, k, ref[c], cur[c], settings, chunks, described, computed.get(c))
               for c, k in kinds.items()]
    gate_pvalues(results, settings)
    attach_p_values(results, p_values if p_values is not None else
                    {c: column_p_value(ref[c], cur[c]) for c in kinds})
    return results


def judge_feature(column: str, kind: str, ref: Summary, cur: Summary, settings: DriftSettings,
                  chunks: list[dict[str, Summary]] | None, described: bool = True,
                  computed: Score | None = None) -> dict[str, Any]:
    rule = settings.rule(column)
    method = method_for(column, kind, settings)
    warn, fail = rule.warn, rule.fail
    if chunks is not None and fail is None:
        warn, fail = chunk_thresholds(column, kind, ref, chunks, method, settings.k)
    result = evaluate_feature(ref, cur, kind, method=method, warn=warn, fail=fail,
                              described=described, computed=computed)
    result["section"] = "distribution"
    if chunks is not None:
        result["threshold_source"] = (f"reference_chunks (mean + {settings.k:g}·std, at least "
                                      "the fixed thresholds)")
    if result["status"] != "error":
        apply_quality(result, kind, ref, cur)
    return result


def histogram(ref: Summary, cur: Summary) -> dict[str, Any] | None:
    """Both sides' counts in the reference's bins, for charts (counts, not densities).

    Numeric: the reference-quantile bins of PSI, right-closed, ``edges`` their inner
    boundaries (``len(edges) + 1`` counts; the first and last bins are open-ended, so they hold
    the values below and above the reference's range). Categorical: the reference's top
    categories (``labels``), then ``(other)`` (known to the reference, outside its top) and
    ``(unseen)`` (never in the reference). None when either side has no summary."""
    if ref.error or cur.error:
        return None
    if isinstance(ref, NumericSummary) and isinstance(cur, NumericSummary):
        return {"edges": list(ref.psi_edges), "reference": ref.psi_counts().tolist(),
                "current": cur.psi_counts().tolist()}
    if isinstance(ref, CategoricalSummary) and isinstance(cur, CategoricalSummary):
        return {"labels": [*ref.vocabulary, "(other)", "(unseen)"],
                "reference": list(ref.counts), "current": list(cur.counts)}
    return None


def chunk_thresholds(column: str, kind: str, ref: Summary, chunks: list[dict[str, Summary]],
                     method: str | None, k: float) -> tuple[float | None, float | None]:
    """Data-driven thresholds: how far the measure wanders between reference chunks, never
    stricter than the measure's fixed thresholds (`chunk_band_thresholds`)."""
    measure = resolve_measure(kind, method)
    scores = [compute_score(ref, c[column], kind, measure.name, detailed=False).value
              for c in chunks]
    return chunk_band_thresholds(scores, k, (measure.warn, measure.fail),
                                 measure.higher_is_worse)


def apply_quality(result: dict[str, Any], kind: str, ref: Summary, cur: Summary) -> None:
    """Null-rate change and out-of-range share are their own signals: they can raise status.

    When one raises it above the measure's own verdict, `decided_by` names that check, its
    value and its threshold (None when the named measure decided)."""
    alerts = []
    for name in QUALITY:
        measure = MEASURES[name]
        if kind not in measure.kinds:
            continue
        value = compute_score(ref, cur, kind, name, detailed=False).value
        if value is None:
            continue
        status = judge(abs(value), measure.warn, measure.fail, measure.higher_is_worse)
        if status != "pass":
            alerts.append({"check": name, "value": value, "status": status,
                           "warn": measure.warn, "threshold": measure.fail})
    result["quality_alerts"] = alerts
    settle_status(result, result["status"])


def settle_status(result: dict[str, Any], measured: str) -> None:
    """The result's status from its measure's verdict and its quality alerts; `decided_by` is
    the strongest alert when it, not the measure, set the status."""
    alerts = result.get("quality_alerts", [])
    rank = {"pass": 0, "warn": 1, "fail": 2}
    top = max(alerts, key=lambda a: (rank[a["status"]], abs(a["value"])), default=None)
    if top is not None and rank[top["status"]] > rank.get(measured, 0):
        result["status"] = top["status"]
        limit = top["threshold"] if top["status"] == "fail" else top["warn"]
        result["decided_by"] = {"check": top["check"], "value": top["value"],
                                "threshold": limit, "status": top["status"]}
        result["decided_by_text"] = decided_text(result["decided_by"])
        result["measure_status"] = measured
    else:
        result["status"] = measured
        result["decided_by"] = None
        result["decided_by_text"] = None


def decided_text(decided: dict[str, Any]) -> str:
    """``null_rate_change 0.31 ≥ 0.1 (fail)``: the check that set a status, in one phrase."""
    return (f"{decided['check']} {abs(decided['value']):.3g} ≥ {decided['threshold']:g} "
            f"({decided['status']})")


def gate_pvalues(results: list[dict[str, Any]], settings: DriftSettings) -> None:
    """When a p-value method gates, control the false-discovery rate across the columns."""
    gated = [r for r in results if r["status"] != "error" and r.get("higher_is_worse") is False]
    if not gated:
        return
    adjusted = adjust_pvalues_bh([r["score"] for r in gated])
    for result, p in zip(gated, adjusted, strict=True):
        result["p_value_adjusted"] = p
        if p is not None:
            settle_status(result, judge(p, result["warn"], result["threshold"], False))


def schema_result(store: Store, model: ModelConfig, ref: Selection, cur: Selection
                  ) -> dict[str, Any]:
    """Schema differences between the raw exports behind the two selections.

    Text formats (CSV) carry no types, so a column is called retyped only when both sides
    came from typed files. Outputs, label and proxies are optional and not compared.
    """
    optional = {c for c in (model.label, model.prediction, model.score) if c} | set(
        model.proxies)
    ref_cols, ref_typed = store.source_columns(ref)
    cur_cols, cur_typed = store.source_columns(cur)
    ref_cols = {c: t for c, t in ref_cols.items() if c not in optional}
    cur_cols = {c: t for c, t in cur_cols.items() if c not in optional}
    diff = compare_schemas(ref_cols, cur_cols, compare_types=ref_typed and cur_typed)
    missing, new, retyped = diff["missing"], diff["new"], diff["retyped"]
    parts = [f"missing: {', '.join(missing)}" if missing else "",
             f"new: {', '.join(new)}" if new else "",
             f"retyped: {', '.join(r['column'] for r in retyped)}" if retyped else ""]
    return {"section": "schema", "feature": "(schema)", "kind": "schema", "method": "schema",
            **diff,
            "types_compared": ref_typed and cur_typed,
            "summary": "; ".join(p for p in parts if p) or "same columns"}


def transformation_results(ref_lf: Any, cur_lf: Any, key: str, kinds: dict[str, str],
                           ref_sel: Selection, cur_sel: Selection, store: Store,
                           model: ModelConfig) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Row-by-row comparison of the same ids on both sides (training/serving skew).

    Only input features are compared: the outputs of two model versions differ by design.
    """
    schema = ref_lf.collect_schema()
    if key not in schema or key not in cur_lf.collect_schema():
        raise InputError(f"--join-key: column {key!r} is not in both selections")
    features = {c: k for c, k in kinds.items() if c != key}
    rows = join_skew(ref_lf, cur_lf, key, features, ref_sel.rows + cur_sel.rows,
                     lambda: (file_scans(store, model, ref_sel, schema),
                              file_scans(store, model, cur_sel, cur_lf.collect_schema())))
    n_joined = rows[0]["rows"] if rows else 0
    for row in rows:
        row["section"] = "transformation"
        row["method"] = "row_mismatch"
        row["score"] = row.get("mismatch_rate")
        row["hint"] = unit_hint(row.get("median_ratio"))
    match = {"reference_rows": ref_sel.rows, "current_rows": cur_sel.rows, "joined": n_joined,
             "only_reference": ref_sel.rows - n_joined, "only_current": cur_sel.rows - n_joined}
    return rows, match


def no_shared_ids(store: Store, model: ModelConfig, reference: Selector, current: Selector,
                  key: str) -> str:
    """The error when nothing joins, naming selectors that do share ids when the store has
    them (a recomputation of production rows under another version)."""
    text = f"--join-key {key}: no id is in both selections ({reference.text} and {current.text})"
    hint = joinable_selectors(store, model, reference, current, key)
    if hint is not None and hint.replaced:
        text += (f"; {hint.reference.text} shares ids with {hint.current.text}: "
                 f"{hint.command(model)}")
    return text


def unit_hint(ratio: float | None) -> str | None:
    """Name the unit mix-up a median ratio points at (within 2%), if any."""
    if ratio is None or ratio <= 0:
        return None
    for factor, name in UNIT_FACTORS.items():
        if abs(ratio / factor - 1) < 0.02:
            return name
    return None


def skew_recommendations(results: list[dict[str, Any]], model: ModelConfig,
                         reference: Selector, current: Selector,
                         join: JoinHint | None) -> list[str]:
    """The findings in words, and next steps that run on this store: a row-by-row comparison
    only with selectors that share ids (`join`, None when none do or one was already made)."""
    recs = [decided_recommendation(r) for r in results
            if r.get("section") == "distribution" and r.get("decided_by")]
    for r in results:
        if r["status"] not in ("warn", "fail"):
            continue
        if r.get("section") == "transformation":
            hint = f" — looks like {r['hint']}" if r.get("hint") else ""
            recs.append(f"{r['feature']}: {r['mismatch_rate']:.0%} of {r['compared']:,} joined "
                        f"rows differ (median ratio current/reference "
                        f"{_num(r.get('median_ratio'))}){hint}: a transformation bug between "
                        "the pipelines; check the feature's producer")
    drifted = [r["feature"] for r in results
               if r.get("section") == "distribution" and r["status"] == "fail"]
    if drifted:
        recs.append(f"{len(drifted)} column(s) differ from {reference.text}: "
                    f"{', '.join(drifted[:8])}" + (" …" if len(drifted) > 8 else ""))
        if join is not None and join.replaced:
            recs.append(f"to tell a pipeline bug from a population change, compare the same ids "
                        f"row by row ({reference.text} and {current.text} share none; "
                        f"{join.reference.text} holds ids of {join.current.text}): "
                        f"{join.command(model)}")
        elif join is not None:
            recs.append("to tell a pipeline bug from a population change, compare the same ids "
                        f"row by row: {join.command(model)}")
        recs.append(f"to see since when: evalctl drift --model {model.name} --reference "
                    f"{reference.text} --current {current.text} --window 1d")
    return recs


def decided_recommendation(result: dict[str, Any]) -> str:
    """Why a column's status is not its measure's: the quality check that raised it."""
    d = result["decided_by"]
    return (f"{result['feature']}: {d['status']} because of the data-quality check {d['check']} "
            f"({abs(d['value']):.3g}, {d['status']} at {d['threshold']:g}), not its distribution "
            f"({result['method']} {_num(result.get('score'))} alone: "
            f"{result.get('measure_status', 'pass')}, fail at {_num(result.get('threshold'))}); "
            f"{_QUALITY_ADVICE.get(d['check'], 'check the column')}")


_QUALITY_ADVICE = {
    "null_rate_change": "the share of missing values changed — check the column's producer",
    "out_of_range": "values fall outside the reference's range — check units and the producer",
}


def _num(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, int | float) else "n/a"
