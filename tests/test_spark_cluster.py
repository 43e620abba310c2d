"""Issue #19 under local-cluster[2,1,1024] (marker `spark`): two executor JVMs, each with its
own Python workers, so the job, the model config and the fitted bins really travel pickled
and the profiles come back through Arrow. Profiles built there are the local engine's bytes;
skew scanned there equals the local scan."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.helpers import SPARK_CONFIG, assert_same, make_frame, run_cli, spark_session

import evalctl

pytestmark = pytest.mark.spark

M = ["--model", "churn"]


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    """A local-cluster session (2 executors of 1 core, 1024 MB), stopped after the module."""
    yield from spark_session("local-cluster[2,1,1024]", "evalctl-tests-cluster")


def make_store(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "evalctl.yaml").write_text(SPARK_CONFIG.format(engine=""))
    old = Path.cwd()
    os.chdir(folder)
    try:
        assert run_cli("init", "store", "--no-config").code == 0
        for env, seed in (("training", 1), ("production", 2)):
            make_frame(1500, seed=seed, prefix=env[0], days=3).write_parquet(f"{env}.parquet")
            done = run_cli("ingest", f"{env}.parquet", *M, "--version", "v1", "--env", env)
            assert done.code == 0, done.stderr
    finally:
        os.chdir(old)
    return folder


def profiles(store: Path) -> list[tuple[str, str]]:
    return sorted((p.parent.relative_to(store).as_posix(),
                   hashlib.sha256(p.read_bytes()).hexdigest())
                  for p in (store / "profiles").rglob("*.parquet"))


def test_profiles_and_skew_on_separate_executors_equal_local(cluster: Any,
                                                             tmp_path: Path) -> None:
    assert cluster.sparkContext.master == "local-cluster[2,1,1024]"
    local, remote = make_store(tmp_path / "local"), make_store(tmp_path / "remote")
    on = evalctl.open(remote / "evalctl.yaml", remote / "store")
    scanned = on.skew("churn", "production", engine="spark", spark=cluster).to_dict()
    here = evalctl.open(local / "evalctl.yaml", local / "store")
    assert scanned["inputs"]["engine"] == "spark"
    expected = here.skew("churn", "production", engine="scan").to_dict()
    assert_same(scanned["results"], expected["results"])
    assert_same(scanned["summary"], expected["summary"])
    built = on.profiles_build("churn", spark=cluster)
    here.profiles_build("churn")
    assert built.inputs["spark_master"] == "local-cluster[2,1,1024]"
    assert built.results[0]["files"] == len(list((remote / "store/predictions").rglob(
        "*.parquet")))
    assert profiles(remote / "store") == profiles(local / "store")
