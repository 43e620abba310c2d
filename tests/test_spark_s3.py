"""Issue #19 on an `s3://` store (markers `spark` and `s3`: a moto server on loopback and a
local[2,3] Spark session; `make test-spark` runs them). Executors read data files and write
their uploads through the storage layer with the driver's `storage_options`: profiles built
and skew scanned on Spark equal the local engine on a local store; a Spark ingest (a task
failing once) equals a local ingest and leaves no stray object; no secret reaches any output."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

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
)
from tests.s3_server import S3Server

import evalctl
from evalctl.engines.spark import FAULT_ENV
from evalctl.lake.layout import MERGED_PREFIX
from evalctl.lake.store import Store

pytestmark = [pytest.mark.spark, pytest.mark.s3]

MODEL = "tv-recommender"
NOW = datetime(2026, 12, 1, tzinfo=UTC)
INGESTS = [("training.parquet", "v1", "training"), ("production_v1.csv", "v1", "production")]


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    yield from spark_session("local[2,3]", "evalctl-s3-tests")


@pytest.fixture(scope="module")
def exports(story: Callable[..., CliResult], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The story's exports, and production v1 shuffled into a Parquet file of many row
    groups (so a Spark ingest cuts it into several tasks that share dates)."""
    folder = tmp_path_factory.mktemp("exports")
    spark_exports(Path(story.data), folder)  # type: ignore[attr-defined]
    return folder


def lake(store: str | Path, exports: Path, spark: Any = None) -> evalctl.Workspace:
    """A store with training and production v1 (ingested on `spark` when given)."""
    evalctl.api.init_store(str(store), write_config=False)
    ws = evalctl.open(STORY_CONFIG, store, evalctl.fixed_clock(NOW))
    for name, version, env in INGESTS:
        ws.ingest(MODEL, [exports / name], version=version, env=env,
                  **({"engine": "spark", "spark": spark} if spark is not None else {}))
    return ws


def profiles(store: Store) -> list[tuple[str, str]]:
    """Every file profile object: its partition folder and sha256 (file names hold the
    ingest's random attempt token). The merged reference profile is left out: a local store
    has one, an object store never does (README "Profiles")."""
    keys = [k for k in store.storage.list("profiles", ".parquet")
            if not k.path.rsplit("/", 1)[-1].startswith(MERGED_PREFIX)]
    return sorted((key.path.rsplit("/", 1)[0],
                   hashlib.sha256(store.storage.read_bytes(key.path)).hexdigest())
                  for key in keys)


def test_profiles_build_and_skew_on_spark_equal_local(
        spark: Any, s3_store: str, exports: Path, tmp_path: Path) -> None:
    remote, local = lake(s3_store, exports), lake(tmp_path / "store", exports)
    scanned = remote.skew(MODEL, "production", engine="spark", spark=spark).to_dict()
    assert scanned["inputs"]["engine"] == "spark"
    expected = local.skew(MODEL, "production", engine="scan").to_dict()
    assert_same(scanned["results"], expected["results"])
    assert_same(scanned["summary"], expected["summary"])
    drifted = remote.drift(MODEL, "production", window="7d", engine="spark", spark=spark)
    assert_same(drifted.to_dict()["results"], local.drift(
        MODEL, "production", window="7d", engine="scan").to_dict()["results"])
    built = remote.profiles_build(MODEL, spark=spark)
    assert built.inputs["engine"] == "spark"
    local.profiles_build(MODEL)
    ours = profiles(Store.open(s3_store))
    assert len(ours) == built.results[0]["files"] > 0
    assert ours == profiles(Store.open(tmp_path / "store"))
    on_profiles = remote.skew(MODEL, "production").to_dict()
    assert on_profiles["inputs"]["engine"] == "profiles"
    assert_same(on_profiles["results"], local.skew(MODEL, "production").to_dict()["results"])


def test_a_spark_ingest_into_s3_equals_a_local_ingest(
        spark: Any, s3_store: str, exports: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from evalctl.engines import spark_ingest

    monkeypatch.setattr(spark_ingest, "PIECE_ROWS", 5000)
    faults = tmp_path / "faults"
    faults.mkdir()
    remote, local = lake(s3_store, exports, spark), lake(tmp_path / "store", exports)
    for ws in (remote, local):
        ws.profiles_build(MODEL)
    monkeypatch.setenv(FAULT_ENV, str(faults))
    done = remote.ingest(MODEL, [exports / "production_v3.parquet"], version="v3",
                         env="production", engine="spark", spark=spark)
    monkeypatch.delenv(FAULT_ENV)
    assert len(list(faults.iterdir())) == 3  # each of the three tasks failed once
    local.ingest(MODEL, [exports / "production_v3.parquet"], version="v3", env="production")
    ours, theirs = Store.open(s3_store), Store.open(tmp_path / "store")
    assert [r.batch for r in ours.records] == [r.batch for r in theirs.records]
    assert done.results[0]["rows"] == 18000
    for x, y in zip(ours.records, theirs.records, strict=True):
        assert (x.rows, x.min_timestamp, x.max_timestamp) == \
            (y.rows, y.min_timestamp, y.max_timestamp)
        assert x.extra.get("labels") == y.extra.get("labels")
        if "profiles" in y.extra:
            assert len(x.extra["profiles"]["files"]) == len(x.files)
    for batch, frame in batch_frames(theirs).items():
        assert_frame_equal(batch_frames(ours)[batch], frame)
    committed = {f.path for r in ours.records for f in r.files}
    assert {o.path for o in ours.storage.list("predictions", ".parquet")} == committed
    a = remote.skew(MODEL, "production", "training:v1").to_dict()
    b = local.skew(MODEL, "production", "training:v1").to_dict()
    assert a["inputs"]["engine"] == b["inputs"]["engine"] == "profiles"
    assert_same(a["results"], b["results"])


def test_no_secret_reaches_an_output(spark: Any, s3_env: S3Server, s3_store: str,
                                     exports: Path, tmp_path: Path,
                                     capfd: pytest.CaptureFixture[str],
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The executors get the credentials with the job; the CLI's stdout and stderr (and
    Spark's own log lines on the process's file descriptors) never show them."""
    config = tmp_path / "evalctl.yaml"
    config.write_text(STORY_CONFIG.read_text().replace(
        "store: ../demo_store", f"store: {s3_store}\nengine:\n  kind: spark\n"))
    monkeypatch.chdir(tmp_path)
    outputs = [run_cli("init", s3_store, "--no-config")]
    for name, version, env in INGESTS:
        outputs.append(run_cli("ingest", str(exports / name), "--model", MODEL, "--version",
                               version, "--env", env, "--engine", "spark"))
    for args in (["skew", "--model", MODEL, "--current", "production", "--engine", "spark"],
                 ["profiles", "build", "--model", MODEL, "--engine", "spark", "-f", "json"]):
        outputs.append(run_cli(*args))
    codes = [o.code for o in outputs]
    assert codes[:3] == [0, 0, 0] and codes[3] in (0, 1) and codes[4] == 0, outputs
    assert outputs[4].json()["inputs"]["engine"] == "spark"
    captured = capfd.readouterr()
    for text in [o.stdout + o.stderr for o in outputs] + [captured.out, captured.err]:
        assert s3_env.secret_key not in text
