"""`evalctl compare` end to end: the sample story's shadow challenger, gates, bad input."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import polars as pl
import pytest
from scipy.stats import chi2
from sklearn.metrics import accuracy_score, roc_auc_score
from tests.helpers import REGRESSION_CONFIG, make_frame
from tests.helpers import validate_envelope as validate

from evalctl import api
from evalctl.errors import ConfigError
from evalctl.lake import Store, parse_selector
from evalctl.settings.checks import parse_compare_settings
from evalctl.settings.load import load_config
from evalctl.settings.sections import CompareSettings

M = ["--model", "tv-recommender"]
LABELLED = "production@2026-11-01..2026-11-25"  # inline labels only (later days: actuals)
V1V2 = ["compare", *M, "--champion", "v1", "--challenger", "v2"]


def by_slice(doc: dict) -> dict[tuple[str, str], dict[str, dict]]:
    """The results (long format: one per segment and model) as segment -> version -> row."""
    segments: dict[tuple[str, str], dict[str, dict]] = {}
    for r in doc["results"]:
        segments.setdefault((r["slice"], r["segment"]), {})[r["version"]] = r
    return segments


def test_results_are_long_one_row_per_segment_and_model(story_doc) -> None:
    rows = story_doc["results"]
    assert all(not {"v1", "v2", "models", "vs_champion"} & r.keys() for r in rows)
    segments = by_slice(story_doc)
    assert len(rows) == 2 * len(segments)
    for (slice_, segment), models in segments.items():
        assert list(models) == ["v1", "v2"], (slice_, segment)
        champion, challenger = models["v1"], models["v2"]
        assert (champion["role"], challenger["role"]) == ("champion", "challenger")
        assert champion["delta"] is None and champion["significant"] is None
        same = ("status", "n", "winner", "why")
        assert [champion[k] for k in same] == [challenger[k] for k in same]
        if challenger["delta"] is not None:
            assert challenger["delta"] == pytest.approx(challenger["value"] - champion["value"],
                                                        abs=1e-12)
    # a segment's rows stay together, champion first
    keys = [(r["slice"], r["segment"]) for r in rows]
    assert keys[::2] == keys[1::2] and [r["version"] for r in rows[:2]] == ["v1", "v2"]


@pytest.fixture(scope="module")
def story_doc(story) -> dict:
    result = story(*V1V2, "--selector", "production@2026-11-01..2026-11-30")
    assert result.code == 0, result.stderr
    return result.json()


def test_shadow_challenger_is_better_overall_but_worse_for_brazil(story_doc) -> None:
    validate(story_doc)
    rows = by_slice(story_doc)
    overall, brazil = rows[("overall", "all")], rows[("country", "BR")]
    assert overall["v2"]["value"] > overall["v1"]["value"] and overall["v1"]["winner"] == "v2"
    assert overall["v2"]["significant"]
    assert brazil["v2"]["value"] < brazil["v1"]["value"] - 0.02
    assert brazil["v1"]["winner"] == "v1"
    assert brazil["v2"]["regressed"] and brazil["v1"]["status"] == brazil["v2"]["status"] == "warn"
    summary = story_doc["summary"]
    assert (summary["verdict"], summary["recommended"]) == ("promote_with_caution", "v2")
    first = story_doc["recommendations"][0]
    assert "v2 is better than v1 overall" in first and "worse on country=BR (" in first
    assert "promote with caution" in first
    coverage = story_doc["inputs"]["coverage"]
    assert coverage["common"] == coverage["evaluated"] == coverage["ids"]["v1"]
    assert coverage["from_actuals"] > 0  # the last five days' labels are delayed actuals
    statuses = [r["status"] for r in story_doc["results"]]
    assert statuses == sorted(statuses, key=["fail", "error", "warn", "insufficient",
                                             "pass"].index)


def _raw(story, selector_end: str = "2026-11-25") -> pl.DataFrame:
    window = (pl.col("ts").dt.date() >= pl.date(2026, 11, 1)) & (
        pl.col("ts").dt.date() <= pl.date(2026, 11, int(selector_end[-2:])))
    v1 = pl.read_csv(story.data / "production_v1.csv", try_parse_dates=True).filter(window)
    v2 = pl.read_ndjson(story.data / "shadow_v2.jsonl").select("request_id", "score",
                                                               "predicted_label")
    return v1.join(v2, on="request_id", suffix="_v2")


def test_values_and_mcnemar_match_an_independent_computation(story) -> None:
    doc = story(*V1V2, "--selector", LABELLED).json()
    raw = _raw(story)
    overall = by_slice(doc)[("overall", "all")]
    y, a, b = raw["watched"], raw["predicted_label"], raw["predicted_label_v2"]
    assert overall["v1"]["n"] == overall["v2"]["n"] == raw.height
    assert overall["v1"]["value"] == pytest.approx(accuracy_score(y, a), abs=1e-12)
    assert overall["v2"]["value"] == pytest.approx(accuracy_score(y, b), abs=1e-12)
    only_v1 = int(((a == y) & (b != y)).sum())
    only_v2 = int(((a != y) & (b == y)).sum())
    test = overall["v2"]
    expected = (abs(only_v1 - only_v2) - 1) ** 2 / (only_v1 + only_v2)
    assert test["statistic"] == pytest.approx(expected, rel=1e-12)
    assert test["p_value"] == pytest.approx(chi2.sf(expected, 1), rel=1e-9, abs=1e-300)
    assert test["test"] == "mcnemar (chi-square, continuity)"


def test_roc_auc_uses_paired_delong(story) -> None:
    doc = story(*V1V2, "--selector", LABELLED, "--metric", "roc_auc").json()
    raw = _raw(story)
    test = by_slice(doc)[("overall", "all")]["v2"]
    expected = roc_auc_score(raw["watched"], raw["score_v2"]) - roc_auc_score(
        raw["watched"], raw["score"])
    assert test["delta"] == pytest.approx(expected, abs=1e-12)
    assert test["test"] == "delong (paired)"
    assert test["delta_ci_low"] < expected < test["delta_ci_high"]
    assert by_slice(doc)[("country", "BR")]["v2"]["regressed"]


def test_discovered_slices_of_the_champion_are_compared_too(story) -> None:
    doc = story(*V1V2, "--selector", LABELLED, "--discover").json()
    validate(doc)
    found = [r for r in doc["results"] if r["slice"] == "discovered"]
    assert found and any(r["segment"].startswith("age < ") for r in found)  # the young users
    assert all(r["value"] is not None for r in found)
    assert all("p_adjusted" in r for r in found if r["role"] == "challenger")
    young = max((r for r in found if r["version"] == "v1"),
                key=lambda r: r["n"] if r["segment"].startswith("age < ") else 0)
    assert young["value"] < by_slice(doc)[("overall", "all")]["v1"]["value"] - 0.1


def test_gate_fails_on_the_regressed_slice(story) -> None:
    result = story(*V1V2, "--selector", LABELLED, "--gate")
    assert result.code == 1
    doc = result.json()
    assert doc["status"] == "fail"
    brazil = by_slice(doc)[("country", "BR")]
    assert all(r["status"] == "fail" and r["why"].startswith("gate: v2 worse")
               for r in brazil.values())
    assert story(*V1V2, "--selector", LABELLED, "--gate", "--fail-on", "never").code == 0


def test_table_has_a_row_per_model_and_the_winner(story) -> None:
    result = story(*V1V2, "--selector", LABELLED, "--format", "table")
    assert result.code == 0
    lines = result.stdout.splitlines()
    header = next(line for line in lines if "status" in line)
    assert all(word in header for word in ("segment", "model", "metric", "winner", "why"))
    overall = [line for line in lines if "│ overall" in line]
    assert len(overall) == 2 and "│ v1 " in overall[0] and "│ v2 " in overall[1]
    assert "promote with caution" in " ".join(result.stdout.split())


def test_bootstrap_results_are_reproducible(story) -> None:
    args = [*V1V2, "--selector", LABELLED, "--metric", "f1", "--n-boot", "200"]
    first, again = (story(*args).json()["results"] for _ in range(2))
    other = story(*args, "--seed", "1").json()["results"]
    assert first == again
    overall = [by_slice({"results": r})[("overall", "all")]["v2"] for r in (first, other)]
    assert overall[0]["delta"] == overall[1]["delta"]
    assert overall[0]["delta_ci_low"] != overall[1]["delta_ci_low"]


@pytest.mark.parametrize(("args", "message"), [
    (["--challenger", "v9", "--selector", LABELLED],
     "--challenger v9: no shadow or production predictions"),
    (["--challenger", "v2", "--selector", "production@2025-01-01..2025-01-07"],
     "--champion v1: no production predictions"),
    (["--challenger", "v2", "--selector", "production:v1"], "give no version"),
    (["--challenger", "v2", "--selector", LABELLED, "--metric", "ece"],
     "no paired test for 'ece'"),
    (["--challenger", "v1", "--selector", LABELLED], "each version may be named only once"),
])
def test_bad_input_is_one_line_and_exit_2(story, args, message) -> None:
    result = story("compare", *M, "--champion", "v1", *args)
    assert result.code == 2 and result.no_report()
    assert result.stderr.count("\n") == 1 and message in result.stderr


# -- the small churn model of conftest: several challengers, no labels, no common ids -------
INGEST = ["ingest", "--model", "churn"]
CHURN = ["compare", "--model", "churn", "--champion", "v1", "--selector", "production"]


def _challengers(frame: pl.DataFrame) -> dict[str, pl.DataFrame]:
    """v2 is better everywhere (its score leans on the label); v3 predicts exactly as v1."""
    score = (0.7 * frame["score"] + 0.3 * frame["label"]).alias("score")
    better = frame.with_columns(score, (score >= 0.5).cast(pl.Int64).alias("predicted_label"))
    return {"v2": better, "v3": frame}


def _ingest_all(cli, frame_file, frame: pl.DataFrame, labels: bool = True) -> None:
    frames = {"v1": frame, **_challengers(frame)}
    for version, df in frames.items():
        if not labels:
            df = df.with_columns(pl.lit(None, pl.Int64).alias("label"))
        env = "production" if version == "v1" else "shadow"
        assert cli(*INGEST, "--version", version, "--env", env,
                   str(frame_file(df, f"{version}.parquet"))).code == 0


def test_promotes_the_challenger_that_is_better_everywhere(cli, frame_file) -> None:
    _ingest_all(cli, frame_file, make_frame(3000, seed=3))
    result = cli(*CHURN, "--challenger", "v2", "--challenger", "v3", "--gate")
    assert result.code == 0, result.stdout
    doc = result.json()
    validate(doc)
    assert (doc["summary"]["verdict"], doc["summary"]["recommended"]) == ("promote", "v2")
    overall = by_slice(doc)[("overall", "all")]
    same = overall["v3"]
    assert same["delta"] == 0 and same["p_value"] == 1.0 and not same["significant"]
    assert doc["recommendations"][0].startswith("promote v2: better than v1 overall")
    alone = cli(*CHURN, "--challenger", "v3", "--gate")
    assert alone.code == 1
    assert alone.json()["summary"]["verdict"] == "keep_champion"
    assert "keep the champion v1" in alone.json()["recommendations"][0]


def test_prefers_the_challenger_without_regressions(cli, frame_file) -> None:
    frame = make_frame(3000, seed=6)
    rng = np.random.default_rng(6)
    mild = 0.85 * frame["score"] + 0.15 * frame["label"]
    right = (frame["country"] != "BR").to_numpy() | (rng.random(3000) < 0.6)
    sharp = np.where(right, frame["label"], 1 - frame["label"])  # perfect, except for BR
    versions = {"v1": frame, "v2": frame.with_columns(
        mild.alias("score"), (mild >= 0.5).cast(pl.Int64).alias("predicted_label")),
        "v4": frame.with_columns(pl.Series("score", sharp.astype(float)),
                                 pl.Series("predicted_label", sharp))}
    for version, df in versions.items():
        env = "production" if version == "v1" else "shadow"
        assert cli(*INGEST, "--version", version, "--env", env,
                   str(frame_file(df, f"{version}.parquet"))).code == 0
    doc = cli(*CHURN, "--challenger", "v2", "--challenger", "v4").json()
    assert (doc["summary"]["verdict"], doc["summary"]["recommended"]) == ("promote", "v2")
    assert doc["summary"]["regressed_slices"] == ["country=BR (v4)"]
    assert doc["recommendations"][1].startswith("v4 gains more overall (+")
    assert doc["recommendations"][1].endswith("but regresses on country=BR")


def test_without_ground_truth_compares_agreement(cli, frame_file) -> None:
    _ingest_all(cli, frame_file, make_frame(1500, seed=4), labels=False)
    result = cli(*CHURN, "--challenger", "v2")
    assert result.code == 0, result.stderr
    doc = result.json()
    validate(doc)
    assert doc["summary"]["verdict"] == "cannot_judge"
    assert "performance cannot be judged" in doc["recommendations"][0]
    overall = by_slice(doc)[("overall", "all")]
    assert overall["v1"]["agreement"] is None and 0 < overall["v2"]["agreement"] < 1
    assert doc["summary"]["model_columns"] == "positive_rate"
    assert all(0 <= r["positive_rate"] <= 1 for r in doc["results"])
    assert cli(*CHURN, "--challenger", "v2", "--gate").code == 1


def test_no_common_ids_is_an_input_error(cli, frame_file) -> None:
    cli(*INGEST, "--version", "v1", "--env", "production",
        str(frame_file(make_frame(200), "a.parquet")))
    cli(*INGEST, "--version", "v2", "--env", "shadow",
        str(frame_file(make_frame(200, prefix="q"), "b.parquet")))
    result = cli(*CHURN, "--challenger", "v2")
    assert result.code == 2 and "v1 and v2 share no request_id" in result.stderr


REGRESSION = REGRESSION_CONFIG


def test_regression_models_compare_on_rmse(cli, frame_file, workdir) -> None:
    (workdir / "evalctl.yaml").write_text(REGRESSION)
    rng = np.random.default_rng(5)
    label = rng.gamma(2.0, 10.0, 1200)
    base = make_frame(1200, seed=5).with_columns(pl.Series("label", label))
    for version, env, noise in (("v1", "production", 5.0), ("v2", "shadow", 2.0)):
        df = base.with_columns(pl.Series("score", label + rng.normal(0, noise, 1200)))
        assert cli("ingest", "--model", "demand", "--version", version, "--env", env,
                   str(frame_file(df, f"{version}.parquet"))).code == 0
    doc = cli("compare", "--model", "demand", "--champion", "v1", "--challenger", "v2",
              "--selector", "production").json()
    validate(doc)
    overall = by_slice(doc)[("overall", "all")]
    assert doc["inputs"]["metric"] == "rmse"
    assert overall["v1"]["value"] > overall["v2"]["value"]
    assert overall["v1"]["winner"] == "v2" and doc["summary"]["verdict"] == "promote"
    assert overall["v2"]["test"] == "paired bootstrap (gaussian multiplier)"
    # checks.compare settings reach the analysis (library entry point, as the CLI calls it)
    config = load_config(workdir / "evalctl.yaml")
    model = config.model("demand")
    model = replace(model, settings=replace(model.settings, compare=parse_compare_settings(
        "checks.compare", {"min_slice_size": 5000, "metric": "mae"})))
    report = api.compare(Store.open(workdir / "store"), model, parse_selector("production"),
                         champion="v1", challengers=["v2"])
    assert report.inputs["metric"] == "mae" and report.inputs["gate"]["min_slice_size"] == 5000
    small = [r for r in report.results if r["slice"] != "overall"]
    assert small and all(r["why"] == "fewer than 5000 rows: not judged" for r in small)
    # too small to judge: insufficient (never pass), counted apart, before the passes
    assert all(r["status"] == "insufficient" and r["winner"] is None for r in small)
    assert report.summary["insufficient"] == len(small) and report.status == "pass"
    assert [r["slice"] for r in report.results[-2:]] == ["overall", "overall"]


def test_compare_settings_parse_and_reject_unknown_keys() -> None:
    assert parse_compare_settings("checks.compare", None) == CompareSettings()
    parsed = parse_compare_settings("checks.compare", {"metric": "roc_auc", "alpha": 0.01})
    assert parsed.metric == "roc_auc" and parsed.alpha == 0.01 and parsed.min_slice_size == 100
    with pytest.raises(ConfigError, match="checks.compare.max_drop: unknown key"):
        parse_compare_settings("checks.compare", {"max_drop": 0.1})
    with pytest.raises(ConfigError, match="checks.compare.n_boot"):
        parse_compare_settings("checks.compare", {"n_boot": 5})


def test_help_has_an_example(story) -> None:
    result = story("compare", "--help")
    assert result.code == 0 and "Example:" in result.stdout and "--challenger" in result.stdout


def test_joined_rows_follow_the_champions_scan_order(story) -> None:
    """Quantile slice edges are fitted on a row sample, so the joined rows must come in one
    order on every run: the champion's scan order (an unordered join gave other edges, and
    other segment labels, on each run of a large compare)."""
    from tests.helpers import STORY_CONFIG

    from evalctl.analyses.compare import joined_frame, open_sides

    store = Store.open(story.store)
    model = store.resolve_model(load_config(STORY_CONFIG).model("tv-recommender"))
    selector = parse_selector("production")
    sides = open_sides(store, model, selector, "v1", ["v2"])
    wide = joined_frame(store, model, sides, discover=False)
    champion = store.scan(model, sides[0].selection.selector, selection=sides[0].selection)
    shadow = store.scan(model, sides[1].selection.selector, with_actuals=False,
                        selection=sides[1].selection).select(model.id)
    expected = champion.select(model.id).join(shadow, on=model.id, how="semi",
                                               maintain_order="left").collect()
    assert wide[model.id].to_list() == expected[model.id].to_list()


def test_each_models_auc_comes_with_delong_and_equals_compute_metrics(story) -> None:
    """compare --metric roc_auc takes every model's AUC and DeLong interval from the paired
    test's per-row counts; they must equal `compute_metrics`' rank path (and scikit-learn),
    segment by segment, ties included (the story's scores are rounded)."""
    from evalctl.metrics import compute_metrics, crossed_slice
    from evalctl.metrics.slices import column_slice

    doc = story(*V1V2, "--selector", LABELLED, "--metric", "roc_auc").json()
    raw = _raw(story)
    assert raw["score"].n_unique() < raw.height  # ties
    slices = [column_slice("country"), column_slice("device"),
              crossed_slice("country", "device")]
    rows = by_slice(doc)
    for version, score in (("v1", "score"), ("v2", "score_v2")):
        expected = compute_metrics(raw, "binary_classification", label="watched", score=score,
                                   slices=slices, metrics=["roc_auc"])
        for r in expected.iter_rows(named=True):
            got = rows[(r["slice"], r["segment"])][version]
            for key in ("value", "ci_low", "ci_high"):
                assert got[key] == pytest.approx(r[key], abs=1e-12), (r["slice"], key)
            assert got["ci_method"] == "delong" and got["reason"] == r["reason"]
        overall = rows[("overall", "all")][version]["value"]
        assert overall == pytest.approx(roc_auc_score(raw["watched"], raw[score]), abs=1e-12)
