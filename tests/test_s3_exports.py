"""`s3://` exports ingested into a **local** store read with the config's `storage_options`
(README "Object storage"): the endpoint and credentials of the config, not only the AWS
environment, reach the download — as they always did for an `s3://` store. The environment
points at a closed port, so only the config's endpoint (the moto server) can serve the export:
a download that ignored the config would fail to connect."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import polars as pl
import pytest
from tests.helpers import CONFIG, make_frame, run_cli
from tests.s3_server import S3Server

import evalctl
from evalctl import api
from evalctl.errors import EvalctlError
from evalctl.lake.storage import ObjectStorage
from evalctl.lake.store import Store

pytestmark = pytest.mark.s3

INGEST = ("ingest", "--model", "churn", "--version", "v1", "--env", "production")


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def local(s3_env: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A folder store whose config names the moto server in `storage_options:`, an export
    uploaded to a bucket there, and an environment whose endpoint and keys lead nowhere."""
    options = "".join(f"\n  {k}: \"{v}\"" for k, v in s3_env.storage_options().items())
    (tmp_path / "evalctl.yaml").write_text(f"{CONFIG}storage_options:{options}\n")
    monkeypatch.chdir(tmp_path)
    assert run_cli("init", "store", "--no-config").code == 0
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{_closed_port()}")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    bucket = s3_env.make_bucket("exports")
    frame = make_frame(400)
    frame.write_parquet(tmp_path / "a.parquet")
    actuals = frame.select("request_id", pl.col("label").alias("label")).head(150)
    actuals.write_parquet(tmp_path / "actuals.parquet")
    client = s3_env.client()
    client.upload_file(str(tmp_path / "a.parquet"), bucket, "in/a.parquet")
    client.upload_file(str(tmp_path / "actuals.parquet"), bucket, "in/actuals.parquet")
    return tmp_path, f"s3://{bucket}/in"


def test_the_cli_reads_s3_exports_with_the_configs_options(local, s3_env: S3Server) -> None:
    folder, prefix = local
    with s3_env.counting() as counts:
        result = run_cli(*INGEST, f"{prefix}/a.parquet", "--format", "json")
        assert result.code == 0, result.stderr
        actuals = run_cli("ingest-actuals", "--model", "churn", f"{prefix}/actuals.parquet",
                          "--format", "json")
        assert actuals.code == 0, actuals.stderr
    assert counts["GET"] == 2  # one download of each export, from the config's endpoint
    assert result.json()["results"][0]["rows"] == 400
    assert actuals.json()["results"][0]["rows"] == 150
    catalog = run_cli("catalog", "--format", "json").json()
    assert catalog["summary"]["rows"] == 400 + 150  # predictions and actuals, in the folder
    assert any((folder / "store" / "actuals").rglob("*.parquet"))
    assert s3_env.secret_key not in result.stdout + result.stderr


def test_without_the_configs_options_the_environment_alone_is_used(local) -> None:
    """The same ingest with the options left out of the config fails on the environment's
    closed port: the config is what made the download work (exit 3, one line, the URL)."""
    folder, prefix = local
    config = folder / "evalctl.yaml"
    config.write_text(config.read_text().split("storage_options:")[0])
    result = run_cli(*INGEST, f"{prefix}/a.parquet")
    assert result.code == 3, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_the_library_takes_storage_options_for_exports(local, s3_env: S3Server) -> None:
    folder, prefix = local
    store = Store.open(folder / "store")
    model = evalctl.open(folder / "evalctl.yaml").config.model("churn")
    report = api.ingest(store, model, [f"{prefix}/a.parquet"], version="v1", env="training",
                        storage_options=s3_env.storage_options())
    assert report.results[0]["rows"] == 400
    # outside the call the store reads exports with its own options (the environment)
    assert store.storage.export_options()["aws_endpoint_url"] != s3_env.endpoint
    workspace = evalctl.open(folder / "evalctl.yaml", folder / "store")
    assert workspace.storage_options["aws_endpoint_url"] == s3_env.endpoint


def test_concurrent_ingests_of_one_store_read_exports_each_with_its_own_options(
        local, s3_env: S3Server, monkeypatch: pytest.MonkeyPatch) -> None:
    """The options are an argument of the ingest, not state of the shared store: while one
    thread's download with the config's options is held open, another thread's ingest of the
    same `Store` without them reads with the environment (no keys, the closed port) and
    fails, and the
    first then succeeds. Options kept on the store for an ingest's duration gave the second
    ingest the first's endpoint."""
    folder, prefix = local
    store = Store.open(folder / "store")
    model = evalctl.open(folder / "evalctl.yaml").config.model("churn")
    second_done = threading.Event()
    read_bytes = ObjectStorage.read_bytes

    def held(self: ObjectStorage, relative: str) -> bytes:
        if threading.current_thread().name == "first":
            assert second_done.wait(60)
        return read_bytes(self, relative)

    monkeypatch.setattr(ObjectStorage, "read_bytes", held)
    outcome: dict[str, object] = {}

    def ingest(name: str, env: str, options: dict[str, str] | None) -> None:
        try:
            outcome[name] = api.ingest(store, model, [f"{prefix}/a.parquet"], version="v1",
                                       env=env, storage_options=options).results[0]["rows"]
        except EvalctlError as exc:
            outcome[name] = exc
        finally:
            if name == "second":
                second_done.set()

    first = threading.Thread(target=ingest, name="first",
                             args=("first", "training", s3_env.storage_options()))
    second = threading.Thread(target=ingest, name="second", args=("second", "shadow", None))
    first.start()
    second.start()
    second.join(120)
    first.join(120)
    assert outcome["first"] == 400
    assert isinstance(outcome["second"], EvalctlError), outcome["second"]
    assert [r.env for r in Store.open(folder / "store").records] == ["training"]
