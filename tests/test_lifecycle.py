"""Batch lifecycle (issue #13 items 12-15): remove as a commit, repair by re-ingest,
retention, the committed file list for outside readers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from tests.helpers import make_frame, store_snapshot

INGEST = ["ingest", "--model", "churn", "--version", "v1", "--env", "production"]


def _ingest(cli, path: Path, *extra: str) -> str:
    result = cli(*INGEST, str(path), "--format", "json", *extra)
    assert result.code == 0, result.stderr
    return result.json()["results"][0]["batch"]


def _rows(cli) -> int:
    return cli("catalog", "--format", "json").json()["summary"]["rows"]


def _parquet(workdir: Path) -> set[str]:
    return {p.relative_to(workdir / "store").as_posix()
            for p in (workdir / "store" / "predictions").rglob("*.parquet")}


@pytest.fixture
def two(cli, workdir, frame_file) -> tuple[str, str]:
    a = _ingest(cli, frame_file(make_frame(300, prefix="a"), "a.parquet"))
    b = _ingest(cli, frame_file(make_frame(200, prefix="b", seed=1,
                                           start=datetime(2026, 11, 10)), "b.parquet"))
    return a, b


# -- item 12: batches remove ----------------------------------------------------------------
def test_remove_is_a_commit_and_files_wait_for_the_grace_period(cli, workdir, two,
                                                                monkeypatch) -> None:
    a, b = two
    files_before = _parquet(workdir)
    result = cli("batches", "remove", a, "--format", "json")
    assert result.code == 0, result.stderr
    doc = result.json()
    assert [r["batch"] for r in doc["results"]] == [a]
    assert doc["summary"]["rows"] == 300 and doc["summary"]["tombstone"]
    assert "removed 1 batch(es), 300 rows" in result.stderr
    assert _rows(cli) == 200
    assert [r["batch"] for r in cli("batches", "--format", "json").json()["results"]] == [b]
    tombstones = list((workdir / "store" / "_ledger").glob("*.tombstone.json"))
    assert len(tombstones) == 1
    # within the grace period doctor keeps the files and says why
    report = cli("doctor", "--repair", "--format", "json").json()
    assert report["status"] == "pass" and report["summary"]["pending"] == 4
    assert _parquet(workdir) == files_before
    monkeypatch.setenv("EVALCTL_GRACE", "0s")
    report = cli("doctor", "--repair", "--format", "json").json()
    assert report["summary"]["collected"] == 4 and report["summary"]["orphans"] == 0
    assert len(_parquet(workdir)) == 4 and _rows(cli) == 200
    assert cli("doctor", "--format", "json").json()["status"] == "pass"


def test_dry_run_and_bad_ids_change_nothing(cli, workdir, two) -> None:
    a, _ = two
    before = store_snapshot(workdir / "store")
    dry = cli("batches", "remove", a[:6], "--dry-run", "--format", "json")
    assert dry.code == 0 and dry.json()["results"][0]["action"] == "would remove"
    assert "would remove 1 batch(es)" in dry.stderr
    for bad, words in [("ffffffffffff", "no committed batch"), ("ab", "at least 4")]:
        result = cli("batches", "remove", a, bad)
        assert result.code == 2 and bad in result.stderr and words in result.stderr
    assert store_snapshot(workdir / "store") == before
    assert cli("batches", "remove", a).code == 0
    again = cli("batches", "remove", a)
    assert again.code == 2 and "already removed" in again.stderr


def test_two_batches_removed_in_one_commit(cli, workdir, two) -> None:
    assert cli("batches", "remove", *two).code == 0
    assert cli("catalog", "--format", "json").json()["results"] == []
    [tomb] = (workdir / "store" / "_ledger").glob("*.tombstone.json")
    assert len(json.loads(tomb.read_text())["removes"]) == 2


READ_LOOP = """
import json, sys
from evalctl.lake import Store
store = Store.open(sys.argv[1])
seen = set()
for _ in range(int(sys.argv[2])):
    store.refresh()
    seen.add(sum(r.rows for r in store.records))
print(json.dumps(sorted(seen)))
"""


def test_readers_never_see_half_a_removal(cli, workdir, two) -> None:
    """A reader polling the ledger while two batches are removed in one commit sees 500 or 0
    rows, never 300 or 200."""
    reader = subprocess.Popen([sys.executable, "-c", READ_LOOP, str(workdir / "store"), "400"],
                              stdout=subprocess.PIPE, text=True)
    assert cli("batches", "remove", *two).code == 0
    seen = json.loads(reader.communicate(timeout=120)[0])
    assert set(seen) <= {0, 500}


def test_concurrent_removals_of_one_batch_commit_once(cli, workdir, two) -> None:
    a, _ = two
    procs = [subprocess.Popen([sys.executable, "-m", "evalctl", "batches", "remove", a],
                              cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(3)]
    codes = sorted(p.wait(timeout=120) for p in procs)
    assert codes == [0, 2, 2]
    assert len(list((workdir / "store" / "_ledger").glob("*.tombstone.json"))) == 1
    assert _rows(cli) == 200


# -- item 13: a damaged batch is repaired by remove + ingest again ----------------------------
def test_a_damaged_batch_is_repaired_by_remove_and_ingest(cli, workdir, two) -> None:
    a, _ = two
    victim = sorted(p for p in (workdir / "store" / "predictions").rglob("*.parquet")
                    if a in p.name)[0]
    with open(victim, "r+b") as handle:
        handle.seek(30)
        handle.write(b"\xff\xfe")
    report = cli("doctor", "--format", "json")
    assert report.code == 3
    hint = " ".join(report.json()["recommendations"])
    assert f"evalctl batches remove {a}" in hint
    assert f"evalctl ingest {workdir / 'a.parquet'} --model churn --version v1" in hint
    assert cli("batches", "remove", a).code == 0
    again = cli(*INGEST, str(workdir / "a.parquet"), "--format", "json").json()["results"][0]
    assert again["batch"] == a and again["already_ingested"] is False
    assert (workdir / "store" / "_ledger" / f"{a}.2.json").is_file()
    assert _rows(cli) == 500
    assert cli("doctor", "--format", "json").json()["status"] == "pass"  # damaged file removed
    assert cli(*INGEST, str(workdir / "a.parquet"), "--format", "json"
               ).json()["results"][0]["already_ingested"] is True


def test_concurrent_reingests_after_a_removal_commit_one_generation(cli, workdir, two) -> None:
    a, _ = two
    assert cli("batches", "remove", a).code == 0
    procs = [subprocess.Popen([sys.executable, "-m", "evalctl", *INGEST, "--format", "json",
                               str(workdir / "a.parquet")], cwd=workdir,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(3)]
    outs = [p.communicate(timeout=120)[0] for p in procs]
    flags = sorted(json.loads(o)["results"][0]["already_ingested"] for o in outs)
    assert flags == [False, True, True]
    assert sorted(p.name for p in (workdir / "store" / "_ledger").glob(f"{a}.*.json")) == [
        f"{a}.1.json", f"{a}.2.json"]
    assert _rows(cli) == 500


# -- item 14: retention ---------------------------------------------------------------------
def test_gc_removes_whole_old_batches_and_reports_partly_older(cli, workdir, frame_file
                                                              ) -> None:
    today = datetime.now().replace(hour=0, minute=0, second=0, microsecond=0)
    old = _ingest(cli, frame_file(make_frame(100, prefix="o", start=today - timedelta(
        days=500)), "old.parquet"))
    straddle = _ingest(cli, frame_file(make_frame(100, prefix="s", days=4, start=today
                                                  - timedelta(days=402)), "s.parquet"))
    new = _ingest(cli, frame_file(make_frame(100, prefix="n", start=today - timedelta(
        days=10)), "n.parquet"))
    training = cli("ingest", "--model", "churn", "--version", "v1", "--env", "training",
                   str(workdir / "old.parquet"), "--format", "json").json()["results"][0]
    dry = cli("gc", "--older-than", "400d", "--env", "production", "--dry-run",
              "--format", "json")
    assert dry.code == 0
    kept = dry.json()["results"][0]  # worst first: the warning about the kept batch
    assert {r["batch"]: r["action"] for r in dry.json()["results"]} == {
        old: "would remove", straddle: kept["action"]}
    assert kept["status"] == "warn" and "after the cut-off" in kept["action"]
    assert dry.json()["status"] == "warn"
    done = cli("gc", "--older-than", "400d", "--env", "production", "--format", "json").json()
    assert done["summary"]["batches"] == 1 and done["summary"]["tombstone"]
    live = {r["batch"] for r in cli("batches", "--format", "json").json()["results"]}
    assert live == {straddle, new, training["batch"]}
    assert cli("gc", "--older-than", "400d", "--format", "json").json()["summary"][
        "batches"] == 1  # the training copy, without --env


@pytest.mark.parametrize("value", ["400", "0d", "-3d", "2h", "soon"])
def test_gc_refuses_a_bad_cut_off(cli, workdir, two, value) -> None:
    before = store_snapshot(workdir / "store")
    result = cli("gc", "--older-than", value)
    assert result.code == 2 and "--older-than" in result.stderr
    assert store_snapshot(workdir / "store") == before


# -- item 15: the committed file list --------------------------------------------------------
def test_files_lists_exactly_what_duckdb_should_read(cli, workdir, two, frame_file) -> None:
    duckdb = pytest.importorskip("duckdb")
    a, b = two
    assert cli("batches", "remove", b).code == 0  # removed but still on disk
    stray = workdir / "store" / "predictions" / "model=churn" / "version=v1" / \
        "env=production" / "date=2026-11-01" / "part-uncommitted-0000.parquet"
    make_frame(50, prefix="x").drop("label").write_parquet(stray)
    plain = cli("files", "--model", "churn", "--selector", "production", "--plain")
    assert plain.code == 0
    paths = plain.stdout.splitlines()
    assert paths and all(os.path.isabs(p) and a in p for p in paths)
    doc = cli("files", "--model", "churn", "--selector", "production", "--format", "json").json()
    assert [r["path"] for r in doc["results"]] == paths and doc["summary"]["rows"] == 300
    listed = duckdb.sql(f"select count(*), count(distinct request_id) from read_parquet("
                        f"{paths!r})").fetchall()[0]
    assert listed == (300, 300)
    glob = str(workdir / "store" / "predictions" / "**" / "*.parquet")
    assert duckdb.sql(f"select count(*) from read_parquet('{glob}', union_by_name=true)"
                      ).fetchall()[0][0] == 550  # the unsafe glob: removed and stray rows too


def test_files_of_actuals_and_bad_use(cli, workdir, two, frame_file) -> None:
    labels = frame_file(make_frame(40).select("request_id", "label"), "labels.parquet")
    assert cli("ingest-actuals", str(labels), "--model", "churn").code == 0
    doc = cli("files", "--model", "churn", "--actuals", "--format", "json").json()
    assert doc["summary"]["rows"] == 40 and "/actuals/" in doc["results"][0]["path"]
    assert cli("files", "--model", "churn").code == 2
    assert cli("files", "--model", "churn", "--selector", "production", "--plain",
               "--format", "json").code == 2
    nothing = cli("files", "--model", "churn", "--selector", "shadow")
    assert nothing.code == 2 and "shadow" in nothing.stderr


def test_a_format_1_batch_is_removed_and_ingested_again(cli, workdir, two) -> None:
    a, _ = two
    ledger = workdir / "store" / "_ledger"
    data = json.loads((ledger / f"{a}.1.json").read_text())
    del data["generation"]
    (ledger / f"{a}.1.json").unlink()
    (ledger / f"{a}.json").write_text(json.dumps(data))
    (workdir / "store" / "evalctl-store.json").write_text(json.dumps({"format": 1}))
    assert cli("batches", "remove", a).code == 0
    assert json.loads((workdir / "store" / "evalctl-store.json").read_text())["format"] == 2
    assert _rows(cli) == 200
    assert _ingest(cli, workdir / "a.parquet") == a
    assert (ledger / f"{a}.2.json").is_file() and _rows(cli) == 500


def test_lifecycle_commands_emit_schema_valid_json(cli, workdir, two) -> None:
    from tests.helpers import validate_envelope as validate

    a, b = two
    ids = workdir / "ids.txt"
    ids.write_text("a00001\n")
    runs = [("files", "--model", "churn", "--selector", "production"),
            ("erase", "--model", "churn", "--ids", str(ids), "--dry-run"),
            ("gc", "--older-than", "9999d"),
            ("batches", "remove", a, "--dry-run"),
            ("doctor",)]
    for args in runs:
        result = cli(*args, "--format", "json")
        assert result.code == 0, (args, result.stderr)
        validate(result.json())
        expected = " ".join(args[:2]) if args[0] == "batches" else args[0]
        assert result.json()["command"] == expected
