"""Issue #19: `ingest --engine spark` (marker `spark`, `make test-spark`). Spark ingests of the
sample story's exports (Parquet, CSV, JSON lines; a Parquet export cut into several tasks)
followed by local reports equal local ingests of the same exports: the same batches, ledger
records and label index, the same rows stored, reports equal (counts exactly, measures to
1e-12) — under local[2,3] (threads) and local-cluster[2,1,1024] (separate executors). A task
whose first attempt fails is retried without duplicating its files; bad input is the local
ingest's one-line error, exit 2, store untouched; a store on the driver's disk is refused
under a non-local master."""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from tests.helpers import (
    STORY_CONFIG,
    CliResult,
    assert_same,
    batch_frames,
    run_cli,
    spark_exports,
    spark_session,
    store_snapshot,
)

import evalctl
from evalctl.engines.spark import FAULT_ENV
from evalctl.errors import IngestError
from evalctl.lake.ingest import ingest_predictions
from evalctl.lake.layout import MERGED_PREFIX
from evalctl.lake.store import Store

MODEL = "tv-recommender"
PIECE_ROWS = 5000  # the Parquet exports below are cut into several Spark tasks
# the actuals' late.parquet (3,075 rows in row groups of 700) into three tasks
ACTUALS_PIECE_ROWS = 1000
NOW = datetime(2026, 12, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Exports:
    folder: Path
    first: list[tuple[str, str, str]]  # ingested locally in both stores (the reference)
    rest: list[tuple[str, str, str]]  # ingested locally in one store, on Spark in the other


@pytest.fixture(scope="module")
def exports(story: Callable[..., CliResult], tmp_path_factory: pytest.TempPathFactory
            ) -> Exports:
    """The story's exports, plus production v1 again, shuffled, as a Parquet file of many
    row groups (v3), and one export repeating ids within itself and of a stored batch."""
    folder = tmp_path_factory.mktemp("exports")
    production = spark_exports(Path(story.data), folder)  # type: ignore[attr-defined]
    again = pl.concat([production.head(3000), production.slice(100, 500)])
    again.write_parquet(folder / "again.parquet", row_group_size=1000)
    return Exports(folder, [("training.parquet", "v1", "training")],
                   [("validation_v1.parquet", "v1", "validation"),
                    ("validation_v2.parquet", "v2", "validation"),
                    ("production_v1.csv", "v1", "production"),
                    ("shadow_v2.jsonl", "v2", "shadow"),
                    ("recomputed_v2_training.parquet", "v2", "training"),
                    ("production_v3.parquet", "v3", "production"),
                    ("again.parquet", "v1", "production")])


def ingested(folder: Path, exports: Exports, spark: Any = None,
             ) -> tuple[evalctl.Workspace, list[dict[str, Any]]]:
    """A store with the story: training, a fitted reference, the late actuals (so the
    predictions' label index has batches to name), then the rest (on `spark` when given)."""
    store = folder / "store"
    evalctl.api.init_store(str(store), write_config=False)
    ws = evalctl.open(STORY_CONFIG, store, evalctl.fixed_clock(NOW))
    for name, version, env in exports.first:
        ws.ingest(MODEL, [exports.folder / name], version=version, env=env)
    ws.profiles_build(MODEL)
    ws.ingest_actuals(MODEL, [exports.folder / "actuals_late.csv"])
    rows = []
    for name, version, env in exports.rest:
        if spark is None:
            report = ws.ingest(MODEL, [exports.folder / name], version=version, env=env)
        else:
            report = ws.ingest(MODEL, [exports.folder / name], version=version, env=env,
                               engine="spark", spark=spark)
            assert report.inputs["engine"] == "spark"
        rows.append(report.results[0])
    return ws, rows


def same_store(ours: evalctl.Workspace, theirs: evalctl.Workspace, story: bool = True) -> None:
    """The same batches, records (but for how rows are cut into files), rows and reports
    (`story`: those of the whole story; else those of training and production only)."""
    a, b = Store.open(ours.store.location), Store.open(theirs.store.location)
    assert [r.batch for r in a.records] == [r.batch for r in b.records]
    for x, y in zip(a.records, b.records, strict=True):
        for key in ("kind", "version", "env", "rows", "schema", "features", "sources",
                    "min_timestamp", "max_timestamp"):
            assert getattr(x, key) == getattr(y, key), (x.batch, key)
        assert x.extra.get("labels") == y.extra.get("labels"), x.batch
        assert {f.date for f in x.files} == {f.date for f in y.files}
        assert sum(f.labelled or 0 for f in x.files) == sum(f.labelled or 0 for f in y.files)
        assert ("profiles" in x.extra) == ("profiles" in y.extra), x.batch
        for record in (x, y) if "profiles" in x.extra else ():
            assert record.extra["profiles"]["reference"] == x.extra["profiles"]["reference"]
            assert len(record.extra["profiles"]["files"]) == len(record.files)
    frames_a, frames_b = batch_frames(a), batch_frames(b)
    for batch, frame in frames_a.items():
        assert_frame_equal(frame, frames_b[batch])
    questions: list[Callable[[evalctl.Workspace], Any]] = [
        lambda ws: ws.skew(MODEL, "production", "training:v1", engine="profiles"),
        lambda ws: ws.skew(MODEL, "production", engine="scan"),
        lambda ws: ws.drift(MODEL, "production:v1", "training:v1", window="1d",
                            engine="profiles"),
        lambda ws: ws.drift(MODEL, "shadow", window="7d", engine="scan"),
        lambda ws: ws.slices(MODEL, "production"),
        lambda ws: ws.validate(MODEL, candidate="v2", baseline="v1"),
        lambda ws: ws.catalog(MODEL),
    ]
    if not story:
        questions = questions[:2] + questions[-1:]
    for question in questions:
        x, y = question(ours).to_dict(), question(theirs).to_dict()
        assert x["status"] == y["status"]
        assert_same(x["results"], y["results"])
        assert_same(x["summary"], y["summary"])


def same_results(ours: list[dict[str, Any]], theirs: list[dict[str, Any]]) -> None:
    for x, y in zip(ours, theirs, strict=True):
        assert {k: v for k, v in x.items() if k != "files"} == \
            {k: v for k, v in y.items() if k != "files"}
        assert x["files"] >= y["files"]


def session(master: str) -> Iterator[Any]:
    yield from spark_session(master, "evalctl-ingest-tests")


@pytest.fixture(scope="class")
def spark() -> Iterator[Any]:
    """A local[2,3] session for TestLocalMaster, stopped after it (one SparkContext at once)."""
    yield from session("local[2,3]")


@pytest.fixture(scope="class")
def cluster() -> Iterator[Any]:
    """A local-cluster[2,1,1024] session for TestLocalCluster, stopped after it."""
    yield from session("local-cluster[2,1,1024]")


@pytest.fixture
def small_pieces(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cut Parquet exports into tasks of PIECE_ROWS rows (of whole row groups)."""
    from evalctl.engines import spark_ingest

    monkeypatch.setattr(spark_ingest, "PIECE_ROWS", PIECE_ROWS)


@pytest.fixture
def small_actuals_pieces(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cut Parquet actuals exports into tasks of ACTUALS_PIECE_ROWS rows: `plan_pieces` reads
    `spark_ingest.PIECE_ROWS` for the actuals' Spark ingest too."""
    from evalctl.engines import spark_ingest

    monkeypatch.setattr(spark_ingest, "PIECE_ROWS", ACTUALS_PIECE_ROWS)


def test_pieces_are_planned_with_the_modules_piece_rows_when_none_are_given(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Both Spark ingests leave `piece_rows` None: the plan reads `PIECE_ROWS` when called,
    so patching (or changing) the one setting cuts predictions and actuals alike."""
    from evalctl.engines import spark_actuals, spark_ingest
    from evalctl.lake.ingest import _Source

    source = _Source(Path("a.parquet"), "parquet", pl.LazyFrame(), {}, "")
    csv = _Source(Path("b.csv"), "csv", pl.LazyFrame(), {}, "")
    groups: list[list[int] | None] = [[700] * 5, None]
    assert len(spark_ingest.plan_pieces([source, csv], None, groups)) == 2  # 3,500 < 1M
    monkeypatch.setattr(spark_ingest, "PIECE_ROWS", 1000)
    planned = spark_ingest.plan_pieces([source, csv], None, groups)
    assert [(p.source, p.offset, p.rows) for p in planned] == \
        [(0, 0, 1400), (0, 1400, 1400), (0, 2800, 700), (1, 0, None)]
    assert [p.number for p in planned] == [0, 1, 2, 3]
    assert spark_ingest.plan_pieces([source], 2000, groups[:1])[0].rows == 2100  # given wins
    assert not hasattr(spark_actuals, "PIECE_ROWS")  # no copy of the setting to go stale


@pytest.fixture(scope="module")
def local_story(exports: Exports, tmp_path_factory: pytest.TempPathFactory
                ) -> tuple[evalctl.Workspace, list[dict[str, Any]]]:
    return ingested(tmp_path_factory.mktemp("local"), exports)


@pytest.mark.spark
class TestLocalMaster:
    """local[2,3]: two threads, three attempts per task."""

    def test_a_spark_ingest_equals_a_local_ingest(
            self, spark: Any, exports: Exports, local_story: Any, small_pieces: None,
            tmp_path: Path) -> None:
        local, local_rows = local_story
        ws, rows = ingested(tmp_path, exports, spark)
        same_results(rows, local_rows)
        assert rows[-1]["repeated_ids"] == 500 and rows[-1]["ids_in_store"] == 3500
        assert rows[-2]["files"] > local_rows[-2]["files"]  # v3: cut into three tasks
        same_store(ws, local)
        assert not list((tmp_path / "store/_staging").iterdir())
        again = ws.ingest(MODEL, [exports.folder / "production_v1.csv"], version="v1",
                          env="production", engine="spark", spark=spark)
        assert again.results[0]["already_ingested"] is True
        assert not spark.sparkContext._jsc.sc().isStopped()  # a caller's session: running

    def test_a_failed_first_attempt_is_retried_without_duplicates(
            self, spark: Any, exports: Exports, small_pieces: None, tmp_path: Path,
            monkeypatch: pytest.MonkeyPatch) -> None:
        retried_without_duplicates(spark, exports, tmp_path, monkeypatch)

    def test_spark_actuals_then_local_reports_equal_a_local_actuals_ingest(
            self, spark: Any, exports: Exports, actuals: Actuals, small_actuals_pieces: None,
            tmp_path: Path) -> None:
        same_actuals(spark, exports, actuals, tmp_path)

    def test_bad_input_is_the_local_error_and_the_store_is_untouched(
            self, spark: Any, exports: Exports, small_pieces: None, tmp_path: Path,
            monkeypatch: pytest.MonkeyPatch) -> None:
        production = pl.read_parquet(exports.folder / "production_v3.parquet")
        bad = {
            "missing.parquet": production.drop("score"),
            "typed.parquet": production.with_columns(pl.lit(True).alias("ts")),
            "stamp.csv": production.with_columns(
                pl.when(pl.int_range(pl.len()) == 7000).then(pl.lit("yesterday"))
                .otherwise(pl.col("ts")).alias("ts")),
            "score.parquet": production.with_columns(
                pl.when(pl.int_range(pl.len()) == 12345).then(pl.lit("7.5"))
                .otherwise(pl.col("score")).alias("score")),
            # rows without id / timestamp on every date, in every task: counted as a whole
            "noid.parquet": production.with_columns(
                pl.when(pl.int_range(pl.len()) % 7 == 2).then(None)
                .otherwise(pl.col("request_id")).alias("request_id")),
            "nots.parquet": production.with_columns(
                pl.when(pl.int_range(pl.len()) % 9 == 4).then(None)
                .otherwise(pl.col("ts")).alias("ts")),
        }
        expected = {"missing.parquet": "missing required column 'score'",
                    "typed.parquet": "column 'ts'", "stamp.csv": "'yesterday'",
                    "score.parquet": "row 12346", "noid.parquet": "row(s) have no id",
                    "nots.parquet": "row(s) have no timestamp"}
        stores = []
        for name in ("spark", "local"):
            (tmp_path / name).mkdir()
            stores.append(tmp_path / name / "store")
            evalctl.api.init_store(str(stores[-1]), write_config=False)
            config = tmp_path / name / "evalctl.yaml"
            config.write_text(STORY_CONFIG.read_text().replace(
                "store: ../demo_store", "store: store\nengine:\n  kind: spark\n"))
        for name, frame in bad.items():
            path = tmp_path / name
            frame.write_csv(path) if name.endswith(".csv") else \
                frame.write_parquet(path, row_group_size=1500)
            before = store_snapshot(stores[0])
            done = []
            for folder, engine in ((stores[0].parent, "spark"), (stores[1].parent, "local")):
                monkeypatch.chdir(folder)
                done.append(run_cli("ingest", str(path), "--model", MODEL, "--version", "v9",
                                    "--env", "production", "--engine", engine))
            assert done[0].code == done[1].code == 2, (name, done[0].stderr)
            assert done[0].stderr.splitlines()[0] == done[1].stderr.splitlines()[0], name
            assert len(done[0].stderr.strip().splitlines()) == 1
            assert expected[name] in done[0].stderr, done[0].stderr
            assert store_snapshot(stores[0]) == before
        with pytest.raises(IngestError) as local:  # the first bad row of a later task
            ingest_predictions(Store.open(stores[1]), evalctl.open(
                stores[1].parent / "evalctl.yaml").model(MODEL), [tmp_path / "score.parquet"],
                version="v9", env="production")
        assert "row 12346" in str(local.value)
        from evalctl.engines.spark import SparkEngine
        from evalctl.engines.spark_ingest import ingest_on_spark

        with pytest.raises(IngestError) as remote:
            ingest_on_spark(Store.open(stores[0]), evalctl.open(
                stores[0].parent / "evalctl.yaml").model(MODEL), [tmp_path / "score.parquet"],
                SparkEngine(session=spark), version="v9", env="production",
                now=lambda: NOW, piece_rows=PIECE_ROWS)
        assert str(remote.value) == str(local.value)


def retried_without_duplicates(spark: Any, exports: Exports, tmp_path: Path,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Every task's first attempt fails after writing its files: the retries' files are
    committed once, the failed attempts' are gone, and the store equals a local ingest's."""
    faults = tmp_path / "faults"
    faults.mkdir()
    ours, theirs = fault_stores(tmp_path, exports)
    monkeypatch.setenv(FAULT_ENV, str(faults))
    report = ours.ingest(MODEL, [exports.folder / "production_v3.parquet"], version="v3",
                         env="production", engine="spark", spark=spark)
    monkeypatch.delenv(FAULT_ENV)
    assert len(list(faults.iterdir())) == 3  # every task's first attempt failed
    assert report.results[0]["rows"] == 18000
    no_leftovers(ours, report.results[0]["files"])
    theirs.ingest(MODEL, [exports.folder / "production_v3.parquet"], version="v3",
                  env="production")
    same_store(ours, theirs, story=False)


@dataclass(frozen=True)
class Actuals:
    base: Path  # a store with training, validation and most of production v1
    rest: Path  # the rest of production v1 (ingested after the actuals)
    batches: list[list[Path]]  # the actuals exports, batch by batch


@pytest.fixture(scope="module")
def actuals(exports: Exports, tmp_path_factory: pytest.TempPathFactory) -> Actuals:
    """Actuals exports: the story's late actuals (with its corrections: ids labelled twice)
    shuffled into a Parquet file of many row groups (tasks share dates), a tenth of their
    arrival times missing (the ingest's time is filled in) and 40 ids no prediction has; then
    a CSV batch correcting 300 labels again. The last 400 predictions of production v1 are
    ingested after the actuals (their label index must name them)."""
    folder = tmp_path_factory.mktemp("actuals")
    late = pl.read_csv(exports.folder / "actuals_late.csv", infer_schema=False)
    stray = late.head(40).with_columns(pl.format("nobody-{}", pl.col("request_id"))
                                       .alias("request_id"))
    first = (pl.concat([late, stray]).sample(fraction=1.0, shuffle=True, seed=11)
             .with_columns(pl.when(pl.int_range(pl.len()) % 10 == 3).then(None)
                           .otherwise(pl.col("ts")).alias("ts"),
                           pl.lit("x").alias("note")))
    first.write_parquet(folder / "late.parquet", row_group_size=700)
    fixes = late.tail(300).with_columns((1 - pl.col("watched").cast(pl.Int8)).alias("watched"))
    fixes.write_csv(folder / "fixes.csv")
    production = pl.read_csv(exports.folder / "production_v1.csv", infer_schema=False)
    production.head(production.height - 400).write_parquet(folder / "early.parquet")
    production.tail(400).write_parquet(folder / "rest.parquet")
    base = folder / "base"
    evalctl.api.init_store(str(base), write_config=False)
    ws = evalctl.open(STORY_CONFIG, base, evalctl.fixed_clock(NOW))
    for name, version, env in (("training.parquet", "v1", "training"),
                               ("validation_v1.parquet", "v1", "validation")):
        ws.ingest(MODEL, [exports.folder / name], version=version, env=env)
    ws.ingest(MODEL, [folder / "early.parquet"], version="v1", env="production")
    ws.profiles_build(MODEL)
    return Actuals(base, folder / "rest.parquet",
                   [[folder / "late.parquet"], [folder / "fixes.csv"]])


def same_actuals(spark: Any, exports: Exports, actuals: Actuals, tmp_path: Path) -> None:
    """Actuals ingested on Spark, then local reports (slices, estimate, monitor), equal a
    local actuals ingest of the same files: results, records (label index included), stored
    rows, and the reports' JSON apart from `generated_at`."""
    stores = []
    for name in ("spark", "local"):
        shutil.copytree(actuals.base, tmp_path / name)
        stores.append(evalctl.open(STORY_CONFIG, tmp_path / name, evalctl.fixed_clock(NOW)))
    ours, theirs = stores
    for n, files in enumerate(actuals.batches):
        x = ours.ingest_actuals(MODEL, files, engine="spark", spark=spark)
        y = theirs.ingest_actuals(MODEL, files)
        assert x.inputs["engine"] == "spark" and "engine" not in y.inputs
        same_results(x.results, y.results)
        if n == 0:  # late.parquet, cut into three tasks sharing its dates: files of each
            assert x.results[0]["files"] > y.results[0]["files"], (x.results, y.results)
        assert x.results[0]["unmatched_ids"] == y.results[0]["unmatched_ids"] > 0
        assert x.results[0]["dropped_columns"] == y.results[0]["dropped_columns"]
    assert x.results[0]["files"] >= 1
    first = ours.ingest_actuals(MODEL, actuals.batches[0], engine="spark", spark=spark)
    assert first.results[0]["already_ingested"] is True
    assert first.results[0]["unmatched_ids"] == \
        theirs.ingest_actuals(MODEL, actuals.batches[0]).results[0]["unmatched_ids"]
    for ws in stores:  # predictions after their actuals: their index names the Spark batch
        rest = ws.ingest(MODEL, [actuals.rest], version="v1", env="production").results[0]
    a, b = Store.open(tmp_path / "spark"), Store.open(tmp_path / "local")
    assert [r.batch for r in a.records] == [r.batch for r in b.records]
    for r, q in zip(a.records, b.records, strict=True):
        for key in ("kind", "rows", "schema", "sources", "created_at", "min_timestamp",
                    "max_timestamp"):
            assert getattr(r, key) == getattr(q, key), (r.batch, key)
        assert r.extra.get("labels") == q.extra.get("labels"), r.batch
    late = next(r for r in a.records if r.batch == rest["batch"])
    assert late.extra["labels"]["actuals"]  # the Spark-written batches, found
    frames = batch_frames(b)
    for batch, frame in batch_frames(a).items():
        assert_frame_equal(frame, frames[batch])
    questions: list[Callable[[evalctl.Workspace], Any]] = [
        lambda ws: ws.slices(MODEL, "production"),
        lambda ws: ws.estimate(MODEL, "production", window="1d"),
        lambda ws: ws.monitor(MODEL).report,
    ]
    for question in questions:
        x, y = (question(ws).to_dict() for ws in stores)
        for side in (x, y):
            side.pop("generated_at", None)
        assert json.dumps(x, sort_keys=True) == json.dumps(y, sort_keys=True)


def fault_stores(tmp_path: Path, exports: Exports
                 ) -> tuple[evalctl.Workspace, evalctl.Workspace]:
    """Two stores with training and a fitted reference."""
    out = []
    for name in ("ours", "theirs"):
        store = tmp_path / name
        evalctl.api.init_store(str(store), write_config=False)
        ws = evalctl.open(STORY_CONFIG, store, evalctl.fixed_clock(NOW))
        ws.ingest(MODEL, [exports.folder / "training.parquet"], version="v1", env="training")
        ws.profiles_build(MODEL)
        out.append(ws)
    return out[0], out[1]


def no_leftovers(ws: evalctl.Workspace, files: int) -> None:
    """Exactly the committed files in the store: a failed attempt's are gone."""
    root = Path(ws.store.location)
    committed = {f.path for r in Store.open(root).records for f in r.files}
    on_disk = {p.relative_to(root).as_posix() for p in (root / "predictions").rglob("*.parquet")}
    assert on_disk == committed
    assert not list((root / "_staging").iterdir())
    v3 = [p for p in on_disk if "version=v3" in p]
    assert len(v3) == files
    profiles = [p for p in (root / "profiles").rglob("*.parquet")
                if not p.name.startswith(MERGED_PREFIX)]  # file profiles, not the merged one
    assert len(profiles) == len(on_disk)


@pytest.mark.spark
class TestLocalCluster:
    """local-cluster[2,1,1024]: two executor JVMs with their own Python workers, so the job
    and its results really travel pickled."""

    def test_a_spark_ingest_on_separate_executors_equals_a_local_ingest(
            self, cluster: Any, exports: Exports, local_story: Any, small_pieces: None,
            tmp_path: Path) -> None:
        assert cluster.sparkContext.master == "local-cluster[2,1,1024]"
        ws, rows = ingested(tmp_path, exports, cluster)
        same_results(rows, local_story[1])
        same_store(ws, local_story[0])

    def test_a_failed_first_attempt_is_retried_on_another_executor(
            self, cluster: Any, exports: Exports, small_pieces: None, tmp_path: Path,
            monkeypatch: pytest.MonkeyPatch) -> None:
        retried_without_duplicates(cluster, exports, tmp_path, monkeypatch)

    def test_spark_actuals_on_separate_executors_equal_a_local_actuals_ingest(
            self, cluster: Any, exports: Exports, actuals: Actuals, small_actuals_pieces: None,
            tmp_path: Path) -> None:
        same_actuals(cluster, exports, actuals, tmp_path)


class _Context:
    master = "spark://head:7077"


class _Session:
    sparkContext = _Context()


def test_a_store_on_the_drivers_disk_is_refused_under_a_cluster_master(
        cli: Callable[..., CliResult], workdir: Path, tmp_path: Path) -> None:
    """No Spark needed: the refusal comes before any job (exit 2, one line, store as it was)."""
    from tests.helpers import make_frame

    make_frame(200, seed=1).write_parquet(tmp_path / "p.parquet")
    ws = evalctl.open(workdir / "evalctl.yaml", workdir / "store")
    before = store_snapshot(workdir / "store")
    with pytest.raises(evalctl.errors.InputError) as refused:
        ws.ingest("churn", [tmp_path / "p.parquet"], version="v1", env="production",
                  engine="spark", spark=_Session())
    assert "on master spark://head:7077 needs a store every executor can write" in \
        str(refused.value)
    assert store_snapshot(workdir / "store") == before


def test_without_the_extra_ingest_engine_spark_is_exit_2_naming_it(
        cli: Callable[..., CliResult], workdir: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.helpers import make_frame

    make_frame(200, seed=1).write_parquet(tmp_path / "p.parquet")
    monkeypatch.setitem(sys.modules, "pyspark", None)  # `import pyspark` raises ImportError
    before = store_snapshot(workdir / "store")
    done = cli("ingest", str(tmp_path / "p.parquet"), "--model", "churn", "--version", "v1",
               "--env", "production", "--engine", "spark")
    assert done.code == 2
    assert "--engine spark: pyspark is not installed" in done.stderr.splitlines()[0]
    assert store_snapshot(workdir / "store") == before
    bad = cli("ingest", str(tmp_path / "p.parquet"), "--model", "churn", "--version", "v1",
              "--env", "production", "--engine", "dask")
    assert bad.code == 2 and "--engine: expected one of local, spark, auto" in bad.stderr


def test_ingest_actuals_engine_spark_without_the_extra_is_exit_2_naming_it(
        cli: Callable[..., CliResult], workdir: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    labels = tmp_path / "labels.csv"
    labels.write_text("request_id,label\nr1,1\nr2,0\n")
    monkeypatch.setitem(sys.modules, "pyspark", None)  # `import pyspark` raises ImportError
    before = store_snapshot(workdir / "store")
    done = cli("ingest-actuals", str(labels), "--model", "churn", "--engine", "spark")
    assert done.code == 2
    assert "--engine spark: pyspark is not installed" in done.stderr.splitlines()[0]
    assert len(done.stderr.strip().splitlines()) == 1
    bad = cli("ingest-actuals", str(labels), "--model", "churn", "--engine", "dask")
    assert bad.code == 2 and "--engine: expected one of local, spark, auto" in bad.stderr
    assert store_snapshot(workdir / "store") == before
    assert cli("ingest-actuals", str(labels), "--model", "churn").code == 0  # local: as before
