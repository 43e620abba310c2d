"""Every timestamp evalctl writes or prints is RFC 3339 with `Z` (one helper, `clock.rfc3339`),
and the files older versions wrote with `+00:00` (or no zone) stay readable (`clock.parse_utc`):
monitor run files, the lease, ingest's ledger min/max timestamps, the alert log."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace

import obstore.store
import pytest
from tests.helpers import CONFIG, STORY_CONFIG, make_frame

import evalctl
from evalctl.analyses.monitor_checks import freshness
from evalctl.clock import parse_utc, rfc3339
from evalctl.lake.layout import RESULTS
from evalctl.lake.lease import LEASE, lease
from evalctl.lake.locking import StoreBusyError
from evalctl.lake.storage import ObjectStorage
from evalctl.lake.store import Store
from evalctl.settings.sections import MonitorSettings

M = "tv-recommender"


def test_rfc3339_writes_z_and_parse_utc_reads_every_form() -> None:
    aware = datetime(2026, 11, 30, 8, 15, 0, 250_000, tzinfo=UTC)
    assert rfc3339(aware) == "2026-11-30T08:15:00.250000Z"
    assert rfc3339(aware, timespec="seconds") == "2026-11-30T08:15:00Z"
    assert rfc3339(aware.replace(tzinfo=None)) == "2026-11-30T08:15:00.250000Z"  # naive: UTC
    paris = aware.astimezone(timezone(timedelta(hours=1)))
    assert rfc3339(paris) == rfc3339(aware)
    naive = aware.replace(tzinfo=None)
    for text in ("2026-11-30T08:15:00.250000Z", "2026-11-30T08:15:00.250000+00:00",
                 "2026-11-30T09:15:00.250000+01:00", "2026-11-30T08:15:00.250000"):
        assert parse_utc(text) == naive, text


def test_monitor_run_files_store_z_and_old_ones_stay_readable(story, tmp_path: Path) -> None:
    root = tmp_path / "store"
    shutil.copytree(story.store, root, ignore=lambda folder, names: (
        [RESULTS] if Path(folder) == story.store else []))
    clock = evalctl.fixed_clock("2026-12-01T06:00:00Z")
    ws = evalctl.open(STORY_CONFIG, store=root, clock=clock)
    ws.monitor(M)
    runs = sorted((root / RESULTS).rglob("*.json"))
    assert runs
    stamps = {json.loads(p.read_text())["run_at"] for p in runs}
    assert stamps == {"2026-12-01T06:00:00Z"}
    metrics, history = ws.metrics(M).to_dict(), ws.history(M).to_dict()
    for path in runs:  # as an older evalctl wrote them
        doc = json.loads(path.read_text())
        path.write_text(json.dumps(doc | {"run_at": "2026-12-01T06:00:00+00:00"}))
    assert ws.metrics(M).to_dict()["results"] == metrics["results"]
    assert ws.history(M).to_dict()["results"] == history["results"]


def test_ingest_records_min_and_max_timestamps_with_z(tmp_path: Path) -> None:
    (tmp_path / "evalctl.yaml").write_text(CONFIG)
    frame = make_frame(50)
    frame.write_parquet(tmp_path / "p.parquet")
    evalctl.Store.init(tmp_path / "store")
    ws = evalctl.open(tmp_path / "evalctl.yaml", clock=evalctl.fixed_clock("2026-12-01"))
    ws.ingest("churn", [tmp_path / "p.parquet"], version="v1", env="production")
    (record,) = Store.open(tmp_path / "store").prediction_records("churn")
    assert record.min_timestamp is not None and record.max_timestamp is not None
    assert record.min_timestamp.endswith("Z") and record.max_timestamp.endswith("Z")
    ts = frame["ts"]
    assert parse_utc(record.min_timestamp) == ts.min()
    assert parse_utc(record.max_timestamp) == ts.max()


@pytest.mark.parametrize("stored", ["2026-11-30T18:00:00Z", "2026-11-30T18:00:00+00:00",
                                    "2026-11-30T19:00:00+01:00", "2026-11-30T18:00:00"])
def test_freshness_reads_every_stored_form_alike(stored: str) -> None:
    """Ledgers written before `Z` (offset or naive) and after give the same freshness."""
    records = [SimpleNamespace(env="production", max_timestamp=stored)]
    store = SimpleNamespace(prediction_records=lambda name: records)
    got = freshness(store, SimpleNamespace(name="m"), date(2026, 11, 30),  # type: ignore[arg-type]
                    MonitorSettings(), datetime(2026, 12, 1, 6, tzinfo=UTC))
    assert got["value"] == pytest.approx(6.0) and got["status"] == "pass"


def memory_storage() -> ObjectStorage:
    storage = ObjectStorage("s3://bucket/lake", {}, store=obstore.store.MemoryStore())
    Store._init_object(storage)
    return storage


def test_the_lease_writes_z_and_reads_an_older_lease(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVALCTL_LOCK_WAIT", "0s")
    storage = memory_storage()
    with lease(storage, "gc"):
        expires = json.loads(storage.read_bytes(LEASE))["expires"]
        assert expires.endswith("Z") and parse_utc(expires) > datetime.now(UTC).replace(
            tzinfo=None)
    for old, held in (("2999-01-01T00:00:00+00:00", True), ("2000-01-01T00:00:00+00:00", False),
                      ("2999-01-01T00:00:00Z", True), ("2000-01-01T00:00:00Z", False)):
        storage.put(LEASE, json.dumps({"owner": "x", "holder": "erase", "expires": old}).encode())
        if held:
            with pytest.raises(StoreBusyError, match="erase"), lease(storage, "gc"):
                pass
        else:
            with lease(storage, "gc"):
                pass
        if storage.head(LEASE) is not None:
            storage.delete(LEASE)
