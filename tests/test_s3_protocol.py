"""The commit protocol on an `s3://` store (a moto server on loopback; issue #18 items 1, 2, 4):
`s3://` input files, the library API, concurrent ingests of one file commit once, a 412 on the
ledger record means "already ingested", and a process killed mid-upload leaves nothing
visible (doctor lists the leftovers, repair removes them only after the grace period)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest
from tests.helpers import CONFIG, make_frame, run_cli
from tests.s3_server import S3Server

import evalctl
from evalctl.lake.layout import LEDGER

pytestmark = pytest.mark.s3

INGEST = ("ingest", "--model", "churn", "--version", "v1", "--env", "production")


@pytest.fixture
def s3cli(s3_store: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The CLI in a folder with the churn config, on a fresh initialised `s3://` store."""
    (tmp_path / "evalctl.yaml").write_text(CONFIG.replace("store: store",
                                                          f"store: {s3_store}"))
    monkeypatch.chdir(tmp_path)
    result = run_cli("init", s3_store, "--no-config")
    assert result.code == 0, result.stderr

    def invoke(*args: str):
        return run_cli(*args)

    invoke.store = s3_store  # type: ignore[attr-defined]
    invoke.folder = tmp_path  # type: ignore[attr-defined]
    return invoke


def _rows(s3cli) -> int:
    return s3cli("catalog", "--format", "json").json()["summary"]["rows"]


def _bucket_prefix(url: str) -> tuple[str, str]:
    bucket, _, prefix = url.removeprefix("s3://").partition("/")
    return bucket, prefix


def test_the_config_store_url_is_used_and_nothing_is_written_locally(s3cli) -> None:
    path = _write(s3cli.folder, make_frame(300), "a.parquet")
    before = sorted(p.name for p in s3cli.folder.iterdir())
    assert s3cli(*INGEST, str(path)).code == 0
    assert _rows(s3cli) == 300
    assert sorted(p.name for p in s3cli.folder.iterdir()) == before  # no ./store, no ./s3:


def test_ingest_reads_an_s3_input_file(s3cli, s3_env: S3Server) -> None:
    frame = make_frame(400)
    bucket, _ = _bucket_prefix(s3cli.store)
    local = _write(s3cli.folder, frame, "a.parquet")
    s3_env.client().upload_file(str(local), bucket, "inputs/a.parquet")
    result = s3cli(*INGEST, f"s3://{bucket}/inputs/a.parquet", "--format", "json")
    assert result.code == 0, result.stderr
    assert result.json()["results"][0]["already_ingested"] is False
    assert _rows(s3cli) == 400
    # the same bytes from the local copy are the same batch
    again = s3cli(*INGEST, str(local), "--format", "json")
    assert again.code == 0 and again.json()["results"][0]["already_ingested"] is True


def test_a_missing_s3_input_file_is_exit_2_naming_it(s3cli) -> None:
    bucket, _ = _bucket_prefix(s3cli.store)
    url = f"s3://{bucket}/inputs/nope.parquet"
    result = s3cli(*INGEST, url)
    assert result.code == 2
    assert url in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


def test_the_library_opens_an_s3_store(s3cli, s3_env: S3Server, monkeypatch) -> None:
    s3cli(*INGEST, str(_write(s3cli.folder, make_frame(250), "a.parquet")))
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name)  # only the storage_options given below reach the server
    workspace = evalctl.open(s3cli.folder / "evalctl.yaml", s3cli.store,
                             storage_options=s3_env.storage_options())
    assert workspace.catalog().summary["rows"] == 250


def _write(folder: Path, frame: pl.DataFrame, name: str) -> Path:
    path = folder / name
    frame.write_parquet(path)
    return path


def _spawn(folder: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "evalctl", *args], cwd=folder,
                            env=dict(os.environ), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def test_the_same_file_ingested_at_once_commits_once(s3cli, s3_env: S3Server) -> None:
    path = _write(s3cli.folder, make_frame(3000), "a.parquet")
    procs = [_spawn(s3cli.folder, *INGEST, "--format", "json", str(path)) for _ in range(2)]
    outs = [p.communicate(timeout=180) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err for _, err in outs]
    flags = sorted(json.loads(out)["results"][0]["already_ingested"] for out, _ in outs)
    assert flags == [False, True]  # exactly one committed
    assert _rows(s3cli) == 3000
    assert s3cli("doctor", "--format", "json").json()["status"] in ("pass", "warn")
    bucket, prefix = _bucket_prefix(s3cli.store)
    assert sum(k.endswith(".parquet") for k in s3_env.keys(bucket, prefix)) >= 4
    assert not (s3cli.folder / "s3:").exists()


def test_a_412_on_the_ledger_record_means_already_ingested(s3cli, s3_env: S3Server) -> None:
    """A writer that loses the race after uploading its data files: just before its
    create-if-absent put of the ledger record, another writer's commit of the same file lands
    (its own attempt's data files, then its record under the same name: made by a real ingest
    into a neighbour prefix and copied in), so the first writer's put gets a real 412."""
    import obstore

    path = _write(s3cli.folder, make_frame(500), "a.parquet")
    bucket, prefix = _bucket_prefix(s3cli.store)
    rival_store = f"s3://{bucket}/rival"
    assert run_cli("init", rival_store, "--no-config").code == 0
    rival = run_cli("--store", rival_store, *INGEST, str(path), "--format", "json")
    assert rival.code == 0, rival.stderr
    rival_keys = [k for k in s3_env.keys(bucket, "rival/")
                  if k.startswith(("rival/predictions/", f"rival/{LEDGER}/"))
                  and "/_checkpoints/" not in k]
    s3 = s3_env.client()
    real_put = obstore.put
    raced: list[str] = []

    def put(store, key, data, *args, **kwargs):
        if kwargs.get("mode") == "create" and str(key).startswith(f"{LEDGER}/") and not raced:
            raced.append(str(key))
            for k in sorted(rival_keys, key=lambda k: f"/{LEDGER}/" in f"/{k}"):  # record last
                s3.copy_object(Bucket=bucket, Key=f"{prefix}/{k.removeprefix('rival/')}",
                               CopySource={"Bucket": bucket, "Key": k})
        return real_put(store, key, data, *args, **kwargs)

    seen = len(s3_env.sync())
    with pytest.MonkeyPatch.context() as patch:  # its own: undo leaves the fixtures' env alone
        patch.setattr(obstore, "put", put)
        result = s3cli(*INGEST, str(path), "--format", "json")
    assert raced, "the ingest never published a ledger record with a create-if-absent put"
    assert f"rival/{raced[0]}" in rival_keys  # the rival committed the very same record name
    assert [r.status for r in s3_env.sync()[seen:] if r.method == "PUT"
            and r.path.endswith(raced[0])] == [200, 412]  # the rival's copy, then the refusal
    assert result.code == 0, result.stderr
    assert result.json()["results"][0]["already_ingested"] is True
    assert _rows(s3cli) == 500
    files = [k for k in s3_env.keys(bucket, f"{prefix}/") if k.endswith(".parquet")]
    named = {row["path"].removeprefix(f"s3://{bucket}/") for row in s3cli(
        "files", "--model", "churn", "--selector", "production", "--format", "json"
    ).json()["results"]}
    assert set(files) == named  # the loser removed the files of its own attempt


def test_a_killed_ingest_leaves_nothing_visible(s3cli, s3_env: S3Server, monkeypatch) -> None:
    """SIGKILL while the data files of a multi-file batch are uploading: the server is frozen
    (SIGSTOP) as soon as it has stored the first data file, the ingest is killed, the server
    resumed; no record was published, so nothing is visible."""
    s3cli(*INGEST, str(_write(s3cli.folder, make_frame(100, prefix="x"), "x.parquet")))
    before = s3cli("catalog", "--format", "json").json()["results"]
    bucket, prefix = _bucket_prefix(s3cli.store)
    keys_before = s3_env.keys(bucket, prefix)
    # 30 days, one file per day partition: a batch of many files
    path = _write(s3cli.folder, make_frame(30_000, days=30), "big.parquet")
    seen = len(s3_env.sync())
    proc = _spawn(s3cli.folder, *INGEST, str(path))
    deadline = time.monotonic() + 120
    try:
        while not any(r.method == "PUT" and r.path.endswith(".parquet")
                      for r in s3_env.requests()[seen:]):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "no data file was uploaded"
            time.sleep(0.005)
        os.kill(s3_env.process.pid, signal.SIGSTOP)
        proc.kill()
        proc.wait(timeout=30)
    finally:
        os.kill(s3_env.process.pid, signal.SIGCONT)
    assert proc.returncode == -signal.SIGKILL
    leftovers = set(s3_env.keys(bucket, prefix)) - set(keys_before)
    assert any(k.endswith(".parquet") for k in leftovers), "the kill came after the uploads"
    assert not any(k.startswith(f"{prefix}/{LEDGER}/") for k in leftovers)
    assert s3cli("catalog", "--format", "json").json()["results"] == before
    report = s3cli("doctor", "--format", "json")
    assert report.code == 0 and report.json()["status"] == "warn"
    assert report.json()["summary"]["orphans"] >= 1
    # younger than the grace period: repair keeps them
    young = s3cli("doctor", "--repair", "--format", "json").json()
    assert young["summary"]["removed"] == 0
    assert set(s3_env.keys(bucket, prefix)) - set(keys_before) == leftovers
    monkeypatch.setenv("EVALCTL_GRACE", "0s")  # now every leftover is past the grace period
    repaired = s3cli("doctor", "--repair", "--format", "json").json()
    assert repaired["summary"]["removed"] == report.json()["summary"]["orphans"]
    assert s3_env.keys(bucket, prefix) == keys_before
    assert s3cli("doctor", "--format", "json").json()["status"] == "pass"
    assert s3cli(*INGEST, str(path)).code == 0
    assert _rows(s3cli) == 30_100


def test_credentials_in_the_config_reach_no_output_and_no_object(s3_store: str, s3_env: S3Server,
                                                                 tmp_path: Path,
                                                                 monkeypatch) -> None:
    """The secret given as a `storage_options` value works, and is found neither on stdout or
    stderr of any command nor in any object of the store (ledger records, results, profiles)."""
    monkeypatch.chdir(tmp_path)
    assert run_cli("init", s3_store, "--no-config").code == 0  # with the environment's keys
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    options = "".join(f"\n  {k}: \"{v}\"" for k, v in s3_env.storage_options().items())
    (tmp_path / "evalctl.yaml").write_text(CONFIG.replace(
        "store: store", f"store: {s3_store}\nstorage_options:{options}"))
    frame = _write(tmp_path, make_frame(300), "a.parquet")
    outputs = []
    for args in ((*INGEST, str(frame)), ("catalog",), ("batches",), ("config", "check"),
                 ("doctor",), ("monitor", "--model", "churn", "--date", "2026-11-05"),
                 ("history", "--model", "churn")):
        for fmt in ("json", "table"):
            result = run_cli(*args, "--format", fmt)
            outputs.append(result.stdout + result.stderr)
            assert result.code in (0, 1), (args, result.stderr)
    assert not any(s3_env.secret_key in text for text in outputs)
    bucket, prefix = _bucket_prefix(s3_store)
    keys = s3_env.keys(bucket, prefix)
    assert any(k.endswith(".parquet") for k in keys)
    s3 = s3_env.client()
    for key in keys:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        assert s3_env.secret_key.encode() not in body, key
