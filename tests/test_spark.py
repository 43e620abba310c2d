"""Issue #19: the Spark engine (marker `spark`, `make test-spark`): profiles computed on Spark
executors are the local engine's, byte for byte, under local[2,3] (threads) and
local-cluster[2,1,1024] (separate executor JVMs and Python workers); a task that fails once is
retried without duplicating its partial state; reports from Spark-built profiles equal the
local ones."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from tests.helpers import (
    SPARK_CONFIG,
    assert_same,
    make_frame,
    run_cli,
    spark_session,
    validate_envelope,
)

import evalctl
from evalctl.engines.spark import FAULT_ENV, TASKS_PER_CORE

pytestmark = pytest.mark.spark

M = ["--model", "churn"]


def production(n: int, seed: int, start: datetime) -> pl.DataFrame:
    """Nulls, unseen levels, NaN and inf, and a day where `minutes` is all null."""
    frame = make_frame(n, seed=seed, prefix=f"p{seed}", start=start, days=4)
    rng = np.random.default_rng(seed)
    minutes = frame["minutes"].to_numpy().copy()
    minutes[rng.random(frame.height) < 0.02] = np.nan
    minutes[rng.random(frame.height) < 0.02] = np.inf
    unseen = pl.Series(rng.choice(["XX", "YY", "US"], frame.height))
    return frame.with_columns(
        pl.when(pl.col("age") > 60).then(unseen).otherwise(pl.col("country")).alias("country"),
        pl.Series("minutes", minutes),
    ).with_columns(pl.when(pl.col("ts").dt.date() == (start + timedelta(days=1)).date())
                   .then(None).otherwise(pl.col("minutes")).alias("minutes"))


def make_store(folder: Path, engine: str = "") -> Path:
    """A store with training (the reference) and three production batches (six files)."""
    folder.mkdir(parents=True)
    (folder / "evalctl.yaml").write_text(SPARK_CONFIG.format(engine=engine))
    old = Path.cwd()
    os.chdir(folder)
    try:
        assert run_cli("init", "store", "--no-config").code == 0
        make_frame(2000, seed=1, prefix="t").write_parquet(folder / "t.parquet")
        assert run_cli("ingest", "t.parquet", *M, "--version", "v1", "--env",
                       "training").code == 0
        for n in range(3):
            production(1500, seed=10 + n, start=datetime(2026, 11, 10 + 5 * n)).write_parquet(
                folder / f"p{n}.parquet")
            done = run_cli("ingest", f"p{n}.parquet", *M, "--version", "v1", "--env",
                           "production")
            assert done.code == 0, done.stderr
    finally:
        os.chdir(old)
    return folder


def profile_files(store: Path) -> list[tuple[str, str]]:
    """Every profile file below the store: its partition folder and sha256 (file names hold
    the batch id, which differs between two stores of the same data)."""
    return sorted((p.parent.relative_to(store).as_posix(),
                   hashlib.sha256(p.read_bytes()).hexdigest())
                  for p in (store / "profiles").rglob("*.parquet"))


def data_files(store: Path) -> int:
    """How many prediction data files the store holds (one per batch and date)."""
    return len(list((store / "predictions").rglob("*.parquet")))


def reference_hash(store: Path) -> str:
    return str(json.loads((store / "profiles/model=churn/reference.json").read_text())["hash"])


def same_reports(a: Path, b: Path) -> None:
    """skew, drift and monitor from the two stores' profiles: equal (timestamps aside)."""
    for args in (["skew", *M, "--current", "production"],
                 ["drift", *M, "--current", "production", "--window", "1d"],
                 ["monitor", *M]):
        docs = []
        for folder in (a, b):
            old = Path.cwd()
            os.chdir(folder)
            try:
                done = run_cli(*args, "-f", "json")
            finally:
                os.chdir(old)
            assert done.code in (0, 1), done.stderr
            doc = done.json()
            validate_envelope(doc)
            docs.append(doc)
        if args[0] != "monitor":
            assert docs[0]["inputs"]["engine"] == docs[1]["inputs"]["engine"] == "profiles"
        assert docs[0]["results"] == docs[1]["results"], args[0]
        assert docs[0]["summary"] == docs[1]["summary"], args[0]


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    """One local[2,3] session (2 threads, 3 attempts per task) for the module, then stopped."""
    yield from spark_session("local[2,3]", "evalctl-tests", **{"spark.sql.shuffle.partitions": "4"})


@pytest.fixture(scope="module")
def local_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same store, profiled by the local engine."""
    store = make_store(tmp_path_factory.mktemp("local") / "w")
    report = evalctl.open(store / "evalctl.yaml", store / "store").profiles_build("churn")
    assert report.results[0]["files"] == data_files(store / "store") > 4
    assert "engine" not in report.inputs
    return store


def test_profiles_built_on_spark_equal_the_local_ones(spark: Any, local_store: Path,
                                                      tmp_path: Path) -> None:
    store = make_store(tmp_path / "w")
    ws = evalctl.open(store / "evalctl.yaml", store / "store")
    report = ws.profiles_build("churn", spark=spark)
    assert report.inputs["engine"] == "spark" and report.inputs["spark_master"] == "local[2,3]"
    assert report.results[0]["files"] == data_files(store / "store")
    assert report.results[0]["rows"] == 2000 + 3 * 1500
    assert reference_hash(store / "store") == reference_hash(local_store / "store")
    ours, theirs = profile_files(store / "store"), profile_files(local_store / "store")
    assert len(ours) == data_files(store / "store") + 1  # and the merged reference profile
    assert ours == theirs  # the same bytes: counts and floats
    assert not spark.sparkContext._jsc.sc().isStopped()  # a caller's session is left running
    same_reports(store, local_store)
    again = ws.profiles_build("churn", spark=spark)  # idempotent: nothing left to do
    assert again.results[0]["files"] == 0


def test_a_failed_task_is_retried_without_a_duplicate_profile(
        spark: Any, local_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = make_store(tmp_path / "w")
    faults = tmp_path / "faults"
    faults.mkdir()
    monkeypatch.setenv(FAULT_ENV, str(faults))
    report = evalctl.open(store / "evalctl.yaml", store / "store").profiles_build(
        "churn", spark=spark)
    files = data_files(store / "store")
    tasks = min(files, spark.sparkContext.defaultParallelism * TASKS_PER_CORE)
    assert tasks < files  # some tasks profile several files: a failed one had returned one
    assert len(list(faults.iterdir())) == tasks  # every task's first attempt failed
    assert report.results[0]["files"] == files
    assert profile_files(store / "store") == profile_files(local_store / "store")
    records = list((store / "store/profiles/model=churn").rglob("_records/*.json"))
    assert sum(len(json.loads(r.read_text())["files"]) for r in records) == files


def test_cli_engine_spark_from_the_config(spark: Any, local_store: Path, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """`engine: {kind: spark}`: `profiles build` (auto) runs on Spark; inside a running
    session (as under spark-submit) that session is used and left running."""
    store = make_store(tmp_path / "w", engine="engine:\n  kind: spark\n  master: local[2]\n"
                                             "  conf: {spark.ui.enabled: false}\n")
    monkeypatch.chdir(store)
    done = run_cli("profiles", "build", *M, "-f", "json")
    assert done.code == 0, done.stderr
    doc = done.json()
    validate_envelope(doc)
    assert doc["inputs"]["engine"] == "spark"
    assert profile_files(store / "store") == profile_files(local_store / "store")
    local = run_cli("profiles", "build", *M, "--engine", "local", "--refit", "-f", "json")
    assert local.code == 0 and "engine" not in local.json()["inputs"]
    assert not spark.sparkContext._jsc.sc().isStopped()


@pytest.fixture(scope="module")
def bare_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store without profiles: skew and drift scan it."""
    return make_store(tmp_path_factory.mktemp("bare") / "w")


@pytest.mark.parametrize("question", ["skew", "drift-1d", "drift-12h", "drift-2d"])
def test_skew_and_drift_scanned_on_spark_equal_the_local_scan(spark: Any, bare_store: Path,
                                                              question: str) -> None:
    ws = evalctl.open(bare_store / "evalctl.yaml", bare_store / "store")
    if question == "skew":
        local = ws.skew("churn", "production", engine="scan").to_dict()
        on = ws.skew("churn", "production", engine="spark", spark=spark).to_dict()
    else:
        window = question.split("-")[1]
        local = ws.drift("churn", "production", window=window, engine="scan").to_dict()
        on = ws.drift("churn", "production", window=window, engine="spark",
                      spark=spark).to_dict()
    validate_envelope(json.loads(json.dumps(on, default=str)))
    assert local["inputs"]["engine"] == "scan"
    assert on["inputs"]["engine"] == "spark", on["inputs"]["engine_reason"]
    assert on["inputs"]["engine_reason"] == "--engine spark, master local[2,3]"
    assert on["status"] == local["status"]
    assert_same(on["results"], local["results"])
    assert_same(on["summary"], local["summary"])
    country = next(r for r in on["results"] if r["feature"] == "country")
    if question == "skew":  # unseen levels counted on the executors, merged on the driver
        assert country["unseen"]["names"] == ["XX", "YY"]


def test_auto_prefers_profiles_then_spark_and_rows_stay_local(
        spark: Any, bare_store: Path, local_store: Path) -> None:
    from evalctl.errors import InputError

    profiled = evalctl.open(local_store / "evalctl.yaml", local_store / "store")
    auto = profiled.skew("churn", "production", spark=spark).to_dict()
    assert auto["inputs"]["engine"] == "profiles"  # profiles that cover the question win
    ws = evalctl.open(bare_store / "evalctl.yaml", bare_store / "store")
    auto = ws.skew("churn", "production", spark=spark).to_dict()
    assert auto["inputs"]["engine"] == "spark"
    assert "no monitoring reference is fitted yet" in auto["inputs"]["engine_reason"]
    with pytest.raises(InputError, match="--engine spark: --join-key compares rows"):
        ws.skew("churn", "production", engine="spark", spark=spark, join_key="request_id")
    chunked = ws.drift("churn", "production", windows=3, spark=spark).to_dict()
    assert chunked["inputs"]["engine"] == "scan"  # equal-row chunks need rows: a local scan
    assert chunked["inputs"]["engine_reason"] == "--windows chunks rows by count"


def test_monitor_drift_scanned_on_spark_equals_the_local_scan(
        spark: Any, bare_store: Path, tmp_path: Path) -> None:
    import shutil
    from datetime import date

    copies = []
    for name in ("local", "spark"):
        shutil.copytree(bare_store, tmp_path / name)
        copies.append(evalctl.open(tmp_path / name / "evalctl.yaml", tmp_path / name / "store"))
    local = copies[0].monitor("churn", day=date(2026, 11, 23)).report.to_dict()
    jobs = len(spark.sparkContext.statusTracker().getJobIdsForGroup())
    on = copies[1].monitor("churn", day=date(2026, 11, 23), spark=spark).report.to_dict()
    assert len(spark.sparkContext.statusTracker().getJobIdsForGroup()) > jobs  # ran on Spark
    drift = [r for r in on["results"] if r.get("check") == "drift"]
    assert len(drift) >= 3 and all(r["status"] != "error" for r in drift)
    assert_same(on["results"], local["results"])
    assert on["status"] == local["status"]


def test_a_build_profiles_in_rounds_of_bounded_size(spark: Any, local_store: Path,
                                                    tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """`profiles build` on Spark collects its profiles round by round: the first one file
    (to learn a profile's size), then at most ROUND_FILES files a round and as many as
    ROUND_BYTES holds at the largest profile seen, so no round holds more than ROUND_BYTES;
    batches (four files each) are split across rounds, every file is profiled once, and the
    profiles are the local engine's, byte for byte."""
    from evalctl.engines import spark as engine

    largest = max(p.stat().st_size for p in (local_store / "store/profiles").rglob("part-*"))
    monkeypatch.setattr(engine, "ROUND_FILES", 5)
    monkeypatch.setattr(engine, "ROUND_BYTES", 2 * largest)
    rounds: list[list[int]] = []  # each round's profile sizes
    profiles = engine.SparkEngine.profiles

    def counted(self: Any, *args: Any) -> dict[str, bytes]:
        found = profiles(self, *args)
        rounds.append([len(data) for data in found.values()])
        return found

    monkeypatch.setattr(engine.SparkEngine, "profiles", counted)
    store = make_store(tmp_path / "w")
    report = evalctl.open(store / "evalctl.yaml", store / "store").profiles_build(
        "churn", spark=spark)
    files = data_files(store / "store")
    assert report.results[0]["files"] == files == sum(map(len, rounds))
    assert len(rounds[0]) == 1 and len(rounds) >= files // 5 + 1
    for n, sizes in enumerate(rounds[1:], 1):
        seen = max(size for earlier in rounds[:n] for size in earlier)
        assert 1 <= len(sizes) <= 5 and len(sizes) * seen <= 2 * largest, (n, rounds)
    assert all(sum(sizes) <= 2 * largest for sizes in rounds), rounds
    assert profile_files(store / "store") == profile_files(local_store / "store")
