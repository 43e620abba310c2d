"""`evalctl slices` and `evalctl validate` end to end."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from sklearn.metrics import accuracy_score
from tests.helpers import make_frame
from tests.helpers import validate_envelope as validate

M = ["--model", "tv-recommender"]
AFTER = "production@2026-11-15..2026-11-25"
BEFORE = "production@2026-11-01..2026-11-14"


def declared(doc: dict) -> list[dict]:
    return [r for r in doc["results"] if r["section"] == "declared"]


def test_young_users_top_the_leaderboard(story) -> None:
    result = story("slices", *M, "--selector", AFTER)
    assert result.code == 0  # warnings only
    doc = result.json()
    validate(doc)
    rows = [r for r in declared(doc) if r["slice"] != "overall"]
    overall = next(r for r in declared(doc) if r["slice"] == "overall")
    assert overall["value"] == doc["summary"]["overall"]
    top = rows[0]
    assert (top["slice"], top["segment"]) == ("age", "[0, 25)")
    assert top["status"] == "warn" and top["significant_worse"]
    assert top["gap_vs_overall"] < -0.1
    assert top["ci_low"] < top["value"] < top["ci_high"]
    rank = ["fail", "error", "warn", "insufficient", "pass"]
    statuses = [rank.index(r["status"]) for r in doc["results"]]
    assert statuses == sorted(statuses)  # worst first, the overall row among the others
    for status in {r["status"] for r in rows}:  # the worst value first within a status
        values = [r["value"] for r in rows if r["status"] == status]
        assert values == sorted(values)
    assert doc["status"] == "warn"
    assert story("slices", *M, "--selector", AFTER, "--fail-on", "warn").code == 1


def test_leaderboard_accuracy_matches_sklearn(story) -> None:
    raw = pl.read_csv(story.data / "production_v1.csv", try_parse_dates=True).filter(
        (pl.col("ts").dt.date() >= pl.date(2026, 11, 15))
        & (pl.col("ts").dt.date() <= pl.date(2026, 11, 25)) & (pl.col("age") < 25))
    expected = accuracy_score(raw["watched"], raw["predicted_label"])
    doc = story("slices", *M, "--selector", AFTER).json()
    young = next(r for r in declared(doc) if r["segment"] == "[0, 25)")
    assert abs(young["value"] - expected) < 1e-12 and young["n"] == raw.height


def test_rank_metric_leaderboard_matches_sklearn(story) -> None:
    """--metric roc_auc takes the rank path (the selection is not held twice)."""
    from sklearn.metrics import roc_auc_score

    raw = pl.read_csv(story.data / "production_v1.csv", try_parse_dates=True).filter(
        (pl.col("ts").dt.date() >= pl.date(2026, 11, 15))
        & (pl.col("ts").dt.date() <= pl.date(2026, 11, 25)))
    doc = story("slices", *M, "--selector", AFTER, "--metric", "roc_auc", "--top", "0").json()
    rows = {r["segment"]: r for r in declared(doc)}
    young = raw.filter(pl.col("age") < 25)
    assert rows["all"]["value"] == pytest.approx(roc_auc_score(raw["watched"], raw["score"]),
                                                 abs=1e-12)
    assert rows["[0, 25)"]["value"] == pytest.approx(
        roc_auc_score(young["watched"], young["score"]), abs=1e-12)
    assert rows["[0, 25)"]["ci_method"] == "delong"


def test_late_labels_come_from_actuals(story) -> None:
    doc = story("slices", *M, "--selector", "production@2026-11-26..2026-11-30").json()
    selection = doc["inputs"]["selection"]
    assert selection["labelled"] == selection["rows"] == selection["from_actuals"]


def test_discovery_surfaces_the_young(story) -> None:
    doc = story("slices", *M, "--selector", AFTER, "--discover", "--top", "5").json()
    found = [r for r in doc["results"] if r["section"] == "discovered"]
    assert found and found[0]["segment"].startswith("age")
    assert found[0]["significant_worse"] and found[0]["id"].startswith("age=")
    assert doc["inputs"]["discovery"]["alpha"] == 0.95


def test_compare_to_flags_what_got_worse(story) -> None:
    doc = story("slices", *M, "--selector", AFTER, "--compare-to", BEFORE).json()
    rows = {(r["slice"], r["segment"]): r for r in declared(doc)}
    overall = rows[("overall", "all")]
    assert overall["worsened"] is True and overall["emerged"] is False
    assert overall["change"] < -0.03 and overall["status"] == "warn"
    young = rows[("age", "[0, 25)")]  # weak before and after: not a new weak slice
    assert young["compare_value"] is not None and young["emerged"] is False
    emerged = [r for r in rows.values() if r["emerged"]]
    worsened = [r for r in rows.values() if r["worsened"]]
    # the whole model got worse: most segments worsened, few fell beyond the overall trend
    assert 0 < len(emerged) < len(worsened)
    assert all(r["relative_change"] < 0 and r["status"] == "warn" for r in emerged)
    assert doc["summary"]["emerged"] == len(emerged)
    assert any("beyond the overall change" in r for r in doc["recommendations"])


def test_table_and_summary_show_only_what_was_computed(story) -> None:
    plain = story("slices", *M, "--selector", AFTER, "--top", "3")
    assert "emerged" not in plain.json()["summary"]
    table = story("slices", *M, "--selector", AFTER, "--top", "3", "-f", "table").stdout
    assert "vs overall" in table and "before" not in table and "vs trend" not in table
    compared = story("slices", *M, "--selector", AFTER, "--top", "3", "--compare-to", BEFORE,
                     "-f", "table").stdout
    assert "before" in compared and "vs trend" in compared and "emerged:" in compared


def test_large_selections_stream_with_the_same_results(story, monkeypatch) -> None:
    """Above IN_MEMORY_ROWS the selection is not held in memory: same leaderboard, compare
    and validate results."""
    from evalctl.analyses import performance

    args = [*M, "--selector", AFTER, "--top", "0", "--compare-to", BEFORE]
    late = [*M, "--selector", "production@2026-11-26..2026-11-30"]  # labels from actuals
    held = story("slices", *args).json()
    held_late = story("slices", *late).json()
    gate = story("validate", *M, "--candidate", "v2", "--baseline", "v1").json()
    from evalctl.metrics import compute

    modes = []
    real = compute._rolled_up_stats

    def spy(*a, **kw):
        modes.append(a[4] if len(a) > 4 else kw.get("low_memory", False))
        return real(*a, **kw)

    monkeypatch.setattr(compute, "_rolled_up_stats", spy)
    monkeypatch.setattr(performance, "IN_MEMORY_ROWS", 100)
    streamed = story("slices", *args).json()
    streamed_late = story("slices", *late).json()
    streamed_gate = story("validate", *M, "--candidate", "v2", "--baseline", "v1").json()
    assert modes and all(modes)  # every metrics query streamed
    assert streamed_late["inputs"]["selection"] == held_late["inputs"]["selection"]
    assert streamed_late["inputs"]["selection"]["from_actuals"] > 0
    assert [r["value"] for r in streamed_late["results"]] == pytest.approx(
        [r["value"] for r in held_late["results"]], rel=1e-12)

    def key(r: dict) -> tuple:
        return r["slice"], r["segment"], r["n"], r["status"], r.get("emerged")

    assert [key(r) for r in streamed["results"]] == [key(r) for r in held["results"]]
    assert [r["value"] for r in streamed["results"]] == pytest.approx(
        [r["value"] for r in held["results"]], rel=1e-12)
    assert streamed["inputs"]["selection"] == held["inputs"]["selection"]
    assert streamed_gate["summary"] == gate["summary"]


def test_bad_in_memory_rows_setting_is_exit_2(story, monkeypatch) -> None:
    for bad in ("abc", "-5", "1.5"):
        monkeypatch.setenv("EVALCTL_IN_MEMORY_ROWS", bad)
        result = story("slices", *M, "--selector", AFTER)
        assert result.code == 2 and "EVALCTL_IN_MEMORY_ROWS" in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    monkeypatch.setenv("EVALCTL_IN_MEMORY_ROWS", "1_000")  # accepted: streams
    assert story("slices", *M, "--selector", AFTER).code == 0


def test_compare_windows_relative_test_matches_scipy() -> None:
    from scipy.stats import false_discovery_control, norm

    from evalctl.analyses.slices import SliceOptions, compare_windows

    def row(segment: str, value: float, n: int) -> dict:
        return {"slice": "overall" if segment == "all" else "s", "segment": segment,
                "value": value, "support": n, "n": n, "ci_low": None, "ci_high": None,
                "status": "pass"}

    now = [row("all", 0.80, 10_000), row("a", 0.70, 900), row("b", 0.79, 4_000),
           row("c", 0.50, 10)]
    before = pl.DataFrame([{**row("all", 0.85, 10_000), "metric": "accuracy"},
                           {**row("a", 0.86, 1_000), "metric": "accuracy"},
                           {**row("b", 0.84, 4_000), "metric": "accuracy"},
                           {**row("c", 0.90, 10), "metric": "accuracy"}])
    compare_windows(now, before, "accuracy", SliceOptions(min_size=30))
    raw = []
    for (value, n), (prev, m) in [((0.70, 900), (0.86, 1_000)), ((0.79, 4_000), (0.84, 4_000)),
                                  ((0.50, 10), (0.90, 10))]:
        shift = (value - prev) - (0.80 - 0.85)
        se = np.hypot(np.sqrt(value * (1 - value) / n), np.sqrt(prev * (1 - prev) / m))
        raw.append(2 * norm.sf(abs(shift) / se))
    expected = false_discovery_control(raw)
    assert [r["relative_p_adjusted"] for r in now[1:]] == pytest.approx(expected)
    assert now[1]["relative_change"] == pytest.approx(-0.11)
    assert now[1]["emerged"] and not now[2]["emerged"]  # b fell with the trend
    assert now[2]["worsened"] and not now[3]["emerged"]  # c: too few rows to judge
    assert now[0]["worsened"] and not now[0]["emerged"] and now[0]["status"] == "warn"


def test_rows_without_ground_truth_are_counted_and_excluded(cli, frame_file) -> None:
    df = make_frame(600)
    df = df.with_columns(pl.when(pl.col("request_id") < "r00100").then(None)
                         .otherwise(pl.col("label")).alias("label"))
    cli("ingest", "--model", "churn", "--version", "v1", "--env", "production",
        str(frame_file(df, "p.parquet")))
    doc = cli("slices", "--model", "churn", "--selector", "production").json()
    overall = declared(doc)[0]
    assert overall["n"] == 500 and overall["n_missing_label"] == 100
    assert doc["summary"]["rows_without_label"] == 100
    labelled = df.filter(pl.col("label").is_not_null())
    assert abs(overall["value"] - accuracy_score(labelled["label"],
                                                 labelled["predicted_label"])) < 1e-12


def test_no_ground_truth_at_all_is_exit_2(cli, frame_file) -> None:
    df = make_frame(100).with_columns(pl.lit(None, pl.Int64).alias("label"))
    cli("ingest", "--model", "churn", "--version", "v1", "--env", "production",
        str(frame_file(df, "p.parquet")))
    result = cli("slices", "--model", "churn", "--selector", "production")
    assert result.code == 2 and "no row has ground truth" in result.stderr


def test_planted_conjunction_is_discovered(cli, frame_file) -> None:
    rng = np.random.default_rng(3)
    n = 6000
    df = make_frame(n, seed=3)
    bad = (df["country"] == "BR").to_numpy() & (df["minutes"] > 80).to_numpy()
    wrong = np.where(bad, rng.random(n) < 0.6, rng.random(n) < 0.1)
    df = df.with_columns(pl.Series("label", np.where(wrong, 1 - df["predicted_label"],
                                                     df["predicted_label"])))
    cli("ingest", "--model", "churn", "--version", "v1", "--env", "production",
        str(frame_file(df, "p.parquet")))
    doc = cli("slices", "--model", "churn", "--selector", "production", "--discover",
              "--max-level", "2").json()
    top = next(r for r in doc["results"] if r["section"] == "discovered")
    assert "country = BR" in top["segment"] and "minutes" in top["segment"]
    assert top["significant_worse"]


def test_bad_metric_is_exit_2(story) -> None:
    result = story("slices", *M, "--selector", AFTER, "--metric", "rmse")
    assert result.code == 2 and "--metric: 'rmse' is not a binary_classification metric" \
        in result.stderr


@pytest.mark.parametrize(("args", "message"), [
    (["--top", "-1"], "Invalid value for '--top'"),
    (["--min-size", "0"], "Invalid value for '--min-size'"),
    (["--discover", "--max-level", "0"], "Invalid value for '--max-level'"),
    (["--discover", "--alpha", "1.5"], "Invalid value for '--alpha'"),
    (["--discover", "--alpha", "0"], "alpha must be in (0, 1], got 0.0"),
])
def test_bad_slices_options_are_exit_2(story, args: list[str], message: str) -> None:
    result = story("slices", *M, "--selector", AFTER, *args)
    assert result.code == 2 and message in result.stderr and result.no_report()


@pytest.mark.parametrize(("versions", "message"), [
    (["--candidate", "v9", "--baseline", "v1"],
     "--candidate 'v9': no rows in 'validation' (versions there: v1, v2)"),
    (["--candidate", "v2", "--baseline", "v0"],
     "--baseline 'v0': no rows in 'validation' (versions there: v1, v2)"),
])
def test_validate_unknown_version_is_named(story, versions: list[str], message: str) -> None:
    result = story("validate", *M, *versions)
    assert result.code == 2 and message in result.stderr


def test_validate_fails_the_challenger_on_brazil(story) -> None:
    result = story("validate", *M, "--candidate", "v2", "--baseline", "v1")
    assert result.code == 1
    doc = result.json()
    validate(doc)
    assert doc["inputs"]["common_rows"] == 10_000
    regressed = doc["summary"]["regressed_slices"]
    assert "country=BR" in regressed
    assert all("BR" in s for s in regressed)
    overall = {r["metric"]: r for r in doc["results"] if r["slice"] == "overall"}
    assert overall["accuracy"]["status"] == "pass" and overall["accuracy"]["delta"] > 0.01
    assert overall["log_loss"]["delta"] > 0  # lower log loss is better: positive = improved
    assert doc["results"][0]["status"] == "fail"
    assert story("validate", *M, "--candidate", "v2", "--baseline", "v1",
                 "--fail-on", "never").code == 0


def test_validate_top_keeps_every_failure(story) -> None:
    full = story("validate", *M, "--candidate", "v2", "--baseline", "v1").json()
    short = story("validate", *M, "--candidate", "v2", "--baseline", "v1", "--top", "2").json()
    validate(short)
    failed = [r for r in full["results"] if r["status"] == "fail"]
    others = [r for r in full["results"] if r["status"] != "fail" and r["slice"] != "overall"]
    expected = [r for r in full["results"] if r["status"] == "fail" or r["slice"] == "overall"
                or r in others[:2]]

    def key(r: dict) -> tuple:  # floats are sums in parallel: equal to the last bits only
        return r["slice"], r["segment"], r["metric"], r["status"], r["n"]

    assert [key(r) for r in short["results"]] == [key(r) for r in expected]
    assert [r["delta"] for r in short["results"]] == pytest.approx(
        [r["delta"] for r in expected], rel=1e-9)
    overall = [r for r in full["results"] if r["slice"] == "overall"]
    assert overall and all(r in short["results"] for r in overall)
    assert short["summary"]["results_total"] == full["summary"]["results_total"] \
        == len(full["results"])
    assert short["summary"]["results"] == len(short["results"]) == len(
        failed) + len([r for r in overall if r["status"] != "fail"]) + 2
    assert short["summary"]["fail"] == len(failed)
    assert short["summary"]["regressed_slices"] == full["summary"]["regressed_slices"]
    bad = story("validate", *M, "--candidate", "v2", "--baseline", "v1", "--top", "-1")
    assert bad.code == 2 and "--top" in bad.stderr


def test_validate_gate_from_config(cli, workdir, frame_file) -> None:
    config = workdir / "evalctl.yaml"
    config.write_text(config.read_text() + "    checks:\n      validate:\n"
                      "        metrics: [accuracy]\n        min: {accuracy: 0.99}\n"
                      "        max_drop: {default: 0.5}\n")
    df = make_frame(400)
    for version in ("v1", "v2"):
        cli("ingest", "--model", "churn", "--version", version, "--env", "validation",
            str(frame_file(df, f"{version}.parquet")))
    doc = cli("validate", "--model", "churn", "--candidate", "v2", "--baseline", "v1").json()
    overall = next(r for r in doc["results"] if r["slice"] == "overall")
    assert overall["status"] == "fail" and "misses the minimum 0.99" in overall["why"]
    assert overall["delta"] == 0
    assert [r["metric"] for r in doc["results"]] == ["accuracy"] * len(doc["results"])


def test_validate_without_shared_ids_is_exit_2(cli, frame_file) -> None:
    cli("ingest", "--model", "churn", "--version", "v1", "--env", "validation",
        str(frame_file(make_frame(50, prefix="a"), "a.parquet")))
    cli("ingest", "--model", "churn", "--version", "v2", "--env", "validation",
        str(frame_file(make_frame(50, prefix="b"), "b.parquet")))
    result = cli("validate", "--model", "churn", "--candidate", "v2", "--baseline", "v1")
    assert result.code == 2 and "share no request_id" in result.stderr


def test_quantile_slice_edges_match_numpy() -> None:
    from evalctl.analyses.performance import quantile_edges

    x = np.random.default_rng(0).normal(size=10_001)
    x[::97] = np.nan
    finite = x[np.isfinite(x)]
    expected = np.quantile(finite, np.linspace(0, 1, 6), method="nearest")
    assert np.allclose(quantile_edges(x, 5), expected)
    # ties collapse into fewer edges; constant and empty inputs still give two edges
    assert quantile_edges(np.array([1.0, 1, 1, 2, np.nan]), 4) == [1.0, 2.0]
    assert quantile_edges(np.array([3.0, 3.0]), 5) == [3.0, 4.0]
    assert quantile_edges(np.array([np.nan]), 5) == [0.0, 1.0]


def test_subsampled_quantile_edges_keep_exact_extremes(monkeypatch) -> None:
    from evalctl.analyses import performance

    x = np.random.default_rng(1).normal(size=40_000)
    x[::101] = np.nan
    x[7] = np.inf
    monkeypatch.setattr(performance, "QUANTILE_SAMPLE", 10_000)
    got = performance.fit_quantile_edges(pl.DataFrame({"a": x}).lazy(), {"a": 4})["a"]
    finite = x[np.isfinite(x)]
    sample = x[::4][np.isfinite(x[::4])]
    assert got[0] == finite.min() and got[-1] == finite.max()
    assert np.allclose(got[1:-1], np.quantile(sample, [0.25, 0.5, 0.75], method="nearest"))
    # the subsample's quantiles are close to the full data's (rank error ~ 1 / sample size)
    assert np.allclose(got[1:-1], np.quantile(finite, [0.25, 0.5, 0.75]), atol=0.03)
    # a column of nulls gets default edges instead of failing
    empty = pl.DataFrame({"a": [None, None]}, schema={"a": pl.Float64}).lazy()
    assert performance.fit_quantile_edges(empty, {"a": 4}) == {"a": [0.0, 1.0]}


def _with_slices(workdir, slices: str) -> None:
    config = workdir / "evalctl.yaml"
    text = config.read_text()
    head = text[:text.index("    slices:\n")]
    config.write_text(head + "    slices:\n" + slices + text[text.index("    slices:\n")
                                                          + len("    slices:\n"):]
                      .split("      - feature: country\n", 1)[1])


def _all_declared(cli, workdir, frame_file, df: pl.DataFrame, slices: str) -> list[dict]:
    """Every declared segment of `df` (ingested as churn v1 production) under `slices`."""
    _with_slices(workdir, slices)
    cli("ingest", "--model", "churn", "--version", "v1", "--env", "production",
        str(frame_file(df, "p.parquet")))
    return declared(cli("slices", "--model", "churn", "--selector", "production",
                        "--top", "0").json())


def _bin_counts(values: np.ndarray, edges: list[float]) -> list[int]:
    """Rows per bin [e0, e1), ..., [e(n-2), e(n-1)] (below / above / NaN not counted)."""
    inner = (values >= edges[0]) & (values <= edges[-1])
    index = np.searchsorted(edges, values[inner], side="right") - 1
    index = np.minimum(index, len(edges) - 2)
    return np.bincount(index, minlength=len(edges) - 1).tolist()


def test_numeric_features_in_crosses_and_alone_are_binned(cli, workdir, frame_file) -> None:
    """`minutes` named alone (no bins) and in a cross: cut at 5 quantiles (was one segment per
    distinct value); `age` in a cross: cut at its own slice's bins."""
    from evalctl.analyses.performance import DEFAULT_QUANTILES, quantile_edges
    from evalctl.metrics.slices import bin_labels

    df = make_frame(2000, seed=5)
    rows = _all_declared(cli, workdir, frame_file, df,
                         "      - feature: age\n        bins: [0, 25, 40, 120]\n"
                         "      - feature: minutes\n"
                         "      - features: [country, minutes]\n"
                         "      - features: [age, country]\n")
    minutes = df["minutes"].to_numpy()
    edges = quantile_edges(minutes, DEFAULT_QUANTILES)  # 2,000 rows: no subsampling
    labels = bin_labels(edges)[1:-1]  # the inner bins: edges span the data
    alone = {r["segment"]: r["n"] for r in rows if r["slice"] == "minutes"}
    assert len(alone) == len(labels) == DEFAULT_QUANTILES
    assert [alone[b] for b in labels] == _bin_counts(minutes, edges)
    crossed = {r["segment"]: r["n"] for r in rows if r["slice"] == "country x minutes"}
    assert len(crossed) == 3 * DEFAULT_QUANTILES  # 3 countries x 5 bins
    br = df.filter(pl.col("country") == "BR")["minutes"].to_numpy()
    assert [crossed.get(f"BR & {b}", 0) for b in labels] == _bin_counts(br, edges)
    ages = {r["segment"] for r in rows if r["slice"] == "age x country"}
    assert {s.split(" & ")[0] for s in ages} <= {"[0, 25)", "[25, 40)", "[40, 120]",
                                                 "(missing)"}


def test_small_segments_rank_after_judged_ones(story) -> None:
    doc = story("slices", *M, "--selector", AFTER, "--min-size", "2000", "--top", "0").json()
    rows = [r for r in declared(doc) if r["slice"] != "overall"]
    judged = [(r["n"] or 0) >= 2000 for r in rows]
    assert any(judged) and not all(judged)
    # unjudged rows are `insufficient`: after the warnings, before the passes (one rule)
    assert [r["status"] == "insufficient" for r in rows] == [not j for j in judged]
    rank = ["fail", "error", "warn", "insufficient", "pass"]
    assert [rank.index(r["status"]) for r in rows] == sorted(rank.index(r["status"])
                                                             for r in rows)
    for status in {r["status"] for r in rows}:
        values = [r["value"] for r in rows if r["status"] == status]
        assert values == sorted(values)  # worst first within each


def test_cross_with_bins_is_a_config_error(cli, workdir) -> None:
    _with_slices(workdir, "      - features: [age, country]\n        quantiles: 4\n")
    result = cli("catalog")
    assert result.code == 2
    assert "slices[0]: bins and quantiles apply to one feature" in result.stderr


def test_gap_is_never_negative_zero() -> None:
    from evalctl.analyses.performance import signed_gap

    assert str(signed_gap("rmse", 1.5, 1.5)) == "0.0"
    assert signed_gap("rmse", 2.0, 1.5) == -0.5 and signed_gap("accuracy", 0.5, 0.75) == -0.25


def test_discovery_over_the_lazy_scan_equals_discovery_over_collected_rows(story) -> None:
    """Discovery reads the lake scan a few columns per query (bounded memory); with actuals
    joined, every query must see the rows in the same order, or codes and errors would not
    line up. Same slices, sizes and errors as discovery over the rows collected once."""
    from tests.helpers import STORY_CONFIG

    from evalctl.analyses.slices import error_expr
    from evalctl.lake import Store, parse_selector
    from evalctl.settings.load import load_config
    from evalctl.slicing import discover_slices

    store = Store.open(story.store)
    model = store.resolve_model(load_config(STORY_CONFIG).model("tv-recommender"))
    lf = store.scan(model, parse_selector("production"))  # Nov 26-30 labels are actuals
    assert lf.select((pl.col("_label_source") == "actuals").sum()).collect().item() > 0
    data = lf.select(*model.features, error_expr(model, None).alias("__error"))
    lazy = discover_slices(data, model.features, "__error", max_level=2)
    eager = discover_slices(data.collect(), model.features, "__error", max_level=2)
    assert lazy.n_rows == eager.n_rows and lazy.mean_error == pytest.approx(eager.mean_error)
    assert [(s.label, s.size) for s in lazy.slices] == [(s.label, s.size) for s in eager.slices]
    assert [s.error_mean for s in lazy.slices] == pytest.approx(
        [s.error_mean for s in eager.slices], rel=1e-12)


def test_discovery_without_a_prediction_column_predicts_from_the_score(cli, workdir,
                                                                        frame_file) -> None:
    """A binary model with only a score predicts score >= threshold; discovery used to fail
    with an internal error (it read a column named "")."""
    config = workdir / "evalctl.yaml"
    config.write_text(config.read_text().replace("    prediction: predicted_label\n", "")
                      .replace("    score: score\n", "    score: score\n    threshold: 0.6\n"))
    df = make_frame(800, seed=9).drop("predicted_label")
    cli("ingest", "--model", "churn", "--version", "v1", "--env", "production",
        str(frame_file(df, "p.parquet")))
    result = cli("slices", "--model", "churn", "--selector", "production", "--discover")
    assert result.code == 0, result.stderr
    info = result.json()["inputs"]["discovery"]
    wrong = (df["score"].to_numpy() >= 0.6).astype(int) != df["label"].to_numpy()
    assert info["n_rows"] == 800 and info["mean_error"] == pytest.approx(wrong.mean())


def test_two_quantile_slices_of_one_feature_get_their_own_edges(cli, workdir,
                                                                frame_file) -> None:
    """`minutes` in quartiles and in deciles: each slice is cut at its own quantiles (both
    used the first one's edges)."""
    from evalctl.analyses.performance import quantile_edges

    df = make_frame(3000, seed=4)
    rows = _all_declared(cli, workdir, frame_file, df,
                         "      - feature: minutes\n        quantiles: 4\n"
                         "      - feature: minutes\n        quantiles: 10\n"
                         "        name: minutes deciles\n"
                         "      - features: [country, minutes]\n")
    minutes = df["minutes"].to_numpy()
    for name, q in (("minutes", 4), ("minutes deciles", 10)):
        got = {r["segment"]: r["n"] for r in rows if r["slice"] == name}
        edges = quantile_edges(minutes, q)
        assert len(got) == len(edges) - 1 == q
        assert sorted(got.values()) == sorted(_bin_counts(minutes, edges))
    crossed = {r["segment"].split(" & ")[1] for r in rows if r["slice"] == "country x minutes"}
    assert crossed == {r["segment"] for r in rows if r["slice"] == "minutes"}  # the first one
