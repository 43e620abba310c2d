"""Erasure by id (issue #13 item 17): one commit, counted, never half-visible."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from tests.helpers import make_frame, store_snapshot

INGEST = ["ingest", "--model", "churn", "--version", "v1", "--env", "production"]
FORGET = ["a00003", "a00150", "b00010", "nobody"]


@pytest.fixture
def filled(cli, workdir, frame_file) -> Path:
    """Two prediction batches and one actuals batch; returns the ids file."""
    assert cli(*INGEST, str(frame_file(make_frame(300, prefix="a"), "a.parquet"))).code == 0
    assert cli(*INGEST, str(frame_file(make_frame(200, prefix="b", seed=1), "b.parquet"))
               ).code == 0
    labels = make_frame(300, prefix="a").select("request_id", "label").head(100)
    assert cli("ingest-actuals", str(frame_file(labels, "labels.parquet")), "--model",
               "churn").code == 0
    ids = workdir / "forget.txt"
    ids.write_text("\n".join(FORGET) + "\n\n")
    return ids


def _stored_ids(workdir: Path, every_file: bool = False) -> set[str]:
    """Ids in the committed files (or in every Parquet file on disk)."""
    if every_file:
        paths = [str(p) for p in (workdir / "store").rglob("*.parquet")]
    else:
        from evalctl.lake import Store
        store = Store.open(workdir / "store")
        paths = [str(workdir / "store" / f.path) for r in store.records for f in r.files]
    frames = [pl.scan_parquet(p).select("request_id") for p in paths]
    return set(pl.concat(frames).collect()["request_id"])


def test_erase_removes_the_ids_everywhere_in_one_commit(cli, workdir, filled) -> None:
    before = cli("catalog", "--format", "json").json()["summary"]["rows"]
    result = cli("erase", "--model", "churn", "--ids", str(filled), "--format", "json")
    assert result.code == 0, result.stderr
    doc = result.json()
    # a00003 and a00150 in predictions; a00003 in actuals (the first 100 labels); b00010
    assert doc["summary"]["rows"] == 4 and doc["summary"]["ids"] == 4
    assert sorted(r["kind"] for r in doc["results"]) == ["actuals", "predictions",
                                                         "predictions"]
    assert "erased 4 row(s) of 4 id(s) in 3 batch(es)" in result.stderr
    assert len(list((workdir / "store" / "_ledger").glob("*.tombstone.json"))) == 1
    assert cli("catalog", "--format", "json").json()["summary"]["rows"] == before - 4
    assert not set(FORGET) & _stored_ids(workdir)
    assert set(FORGET[:3]) <= _stored_ids(workdir, every_file=True)  # until collected
    assert cli("doctor", "--format", "json").json()["status"] == "pass"
    # the same export again must not bring the rows back
    again = cli(*INGEST, str(workdir / "a.parquet"), "--format", "json").json()
    assert again["results"][0]["already_ingested"] is True
    assert cli("doctor", "--repair", "--grace", "soon").code == 2
    collected = cli("doctor", "--repair", "--grace", "0s", "--format", "json").json()
    assert collected["summary"]["collected"] >= 3 and collected["status"] == "pass"
    assert not set(FORGET) & _stored_ids(workdir, every_file=True)
    assert cli("catalog", "--format", "json").json()["summary"]["rows"] == before - 4


def test_dry_run_unknown_ids_and_bad_files_change_nothing(cli, workdir, filled) -> None:
    before = store_snapshot(workdir / "store")
    dry = cli("erase", "--model", "churn", "--ids", str(filled), "--dry-run", "--format",
              "json")
    assert dry.code == 0 and dry.json()["summary"]["rows"] == 4
    assert dry.json()["summary"]["tombstone"] is None
    none = workdir / "none.txt"
    none.write_text("zzz\n")
    assert cli("erase", "--model", "churn", "--ids", str(none), "--format", "json"
               ).json()["summary"]["rows"] == 0
    empty = workdir / "empty.txt"
    empty.write_text("\n")
    result = cli("erase", "--model", "churn", "--ids", str(empty))
    assert result.code == 2 and "empty.txt" in result.stderr and "no ids" in result.stderr
    wrong = workdir / "ids.csv"
    wrong.write_text("user\nx\n")
    result = cli("erase", "--model", "churn", "--ids", str(wrong))
    assert result.code == 2 and "'request_id'" in result.stderr
    assert store_snapshot(workdir / "store") == before


def test_ids_from_a_csv_and_a_batch_erased_entirely(cli, workdir, filled) -> None:
    ids = workdir / "all_b.csv"
    make_frame(200, prefix="b", seed=1).select("request_id").write_csv(ids)
    result = cli("erase", "--model", "churn", "--ids", str(ids), "--format", "json")
    assert result.json()["summary"]["rows"] == 200
    batches = cli("batches", "--format", "json").json()["results"]
    assert sorted(r["kind"] for r in batches) == ["actuals", "predictions"]
    assert cli("doctor", "--format", "json").json()["status"] == "pass"


READ_LOOP = """
import sys, json
from evalctl.lake import Store
store = Store.open(sys.argv[1])
seen = set()
for _ in range(int(sys.argv[2])):
    store.refresh()
    seen.add(sum(r.rows for r in store.records if r.kind == "predictions"))
print(json.dumps(sorted(seen)))
"""


def test_readers_never_see_a_half_erased_store(cli, workdir, filled) -> None:
    reader = subprocess.Popen([sys.executable, "-c", READ_LOOP, str(workdir / "store"), "300"],
                              stdout=subprocess.PIPE, text=True)
    assert cli("erase", "--model", "churn", "--ids", str(filled)).code == 0
    assert set(json.loads(reader.communicate(timeout=120)[0])) <= {500, 497}


def test_a_damaged_erased_batch_is_repaired_with_the_erase_again(cli, workdir, filled) -> None:
    assert cli("erase", "--model", "churn", "--ids", str(filled)).code == 0
    from evalctl.lake import Store

    rewritten = [f.path for r in Store.open(workdir / "store").records
                 if "erased_at" in r.extra for f in r.files]
    victim = workdir / "store" / sorted(rewritten)[0]
    victim.write_bytes(victim.read_bytes()[:-10])
    report = cli("doctor", "--format", "json")
    assert report.code == 3
    hint = " ".join(report.json()["recommendations"])
    assert "evalctl batches remove" in hint and "evalctl erase --model churn --ids" in hint


def test_erase_and_remove_at_once_leave_a_consistent_store(cli, workdir, filled) -> None:
    """Lifecycle commits are serialised: whichever runs second sees the first's result."""
    batch = cli("batches", "--format", "json").json()["results"][0]["batch"]
    procs = [subprocess.Popen([sys.executable, "-m", "evalctl", *args], cwd=workdir,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for args in (["erase", "--model", "churn", "--ids", str(filled)],
                          ["batches", "remove", batch])]
    erased, removed = (p.wait(timeout=120) for p in procs)
    assert erased == 0 and removed in (0, 2)
    assert cli("doctor", "--format", "json").json()["status"] == "pass"
    live = {r["batch"] for r in cli("batches", "--format", "json").json()["results"]}
    assert (batch not in live) == (removed == 0)
    assert not set(FORGET) & _stored_ids(workdir)
