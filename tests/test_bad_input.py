"""Bad input: one clear line on stderr naming the file/column/key, exit 2, store unchanged."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from tests.helpers import make_frame, store_snapshot


def _assert_rejected(cli, workdir: Path, args: list[str], message: str) -> None:
    before = store_snapshot(workdir / "store")
    result = cli(*args)
    assert result.code == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("evalctl: error: "), result.stderr
    assert message in lines[0], lines[0]
    assert "Traceback" not in result.stderr and result.no_report()
    assert store_snapshot(workdir / "store") == before


INGEST = ["ingest", "--model", "churn", "--version", "v1", "--env", "production"]


def test_missing_required_column(cli, workdir, frame_file) -> None:
    path = frame_file(make_frame(10).drop("country"), "p.parquet")
    _assert_rejected(cli, workdir, [*INGEST, str(path)],
                     f"{path}: missing required column 'country'")


def test_feature_of_the_wrong_type(cli, workdir, frame_file) -> None:
    df = make_frame(10).with_columns(pl.col("age").cast(pl.String))
    df = df.with_columns(pl.when(pl.col("request_id") == "r00003").then(pl.lit("old"))
                         .otherwise(pl.col("age")).alias("age"))
    path = frame_file(df, "p.parquet")
    _assert_rejected(cli, workdir, [*INGEST, str(path)], "column 'age': cannot read 'old'")


def test_wrong_type_in_csv_names_the_value(cli, workdir) -> None:
    path = workdir / "p.csv"
    path.write_text("request_id,ts,age,country,minutes,score,predicted_label\n"
                    "a,2026-11-01T10:00:00,30,US,1,0.5,1\n"
                    "b,2026-11-01T11:00:00,thirty,US,1,0.5,1\n")
    _assert_rejected(cli, workdir, [*INGEST, str(path)], "column 'age': cannot read 'thirty'")


def test_binary_label_out_of_range(cli, workdir) -> None:
    path = workdir / "p.csv"
    path.write_text("request_id,ts,age,country,minutes,score,predicted_label\n"
                    "a,2026-11-01T10:00:00,30,US,1,0.5,2\n")
    _assert_rejected(cli, workdir, [*INGEST, str(path)], "column 'predicted_label'")


def test_missing_timestamp(cli, workdir) -> None:
    """A row without a timestamp has no date partition (it used to be committed under
    `date=__HIVE_DEFAULT_PARTITION__`)."""
    path = workdir / "p.csv"
    path.write_text("request_id,ts,age,country,minutes,score,predicted_label\n"
                    "a,2026-11-01T10:00:00,30,US,1,0.5,1\n"
                    "b,,30,US,1,0.5,1\n")
    _assert_rejected(cli, workdir, [*INGEST, str(path)],
                     f"{path}: column 'ts': 1 row(s) have no timestamp")


def test_unparseable_timestamps(cli, workdir) -> None:
    path = workdir / "p.csv"
    path.write_text("request_id,ts,age,country,minutes,score,predicted_label\n"
                    "a,2026-11-01T10:00:00,30,US,1,0.5,1\n"
                    "b,last tuesday,30,US,1,0.5,1\n")
    _assert_rejected(cli, workdir, [*INGEST, str(path)], "column 'ts': cannot read")


def test_missing_ids(cli, workdir) -> None:
    path = workdir / "p.csv"
    path.write_text("request_id,ts,age,country,minutes,score,predicted_label\n"
                    ",2026-11-01T10:00:00,30,US,1,0.5,1\n")
    _assert_rejected(cli, workdir, [*INGEST, str(path)], "no id")


def test_truncated_parquet(cli, workdir, frame_file) -> None:
    path = frame_file(make_frame(100), "p.parquet")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    _assert_rejected(cli, workdir, [*INGEST, str(path)], f"{path}: cannot read as parquet")


def test_empty_file(cli, workdir) -> None:
    path = workdir / "p.csv"
    path.write_text("")
    _assert_rejected(cli, workdir, [*INGEST, str(path)], f"{path}: file is empty")


def test_header_only_csv(cli, workdir) -> None:
    path = workdir / "p.csv"
    path.write_text("request_id,ts,age,country,minutes,score,predicted_label\n")
    _assert_rejected(cli, workdir, [*INGEST, str(path)], "no rows to ingest")


def test_missing_file(cli, workdir) -> None:
    _assert_rejected(cli, workdir, [*INGEST, "nope.csv"], "nope.csv: no such file")


def test_unknown_extension(cli, workdir) -> None:
    path = workdir / "p.xlsx"
    path.write_text("x")
    _assert_rejected(cli, workdir, [*INGEST, str(path)], "--input-format")


def test_unknown_model(cli, workdir, frame_file) -> None:
    path = frame_file(make_frame(10), "p.parquet")
    _assert_rejected(cli, workdir, ["ingest", "--model", "nope", "--version", "v1", "--env",
                                    "production", str(path)], "unknown model 'nope'")


def test_bad_env(cli, workdir, frame_file) -> None:
    path = frame_file(make_frame(10), "p.parquet")
    _assert_rejected(cli, workdir, ["ingest", "--model", "churn", "--version", "v1", "--env",
                                    "prod", str(path)], "--env: expected one of")


def test_bad_config_key(cli, workdir, frame_file) -> None:
    path = frame_file(make_frame(10), "p.parquet")
    config = workdir / "evalctl.yaml"
    config.write_text(config.read_text().replace("age: numeric", "age: number"))
    _assert_rejected(cli, workdir, [*INGEST, str(path)],
                     "models.churn.features.age: expected numeric or categorical")


def test_selector_matching_nothing(cli, workdir, frame_file) -> None:
    cli(*INGEST, str(frame_file(make_frame(10), "p.parquet")))
    from evalctl.cli import state as state_module  # noqa: F401  (selector via the library)
    from evalctl.errors import SelectorError
    from evalctl.lake import Store, parse_selector
    from evalctl.settings.load import load_config
    store = Store.open(workdir / "store")
    model = load_config(workdir / "evalctl.yaml").model("churn")
    with pytest.raises(SelectorError, match="matched no data .*production:v1"):
        store.scan(model, parse_selector("production@2025-01-01..2025-01-31"))


def test_store_path_that_is_not_a_store(cli, workdir, frame_file) -> None:
    path = frame_file(make_frame(10), "p.parquet")
    (workdir / "plain").mkdir()
    _assert_rejected(cli, workdir, ["--store", "plain", *INGEST, str(path)],
                     "plain: not an evalctl store")


def test_missing_option_is_a_usage_error(cli, workdir) -> None:
    _assert_rejected(cli, workdir, ["ingest", "x.csv"], "Missing option '--model'")


def test_unknown_catalog_model(cli, workdir) -> None:
    _assert_rejected(cli, workdir, ["catalog", "--model", "nope"], "no data for model 'nope'")
    _assert_rejected(cli, workdir, ["batches", "--model", "nope"],  # was an empty exit 0
                     "no batches of model 'nope'")


STORY_M = ["--model", "tv-recommender"]
STORY_WEEKS = ["--baseline", "production@2026-11-01..2026-11-14",
               "--current", "production@2026-11-15..2026-11-25"]


@pytest.mark.parametrize(("args", "option"), [
    (["compare", *STORY_M, "-S", "production", "--champion", "v1", "--challenger", "v2",
      "--n-boot", "50", "--seed", "-5"], "--seed"),  # was an internal error (exit 4)
    (["export", *STORY_M, "-S", "production", "--out", "never.parquet", "--sample", "100",
      "--seed", "-3"], "--seed"),  # was an internal error (exit 4)
    (["drift", *STORY_M, "--current", "production", "--min-rows", "-1"], "--min-rows"),
    (["rca", *STORY_M, *STORY_WEEKS, "--top", "-2"], "--top"),
])
def test_negative_counts_and_seeds_are_usage_errors(story, args: list[str], option: str
                                                    ) -> None:
    result = story(*args)
    assert result.code == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and f"Invalid value for '{option}'" in lines[0]
    assert result.no_report()


def test_library_rejects_a_negative_seed(story) -> None:
    from tests.helpers import STORY_CONFIG

    from evalctl import api
    from evalctl.errors import InputError
    from evalctl.lake import Store, parse_selector
    from evalctl.settings.load import load_config

    store = Store.open(story.store)
    model = load_config(STORY_CONFIG).model("tv-recommender")
    with pytest.raises(InputError, match="--seed: expected a whole number >= 0, got -1"):
        api.compare(store, model, parse_selector("production"), champion="v1",
                    challengers=["v2"], n_boot=50, seed=-1)
    with pytest.raises(InputError, match="--seed"):
        api.export(store, model, parse_selector("production"), Path("never.parquet"),
                   sample=10, seed=-1)
