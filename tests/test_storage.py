"""The storage layer (evalctl.lake.storage): the local and the object-store implementation of one
interface, the ledger's checkpoints (bounded reads), the lease, storage_options and masking.

Object-store tests here run on obstore's in-memory store (the same Rust object_store code path
as S3, conditional puts included), so they run in `make test`; the tests against a real S3
server on loopback are tests/test_s3_*.py (`make test-s3`)."""

from __future__ import annotations

import json
import sys
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import obstore.store
import pytest

from evalctl.errors import ConfigError, InputError, StoreError
from evalctl.lake import checkpoint
from evalctl.lake.layout import LEDGER, MARKER
from evalctl.lake.lease import LEASE, lease
from evalctl.lake.ledger import (
    BatchRecord,
    FileEntry,
    Tombstone,
    commit_record,
    commit_tombstone,
    read_ledger,
    read_records,
)
from evalctl.lake.locking import StoreBusyError
from evalctl.lake.storage import (
    LocalStorage,
    ObjectStorage,
    is_object_url,
    mask,
    open_storage,
    storage_options,
)
from evalctl.lake.store import Store
from evalctl.settings.load import parse_config


def memory_storage() -> ObjectStorage:
    """An object store in memory behind the s3:// implementation, with a store marker."""
    storage = ObjectStorage("s3://bucket/lake", {}, store=obstore.store.MemoryStore())
    Store._init_object(storage)
    return storage


class Counted:
    """Counts the object requests a storage makes (wraps its methods on the instance)."""

    def __init__(self, storage: ObjectStorage) -> None:
        self.counts: Counter[str] = Counter()
        self.lock = threading.Lock()
        for method, kind in (("read_bytes", "GET"), ("list", "LIST"), ("head", "HEAD"),
                             ("put_exclusive", "PUT"), ("put", "PUT"), ("delete", "DELETE")):
            original = getattr(storage, method)
            setattr(storage, method, self._counting(original, kind))

    def _counting(self, original: Any, kind: str) -> Any:
        def counted(*args: Any, **kwargs: Any) -> Any:
            with self.lock:
                self.counts[kind] += 1
            return original(*args, **kwargs)
        return counted


def record(n: int, created: datetime | None = None) -> BatchRecord:
    batch = f"b{n:06d}"
    day = "2026-01-01"
    entry = FileEntry(path=f"predictions/model=m/version=v1/env=production/date={day}/"
                           f"part-{batch}-a0000000-0000.parquet",
                      rows=3, bytes=100, sha256="0" * 64, date=day)
    stamp = (created or datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=n)).isoformat()
    return BatchRecord(batch=batch, kind="predictions", model="m", version="v1",
                       env="production", rows=3, files=(entry,), schema={}, features={},
                       sources=(), created_at=stamp, evalctl_version="test")


def batches(records: list[BatchRecord]) -> list[str]:
    return sorted(r.batch for r in records)


# -- one interface, two implementations ------------------------------------------------------
@pytest.fixture(params=["local", "object"])
def any_storage(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    if request.param == "local":
        Store.init(tmp_path / "store")
        return LocalStorage(tmp_path / "store")
    return memory_storage()


def test_the_first_writer_wins_and_a_record_is_never_overwritten(any_storage: Any) -> None:
    assert any_storage.put_exclusive("_ledger/x.1.json", b"first")
    assert not any_storage.put_exclusive("_ledger/x.1.json", b"second")
    assert any_storage.read_bytes("_ledger/x.1.json") == b"first"


def test_list_head_delete_and_missing_files(any_storage: Any, tmp_path: Path) -> None:
    local = tmp_path / "a.parquet"
    local.write_bytes(b"12345")
    any_storage.publish([(local, "predictions/model=m/date=2026-01-01/a.parquet")])
    any_storage.put("results/model=m/check=skew/date=2026-01-01/run-00000001.json", b"{}")
    listed = any_storage.list("predictions")
    assert [o.path for o in listed] == ["predictions/model=m/date=2026-01-01/a.parquet"]
    assert listed[0].size == 5
    assert abs(listed[0].modified - datetime.now(UTC)) < timedelta(minutes=5)
    assert any_storage.list("results/model=m/check=skew/date=2026-01-01", ".json", False)
    assert any_storage.list("results", ".parquet") == []
    assert any_storage.list("nothing-here") == []
    assert any_storage.head("predictions/model=m/date=2026-01-01/a.parquet").size == 5
    assert any_storage.head("predictions/none.parquet") is None
    with pytest.raises(FileNotFoundError):
        any_storage.read_bytes("predictions/none.parquet")
    any_storage.delete("predictions/model=m/date=2026-01-01/a.parquet")
    any_storage.delete("predictions/model=m/date=2026-01-01/a.parquet")  # missing: no error
    assert any_storage.list("predictions") == []


def test_the_ledger_reads_the_same_on_both_storages(any_storage: Any) -> None:
    for n in range(30):
        assert commit_record(any_storage, record(n))
    assert not commit_record(any_storage, record(3))  # a live generation: already ingested
    tomb = Tombstone.new("remove", [("b000004", 1)])
    commit_tombstone(any_storage, tomb)
    assert commit_record(any_storage, record(4))  # the removed batch's next generation
    live = read_records(any_storage)
    assert batches(live) == [f"b{n:06d}" for n in range(30)]
    assert [r.generation for r in live if r.batch == "b000004"] == [2]


def test_a_local_store_has_no_checkpoint(tmp_path: Path) -> None:
    """Local reads are cheap: the local ledger stays exactly as it was (no new files)."""
    Store.init(tmp_path)
    for n in range(checkpoint.CHECKPOINT_EVERY + 5):
        commit_record(tmp_path, record(n))
    names = sorted(p.name for p in (tmp_path / LEDGER).iterdir())
    assert names == sorted(f"b{n:06d}.1.json" for n in range(checkpoint.CHECKPOINT_EVERY + 5))


# -- item 5: bounded object reads ------------------------------------------------------------
def test_reading_the_ledger_costs_a_bounded_number_of_requests() -> None:
    storage = memory_storage()
    total = 300
    for n in range(total):
        assert commit_record(storage, record(n))
    counted = Counted(storage)
    live = read_records(storage)
    assert batches(live) == [f"b{n:06d}" for n in range(total)]
    # 1 LIST of _ledger/, 1 LIST of the checkpoints, 1 GET of the newest checkpoint, and a
    # GET per record committed after it (fewer than CHECKPOINT_EVERY)
    assert counted.counts["LIST"] == 2
    assert counted.counts["GET"] <= 1 + checkpoint.CHECKPOINT_EVERY
    assert counted.counts["HEAD"] == counted.counts["PUT"] == 0
    kept = storage.list(checkpoint.CHECKPOINTS, ".json", False)
    assert 1 <= len(kept) <= checkpoint.KEEP  # older checkpoints are deleted


def test_without_checkpoints_every_record_is_one_get(monkeypatch: pytest.MonkeyPatch) -> None:
    """The control: the same ledger read with no checkpoint costs a GET per record."""
    monkeypatch.setattr(checkpoint, "CHECKPOINT_EVERY", 10**9)
    storage = memory_storage()
    for n in range(60):
        commit_record(storage, record(n))
    counted = Counted(storage)
    assert len(read_records(storage)) == 60
    assert counted.counts["GET"] == 60


def test_a_stale_checkpoint_costs_reads_never_records(monkeypatch: pytest.MonkeyPatch) -> None:
    """Writers that did not write a checkpoint (a concurrent or crashed writer) leave records
    outside it: they are still read. A record the ledger no longer lists is not revived."""
    storage = memory_storage()
    for n in range(checkpoint.CHECKPOINT_EVERY):
        commit_record(storage, record(n))
    assert storage.list(checkpoint.CHECKPOINTS, ".json", False)
    monkeypatch.setattr(checkpoint, "after_commit", lambda *args: None)
    for n in range(checkpoint.CHECKPOINT_EVERY, checkpoint.CHECKPOINT_EVERY + 40):
        commit_record(storage, record(n))
    storage.delete(f"{LEDGER}/b000000.1.json")  # in the checkpoint, gone from the ledger
    expected = [f"b{n:06d}" for n in range(1, checkpoint.CHECKPOINT_EVERY + 40)]
    assert batches(read_records(storage)) == expected


def test_a_checkpoint_that_vanishes_before_its_get_is_read_around() -> None:
    storage = memory_storage()
    for n in range(checkpoint.CHECKPOINT_EVERY + 3):
        commit_record(storage, record(n))
    original = storage.read_bytes

    def vanished(relative: str) -> bytes:
        if relative.startswith(checkpoint.CHECKPOINTS):
            raise FileNotFoundError(relative)
        return original(relative)

    storage.read_bytes = vanished  # type: ignore[method-assign]
    assert len(read_records(storage)) == checkpoint.CHECKPOINT_EVERY + 3


def test_a_checkpoint_holds_what_the_record_files_hold() -> None:
    """The checkpoint is a copy, not a second source of truth: each entry equals its file."""
    storage = memory_storage()
    for n in range(checkpoint.CHECKPOINT_EVERY):
        commit_record(storage, record(n))
    newest = storage.list(checkpoint.CHECKPOINTS, ".json", False)[-1].path
    held = json.loads(storage.read_bytes(newest))["files"]
    assert len(held) == checkpoint.CHECKPOINT_EVERY
    for name, content in held.items():
        assert json.loads(storage.read_bytes(f"{LEDGER}/{name}")) == content


def test_invalid_records_are_refused_on_object_storage_too() -> None:
    storage = memory_storage()
    for n in range(checkpoint.CHECKPOINT_EVERY):
        commit_record(storage, record(n))
    storage.put(f"{LEDGER}/b999999.1.json", b"{not json")
    ledger = read_ledger(storage)
    assert [p.path for p in ledger.problems] == [f"{LEDGER}/b999999.1.json"]
    with pytest.raises(StoreError, match=r"s3://bucket/lake/_ledger/b999999.1.json"):
        read_records(storage)


# -- the lease (object storage's lock) -------------------------------------------------------
def test_a_held_lease_makes_a_second_rewriter_stop_with_exit_3(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVALCTL_LOCK_WAIT", "0s")
    storage = memory_storage()
    with lease(storage, "erase"):
        with pytest.raises(StoreBusyError, match="erase") as caught, lease(storage, "gc"):
            pass
        assert caught.value.exit_code == 3
    assert storage.head(LEASE) is None  # released


def test_an_expired_lease_is_taken_over(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVALCTL_LOCK_WAIT", "0s")
    storage = memory_storage()
    dead = {"owner": "x", "holder": "gc", "expires": "2000-01-01T00:00:00+00:00"}
    storage.put(LEASE, json.dumps(dead).encode())
    with lease(storage, "doctor --repair"):
        held = json.loads(storage.read_bytes(LEASE))
        assert held["holder"] == "doctor --repair"
    assert storage.head(LEASE) is None


def test_a_lease_is_not_released_by_a_process_that_lost_it() -> None:
    storage = memory_storage()
    with lease(storage, "gc"):
        other = {"owner": "someone-else", "expires": "2999-01-01T00:00:00+00:00"}
        storage.put(LEASE, json.dumps(other).encode())  # taken over after our expiry
    assert json.loads(storage.read_bytes(LEASE))["owner"] == "someone-else"


# -- storage_options, secrets, URLs ----------------------------------------------------------
def test_storage_options_come_from_the_aws_environment_then_the_config() -> None:
    env = {"AWS_ACCESS_KEY_ID": "AKIA1", "AWS_SECRET_ACCESS_KEY": "s3cr3t",
           "AWS_DEFAULT_REGION": "eu-west-1", "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
           "AWS_ALLOW_HTTP": "true", "HOME": "/x"}
    options = storage_options({"aws_endpoint_url": "http://127.0.0.1:10", "AWS_Region": "x"},
                              environ=env)
    assert options == {"aws_access_key_id": "AKIA1", "aws_secret_access_key": "s3cr3t",
                       "aws_region": "x", "aws_endpoint_url": "http://127.0.0.1:10",
                       "aws_allow_http": "true"}
    assert storage_options(None, environ={"AWS_DEFAULT_REGION": "eu-west-1"}) == \
        {"aws_region": "eu-west-1"}


def test_secrets_are_masked() -> None:
    shown = mask({"aws_access_key_id": "AKIA1", "aws_secret_access_key": "s",
                  "aws_session_token": "t", "password": "p", "aws_region": "eu-west-1"})
    assert shown == {"aws_access_key_id": "***", "aws_secret_access_key": "***",
                     "aws_session_token": "***", "password": "***", "aws_region": "eu-west-1"}


def test_an_error_never_shows_a_configured_secret() -> None:
    storage = ObjectStorage("s3://bucket/lake", {"aws_secret_access_key": "hunter2-secret"},
                            store=obstore.store.MemoryStore())
    error = storage.fail(RuntimeError("denied for hunter2-secret, Signature=abc123"), "read x")
    assert "hunter2-secret" not in str(error) and "abc123" not in str(error)
    assert str(error).startswith("s3://bucket/lake: cannot read x:")


def test_store_urls_and_paths() -> None:
    assert is_object_url("s3://bucket/prefix") and is_object_url("S3A://bucket/p")
    assert not is_object_url("./store") and not is_object_url(Path("s3:/bucket"))
    assert open_storage("s3a://bucket/prefix/", {}).location == "s3://bucket/prefix"
    assert isinstance(open_storage("./store"), LocalStorage)


def test_an_s3_store_without_the_extra_is_exit_2_naming_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "obstore.store", None)
    with pytest.raises(InputError, match=r"evalctl\[s3\]") as caught:
        open_storage("s3://bucket/prefix")
    assert caught.value.exit_code == 2


def test_a_bad_storage_option_is_exit_2_naming_it() -> None:
    with pytest.raises(InputError, match="storage_options"):
        ObjectStorage("s3://bucket/lake", {"no_such_option_at_all": "1"})


def test_the_config_keeps_an_s3_store_as_a_url_and_reads_storage_options(
        tmp_path: Path) -> None:
    config = parse_config({"store": "s3://bucket/lake", "storage_options": {
        "aws_endpoint_url": "http://127.0.0.1:9000", "aws_allow_http": True, "timeout": 30}},
        base_dir=tmp_path)
    assert config.store == "s3://bucket/lake"
    assert config.storage_options == {"aws_endpoint_url": "http://127.0.0.1:9000",
                                      "aws_allow_http": "true", "timeout": "30"}
    local = parse_config({"store": "lake"}, base_dir=tmp_path)
    assert local.store == (tmp_path / "lake").resolve() and local.storage_options == {}
    with pytest.raises(ConfigError, match="storage_options: expected a mapping"):
        parse_config({"storage_options": ["x"]}, base_dir=tmp_path)
    with pytest.raises(ConfigError, match=r"storage_options.aws_region: expected a string"):
        parse_config({"storage_options": {"aws_region": {"a": 1}}}, base_dir=tmp_path)


def test_init_on_an_object_store_is_a_create_if_absent_marker() -> None:
    storage = memory_storage()
    marker = storage.read_bytes(MARKER)
    Store._init_object(storage)  # again: idempotent, the marker is not rewritten
    assert storage.read_bytes(MARKER) == marker
    storage.put(MARKER, b'{"format": 99}')
    with pytest.raises(StoreError, match="format 99"):
        Store._init_object(storage)


def test_init_refuses_a_backend_that_ignores_conditional_writes() -> None:
    storage = ObjectStorage("s3://bucket/lake", {}, store=obstore.store.MemoryStore())
    storage.put_exclusive = lambda relative, data: storage.put(relative, data) is None  # type: ignore[method-assign]
    with pytest.raises(StoreError, match="ignores conditional writes") as caught:
        Store._init_object(storage)
    assert caught.value.exit_code == 3


def test_an_aws_profile_gives_the_keys_when_none_are_set(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("boto3")
    credentials = tmp_path / "credentials"
    credentials.write_text("[team]\naws_access_key_id = AKIATEAM\n"
                           "aws_secret_access_key = team-secret\n")
    config = tmp_path / "config"
    config.write_text("[profile team]\nregion = eu-central-1\n")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                 "AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_PROFILE", "team")
    assert storage_options({"aws_endpoint_url": "http://127.0.0.1:9"}) == {
        "aws_access_key_id": "AKIATEAM", "aws_secret_access_key": "team-secret",
        "aws_region": "eu-central-1", "aws_endpoint_url": "http://127.0.0.1:9"}
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAENV")  # keys in the environment win
    assert storage_options({})["aws_access_key_id"] == "AKIAENV"
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.setenv("AWS_PROFILE", "nobody")
    with pytest.raises(StoreError, match="AWS_PROFILE=nobody") as caught:
        storage_options({})
    assert caught.value.exit_code == 3
