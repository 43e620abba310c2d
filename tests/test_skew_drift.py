"""`evalctl skew` and `evalctl drift` end to end, on the sample story and on edge cases."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from tests.helpers import make_frame, missing_minutes
from tests.helpers import validate_envelope as validate

M = ["--model", "tv-recommender"]
NOV = "production@2026-11-01..2026-11-30"


def by_feature(doc: dict, section: str | None = None) -> dict[str, dict]:
    return {r["feature"]: r for r in doc["results"]
            if section is None or r.get("section") == section}


def test_skew_finds_the_drifted_features_and_fails(story) -> None:
    result = story("skew", *M, "--current", "production@2026-11-15..2026-11-30")
    assert result.code == 1, result.stderr
    doc = result.json()
    validate(doc)
    rows = by_feature(doc, "distribution")
    assert rows["watch_minutes_7d"]["status"] == "fail"
    assert rows["age"]["status"] == "fail"
    assert rows["country"]["status"] == "pass"
    assert rows["score"]["method"] == "wasserstein"
    assert rows["predicted_label"]["kind"] == "categorical"
    assert doc["results"][0]["status"] == "fail"  # worst first
    age = rows["age"]
    for key in ("reference_std", "reference", "current", "warn", "threshold",
                "null_rate_change"):
        assert key in age, key
    assert age["reference"]["rows"] == doc["inputs"]["reference"]["rows"]
    assert doc["summary"]["fail"] >= 2


def test_skew_passes_before_the_flood_except_the_unit_bug(story) -> None:
    doc = story("skew", *M, "--current", "production@2026-11-01..2026-11-14").json()
    rows = by_feature(doc, "distribution")
    assert rows["age"]["status"] == "pass"
    assert rows["watch_minutes_7d"]["status"] == "fail"
    assert rows["watch_minutes_7d"]["quality_alerts"][0]["check"] == "out_of_range"


def test_join_key_makes_the_unit_bug_the_top_finding(story) -> None:
    result = story("skew", *M, "--reference", "training:v2", "--current",
                   "production:v1@2026-11-01..2026-11-07", "--join-key", "request_id")
    doc = result.json()
    validate(doc)
    transform = [r for r in doc["results"] if r.get("section") == "transformation"]
    top = transform[0]
    assert top["feature"] == "watch_minutes_7d" and top["status"] == "fail"
    assert abs(top["median_ratio"] - 60) < 0.5 and top["hint"] == "seconds vs minutes"
    assert top["mismatch_rate"] > 0.99
    assert all(r["status"] == "pass" for r in transform[1:])
    assert {r["feature"] for r in transform} == {
        "age", "country", "device", "tenure_months", "watch_minutes_7d", "genre_affinity",
        "sessions_7d"}
    match = doc["inputs"]["match"]
    assert match["joined"] == doc["inputs"]["reference"]["rows"]
    assert match["only_current"] == 0
    assert any("seconds vs minutes" in r for r in doc["recommendations"])


def test_skew_between_any_two_selections(story) -> None:
    result = story("skew", *M, "--reference", "validation:v1", "--current", "validation:v2")
    doc = result.json()
    rows = by_feature(doc, "distribution")
    assert rows["age"]["score"] == 0 and rows["age"]["status"] == "pass"


def test_drift_onsets_on_the_sample_story(story) -> None:
    result = story("drift", *M, "--current", NOV, "--window", "1d")
    assert result.code == 1
    doc = result.json()
    validate(doc)
    rows = by_feature(doc)
    assert rows["age"]["status"] == "fail"
    assert rows["age"]["onset"].startswith("2026-11-15")
    assert rows["score"]["onset"].startswith("2026-11-15")
    assert rows["watch_minutes_7d"]["onset"].startswith("2026-11-01")
    assert rows["country"]["onset"] is None
    series = rows["age"]["series"]
    assert len(series) == 30 and doc["summary"]["windows"] == 30
    assert set(series[0]) >= {"window_start", "window_end", "rows", "score", "status"}
    assert series[0]["window_start"] == "2026-11-01T00:00:00Z"  # RFC 3339, UTC
    assert series[0]["window_end"] == "2026-11-02T00:00:00Z"
    assert rows["age"]["onset"] == "2026-11-15T00:00:00Z"
    assert sum(p["rows"] for p in series) == doc["inputs"]["current"]["rows"]
    statuses = [p["status"] for p in series]
    # 600-row days: W/std's sampling noise can touch the warn level (0.1) before the flood,
    # never the fail level; onset is the sustained crossing
    assert "fail" not in statuses[:14] and set(statuses[14:]) == {"fail"}
    ordered = [r["status"] for r in doc["results"]]
    assert ordered.index("fail") < ordered.index("pass")


def test_drift_in_equal_row_chunks(story) -> None:
    doc = story("drift", *M, "--current", NOV, "--windows", "6").json()
    rows = by_feature(doc)
    series = rows["age"]["series"]
    assert len(series) == 6
    sizes = [p["rows"] for p in series]
    assert max(sizes) - min(sizes) <= 1
    onset = rows["age"]["onset"]
    assert onset == series[[p["window_start"] for p in series].index(onset)]["window_start"]
    # the chunk that holds the flood's first day (Nov 11-15) or the first wholly after it
    assert "2026-11-11" <= onset[:10] <= "2026-11-16"


def test_drift_flags_windows_too_small_to_judge(story) -> None:
    doc = story("drift", *M, "--current", NOV, "--window", "1d", "--min-rows", "100000").json()
    age = by_feature(doc)["age"]
    assert {p["status"] for p in age["series"]} == {"insufficient"}
    assert age["onset"] is None and age["windows_judged"] == 0
    assert doc["status"] == "pass"


def test_drift_table_has_sparklines(story) -> None:
    out = story("drift", *M, "--current", NOV, "--format", "table").stdout
    assert "2026-11-15" in out and "▁" in out and "█" in out


def test_bad_selectors_and_options_are_exit_2(story) -> None:
    for args, message in [
        (["skew", *M, "--current", "production@2025-01-01..2025-01-02"], "matched no data"),
        (["drift", *M, "--current", NOV, "--window", "1x"], "--window: expected"),
        (["drift", *M, "--current", NOV, "--windows", "1"], "--windows"),
        (["skew", *M, "--current", NOV, "--join-key", "nope"], "--join-key"),
        (["skew", "--model", "nope", "--current", NOV], "unknown model 'nope'"),
    ]:
        result = story(*args)
        assert result.code == 2, (args, result.stderr)
        assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_a_feature_that_cannot_be_computed_is_an_error_row(cli, workdir, frame_file) -> None:
    ref = make_frame(400, prefix="a")
    cur = make_frame(400, prefix="b", seed=2).with_columns(pl.lit(None, pl.Float64).alias("age"))
    ingest = ["ingest", "--model", "churn", "--version", "v1"]
    cli(*ingest, "--env", "training", str(frame_file(ref, "ref.parquet")))
    cli(*ingest, "--env", "production", str(frame_file(cur, "cur.parquet")))
    result = cli("skew", "--model", "churn", "--current", "production")
    doc = result.json()
    validate(doc)
    rows = by_feature(doc, "distribution")
    assert rows["age"]["status"] == "error" and rows["age"]["reason"]
    assert rows["minutes"]["status"] in ("pass", "warn")
    assert doc["summary"]["error"] == 1


def test_data_driven_thresholds_from_config(cli, workdir, frame_file) -> None:
    config = workdir / "evalctl.yaml"
    config.write_text(config.read_text() + "    checks:\n      skew:\n"
                      "        thresholds: reference_chunks\n        k: 3\n        chunks: 5\n"
                      "        features:\n          country: {method: l_infinity}\n")
    cli("ingest", "--model", "churn", "--version", "v1", "--env", "training",
        str(frame_file(make_frame(2000, prefix="a"), "ref.parquet")))
    shifted = make_frame(2000, prefix="b", seed=5).with_columns(pl.col("minutes") * 1.5)
    cli("ingest", "--model", "churn", "--version", "v1", "--env", "production",
        str(frame_file(shifted, "cur.parquet")))
    doc = cli("skew", "--model", "churn", "--current", "production").json()
    rows = by_feature(doc, "distribution")
    assert rows["country"]["method"] == "l_infinity"
    assert rows["minutes"]["threshold_source"].startswith("reference_chunks")
    assert rows["minutes"]["threshold"] >= 0.2  # data-driven, never tighter than the fixed one
    assert rows["minutes"]["status"] == "fail"


def test_bad_check_config_names_the_key(cli, workdir) -> None:
    config = workdir / "evalctl.yaml"
    config.write_text(config.read_text() + "    checks:\n      skew:\n"
                      "        features:\n          age: {method: magic}\n")
    result = cli("catalog")
    assert result.code == 2
    assert "models.churn.checks.skew.features.age.method: unknown method 'magic'" in \
        result.stderr


def test_markdown_for_ci_comments(story, tmp_path: Path) -> None:
    out = tmp_path / "skew.md"
    result = story("skew", *M, "--current", NOV, "--output", str(out))
    assert result.code == 1 and result.stdout == ""
    text = out.read_text()
    assert "#### distribution" in text and "❌ fail" in text
    assert json.loads(story("skew", *M, "--current", NOV, "-f", "json").stdout)["command"] == "skew"


def _rows_per_window(story, selector: str, origin: str, days: int) -> dict[str, int]:
    """Brute force: the story's production rows in `selector`'s dates, per `days`-day window
    counted from `origin`."""
    raw = pl.read_csv(story.data / "production_v1.csv", try_parse_dates=True)
    start, _, end = selector.partition("@")[2].partition("..")
    raw = raw.filter(pl.col("ts").dt.date().is_between(pl.lit(start).str.to_date(),
                                                       pl.lit(end).str.to_date()))
    offset = (raw["ts"].dt.date() - pl.lit(origin).str.to_date()).dt.total_days() // days
    counts = raw.with_columns(offset.alias("w")).group_by("w").len()
    base = pl.lit(origin).str.to_date()
    return {str(d): n for d, n in counts.select(
        (base + pl.duration(days=pl.col("w") * days)).alias("d"), "len").iter_rows()}


def test_multi_day_windows_start_on_the_first_selected_day(story) -> None:
    """7d windows used to be polars' epoch-aligned buckets (Thursdays: 2026-10-29 for a
    selection starting 2026-11-03); they start on the selection's first day now."""
    selector = "production@2026-11-03..2026-11-20"
    doc = story("drift", *M, "--current", selector, "--window", "7d").json()
    series = by_feature(doc)["age"]["series"]
    got = {p["window_start"][:10]: p["rows"] for p in series}
    assert list(got) == ["2026-11-03", "2026-11-10", "2026-11-17"]
    assert got == _rows_per_window(story, selector, "2026-11-03", 7)
    daily = story("drift", *M, "--current", selector, "--window", "1d").json()
    days = {p["window_start"][:10]: p["rows"] for p in by_feature(daily)["age"]["series"]}
    assert days == _rows_per_window(story, selector, "2026-11-03", 1)
    estimate = story("estimate", *M, "--current", selector, "--window", "7d").json()
    starts = sorted(r["window_start"][:10] for r in estimate["results"]  # one row per metric
                    if r.get("section") == "windows"
                    and r["metric"] == estimate["summary"]["metric"])
    assert starts == ["2026-11-03", "2026-11-10", "2026-11-17"]


def test_a_status_set_by_a_quality_check_names_it(cli, frame_file) -> None:
    missing_minutes(cli, frame_file)
    doc = cli("skew", "--model", "churn", "--reference", "training", "--current",
              "production").json()
    rows = by_feature(doc, "distribution")
    minutes = rows["minutes"]
    assert minutes["status"] == "fail" and minutes["score"] < minutes["threshold"]
    decided = minutes["decided_by"]
    assert decided["check"] == "null_rate_change" and decided["threshold"] == 0.1
    assert abs(decided["value"] - minutes["null_rate_change"]) < 1e-12
    assert 0.25 < decided["value"] < 0.35 and minutes["measure_status"] == "pass"
    assert rows["age"]["decided_by"] is None  # its own measure decided
    (rec,) = [r for r in doc["recommendations"] if r.startswith("minutes:")]
    assert "null_rate_change" in rec and "not its distribution" in rec
    table = cli("skew", "--model", "churn", "--reference", "training", "--current",
                "production", "-f", "table").stdout
    assert "decided by" in table and "null_rate_change" in table


def test_drift_series_and_result_carry_the_deciding_check(cli, frame_file) -> None:
    missing_minutes(cli, frame_file)
    result = cli("drift", "--model", "churn", "--reference", "training", "--current",
                 "production", "--window", "1d")
    doc = result.json()
    minutes = by_feature(doc)["minutes"]
    assert result.code == 1 and minutes["status"] == "fail"
    assert minutes["score"] < minutes["threshold"]  # PSI alone would pass
    assert minutes["decided_by"]["check"] == "null_rate_change"
    assert all(p["decided_by"]["check"] == "null_rate_change" for p in minutes["series"])
    assert minutes["decided_by_text"].startswith("null_rate_change 0.")
    assert any("data-quality check null_rate_change" in r for r in doc["recommendations"])
    assert by_feature(doc)["age"]["decided_by"] is None


def test_chunk_thresholds_are_mean_plus_k_std_of_the_chunk_scores() -> None:
    """The data-driven thresholds skew applies: each reference chunk scored against the whole
    reference; fail at mean + k·std, warn at mean + (k-1)·std (NannyML's rule) -- never
    stricter than the measure's fixed thresholds (the floor that stops them crying wolf)."""
    import numpy as np

    from evalctl.analyses.skew import chunk_thresholds
    from evalctl.checks import compute_score
    from evalctl.stats import fit_binning, merge, summarize

    rng = np.random.default_rng(2)
    frame = pl.LazyFrame({"x": rng.normal(size=6000), "c": rng.choice(["a", "b", "c"], 6000),
                          "chunk": np.repeat(np.arange(6), 1000)})
    binning = fit_binning(frame, {"x": "numeric", "c": "categorical"})
    chunks = list(summarize(frame, binning, by="chunk").values())
    whole, whole_c = chunks[0]["x"], chunks[0]["c"]
    for chunk in chunks[1:]:
        whole, whole_c = merge(whole, chunk["x"]), merge(whole_c, chunk["c"])
    warn, fail = chunk_thresholds("x", "numeric", whole, chunks, "jensen_shannon", k=3.0)
    scores = np.array([compute_score(whole, c["x"], "numeric", "jensen_shannon").value
                       for c in chunks])
    assert len(scores) == 6 and ((scores >= 0) & (scores < 0.1)).all()
    band_fail, band_warn = scores.mean() + 3 * scores.std(), scores.mean() + 2 * scores.std()
    assert band_fail < 0.2 and band_warn < 0.1  # the band is tighter than the fixed 0.1 / 0.2
    assert (warn, fail) == (0.1, 0.2)  # ... so the floor decides
    wide_warn, wide_fail = chunk_thresholds("x", "numeric", whole, chunks, "jensen_shannon",
                                            k=60.0)
    assert wide_fail == pytest.approx(scores.mean() + 60 * scores.std()) and wide_fail > 0.2
    assert wide_warn == pytest.approx(scores.mean() + 59 * scores.std())
    # a p-value measure (lower is worse) puts its thresholds below the mean
    low_warn, low_fail = chunk_thresholds("c", "categorical", whole_c, chunks, "chi_square", 3.0)
    p_values = np.array([compute_score(whole_c, c["c"], "categorical", "chi_square").value
                         for c in chunks])
    band = (p_values.mean() - 2 * p_values.std(), p_values.mean() - 3 * p_values.std())
    assert low_fail == pytest.approx(min(band[1], 0.01))  # never stricter than p < 0.01
    assert low_warn == pytest.approx(min(band[0], 0.05)) and low_fail <= low_warn


def test_schema_row_names_missing_and_new_columns_not_csv_types(cli, frame_file) -> None:
    """The schema row compares the raw exports: a dropped and an added column warn; a CSV
    side (no types) is never called retyped."""
    ingest = ["ingest", "--model", "churn", "--version", "v1"]
    cli(*ingest, "--env", "training", str(frame_file(make_frame(400, prefix="a"), "t.parquet")))
    cur = make_frame(400, prefix="b", seed=3).drop("clicked").with_columns(
        pl.lit(1).alias("extra"))
    cli(*ingest, "--env", "production", str(frame_file(cur, "p.csv")))
    doc = cli("skew", "--model", "churn", "--current", "production").json()
    (schema,) = [r for r in doc["results"] if r.get("section") == "schema"]
    assert schema["new"] == ["extra"] and schema["missing"] == []  # clicked is a proxy
    assert schema["retyped"] == [] and schema["types_compared"] is False
    assert schema["status"] == "warn" and schema["summary"] == "new: extra"
