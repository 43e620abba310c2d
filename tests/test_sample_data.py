"""The sample-data generator tells the story the demos and command tests rely on.

Generated once per session at a small size (600 production rows a day, half-size training and
validation sets); every story number is measured from the files with polars.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path
from types import ModuleType

import numpy as np
import polars as pl
import pytest
from sklearn.metrics import roc_auc_score

GENERATOR = Path(__file__).resolve().parents[1] / "sample_data" / "generate.py"
ROWS_PER_DAY = 600
SCALE = 0.5
FLOOD = date(2026, 11, 15)
LATE = date(2026, 11, 26)
FEATURES = [
    "age", "country", "device", "tenure_months", "watch_minutes_7d", "genre_affinity",
    "sessions_7d",
]
COLUMNS = ["request_id", "ts", *FEATURES, "score", "predicted_label", "watched", "clicked"]
FILES = {
    "training": "training.parquet",
    "validation_v1": "validation_v1.parquet",
    "validation_v2": "validation_v2.parquet",
    "production_v1": "production_v1.csv",
    "shadow_v2": "shadow_v2.jsonl",
    "actuals_late": "actuals_late.csv",
    "recomputed_v2_training": "recomputed_v2_training.parquet",
}
ISO_SECONDS = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$"


def _load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("sample_data_generate", GENERATOR)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def generator() -> ModuleType:
    return _load_generator()


@pytest.fixture(scope="session")
def paths(generator: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("sample")
    return generator.generate(out, seed=7, rows_per_day=ROWS_PER_DAY, scale=SCALE, verbose=False)


def _read(path: Path) -> pl.DataFrame:
    if path.suffix == ".parquet":
        return pl.read_parquet(path)
    frame = pl.read_csv(path) if path.suffix == ".csv" else pl.read_ndjson(path)
    return frame.with_columns(pl.col("ts").str.to_datetime("%Y-%m-%dT%H:%M:%S"))


@pytest.fixture(scope="session")
def data(paths: dict[str, Path]) -> dict[str, pl.DataFrame]:
    return {name: _read(path) for name, path in paths.items()}


def _accuracy(frame: pl.DataFrame) -> float:
    labelled = frame.filter(pl.col("watched").is_not_null())
    assert labelled.height > 0
    return float((labelled["predicted_label"] == labelled["watched"]).mean())


def _auc(frame: pl.DataFrame) -> float:
    labelled = frame.filter(pl.col("watched").is_not_null())
    return float(roc_auc_score(labelled["watched"].to_numpy(), labelled["score"].to_numpy()))


def _day(frame: pl.DataFrame) -> pl.Series:
    return frame["ts"].dt.date()


# --- shape of the files ------------------------------------------------------------------


def test_generate_returns_every_file(paths: dict[str, Path]) -> None:
    assert {name: path.name for name, path in paths.items()} == FILES
    assert all(path.stat().st_size > 0 for path in paths.values())


def test_row_counts_and_columns(data: dict[str, pl.DataFrame]) -> None:
    expected_rows = {
        "training": round(60_000 * SCALE),
        "validation_v1": round(20_000 * SCALE),
        "validation_v2": round(20_000 * SCALE),
        "production_v1": 30 * ROWS_PER_DAY,
        "shadow_v2": 30 * ROWS_PER_DAY,
        "recomputed_v2_training": 7 * ROWS_PER_DAY,
    }
    for name, rows in expected_rows.items():
        assert data[name].height == rows, name
        assert data[name].columns == COLUMNS, name
    assert data["actuals_late"].columns == ["request_id", "watched", "ts"]


def test_dtypes_are_the_same_in_every_format(data: dict[str, pl.DataFrame]) -> None:
    schema = data["training"].schema
    assert schema["ts"] == pl.Datetime("us")  # naive: no time zone
    assert schema["age"].is_integer() and schema["sessions_7d"].is_integer()
    assert schema["watch_minutes_7d"] == pl.Float64 and schema["country"] == pl.String
    for name in ("validation_v1", "production_v1", "shadow_v2", "recomputed_v2_training"):
        assert data[name].schema == schema, name


def test_text_timestamps_are_iso_seconds(paths: dict[str, Path]) -> None:
    csv = pl.read_csv(paths["production_v1"], infer_schema=False)
    jsonl = pl.read_ndjson(paths["shadow_v2"])
    actuals = pl.read_csv(paths["actuals_late"], infer_schema=False)
    for frame in (csv, jsonl, actuals):
        assert frame["ts"].str.contains(ISO_SECONDS).all()


def test_date_ranges(data: dict[str, pl.DataFrame]) -> None:
    ranges = {
        "training": (date(2026, 9, 1), date(2026, 10, 15)),
        "validation_v1": (date(2026, 10, 16), date(2026, 10, 31)),
        "production_v1": (date(2026, 11, 1), date(2026, 11, 30)),
        "recomputed_v2_training": (date(2026, 11, 1), date(2026, 11, 7)),
    }
    for name, (first, last) in ranges.items():
        days = _day(data[name])
        assert (days.min(), days.max()) == (first, last), name
    per_day = data["production_v1"].group_by(pl.col("ts").dt.date()).len()["len"]
    assert per_day.len() == 30 and (per_day == ROWS_PER_DAY).all()


def test_ids_unique_with_a_prefix_per_family(data: dict[str, pl.DataFrame]) -> None:
    prefixes = {"training": "t-", "validation_v1": "v-", "production_v1": "p-"}
    for name, prefix in prefixes.items():
        ids = data[name]["request_id"]
        assert ids.n_unique() == ids.len(), name
        assert ids.str.starts_with(prefix).all(), name
        assert ids.str.contains(r"^[a-z]-\d{7}$").all(), name


def test_validation_and_shadow_share_rows_with_their_twin(data: dict[str, pl.DataFrame]) -> None:
    shared = ["request_id", "ts", *FEATURES, "watched", "clicked"]
    for left, right in (("validation_v1", "validation_v2"), ("production_v1", "shadow_v2")):
        assert data[left].select(shared).equals(data[right].select(shared)), (left, right)
        assert not data[left]["score"].equals(data[right]["score"]), (left, right)


def test_predicted_label_is_score_over_half(data: dict[str, pl.DataFrame]) -> None:
    for name in ("training", "validation_v2", "production_v1", "shadow_v2"):
        frame = data[name]
        assert frame["score"].is_between(0, 1).all(), name
        assert (frame["predicted_label"] == (frame["score"] >= 0.5).cast(pl.Int64)).all(), name


def test_half_a_percent_nulls_in_two_features(data: dict[str, pl.DataFrame]) -> None:
    for name in ("training", "validation_v1", "production_v1"):
        frame = data[name]
        for column in ("genre_affinity", "tenure_months"):
            rate = frame[column].null_count() / frame.height
            assert 0.002 < rate < 0.01, (name, column, rate)
        others = [c for c in FEATURES if c not in ("genre_affinity", "tenure_months")]
        assert frame.select(others).null_count().sum_horizontal().item() == 0, name


def test_age_range_and_training_population(data: dict[str, pl.DataFrame]) -> None:
    age = data["training"]["age"]
    assert age.min() >= 16 and age.max() <= 90
    assert 0.02 < (age < 25).mean() < 0.06
    assert age.is_between(25, 70).mean() > 0.9


# --- determinism ---------------------------------------------------------------------------


def test_same_seed_is_byte_identical_and_another_seed_differs(
    generator: ModuleType, paths: dict[str, Path], tmp_path: Path
) -> None:
    again = generator.generate(
        tmp_path / "again", seed=7, rows_per_day=ROWS_PER_DAY, scale=SCALE, verbose=False
    )
    other = generator.generate(
        tmp_path / "other", seed=8, rows_per_day=ROWS_PER_DAY, scale=SCALE, verbose=False
    )
    for name, path in paths.items():
        assert again[name].read_bytes() == path.read_bytes(), name
        assert other[name].read_bytes() != path.read_bytes(), name


def test_cli_writes_files_and_reports_only_on_stderr(tmp_path: Path) -> None:
    out = tmp_path / "cli"
    args = ["--out", str(out), "--seed", "3", "--rows-per-day", "20", "--scale", "0.01"]
    result = subprocess.run(
        [sys.executable, str(GENERATOR), *args], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == len(FILES)
    assert sorted(p.name for p in out.iterdir()) == sorted(FILES.values())
    assert pl.read_csv(out / "production_v1.csv").height == 30 * 20


# --- the story ---------------------------------------------------------------------------


def test_a_young_users_flood_in_from_day_15(data: dict[str, pl.DataFrame]) -> None:
    prod = data["production_v1"]
    young = (prod["age"] < 25).cast(pl.Float64)
    before = young.filter(_day(prod) < FLOOD).mean()
    after = young.filter(_day(prod) >= FLOOD).mean()
    training = (data["training"]["age"] < 25).mean()
    assert 0.025 < before < 0.06
    assert abs(before - training) < 0.015  # no age drift before the flood
    assert 0.25 < after < 0.35


def test_a_v1_does_badly_on_young_users(data: dict[str, pl.DataFrame]) -> None:
    prod = data["production_v1"]
    young = _accuracy(prod.filter(pl.col("age") < 25))
    rest = _accuracy(prod.filter(pl.col("age") >= 25))
    assert 0.52 < young < 0.68
    assert 0.8 < rest < 0.9
    early = _accuracy(prod.filter(pl.col("ts").dt.date() < FLOOD))
    flooded = _accuracy(prod.filter(pl.col("ts").dt.date() >= FLOOD))
    assert early - flooded > 0.04


def test_b_watch_minutes_logged_in_seconds_in_production(data: dict[str, pl.DataFrame]) -> None:
    train_median = data["training"]["watch_minutes_7d"].median()
    for name in ("production_v1", "shadow_v2"):
        ratio = data[name]["watch_minutes_7d"].median() / train_median
        assert 55 < ratio < 65, (name, ratio)
    recomputed_ratio = data["recomputed_v2_training"]["watch_minutes_7d"].median() / train_median
    assert 0.9 < recomputed_ratio < 1.1
    assert 0.9 < data["validation_v1"]["watch_minutes_7d"].median() / train_median < 1.1


def test_b_recomputed_rows_are_production_rows_in_minutes(
    data: dict[str, pl.DataFrame],
) -> None:
    recomputed = data["recomputed_v2_training"]
    prod = data["production_v1"].select(
        "request_id", prod_ts="ts", prod_minutes="watch_minutes_7d", prod_age="age"
    )
    joined = recomputed.join(prod, on="request_id", how="inner")
    assert joined.height == recomputed.height  # ids are a subset of production's
    assert (joined["ts"] == joined["prod_ts"]).all()
    assert (joined["age"] == joined["prod_age"]).all()
    diff = (joined["prod_minutes"] / 60 - joined["watch_minutes_7d"]).abs()
    assert diff.max() < 1e-6


def test_b_model_scored_the_true_minutes(data: dict[str, pl.DataFrame]) -> None:
    # The bug is in logging only: before the flood, v1's scores and accuracy in production are
    # those of training, and users aged 25+ keep their accuracy after the flood.
    prod, training = data["production_v1"], data["training"]
    early = prod.filter(pl.col("ts").dt.date() < FLOOD)
    assert abs(early["score"].mean() - training["score"].mean()) < 0.02
    assert abs(_accuracy(early) - _accuracy(training)) < 0.02
    adults = pl.col("age") >= 25
    late_adults = prod.filter(adults & (pl.col("ts").dt.date() >= FLOOD))
    assert abs(_accuracy(late_adults) - _accuracy(early.filter(adults))) < 0.03


def test_c_last_five_days_labels_arrive_late(data: dict[str, pl.DataFrame]) -> None:
    for name in ("production_v1", "shadow_v2"):
        frame = data[name]
        late = _day(frame) >= LATE
        assert frame["watched"].filter(late).null_count() == late.sum(), name
        assert frame["watched"].filter(~late).null_count() == 0, name
    prod = data["production_v1"]
    late_ids = set(prod.filter(_day(prod) >= LATE)["request_id"].to_list())
    actuals = data["actuals_late"]
    assert set(actuals["request_id"].to_list()) == late_ids
    assert actuals["watched"].null_count() == 0


def test_c_actuals_arrive_one_to_three_days_later(data: dict[str, pl.DataFrame]) -> None:
    prod = data["production_v1"].select("request_id", predicted_at="ts")
    first = data["actuals_late"].group_by("request_id").agg(pl.col("ts").min())
    delay = first.join(prod, on="request_id")
    delay = delay["ts"] - delay["predicted_at"]
    assert delay.min() >= timedelta(days=1) and delay.max() <= timedelta(days=3)


def test_c_about_one_percent_of_actuals_are_corrected_later(
    data: dict[str, pl.DataFrame],
) -> None:
    actuals = data["actuals_late"]
    per_id = actuals.sort("ts").group_by("request_id").agg(
        pl.len().alias("n"), pl.col("watched").first().alias("old"),
        pl.col("watched").last().alias("new"),
    )
    corrected = per_id.filter(pl.col("n") > 1)
    assert per_id["n"].max() == 2
    assert 0.004 < corrected.height / per_id.height < 0.02
    assert (corrected["old"] != corrected["new"]).all()
    # The newest actual is the truth: v1 scores the late days like the other flooded days.
    prod = data["production_v1"]
    late = prod.filter(_day(prod) >= LATE).drop("watched").join(
        per_id.select("request_id", watched="new"), on="request_id"
    )
    flooded = prod.filter((_day(prod) >= FLOOD) & (_day(prod) < LATE))
    assert abs(_accuracy(late) - _accuracy(flooded)) < 0.03


def test_d_v2_better_overall_but_worse_on_brazil(data: dict[str, pl.DataFrame]) -> None:
    pairs = {
        "validation": (data["validation_v1"], data["validation_v2"]),
        "production": (data["production_v1"], data["shadow_v2"]),
    }
    for where, (v1, v2) in pairs.items():
        assert 0.01 < _accuracy(v2) - _accuracy(v1) < 0.06, where
        assert _auc(v2) - _auc(v1) > 0.01, where
        br = pl.col("country") == "BR"
        assert _accuracy(v2.filter(br)) - _accuracy(v1.filter(br)) < -0.03, where
        assert _accuracy(v2.filter(~br)) > _accuracy(v1.filter(~br)), where


def test_d_brazil_regression_is_significant(data: dict[str, pl.DataFrame]) -> None:
    v1, v2 = data["production_v1"], data["shadow_v2"]
    br = (pl.col("country") == "BR") & pl.col("watched").is_not_null()
    right_v1 = (v1.filter(br)["predicted_label"] == v1.filter(br)["watched"]).to_numpy()
    right_v2 = (v2.filter(br)["predicted_label"] == v2.filter(br)["watched"]).to_numpy()
    paired = right_v2.astype(float) - right_v1.astype(float)
    z = paired.mean() / (paired.std(ddof=1) / np.sqrt(paired.size))
    assert z < -3


def test_e_v1_calibrated_on_validation_for_age_25_and_over(
    data: dict[str, pl.DataFrame],
) -> None:
    adults = data["validation_v1"].filter(pl.col("age") >= 25)
    decile = (pl.col("score").rank("ordinal") - 1) * 10 // pl.len()
    table = adults.group_by(decile.alias("decile")).agg(
        pl.col("score").mean().alias("mean_score"), pl.col("watched").mean().alias("rate")
    )
    assert table.height == 10
    assert (table["mean_score"] - table["rate"]).abs().max() < 0.05


def test_e_young_scores_are_uninformative_not_extreme(data: dict[str, pl.DataFrame]) -> None:
    prod = data["production_v1"]
    young = prod.filter(pl.col("age") < 25)["score"]
    rest = prod.filter(pl.col("age") >= 25)["score"]
    assert (young - 0.5).abs().mean() < 0.15
    assert (rest - 0.5).abs().mean() > 0.3


def test_f_clicked_follows_watched(data: dict[str, pl.DataFrame]) -> None:
    frame = pl.concat([data["training"], data["production_v1"].drop_nulls("watched")])
    rates = frame.group_by("watched").agg(pl.col("clicked").mean()).sort("watched")
    p_not, p_watched = rates["clicked"].to_list()
    assert abs(p_watched - 0.7) < 0.03
    assert abs(p_not - 0.15) < 0.03

