"""`evalctl drift`: every checked column, window by window against the reference, with onset."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import polars as pl

from evalctl import progress
from evalctl.analyses.common import (
    checked_columns,
    chunk_index,
    method_for,
    open_side,
    overall_status,
    side_inputs,
)
from evalctl.analyses.skew import (
    decided_text,
    judge_features,
    lead_with_outputs,
    reference_chunks,
    reference_summaries,
)
from evalctl.checks import find_onset, mark_insufficient
from evalctl.checks.aggregate import column_p_values
from evalctl.checks.evaluate import window_scores_and_ks
from evalctl.checks.measure import Score
from evalctl.config import ModelConfig
from evalctl.errors import InputError
from evalctl.lake.selectors import Selector
from evalctl.lake.store import Selection, Store
from evalctl.profiles.parts import CHUNK, chunk_bounds, chunked_scans, file_scans
from evalctl.profiles.source import Plan, fallback, plan_engine, read_profiles, restricted
from evalctl.reports import Report
from evalctl.reports.model import sort_worst_first
from evalctl.settings.sections import DriftSettings
from evalctl.settings.values import window_length
from evalctl.stats import fit_binning, summarize
from evalctl.stats.summary import Summary

if TYPE_CHECKING:  # only a type here: the Spark engine loads when one is given
    from evalctl.engines.spark import SparkEngine


def parse_window(text: str) -> timedelta:
    """``1h`` / ``1d`` / ``7d`` / ``2w`` -> timedelta; anything else is an input error."""
    return window_length(text, "--window")


def calendar_window(ts: str, window: str, selection: Selection) -> tuple[pl.Expr, timedelta]:
    """Every row's window start, and the window length: consecutive `window`-long windows
    from the first day of the selection (its range start, else its first stored date), at
    midnight UTC. Windows that divide a day (1h, 6h, 1d) are the calendar's; 7d windows start
    on the first selected day, not on an epoch-aligned Thursday (`dt.truncate("7d")`)."""
    step = parse_window(window)
    first = selection.selector.start or date.fromisoformat(
        min(f.date for _, _, f in selection.files))
    origin = pl.lit(datetime.combine(first, datetime.min.time()), dtype=pl.Datetime("us"))
    step_us = step // timedelta(microseconds=1)
    index = (pl.col(ts).cast(pl.Datetime("us")) - origin).dt.total_microseconds() // step_us
    return origin + pl.duration(microseconds=index * step_us), step


def drift_report(store: Store, model: ModelConfig, reference: Selector, current: Selector, *,
                 settings: DriftSettings, windows: int | None = None,
                 multivariate: bool = False, engine: str = "auto",
                 spark: SparkEngine | None = None) -> Report:
    """Per column, the measure of every window of `current` against `reference`.

    Windows are calendar windows (`settings.window`, e.g. 1d) or `windows` equal-row chunks in
    timestamp order. One grouped scan computes every column's summary in every window. With
    `multivariate`, one more result per window (`section: "multivariate"`): a classifier
    two-sample test on sampled rows (`evalctl.analyses.multivariate`).
    """
    if windows is not None and windows < 2:
        raise InputError(f"--windows: expected at least 2 chunks, got {windows}")
    if multivariate:  # start-up time: the classifier test's modules load only when asked for
        from evalctl.checks.multivariate import require_sklearn

        require_sklearn()
    ref_sel, ref_lf = open_side(store, model, reference)
    cur_sel, cur_lf = open_side(store, model, current)
    kinds = checked_columns(model, settings)
    plan, (ref_summary, chunks, per_window, key, bounds) = window_summaries(
        store, model, (ref_sel, ref_lf), (cur_sel, cur_lf), kinds, settings, windows, engine,
        spark)
    series: dict[str, list[dict[str, Any]]] = {c: [] for c in kinds}
    computed, p_values = _window_scores(kinds, ref_summary, list(per_window.values()),
                                        settings)
    for slot, (start, summaries) in enumerate(per_window.items()):
        # a window keeps only the verdict: no sides' counts or summary lines to describe
        judged = judge_features(kinds, ref_summary, summaries, settings, chunks,
                                described=False, computed=computed[slot],
                                p_values=p_values[slot])
        lo, hi, rows = bounds[start]
        for result in judged:
            series[result["feature"]].append(
                {"window_start": lo, "window_end": hi, "rows": rows, "score": result["score"],
                 "status": result["status"], "reason": result.get("reason"),
                 "method": result["method"], "threshold": result.get("threshold"),
                 "decided_by": result.get("decided_by"), "p_test": result.get("p_test"),
                 "p_value": result.get("p_value"), "p_adjusted": result.get("p_adjusted")})
    results, lead = lead_with_outputs(
        sort_worst_first([_feature_result(c, kinds[c], series[c], settings) for c in kinds]),
        model, kinds)
    inputs = {"reference": side_inputs(ref_sel), "current": side_inputs(cur_sel),
              "window": None if windows else settings.window,
              "windows": windows, "min_rows": settings.min_rows, **plan.inputs()}
    recommendations = _recommendations(results, model, cur_sel) + (
        [plan.reason] if plan.stale else [])
    if multivariate:
        from evalctl.analyses.multivariate import multivariate_recommendations

        joint, inputs["multivariate"] = _multivariate(ref_lf, cur_lf, key, bounds, model,
                                                      settings)
        results += joint
        recommendations += multivariate_recommendations(joint)
    return Report(
        command="drift", model=model.name, status=overall_status(results),
        inputs=inputs, results=results, summary={"windows": len(per_window), **lead},
        recommendations=recommendations)


def _window_scores(kinds: dict[str, str], ref: dict[str, Summary],
                   windows: list[dict[str, Summary]], settings: DriftSettings
                   ) -> tuple[list[dict[str, Score]], list[dict[str, tuple[str, float | None]]]]:
    """Per window, the raw scores of the columns whose measure compares every window with the
    reference at once (`evalctl.checks.evaluate.window_scores_and_ks`: the same scores), and
    every column's test and p-value (`evalctl.checks.aggregate.column_p_values`: the same;
    the KS statistics from the Wasserstein's running sums when it gives them)."""
    found: list[dict[str, Score]] = [{} for _ in windows]
    tested: list[dict[str, tuple[str, float | None]]] = [{} for _ in windows]
    for column, kind in kinds.items():
        curs = [w[column] for w in windows]
        scores, statistics = window_scores_and_ks(ref[column], curs, kind,
                                                  method_for(column, kind, settings))
        for slot, score in enumerate(scores):
            if score is not None:
                found[slot][column] = score
        for slot, p_value in enumerate(column_p_values(ref[column], curs, statistics)):
            tested[slot][column] = p_value
    return found, tested


Bounds = dict[Any, tuple[datetime, datetime, int]]


def window_summaries(store: Store, model: ModelConfig,
                     reference: tuple[Selection, pl.LazyFrame],
                     current: tuple[Selection, pl.LazyFrame], kinds: dict[str, str],
                     settings: DriftSettings, windows: int | None, engine: str,
                     spark: SparkEngine | None = None
                     ) -> tuple[Plan, tuple[dict[str, Summary], list[dict[str, Summary]] | None,
                                            dict[Any, dict[str, Summary]], pl.Expr, Bounds]]:
    """The source of summaries: the reference's (and its chunks'), every window's, the window
    key and each window's bounds — merged from profiles when they cover the question, else
    from a scan (bins fitted on the reference)."""
    (ref_sel, ref_lf), (cur_sel, cur_lf) = reference, current
    needs_rows = ("--windows chunks rows by count" if windows is not None else
                  "thresholds: reference_chunks needs row chunks"
                  if settings.thresholds == "reference_chunks" else None)
    step = parse_window(settings.window)
    if step % timedelta(hours=1) and spark is not None:  # Spark profiles: hourly buckets
        needs_rows = needs_rows or "the window is not a whole number of hours"
    plan = plan_engine(store, model, ref_sel, cur_sel, kinds, settings.top_k,
                       requested="scan" if engine == "spark" else engine, window=step,
                       needs_rows=needs_rows)
    if spark is not None:  # start-up time: the Spark engine loads only when one is given
        from evalctl.engines.spark import on_spark

        plan = on_spark(plan, spark, engine, needs_rows)
    if plan.engine == "profiles" and plan.reference is not None:
        progress.phase("merging profiles")
        binning = restricted(plan.reference.binning, kinds)
        bucket_key, _ = calendar_window("bucket", settings.window, cur_sel)
        ref = read_profiles(store, plan, ref_sel, binning)
        cur = read_profiles(store, plan, cur_sel, binning, bucket_key)
        scan = fallback(plan, [ref, cur], engine)
        if scan is None:
            key, _ = calendar_window(model.timestamp, settings.window, cur_sel)
            bounds = {start: (start, start + step, rows) for start, rows in cur.rows.items()}
            return plan, (ref.summaries[None], None, cur.summaries, key, bounds)
        plan = scan
    progress.phase(f"fitting bins on the reference ({ref_sel.rows:,} rows)")
    ref_parts = file_scans(store, model, ref_sel, ref_lf.collect_schema())
    on_parts = (spark.on_parts(store.storage, model, ref_sel, ref_lf.collect_schema())
                if plan.engine == "spark" and spark is not None else None)  # fit on executors
    binning = fit_binning(ref_lf, kinds, top_k=settings.top_k, parts=ref_parts,
                          on_parts=on_parts)
    if plan.engine == "spark" and spark is not None:
        progress.phase(f"summarising {len(kinds)} columns on Spark ({spark.master})")
        granularity = "1h" if step % timedelta(days=1) else "1d"
        bucket_key, _ = calendar_window("bucket", settings.window, cur_sel)
        ref = spark.merged(store.storage, model, binning, ref_sel, granularity)
        cur = spark.merged(store.storage, model, binning, cur_sel, granularity, bucket_key)
        scan = fallback(plan, [ref, cur], "auto")
        if scan is None:
            key, _ = calendar_window(model.timestamp, settings.window, cur_sel)
            bounds = {start: (start, start + step, rows) for start, rows in cur.rows.items()}
            return plan, (ref.summaries[None], None, cur.summaries, key, bounds)
        plan = scan
    ref_summary, chunks = reference_summaries(
        ref_lf, binning, model, settings, ref_parts,
        reference_chunks(store, model, ref_sel, ref_lf, settings))
    if windows is not None:  # equal-row chunks: each part's rows with their chunk
        cur_parts = chunked_scans(store, model, cur_sel, cur_lf.collect_schema(), windows)
        key, bounds = chunk_index(model.timestamp, windows), chunk_bounds(cur_parts,
                                                                         model.timestamp)
        by: str | pl.Expr = CHUNK
    else:
        cur_parts = file_scans(store, model, cur_sel, cur_lf.collect_schema())
        key, bounds = _window_key(cur_lf, model, settings.window, cur_sel, cur_parts)
        by = key
    progress.phase(f"summarising {len(kinds)} columns in {len(bounds)} windows "
                   f"({cur_sel.rows:,} rows)")
    return plan, (ref_summary, chunks, summarize(cur_lf, binning, by=by, parts=cur_parts),
                  key, bounds)


def _multivariate(ref_lf: pl.LazyFrame, cur_lf: pl.LazyFrame, key: pl.Expr,
                  bounds: dict[Any, tuple[datetime, datetime, int]], model: ModelConfig,
                  settings: DriftSettings) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    from evalctl.analyses.multivariate import (
        multivariate_features,
        multivariate_inputs,
        multivariate_results,
    )
    from evalctl.checks.multivariate import ClassifierTestOptions

    kinds, options = multivariate_features(model, settings), ClassifierTestOptions()
    return (multivariate_results(ref_lf, cur_lf, key, bounds, kinds, settings, options),
            multivariate_inputs(kinds, options))


def _window_key(lf: pl.LazyFrame, model: ModelConfig, window: str, selection: Selection,
                parts: list[pl.LazyFrame] | None = None
                ) -> tuple[pl.Expr, dict[Any, tuple[datetime, datetime, int]]]:
    """The calendar window expression and each window's (start, end, rows) — the timestamp
    column only, streamed (memory: the windows, not the rows), part by part when given
    (`file_scans`: one query over a whole selection reads ahead across its files)."""
    ts = model.timestamp
    key, step = calendar_window(ts, window, selection)
    counts = [p.select(key.alias("_w")).group_by("_w").agg(pl.len().cast(pl.Int64).alias("rows"))
              .collect(engine="streaming") for p in parts or [lf]]
    frame = pl.concat(counts).group_by("_w").agg(pl.col("rows").sum()).sort("_w")
    return key, {row["_w"]: (row["_w"], row["_w"] + step, row["rows"])
                 for row in frame.iter_rows(named=True)}


def _feature_result(column: str, kind: str, points: list[dict[str, Any]],
                    settings: DriftSettings) -> dict[str, Any]:
    statuses = mark_insufficient([p["status"] for p in points], [p["rows"] for p in points],
                                 settings.min_rows)
    for point, status in zip(points, statuses, strict=True):
        point["status"] = status
    judged = [p for p in points if p["status"] in ("pass", "warn", "fail")]
    onset_index = find_onset(statuses, level="warn")
    latest = judged[-1] if judged else None
    scores = [p["score"] for p in judged if p["score"] is not None]
    status = latest["status"] if latest else ("error" if any(
        p["status"] == "error" for p in points) else "pass")
    method = next((p["method"] for p in points if p.get("method")), None)
    threshold = latest["threshold"] if latest else None
    p_test = next((p["p_test"] for p in points if p.get("p_test")), None)
    for point in points:
        point.pop("method", None)
        point.pop("p_test", None)
    onset = points[onset_index]["window_start"] if onset_index is not None else None
    decided = latest.get("decided_by") if latest else None
    return {
        "feature": column, "kind": kind, "status": status, "method": method,
        "threshold": threshold, "onset": onset, "decided_by": decided,
        "decided_by_text": decided_text(decided) if decided else None,
        "score": latest["score"] if latest else None,
        "p_test": p_test, "p_value": latest["p_value"] if latest else None,
        "p_adjusted": latest["p_adjusted"] if latest else None,
        "max_score": max(scores) if scores else None,
        "windows": len(points), "windows_judged": len(judged),
        "windows_crossed": sum(p["status"] in ("warn", "fail") for p in judged),
        "windows_insufficient": statuses.count("insufficient"),
        "reason": None if judged else _first_reason(points),
        "series": points,
    }


def _first_reason(points: list[dict[str, Any]]) -> str | None:
    for p in points:
        if p.get("reason"):
            return str(p["reason"])
    return "every window has fewer rows than min_rows" if points else "no windows"


def _recommendations(results: list[dict[str, Any]], model: ModelConfig,
                     current: Selection) -> list[str]:
    """Each alerting column since its onset (and the check that decided its status when it is
    not the measure), then an `rca` command split at the first onset after the first day."""
    recs = []
    for r in results:
        if r["status"] in ("warn", "fail") and r["onset"] is not None:
            text = (f"{r['feature']}: drifting since {_day(r['onset'])} "
                    f"({r['windows_crossed']} of {r['windows_judged']} windows crossed)")
            if r.get("decided_by"):
                text += (f"; its latest {r['status']} comes from the data-quality check "
                         f"{r['decided_by_text']}, not from {r['method']} "
                         f"{r['score']:.3g} (fail at {r['threshold']:g})")
            recs.append(text)
    split = _rca_split(results, current)
    if recs and split is not None:
        before, after = split
        recs.append(f"if performance dropped at the onset, explain it with: evalctl rca "
                    f"--model {model.name} --baseline {before} --current {after}")
    return recs


def _rca_split(results: list[dict[str, Any]], current: Selection) -> tuple[str, str] | None:
    """Selectors before and from the first onset that is not the selection's first day."""
    days = sorted({f.date for _, _, f in current.files})
    onsets = sorted(_day(r["onset"]) for r in results
                    if r["status"] in ("warn", "fail") and r["onset"] is not None)
    onset = next((d for d in onsets if d > days[0]), None)
    if onset is None:
        return None
    sel = current.selector
    name = sel.env + (f":{sel.version}" if sel.version else "")
    last_before = (date.fromisoformat(onset) - timedelta(days=1)).isoformat()
    return f"{name}@{days[0]}..{last_before}", f"{name}@{onset}..{days[-1]}"


def _day(value: Any) -> str:
    return value.date().isoformat() if isinstance(value, datetime) else str(value)
