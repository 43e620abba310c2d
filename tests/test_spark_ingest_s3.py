"""Issue #19 with object storage (markers `spark` and `s3`: a moto server on loopback, a
local[2,3] session; `make test-spark`). `ingest --engine spark` and `ingest-actuals --engine
spark` of ``s3://`` exports (executors stream them through the storage layer) equal local
ingests of the same URLs; a missing export is the local one-line error; an upload damaged
after its task wrote it is found by the driver's read-back and nothing is committed."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from tests.helpers import (
    STORY_CONFIG,
    CliResult,
    batch_frames,
    spark_exports,
    spark_session,
    store_snapshot,
)
from tests.s3_server import S3Server

import evalctl
from evalctl.errors import InputError, StoreError
from evalctl.lake.storage import open_storage
from evalctl.lake.store import Store

pytestmark = [pytest.mark.spark, pytest.mark.s3]

MODEL = "tv-recommender"
NOW = datetime(2026, 12, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    yield from spark_session("local[2,3]", "evalctl-ingest-s3-tests")


@pytest.fixture(scope="module")
def exports(story: Callable[..., CliResult], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The story's exports; production v1 shuffled into a Parquet file of many row groups
    (cut into several tasks sharing dates) and the late actuals as Parquet."""
    folder = tmp_path_factory.mktemp("exports")
    spark_exports(Path(story.data), folder)  # type: ignore[attr-defined]
    (pl.read_csv(folder / "actuals_late.csv", infer_schema=False)
     .write_parquet(folder / "actuals_late.parquet", row_group_size=800))
    return folder


@pytest.fixture
def small_pieces(monkeypatch: pytest.MonkeyPatch) -> None:
    from evalctl.engines import spark_ingest

    monkeypatch.setattr(spark_ingest, "PIECE_ROWS", 5000)


def uploaded(s3_store: str, exports: Path, names: list[str]) -> dict[str, str]:
    """The exports uploaded next to the store: their URLs by name."""
    bucket = s3_store.split("/lake")[0]
    storage = open_storage(bucket)
    storage.publish([(exports / name, f"exports/{name}") for name in names])
    return {name: f"{bucket}/exports/{name}" for name in names}


def objects(url: str) -> dict[str, int]:
    """Every object below a store with its size."""
    return {o.path: o.size for o in open_storage(url).list("")}


def test_s3_exports_on_spark_equal_a_local_ingest_of_the_same_urls(
        spark: Any, s3_store: str, exports: Path, small_pieces: None, tmp_path: Path) -> None:
    urls = uploaded(s3_store, exports, ["training.parquet", "production_v3.parquet",
                                        "shadow_v2.jsonl", "actuals_late.parquet"])
    stores = []
    for name in ("spark", "local"):
        evalctl.api.init_store(str(tmp_path / name), write_config=False)
        stores.append(evalctl.open(STORY_CONFIG, tmp_path / name, evalctl.fixed_clock(NOW)))
    on = [{"engine": "spark", "spark": spark}, {}]
    for ws, how in zip(stores, on, strict=True):
        ws.ingest(MODEL, [urls["training.parquet"]], version="v1", env="training", **how)
        ws.profiles_build(MODEL)
    done: list[list[dict[str, Any]]] = [[], []]
    for (name, version, env) in (("production_v3.parquet", "v3", "production"),
                                 ("shadow_v2.jsonl", "v2", "shadow"),
                                 ("actuals_late.parquet", None, None)):
        for n, (ws, how) in enumerate(zip(stores, on, strict=True)):
            report = ws.ingest_actuals(MODEL, [urls[name]], **how) if version is None else \
                ws.ingest(MODEL, [urls[name]], version=version, env=env, **how)
            done[n].append(report.results[0])
    ours, theirs = done
    assert ours[0]["files"] > theirs[0]["files"]  # v3: cut into several tasks
    for x, y in zip(ours, theirs, strict=True):
        assert {k: v for k, v in x.items() if k != "files"} == \
            {k: v for k, v in y.items() if k != "files"}
    a, b = Store.open(tmp_path / "spark"), Store.open(tmp_path / "local")
    assert [r.batch for r in a.records] == [r.batch for r in b.records]
    for x, y in zip(a.records, b.records, strict=True):
        for key in ("rows", "schema", "sources", "min_timestamp", "max_timestamp"):
            assert getattr(x, key) == getattr(y, key), (x.batch, key)
        assert x.extra.get("labels") == y.extra.get("labels")
    assert {s["path"] for r in a.records for s in r.sources} == set(urls.values())
    frames = batch_frames(b)
    for batch, frame in batch_frames(a).items():
        assert_frame_equal(frame, frames[batch])
    assert not list((tmp_path / "spark/_staging").iterdir())


def test_a_missing_s3_export_is_the_local_error_and_the_store_is_untouched(
        spark: Any, s3_store: str, tmp_path: Path) -> None:
    store = tmp_path / "store"
    evalctl.api.init_store(str(store), write_config=False)
    ws = evalctl.open(STORY_CONFIG, store, evalctl.fixed_clock(NOW))
    before = store_snapshot(store)
    url = s3_store.replace("/lake", "/exports/nowhere.parquet")
    errors = []
    for how in ({"engine": "spark", "spark": spark}, {}):
        with pytest.raises(InputError) as refused:
            ws.ingest(MODEL, [url], version="v1", env="production", **how)
        errors.append(str(refused.value))
    assert errors[0] == errors[1] == f"{url}: no such file"
    with pytest.raises(InputError) as refused:
        ws.ingest_actuals(MODEL, [url], engine="spark", spark=spark)
    assert str(refused.value) == errors[0]
    assert store_snapshot(store) == before


def test_an_upload_damaged_before_the_commit_is_refused_and_the_store_is_untouched(
        spark: Any, s3_store: str, exports: Path, small_pieces: None,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Each upload is read back and its SHA-256 compared with the one its task computed:
    one rewritten with bytes of the same size (a size check passes) refuses the batch."""
    from evalctl.engines import spark_ingest

    evalctl.api.init_store(s3_store, write_config=False)
    ws = evalctl.open(STORY_CONFIG, s3_store, evalctl.fixed_clock(NOW))
    ws.ingest(MODEL, [exports / "training.parquet"], version="v1", env="training")
    before = objects(s3_store)
    checked = spark_ingest._checked
    damaged = []

    def damage(*args: Any) -> Any:
        staged, entries, profiles = checked(*args)
        storage = open_storage(s3_store)
        data = bytearray(storage.read_bytes(entries[1].path))
        data[len(data) // 2] ^= 0xFF
        storage.put(entries[1].path, bytes(data))
        damaged.append(entries[1].path)
        return staged, entries, profiles

    monkeypatch.setattr(spark_ingest, "_checked", damage)
    with pytest.raises(StoreError) as refused:
        ws.ingest(MODEL, [exports / "production_v3.parquet"], version="v3", env="production",
                  engine="spark", spark=spark)
    assert str(refused.value) == (
        f"{s3_store}/{damaged[0]}: a file Spark wrote has another SHA-256 than the one its "
        "task computed when read back before its commit; nothing was committed")
    assert objects(s3_store) == before
    assert len(Store.open(s3_store).records) == 1


def test_an_s3_export_cut_into_tasks_is_downloaded_once_under_a_local_master(
        spark: Any, s3_env: S3Server, s3_store: str, exports: Path, small_pieces: None,
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Under local[2,3] the executors share the driver's disk: the task that opens an
    ``s3://`` export keeps its download for the tasks writing its rows (one GET of the
    export, where each task used to download it again: N + 1), and the kept copy is removed
    after the ingest."""
    import tempfile

    from evalctl.engines import spark_actuals, spark_ingest

    urls = uploaded(s3_store, exports, ["production_v3.parquet", "actuals_late.parquet"])
    pieces: list[int] = []
    plan = spark_ingest.plan_pieces

    def counted(*args: Any) -> Any:
        planned = plan(*args)
        pieces.append(len(planned))
        return planned

    monkeypatch.setattr(spark_ingest, "plan_pieces", counted)
    monkeypatch.setattr(spark_actuals, "plan_pieces", counted)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))  # the driver's temporaries
    (tmp_path / "tmp").mkdir()
    evalctl.api.init_store(str(tmp_path / "store"), write_config=False)
    ws = evalctl.open(STORY_CONFIG, tmp_path / "store", evalctl.fixed_clock(NOW))
    before = len(s3_env.sync())
    ws.ingest(MODEL, [urls["production_v3.parquet"]], version="v3", env="production",
              engine="spark", spark=spark)
    monkeypatch.setattr(spark_ingest, "PIECE_ROWS", 1000)  # the actuals: two tasks
    ws.ingest_actuals(MODEL, [urls["actuals_late.parquet"]], engine="spark", spark=spark)
    gets = Counter(r.path.split("/", 2)[2] for r in s3_env.sync()[before:] if r.kind == "GET")
    assert pieces[0] > 1 and pieces[1] > 1, pieces  # both cut into several tasks
    assert gets == {"exports/production_v3.parquet": 1, "exports/actuals_late.parquet": 1}
    assert not any((tmp_path / "tmp").iterdir())  # the kept downloads are gone
    rows = {r.kind: r.rows for r in Store.open(tmp_path / "store").records}
    assert rows == {"predictions": pl.read_parquet(exports / "production_v3.parquet").height,
                    "actuals": pl.read_parquet(exports / "actuals_late.parquet").height}


def test_other_masters_keep_no_download() -> None:
    """Executors of spark://, YARN or Kubernetes cannot read the driver's disk: each task
    downloads the export for itself, as before."""
    from evalctl.engines.remote_store import kept_downloads

    for master in ("spark://head:7077", "yarn", "k8s://https://api:6443"):
        with kept_downloads(master) as kept:
            assert kept is None
    for master in ("local[2]", "local[2,3]", "local-cluster[2,1,1024]", "local"):
        with kept_downloads(master) as kept:
            assert kept is not None and kept.is_dir()
        assert not kept.exists()
