"""`evalctl rca` end to end: the sample story, and small stores where the answer is planted."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import polars as pl
import pytest
from tests.helpers import RCA_CHURN as CHURN
from tests.helpers import validate_envelope as validate
from tests.helpers import write_window

M = ["--model", "tv-recommender"]
BEFORE = "production@2026-11-01..2026-11-14"
AFTER = "production@2026-11-15..2026-11-25"


@pytest.fixture(scope="module")
def story_doc(story) -> tuple[int, dict]:
    result = story("rca", *M, "--baseline", BEFORE, "--current", AFTER, "--format", "json")
    assert result.stderr == ""
    return result.code, result.json()


def rows(doc: dict, section: str) -> list[dict]:
    return [r for r in doc["results"] if r["section"] == section]


def test_the_young_are_the_top_cause_of_the_story(story_doc) -> None:
    code, doc = story_doc
    validate(doc)
    assert code == 1 and doc["status"] == "fail"
    assert doc["summary"]["failure_mode"] == "population_shift"
    assert doc["summary"]["top_cause"] == "age"
    causes = rows(doc, "causes")
    assert causes[0]["feature"] == "age" and causes[0]["mode"] == "population_shift"
    assert causes[0]["explained_pct"] > 50
    segment = rows(doc, "segments")[0]
    assert segment["feature"] == "age" and segment["id"].startswith("age=[-inf,")
    assert segment["share_baseline"] < 0.1 < 0.25 < segment["share_current"]
    assert segment["metric_baseline"] < segment["rest_baseline"] - 0.1
    assert "augment the training data" in doc["recommendations"][1]
    assert f"--segment '{segment['id']}'" in doc["recommendations"][1]


def test_the_logging_bug_is_a_pipeline_problem_not_the_cause(story_doc) -> None:
    _, doc = story_doc
    watch = next(r for r in rows(doc, "causes") if r["feature"] == "watch_minutes_7d")
    assert watch["mode"] == "pipeline" and watch["status"] == "warn"
    assert watch["skew_baseline_status"] == "fail" and watch["skew_current_status"] == "fail"
    assert watch["drift_status"] == "pass" and abs(watch["explained_pct"]) < 5
    assert all(s["feature"] != "watch_minutes_7d" for s in rows(doc, "segments"))
    assert any("watch_minutes_7d" in r and "--join-key request_id" in r
               for r in doc["recommendations"])


def test_mix_performance_and_interaction_add_up_to_the_change(story_doc) -> None:
    _, doc = story_doc
    change = rows(doc, "change")[0]["change"]
    for row in rows(doc, "causes"):
        total = row["mix"] + row["performance"] + row["interaction"]
        assert total == pytest.approx(change, abs=1e-12), row["feature"]


def test_segment_numbers_match_the_raw_export(story, story_doc) -> None:
    _, doc = story_doc
    raw = pl.read_csv(story.data / "production_v1.csv", try_parse_dates=True).with_columns(
        (pl.col("predicted_label") == pl.col("watched")).cast(pl.Float64).alias("ok"),
        pl.col("ts").dt.date().alias("day"))
    before = raw.filter(pl.col("day") <= pl.date(2026, 11, 14))
    after = raw.filter((pl.col("day") >= pl.date(2026, 11, 15))
                       & (pl.col("day") <= pl.date(2026, 11, 25)))
    segment = rows(doc, "segments")[0]
    cut = float(segment["id"].split(",")[1].rstrip(")"))
    young = before.filter(pl.col("age") < cut)
    assert segment["share_baseline"] == pytest.approx(young.height / before.height, abs=1e-12)
    assert segment["metric_baseline"] == pytest.approx(young["ok"].mean(), abs=1e-12)
    change = rows(doc, "change")[0]
    assert change["change"] == pytest.approx(after["ok"].mean() - before["ok"].mean(), abs=1e-12)


def test_a_finding_leads_to_its_examples(story, story_doc, tmp_path: Path) -> None:
    _, doc = story_doc
    segment = rows(doc, "segments")[0]
    out = tmp_path / "young.parquet"
    result = story("export", *M, "--selector", AFTER, "--segment", segment["id"], "--out", out,
                   "--format", "json")
    assert result.code == 0, result.stderr
    assert result.json()["summary"]["rows"] == segment["n_current"] == pl.read_parquet(out).height


def test_a_change_within_noise_stops_there(story) -> None:
    result = story("rca", *M, "--baseline", "production@2026-11-01..2026-11-07",
                   "--current", "production@2026-11-08..2026-11-14", "--format", "json")
    doc = result.json()
    validate(doc)
    assert result.code == 0 and doc["status"] == "pass"
    assert [r["section"] for r in doc["results"]] == ["change"]
    assert doc["summary"]["failure_mode"] == "within_noise"
    assert doc["recommendations"][0].endswith("within noise — nothing to explain")


def test_late_labels_come_from_the_actuals_and_fail_on_never(story) -> None:
    result = story("rca", *M, "--baseline", BEFORE, "--current",
                   "production@2026-11-26..2026-11-30", "--format", "json", "--fail-on", "never")
    doc = result.json()
    current = doc["inputs"]["current"]
    assert result.code == 0 and doc["status"] == "fail"
    assert current["labelled"] == current["rows"] == current["from_actuals"]
    assert doc["summary"]["top_cause"] == "age"


def test_brier_score_is_decomposed_by_its_own_scan(story) -> None:
    doc = story("rca", *M, "--baseline", BEFORE, "--current", AFTER, "--metric", "brier",
                "--format", "json").json()
    raw = pl.read_csv(story.data / "production_v1.csv", try_parse_dates=True)
    brier = raw.with_columns(((pl.col("score") - pl.col("watched")) ** 2).alias("b"))
    before = brier.filter(pl.col("ts").dt.date() <= pl.date(2026, 11, 14))["b"].mean()
    change = rows(doc, "change")[0]
    assert change["baseline"] == pytest.approx(before, rel=1e-12)
    assert change["lower_is_better"] and doc["summary"]["top_cause"] == "age"
    for row in rows(doc, "causes"):
        total = row["mix"] + row["performance"] + row["interaction"]
        assert total == pytest.approx(change["change"], abs=1e-12)


def test_summary_cells_and_the_grouped_query_give_the_same_segments(story) -> None:
    from tests.helpers import STORY_CONFIG

    from evalctl.analyses import rca_segments as segments
    from evalctl.analyses.rca_metric import row_term
    from evalctl.lake.selectors import parse_selector
    from evalctl.lake.store import Store
    from evalctl.settings.load import load_config
    from evalctl.stats import fit_binning

    store = Store.open(story.store)
    model = load_config(str(STORY_CONFIG)).model("tv-recommender")
    windows = [store.select(model.name, parse_selector(s)) for s in (BEFORE, AFTER)]
    features = dict(model.features)
    binning = fit_binning(store.scan(model, windows[0].selector, with_actuals=False), features)
    term = row_term(model, "accuracy")
    by_key = segments.summarize_sides(store, model, [None, *windows], binning, term)
    base = segments.merge_side(by_key, segments.BASE)
    edges = {f: segments.segment_edges(base[f], 20) for f, k in features.items()
             if k == "numeric"}
    cells = segments.cells_table(by_key, binning, features, edges)
    scans = [store.scan(model, w.selector, selection=w) for w in windows]
    query = segments.segment_query(scans, binning, features, edges, term)
    order = ["side", "feature", "segment"]
    assert cells.select(query.columns).sort(order).equals(query.sort(order))


def test_degradation_inside_segments_is_concept_drift(cli, frame_file) -> None:
    write_window(frame_file, cli, 4000, 1, datetime(2026, 11, 1), young=0.05)
    write_window(frame_file, cli, 4000, 2, datetime(2026, 11, 5), young=0.05, noise=0.5)
    result = cli(*CHURN)
    doc = result.json()
    validate(doc)
    assert result.code == 1 and doc["summary"]["failure_mode"] == "concept_drift"
    assert doc["inputs"]["reference"] is None  # no training data: no pipeline check
    assert all(r["mode"] in ("none", "co_shift") for r in rows(doc, "causes"))
    assert any("retrain on recent data" in r for r in doc["recommendations"])
    assert {s["effect"] for s in rows(doc, "segments")} == {"performance"}


def test_drift_that_explains_nothing_points_at_the_pipeline(cli, frame_file) -> None:
    write_window(frame_file, cli, 4000, 3, datetime(2026, 11, 1), young=0.05)
    write_window(frame_file, cli, 4000, 4, datetime(2026, 11, 5), young=0.05, noise=0.5,
                 unit=5.0)
    doc = cli(*CHURN).json()
    minutes = next(r for r in rows(doc, "causes") if r["feature"] == "minutes")
    assert minutes["mode"] == "drift_without_effect" and minutes["status"] == "warn"
    assert doc["summary"]["failure_mode"] == "data_quality"
    assert any(r.startswith("minutes:") and "evalctl drift" in r for r in doc["recommendations"])


def test_a_column_that_moved_with_the_shift_is_not_blamed(cli, frame_file) -> None:
    # the segment found is age < 24, so the 24-year-olds' minutes (1/9 of the young) still
    # move outside it: x2 is a real drift there by W/std (0.19), x1.3 is not (0.09)
    write_window(frame_file, cli, 6000, 5, datetime(2026, 11, 1), young=0.05, minutes_scale=1.3)
    write_window(frame_file, cli, 6000, 6, datetime(2026, 11, 5), young=0.5, minutes_scale=1.3)
    doc = cli(*CHURN).json()
    causes = {r["feature"]: r for r in rows(doc, "causes")}
    assert doc["summary"]["top_cause"] == "age"
    assert causes["minutes"]["mode"] == "co_shift" and causes["minutes"]["status"] == "pass"
    assert causes["minutes"]["moved_with"].startswith("age <")


def test_the_baseline_files_are_read_once_for_the_fit_and_the_co_shift_check(
        cli, frame_file, monkeypatch: pytest.MonkeyPatch) -> None:
    """The fit and the co-shift check read the baseline's stride sample from memory: one scan
    of the baseline's files for both (the bounded-memory fit reads its input two to three
    times), and the same findings as reading the store."""
    from evalctl.analyses import rca
    from evalctl.lake.store import Store

    write_window(frame_file, cli, 6000, 5, datetime(2026, 11, 1), young=0.05, minutes_scale=1.3)
    write_window(frame_file, cli, 6000, 6, datetime(2026, 11, 5), young=0.5, minutes_scale=1.3)
    scans: list[str] = []
    fitted: list[str] = []
    store_scan, fit = Store.scan, rca.fit_binning

    def counted_scan(self, model, selector, **kwargs):  # type: ignore[no-untyped-def]
        if not kwargs.get("with_actuals", True):
            scans.append(selector.text)
        return store_scan(self, model, selector, **kwargs)

    def recorded_fit(lf, *args, **kwargs):  # type: ignore[no-untyped-def]
        fitted.append(lf.explain())
        return fit(lf, *args, **kwargs)

    monkeypatch.setattr(Store, "scan", counted_scan)
    monkeypatch.setattr(rca, "fit_binning", recorded_fit)
    doc = cli(*CHURN).json()
    baseline = CHURN[CHURN.index("--baseline") + 1]
    assert scans.count(baseline) == 1  # the sample; the co-shift check ran (below)
    assert len(fitted) == 1 and "SCAN" not in fitted[0]  # an in-memory frame
    causes = {r["feature"]: r for r in rows(doc, "causes")}
    assert causes["minutes"]["mode"] == "co_shift"


def test_without_current_labels_drift_and_mix_are_still_judged(cli, frame_file) -> None:
    write_window(frame_file, cli, 4000, 7, datetime(2026, 11, 1), young=0.05)
    write_window(frame_file, cli, 4000, 8, datetime(2026, 11, 5), young=0.4, labelled=False)
    result = cli(*CHURN)
    doc = result.json()
    validate(doc)
    change = rows(doc, "change")[0]
    assert result.code == 0 and change["mode"] == "performance_unknown"
    assert change["status"] == "warn" and change["change"] is None
    age = next(r for r in rows(doc, "causes") if r["feature"] == "age")
    assert age["mode"] == "population_shift" and age["estimated_mix"] < -0.02
    segment = rows(doc, "segments")[0]
    assert "(estimate)" in segment["finding"]
    assert any("ingest-actuals" in r for r in doc["recommendations"])


@pytest.mark.parametrize(("extra", "message"), [
    (["--metric", "roc_auc"], "--metric: rca decomposes metrics that are means over rows"),
    (["--reference", "training:v9"], "selector 'training:v9'"),
    (["--baseline", "production@2026-13-01"], "is not a date"),
])
def test_bad_input_is_one_line_and_exit_2(story, extra: list[str], message: str) -> None:
    args = {"--baseline": BEFORE, "--current": AFTER}
    flags = [a for k, v in args.items() if k not in extra for a in (k, v)]
    result = story("rca", *M, *flags, *extra)
    assert result.code == 2 and result.no_report()
    assert len(result.stderr.strip().splitlines()) == 1 and message in result.stderr


def test_the_table_shows_the_sections(story) -> None:
    result = story("rca", *M, "--baseline", BEFORE, "--current", AFTER, "-f", "table")
    for title in ("· change", "· causes", "· segments", "· outputs", "population_shift"):
        assert title in result.stdout


def test_a_drift_status_set_by_a_quality_check_is_named_in_the_finding() -> None:
    from evalctl.analyses.rca_findings import drift_fields, output_row

    decided = {"check": "null_rate_change", "value": 0.31, "threshold": 0.1, "status": "fail"}
    drifted = [{"feature": "score", "method": "psi", "score": 0.0012, "threshold": 0.25,
                "status": "fail", "summary": "", "decided_by": decided,
                "decided_by_text": "null_rate_change 0.31 ≥ 0.1 (fail)"}]
    row = output_row("score", drifted, [])
    assert row["drift_decided_by"] == decided
    assert "psi 0.0012, fail set by null_rate_change 0.31 ≥ 0.1 (fail)" in row["finding"]
    plain = drift_fields("score", [{**drifted[0], "decided_by": None,
                                    "decided_by_text": None}], [])
    assert plain["drift_decided_by"] is None


def test_a_continuous_terms_segment_sums_are_order_free_and_exact() -> None:
    """`segment_query` sums the row term on a fixed-point grid: shuffled rows give the same
    bits, equal to `math.fsum` up to the grid's rounding: half a step of 2^-61 × the largest
    |value| per row (see `evalctl.stats.exact`)."""
    import math

    import numpy as np
    import polars as pl

    from evalctl.analyses import rca_segments as segments
    from evalctl.lake.store import LABEL_SOURCE_COL
    from evalctl.stats import fit_binning

    rng = np.random.default_rng(5)
    n = 20_000
    term = rng.lognormal(0.0, 3.0, n) * rng.choice([1.0, -1.0], n)
    term[::97] = np.nan
    frame = pl.DataFrame({"t": term, "x": rng.integers(0, 7, n).astype(float),
                          LABEL_SOURCE_COL: rng.choice(["actuals", "inline"], n)}
                         ).with_columns(pl.col("t").fill_nan(None))
    binning = fit_binning(frame.lazy(), {"x": "numeric"})
    edges = {"x": [2.0, 4.0]}

    def run(seed: int) -> pl.DataFrame:
        shuffled = frame.sample(fraction=1.0, shuffle=True, seed=seed).lazy()
        return segments.segment_query([shuffled, shuffled], binning, {"x": "numeric"}, edges,
                                      pl.col("t")).sort("side", "feature", "segment")

    first = run(0)
    assert all(run(seed).equals(first) for seed in (1, 2, 3))
    codes = np.searchsorted(edges["x"], frame["x"].to_numpy(), side="right")
    values = frame["t"].to_numpy()
    for segment in range(3):
        picked = values[(codes == segment) & ~np.isnan(values)]
        row = first.filter((pl.col("feature") == "x") & (pl.col("segment") == segment)).row(
            0, named=True)
        assert row["n"] == picked.size
        for name, x in (("sum", picked), ("sumsq", picked * picked)):
            step = np.nanmax(np.abs(frame["t"].to_numpy() ** (1 if name == "sum" else 2)))
            bound = picked.size * step * 2.0**-61 + abs(math.fsum(x)) * 2.0**-52
            assert abs(row[name] - math.fsum(x)) <= bound
