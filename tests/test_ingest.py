"""Ingest: formats, coercion, partitioning, the ledger, idempotence, actuals."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import polars as pl
import pytest
from tests.helpers import make_frame

from evalctl.lake import idpasses
from evalctl.lake.ingest import ingest_actuals, ingest_predictions
from evalctl.lake.selectors import parse_selector
from evalctl.lake.store import Store
from evalctl.settings.load import load_config


@pytest.fixture
def setup(workdir: Path):
    store = Store.init(workdir / "store")
    model = load_config(workdir / "evalctl.yaml").model("churn")
    return store, model


@pytest.mark.parametrize("name", ["p.parquet", "p.csv", "p.jsonl"])
def test_every_format_round_trips(setup, frame_file, name: str) -> None:
    store, model = setup
    df = make_frame(120)
    result = ingest_predictions(store, model, [frame_file(df, name)], version="v1",
                                env="production")
    assert result.rows == 120 and not result.already_ingested
    assert result.dates == ("2026-11-01", "2026-11-02", "2026-11-03", "2026-11-04")
    back = store.scan(model, parse_selector("production")).collect().sort("request_id")
    assert back.height == 120
    assert back["age"].dtype == pl.Float64 and back["country"].dtype == pl.String
    assert back["label"].dtype == pl.Int8
    assert back["age"].null_count() == df["age"].null_count()
    assert back["minutes"].to_list() == pytest.approx(df["minutes"].to_list())
    assert back["ts"].to_list() == df["ts"].to_list()
    assert set(back["_version"]) == {"v1"} and set(back["_env"]) == {"production"}


def test_partitions_by_timestamp_date_and_prunes(setup, frame_file) -> None:
    store, model = setup
    ingest_predictions(store, model, [frame_file(make_frame(400), "p.parquet")],
                       version="v1", env="production")
    files = sorted(p.relative_to(store.root).as_posix()
                   for p in (store.root / "predictions").rglob("*.parquet"))
    assert len(files) == 4
    assert files[0].startswith(
        "predictions/model=churn/version=v1/env=production/date=2026-11-01/part-")
    selection = store.select("churn", parse_selector("production@2026-11-02..2026-11-03"))
    assert {f.date for _, _, f in selection.files} == {"2026-11-02", "2026-11-03"}
    rows = store.scan(model, parse_selector("production@2026-11-02..2026-11-03")).collect()
    assert rows["ts"].dt.date().cast(pl.String).is_in(["2026-11-02", "2026-11-03"]).all()
    assert rows.height == selection.rows == 200


def test_csv_numeric_text_is_coerced(setup, workdir: Path) -> None:
    store, model = setup
    path = workdir / "q.csv"
    path.write_text("request_id,ts,age,country,minutes,score,predicted_label,label\n"
                    'a,2026-11-01T10:00:00," 3.5",US,1e2,0.9,1,true\n'
                    "b,2026-11-01 11:00:00,,BR,7,0.1,0,no\n")
    ingest_predictions(store, model, [path], version="v1", env="validation")
    back = store.scan(model, parse_selector("validation")).collect().sort("request_id")
    assert back["age"].to_list() == [3.5, None]
    assert back["minutes"].to_list() == [100.0, 7.0]
    assert back["label"].to_list() == [1, 0]


def test_timezones_are_converted_to_utc(setup, frame_file) -> None:
    store, model = setup
    df = make_frame(10, days=1).with_columns(
        pl.col("ts").dt.replace_time_zone("Europe/Berlin"))
    ingest_predictions(store, model, [frame_file(df, "tz.parquet")], version="v1",
                       env="production")
    back = store.scan(model, parse_selector("production")).collect().sort("request_id")
    assert back["ts"][0] == datetime(2026, 10, 31, 23, 0)


def test_reingest_is_a_noop_and_batch_ids_depend_on_target(setup, frame_file) -> None:
    store, model = setup
    path = frame_file(make_frame(50), "p.parquet")
    first = ingest_predictions(store, model, [path], version="v1", env="production")
    again = ingest_predictions(store, model, [path], version="v1", env="production")
    assert again.already_ingested and again.batch == first.batch and again.rows == 50
    other = ingest_predictions(store, model, [path], version="v2", env="shadow")
    assert other.batch != first.batch and not other.already_ingested
    assert len(store.records) == 2


def test_training_needs_no_outputs_but_production_does(setup, frame_file) -> None:
    store, model = setup
    bare = make_frame(30).drop("score", "predicted_label", "label", "clicked")
    ingest_predictions(store, model, [frame_file(bare, "t.parquet")], version="v1",
                       env="training")
    from evalctl.errors import IngestError
    with pytest.raises(IngestError, match="missing required column 'score'"):
        ingest_predictions(store, model, [frame_file(bare, "p.parquet")], version="v1",
                           env="production")


def test_several_files_are_one_batch(setup, frame_file) -> None:
    store, model = setup
    a = frame_file(make_frame(40, prefix="a"), "a.parquet")
    b = frame_file(make_frame(60, prefix="b"), "b.csv")
    result = ingest_predictions(store, model, [a, b], version="v1", env="production")
    assert result.rows == 100 and len(store.records) == 1
    assert [s["path"] for s in store.records[0].sources] == [str(a.resolve()),
                                                               str(b.resolve())]


def test_newest_actual_wins_and_overrides_inline_label(setup, frame_file, workdir) -> None:
    store, model = setup
    df = make_frame(20).with_columns(pl.lit(None, pl.Int64).alias("label"))
    ingest_predictions(store, model, [frame_file(df, "p.parquet")], version="v1",
                       env="production")
    (workdir / "a1.csv").write_text("request_id,label,ts\nr00000,1,2026-11-05T00:00:00\n"
                                    "r00001,0,2026-11-05T00:00:00\n")
    (workdir / "a2.csv").write_text("request_id,label,ts\nr00000,0,2026-11-06T00:00:00\n"
                                    "r00001,1,2026-11-04T00:00:00\n")
    ingest_actuals(store, model, [workdir / "a2.csv"])
    ingest_actuals(store, model, [workdir / "a1.csv"])
    back = store.scan(model, parse_selector("production")).collect().sort("request_id")
    assert back["label"].to_list()[:3] == [0, 0, None]  # r00000: 11-06 beats 11-05
    assert back["_label_source"].to_list()[:3] == ["actuals", "actuals", None]


def test_actuals_without_timestamp_use_ingest_time(setup, frame_file, workdir) -> None:
    store, model = setup
    ingest_predictions(store, model, [frame_file(make_frame(5), "p.parquet")], version="v1",
                       env="production")
    (workdir / "a.csv").write_text("request_id,label\nr00000,1\n")
    result = ingest_actuals(store, model, [workdir / "a.csv"],
                            now=lambda: datetime(2026, 11, 20, 12).astimezone())
    assert result.rows == 1 and len(result.dates) == 1


def test_binary_prediction_is_derived_from_score(setup, frame_file) -> None:
    store, model = setup
    df = make_frame(40).drop("predicted_label")
    ingest_predictions(store, model, [frame_file(df, "p.parquet")], version="v1",
                       env="production")
    back = store.scan(model, parse_selector("production")).collect().sort("request_id")
    assert back["predicted_label"].to_list() == (df["score"] >= 0.5).cast(pl.Int8).to_list()


@pytest.mark.parametrize("pass_rows", [idpasses.ID_PASS_ROWS, 97, 7])
def test_repeated_and_already_stored_ids_are_counted(setup, frame_file, pass_rows: int,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Ids are unique per prediction: rows repeating an id within the batch, or an id already
    committed for the same model/version/env on the same dates, are counted (checked against
    Python sets); other envs, versions and dates do not count. The same counts when the check
    holds few ids a pass (hash buckets of the ids, one pass each: 4 or 43 for the re-export)."""
    monkeypatch.setattr(idpasses, "ID_PASS_ROWS", pass_rows)
    store, model = setup
    first = make_frame(300, seed=1, days=3)  # 2026-11-01 .. 11-03
    result = ingest_predictions(store, model, [frame_file(first, "a.parquet")], version="v1",
                                env="production")
    assert (result.repeated_ids, result.ids_in_store) == (0, 0)
    # a re-export: half the rows again (shuffled, so a different file and batch), 40 of them
    # twice, plus 50 new ids on a later day
    again = first.sample(150, seed=2, shuffle=True)
    again = pl.concat([again, again.head(40), make_frame(50, seed=3, prefix="n",
                                                         start=datetime(2026, 11, 10))])
    result = ingest_predictions(store, model, [frame_file(again, "b.parquet")], version="v1",
                                env="production")
    ids = again["request_id"].to_list()
    stored = set(first["request_id"])
    assert result.repeated_ids == len(ids) - len(set(ids)) == 40
    assert result.ids_in_store == sum(i in stored for i in ids) == 190
    for version, env in (("v1", "shadow"), ("v2", "production")):
        other = ingest_predictions(store, model, [frame_file(first, "c.parquet")],
                                   version=version, env=env)
        assert (other.repeated_ids, other.ids_in_store) == (0, 0)
    # the same ids on other dates are not the same predictions
    moved = first.with_columns(pl.col("ts") + pl.duration(days=20))
    later = ingest_predictions(store, model, [frame_file(moved, "d.parquet")], version="v1",
                               env="production")
    assert later.ids_in_store == 0


def test_overlap_is_a_warning_on_the_cli(cli, frame_file) -> None:
    df = make_frame(100)
    args = ["ingest", "--model", "churn", "--version", "v1", "--env", "production"]
    assert cli(*args, str(frame_file(df, "a.parquet"))).code == 0
    result = cli(*args, str(frame_file(df.reverse(), "b.parquet")), "-f", "json")
    assert result.code == 0
    assert ("warning: 100 row(s) have an id already stored for churn v1 production on the same "
            "dates") in result.stderr
    row = result.json()["results"][0]
    assert row["status"] == "warn" and row["ids_in_store"] == 100 and row["repeated_ids"] == 0


def test_a_feature_whose_kind_changed_reads_as_the_config_says(cli, workdir, frame_file
                                                               ) -> None:
    """Batches stored before a feature's kind changed in the config hold the old type; reads
    cast them to the new kind (numeric -> float, categorical -> text) instead of failing on
    mixed Parquet types (was an internal error, exit 4, in every command)."""
    config = workdir / "evalctl.yaml"
    args = ["ingest", "--model", "churn", "--version", "v1", "--env", "production"]
    first = make_frame(40, seed=1).with_columns(pl.col("minutes").round(1))
    assert cli(*args, str(frame_file(first, "a.parquet"))).code == 0
    config.write_text(config.read_text().replace("minutes: numeric", "minutes: categorical"))
    second = make_frame(40, seed=2, prefix="s", start=datetime(2026, 11, 10)).with_columns(
        pl.col("minutes").round(0).cast(pl.Int64).cast(pl.String))
    assert cli(*args, str(frame_file(second, "b.parquet"))).code == 0
    for command in (["skew", "--model", "churn", "--reference", "production", "--current",
                     "production"], ["slices", "--model", "churn", "--selector", "production"],
                    ["export", "--model", "churn", "--selector", "production", "--out",
                     "text.csv"]):
        result = cli(*command)
        assert result.code in (0, 1), result.stderr
    text = pl.read_csv(workdir / "text.csv", schema_overrides={"minutes": pl.String})
    expected = first["minutes"].cast(pl.String).to_list() + second["minutes"].to_list()
    assert sorted(text["minutes"].to_list()) == sorted(expected)
    config.write_text(config.read_text().replace("minutes: categorical", "minutes: numeric"))
    assert cli("export", "--model", "churn", "--selector", "production", "--out",
               "numbers.csv").code == 0
    numbers = pl.read_csv(workdir / "numbers.csv")
    assert numbers["minutes"].dtype == pl.Float64
    assert sorted(numbers["minutes"].to_list()) == sorted(
        first["minutes"].to_list() + [float(v) for v in second["minutes"]])


def test_a_changed_task_reads_old_outputs_and_actuals_as_the_config_says(cli, workdir
                                                                        ) -> None:
    """binary -> multiclass after ingest: old int8 predictions, inline labels and delayed
    actuals are read as class text beside the new batches (was a schema error, exit 4)."""
    config = workdir / "evalctl.yaml"
    (workdir / "a.csv").write_text("request_id,ts,age,country,minutes,predicted_label,label\n"
                                   "a,2026-11-01T10:00:00,30,US,1,1,1\n"
                                   "b,2026-11-01T11:00:00,31,US,1,0,\n"
                                   "c,2026-11-01T12:00:00,32,BR,1,0,0\n")
    (workdir / "act.csv").write_text("request_id,ts,label\nb,2026-11-03T00:00:00,1\n")
    args = ["--model", "churn", "--version", "v1", "--env", "training"]
    assert cli("ingest", *args, "a.csv").code == 0
    assert cli("ingest-actuals", "--model", "churn", "act.csv").code == 0
    config.write_text(config.read_text().replace("binary_classification",
                                                 "multiclass_classification")
                      .replace("    score: score\n", ""))
    (workdir / "b.csv").write_text("request_id,ts,age,country,minutes,predicted_label,label\n"
                                   "d,2026-11-02T10:00:00,30,US,1,cat,dog\n"
                                   "e,2026-11-02T11:00:00,31,BR,1,dog,dog\n")
    assert cli("ingest", *args, "b.csv").code == 0
    doc = cli("slices", "--model", "churn", "--selector", "training").json()
    overall = next(r for r in declared(doc) if r["slice"] == "overall")
    assert overall["n"] == 5 and overall["value"] == pytest.approx(3 / 5)  # a, c, e right
    assert cli("export", "--model", "churn", "--selector", "training", "--out",
               "rows.csv").code == 0
    rows = pl.read_csv(workdir / "rows.csv", schema_overrides={"label": pl.String,
                                                               "predicted_label": pl.String})
    assert dict(zip(rows["request_id"], rows["label"], strict=True)) == {
        "a": "1", "b": "1", "c": "0", "d": "dog", "e": "dog"}


def declared(doc: dict) -> list[dict]:
    return [r for r in doc["results"] if r["section"] == "declared"]
