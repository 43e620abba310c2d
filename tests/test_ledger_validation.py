"""Records are validated on read (issue #13 item 9) and the store's format is enforced (item 16)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from tests.helpers import make_frame, store_snapshot

INGEST = ["ingest", "--model", "churn", "--version", "v1", "--env", "production"]


@pytest.fixture
def one_batch(cli, workdir, frame_file) -> Path:
    """A store with one batch; returns its ledger record."""
    assert cli(*INGEST, str(frame_file(make_frame(400), "a.parquet"))).code == 0
    [record] = sorted((workdir / "store" / "_ledger").glob("*.json"))
    return record


def _edit(record: Path, **changes) -> None:
    data = json.loads(record.read_text())
    data.update(changes)
    record.write_text(json.dumps(data))


def _refused(cli, workdir, name: str, words: str) -> None:
    """catalog and a report exit 3 naming the record; doctor exits 3 and lists it."""
    before = store_snapshot(workdir / "store")
    for args in (["catalog"], ["slices", "--model", "churn", "--selector", "production"]):
        result = cli(*args)
        assert result.code == 3, result.stderr
        assert f"_ledger/{name}" in result.stderr and words in result.stderr
        assert "evalctl doctor" in result.stderr
    report = cli("doctor", "--format", "json")
    assert report.code == 3
    assert any(r["path"] == f"_ledger/{name}" and words in r["problem"]
               for r in report.json()["results"])
    assert store_snapshot(workdir / "store") == before


def test_record_name_is_batch_and_generation(one_batch) -> None:
    batch = json.loads(one_batch.read_text())["batch"]
    assert one_batch.name == f"{batch}.1.json"


def test_a_copied_record_is_refused_not_counted_twice(cli, workdir, one_batch) -> None:
    shutil.copy(one_batch, one_batch.with_name("copy.json"))
    _refused(cli, workdir, "copy.json", "is not named")


def test_a_record_copied_as_another_generation_is_refused(cli, workdir, one_batch) -> None:
    batch = json.loads(one_batch.read_text())["batch"]
    shutil.copy(one_batch, one_batch.with_name(f"{batch}.2.json"))
    _refused(cli, workdir, f"{batch}.2.json", "generation 1 is not named")


def test_the_same_files_under_a_second_record_are_refused(cli, workdir, one_batch) -> None:
    data = json.loads(one_batch.read_text())
    data["batch"] = "0123456789abcdef"
    (one_batch.parent / "0123456789abcdef.1.json").write_text(json.dumps(data))
    result = cli("catalog")
    assert result.code == 3 and "is also listed by" in result.stderr


def test_edited_rows_are_refused(cli, workdir, one_batch) -> None:
    _edit(one_batch, rows=999)
    _refused(cli, workdir, one_batch.name, "rows 999 != 400")


@pytest.mark.parametrize("path", ["../other/part.parquet", "/etc/passwd",
                                  "predictions/../../x.parquet", "actuals/model=churn/x.parquet"])
def test_paths_outside_the_store_are_refused(cli, workdir, one_batch, path) -> None:
    data = json.loads(one_batch.read_text())
    data["files"][0]["path"] = path
    one_batch.write_text(json.dumps(data))
    _refused(cli, workdir, one_batch.name, f"file path {path!r}")


def test_an_unreadable_record_and_an_odd_name_are_refused(cli, workdir, one_batch) -> None:
    (one_batch.parent / "notes.v1.json").write_text("{}")
    _refused(cli, workdir, "notes.v1.json", "not a ledger record name")
    (one_batch.parent / "notes.v1.json").unlink()
    one_batch.write_text("{not json")
    _refused(cli, workdir, one_batch.name, "unreadable")


def test_doctor_reports_every_problem_at_once(cli, workdir, one_batch) -> None:
    shutil.copy(one_batch, one_batch.with_name("copy.json"))
    _edit(one_batch, rows=7)
    report = cli("doctor", "--format", "json").json()
    paths = {r["path"] for r in report["results"] if r["status"] == "fail"}
    assert {"_ledger/copy.json", f"_ledger/{one_batch.name}"} <= paths


def test_a_format_1_record_name_is_still_read(cli, workdir, one_batch) -> None:
    batch = json.loads(one_batch.read_text())["batch"]
    one_batch.rename(one_batch.with_name(f"{batch}.json"))
    assert cli("catalog", "--format", "json").json()["summary"]["rows"] == 400
    assert cli("doctor").code == 0
    # the same batch under both names is two records of generation 1
    shutil.copy(one_batch.with_name(f"{batch}.json"), one_batch)
    result = cli("catalog")
    assert result.code == 3 and "generation 1 is also" in result.stderr


# -- item 16: format version ----------------------------------------------------------------
def _marker(workdir: Path) -> Path:
    return workdir / "store" / "evalctl-store.json"


def test_a_new_store_has_format_2(cli, workdir) -> None:
    assert json.loads(_marker(workdir).read_text())["format"] == 2


@pytest.mark.parametrize("args", [["catalog"], ["doctor"], ["batches"],
                                  [*INGEST, "a.parquet"]])
def test_a_newer_format_is_refused_by_every_command(cli, workdir, frame_file, args) -> None:
    frame_file(make_frame(50), "a.parquet")
    _marker(workdir).write_text(json.dumps({"format": 3}))
    before = store_snapshot(workdir / "store")
    result = cli(*args)
    assert result.code == 3
    assert "format 3" in result.stderr and "upgrade evalctl" in result.stderr
    assert store_snapshot(workdir / "store") == before


def test_a_damaged_marker_is_refused(cli, workdir) -> None:
    _marker(workdir).write_text("{\"format\": \"two\"}")
    result = cli("catalog")
    assert result.code == 3 and "evalctl-store.json" in result.stderr


def test_a_format_1_store_is_read_and_upgraded_on_first_write(cli, workdir, frame_file,
                                                              one_batch) -> None:
    batch = json.loads(one_batch.read_text())["batch"]
    data = json.loads(one_batch.read_text())
    del data["generation"]  # evalctl before format 2 wrote no generation
    one_batch.unlink()
    (one_batch.parent / f"{batch}.json").write_text(json.dumps(data))
    _marker(workdir).write_text(json.dumps({"format": 1, "created_by": "0.1.0"}))
    assert cli("catalog", "--format", "json").json()["summary"]["rows"] == 400
    assert json.loads(_marker(workdir).read_text())["format"] == 1  # reads change nothing
    again = cli(*INGEST, str(workdir / "a.parquet"), "--format", "json").json()
    assert again["results"][0]["already_ingested"] is True
    assert cli(*INGEST, str(frame_file(make_frame(50, prefix="b", seed=2), "b.parquet"))
               ).code == 0
    assert json.loads(_marker(workdir).read_text())["format"] == 2
    assert cli("catalog", "--format", "json").json()["summary"]["rows"] == 450


def test_init_refuses_a_newer_store(cli, workdir) -> None:
    _marker(workdir).write_text(json.dumps({"format": 9}))
    before = store_snapshot(workdir / "store")
    result = cli("init", "store", "--no-config")
    assert result.code == 3 and "format 9" in result.stderr
    assert store_snapshot(workdir / "store") == before


def test_a_copied_tombstone_is_refused(cli, workdir, one_batch) -> None:
    batch = json.loads(one_batch.read_text())["batch"]
    assert cli("batches", "remove", batch).code == 0
    [tomb] = one_batch.parent.glob("*.tombstone.json")
    data = json.loads(tomb.read_text())
    shutil.copy(tomb, tomb.with_name("copy.tombstone.json"))
    _refused(cli, workdir, "copy.tombstone.json", "differs from its file name")
    (tomb.parent / "copy.tombstone.json").unlink()
    data["id"] = "again"
    (tomb.parent / "again.tombstone.json").write_text(json.dumps(data))
    result = cli("catalog")
    assert result.code == 3 and "already removes" in result.stderr
    data.update(id="ghost", removes=[{"batch": "0123456789abcdef", "generation": 1}])
    (tomb.parent / "again.tombstone.json").unlink()
    (tomb.parent / "ghost.tombstone.json").write_text(json.dumps(data))
    result = cli("catalog")
    assert result.code == 3 and "which has no record" in result.stderr


def test_the_json_error_names_the_record_and_suggests_doctor(cli, workdir, one_batch) -> None:
    shutil.copy(one_batch, one_batch.with_name("copy.json"))
    result = cli("catalog", "--format", "json")
    assert result.code == 3
    error = result.json()["error"]
    assert error["file"] == str(workdir / "store" / "_ledger" / "copy.json")
    assert "evalctl doctor" in error["hint"] and error["exit_code"] == 3


def test_repair_removes_nothing_while_the_ledger_is_invalid(cli, workdir, one_batch) -> None:
    _edit(one_batch, rows=1)  # its files would otherwise look like orphans
    before = store_snapshot(workdir / "store")
    report = cli("doctor", "--repair", "--format", "json")
    assert report.code == 3 and report.json()["summary"]["repair_skipped"] is True
    assert "removed nothing" in " ".join(report.json()["recommendations"])
    assert store_snapshot(workdir / "store") == before
