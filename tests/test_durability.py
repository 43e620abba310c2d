"""Atomic, exclusive commits: concurrency, crashes, doctor."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.helpers import make_frame

INGEST = ["ingest", "--model", "churn", "--version", "v1", "--env", "production"]


def _spawn(workdir: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "evalctl", *args], cwd=workdir,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _catalog_rows(cli) -> int:
    return cli("catalog", "--format", "json").json()["summary"]["rows"]


def test_two_different_batches_at_once_both_land(cli, workdir, frame_file) -> None:
    a = frame_file(make_frame(3000, prefix="a"), "a.parquet")
    b = frame_file(make_frame(3000, prefix="b", seed=1), "b.parquet")
    procs = [_spawn(workdir, *INGEST, str(a)), _spawn(workdir, *INGEST, str(b))]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    assert _catalog_rows(cli) == 6000
    assert cli("doctor", "--format", "json").json()["status"] == "pass"


def test_the_same_batch_at_once_lands_once(cli, workdir, frame_file) -> None:
    path = frame_file(make_frame(3000), "a.parquet")
    procs = [_spawn(workdir, *INGEST, "--format", "json", str(path)) for _ in range(3)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0]
    flags = [json.loads(out)["results"][0]["already_ingested"] for out, _ in outs]
    assert sorted(flags) == [False, True, True]  # exactly one committed
    assert _catalog_rows(cli) == 3000
    files = list((workdir / "store" / "predictions").rglob("*.parquet"))
    assert len(files) == 4  # one attempt's files; the losers removed theirs
    assert cli("doctor", "--format", "json").json()["status"] == "pass"


KILL_MID_INGEST = """
import os, signal, sys
import evalctl.lake.ingest as ingest
def die(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)
ingest.commit_record = die
from evalctl.cli.app import run
sys.exit(run(sys.argv[1:]))
"""


def test_process_killed_mid_ingest_leaves_nothing_visible(cli, workdir, frame_file,
                                                          monkeypatch) -> None:
    monkeypatch.setenv("EVALCTL_GRACE", "0s")  # repair removes leftovers of any age
    cli(*INGEST, str(frame_file(make_frame(100, prefix="x"), "x.parquet")))
    before = cli("catalog", "--format", "json").json()["results"]
    path = frame_file(make_frame(500), "a.parquet")
    proc = subprocess.run([sys.executable, "-c", KILL_MID_INGEST, *INGEST, str(path)],
                          cwd=workdir, capture_output=True, text=True, timeout=120)
    assert proc.returncode == -9
    assert cli("catalog", "--format", "json").json()["results"] == before
    report = cli("doctor", "--format", "json")
    assert report.code == 0 and report.json()["status"] == "warn"
    assert report.json()["summary"]["orphans"] >= 4
    repaired = cli("doctor", "--repair", "--format", "json").json()
    assert repaired["summary"]["removed"] == report.json()["summary"]["orphans"]
    assert cli("doctor", "--format", "json").json()["status"] == "pass"
    assert cli(*INGEST, str(path)).code == 0
    assert _catalog_rows(cli) == 600


def test_doctor_finds_altered_and_missing_files(cli, workdir, frame_file) -> None:
    cli(*INGEST, str(frame_file(make_frame(400), "a.parquet")))
    files = sorted((workdir / "store" / "predictions").rglob("*.parquet"))
    with open(files[0], "r+b") as handle:
        handle.seek(10)
        handle.write(b"\x00\x01\x02")
    os.remove(files[1])
    result = cli("doctor", "--format", "json")
    assert result.code == 3
    problems = sorted(r["problem"] for r in result.json()["results"])
    assert problems == ["checksum mismatch", "missing"]
    assert result.json()["status"] == "fail"


def test_reading_a_missing_committed_file_is_exit_3(cli, workdir, frame_file) -> None:
    cli(*INGEST, str(frame_file(make_frame(400), "a.parquet")))
    os.remove(sorted((workdir / "store" / "predictions").rglob("*.parquet"))[0])
    from evalctl.errors import StoreError
    from evalctl.lake import Store, parse_selector
    from evalctl.settings.load import load_config
    store = Store.open(workdir / "store")
    model = load_config(workdir / "evalctl.yaml").model("churn")
    try:
        store.scan(model, parse_selector("production"))
    except StoreError as exc:
        assert "committed file is missing" in str(exc) and exc.exit_code == 3
    else:
        raise AssertionError("expected StoreError")


def test_ingest_never_touches_committed_files(cli, workdir, frame_file) -> None:
    cli(*INGEST, str(frame_file(make_frame(400), "a.parquet")))
    root = workdir / "store" / "predictions"
    before = {p: p.read_bytes() for p in root.rglob("*.parquet")}
    cli(*INGEST, str(frame_file(make_frame(400, prefix="z", seed=3), "z.parquet")))
    cli(*INGEST, str(workdir / "a.parquet"))
    assert all(p.read_bytes() == data for p, data in before.items())


# -- damaged data is reported as damage (issue #13 item 10) ----------------------------------
def _damage(workdir: Path, how: str) -> Path:
    victim = sorted((workdir / "store" / "predictions").rglob("*.parquet"))[0]
    data = bytearray(victim.read_bytes())
    if how == "truncate":
        victim.write_bytes(bytes(data[: len(data) // 2]))
    else:  # flip bits inside the first column chunk: same size, footer intact
        for i in range(200, 400):
            data[i] ^= 0xFF
        victim.write_bytes(bytes(data))
    return victim


EXPORT = ["export", "--model", "churn", "--selector", "production", "--out", "x.parquet"]


def test_a_truncated_file_is_exit_3_naming_it(cli, workdir, frame_file) -> None:
    cli(*INGEST, str(frame_file(make_frame(2000), "a.parquet")))
    victim = _damage(workdir, "truncate")
    for args in (EXPORT, ["slices", "--model", "churn", "--selector", "production"]):
        result = cli(*args)
        assert result.code == 3, result.stderr
        assert str(victim) in result.stderr and "evalctl doctor" in result.stderr


def test_a_bit_flipped_file_is_exit_3_naming_it(cli, workdir, frame_file) -> None:
    cli(*INGEST, str(frame_file(make_frame(2000), "a.parquet")))
    victim = _damage(workdir, "flip")
    result = cli(*EXPORT)
    assert result.code == 3, result.stderr
    assert str(victim) in result.stderr and "checksum mismatch" in result.stderr
    assert "please report it" not in result.stderr


def test_a_real_bug_while_reading_a_sound_store_is_still_exit_4(cli, workdir, frame_file,
                                                                monkeypatch) -> None:
    cli(*INGEST, str(frame_file(make_frame(200), "a.parquet")))
    import polars as pl

    from evalctl.analyses import export

    def broken(store, model, selector, options):
        store.scan(model, selector)  # the store handed out sound files
        raise pl.exceptions.ComputeError("boom")

    monkeypatch.setattr(export, "export_report", broken)
    result = cli(*EXPORT)
    assert result.code == 4 and "please report it" in result.stderr


def test_repair_never_follows_a_symlinked_staging_folder(cli, workdir, tmp_path_factory
                                                         ) -> None:
    outside = tmp_path_factory.mktemp("precious")
    (outside / "keep.txt").write_text("do not delete")
    staging = workdir / "store" / "_staging"
    staging.rmdir()
    staging.symlink_to(outside, target_is_directory=True)
    report = cli("doctor", "--repair", "--format", "json")
    assert (outside / "keep.txt").read_text() == "do not delete"
    assert any(r["path"] == "_staging" and "stray" in r["problem"]
               for r in report.json()["results"])


def test_collection_never_deletes_through_a_symlinked_partition(cli, workdir, frame_file,
                                                                tmp_path_factory,
                                                                monkeypatch) -> None:
    batch = cli(*INGEST, str(frame_file(make_frame(200), "a.parquet")), "--format", "json"
                ).json()["results"][0]["batch"]
    assert cli("batches", "remove", batch).code == 0
    part = sorted((workdir / "store" / "predictions").rglob("date=*"))[0]
    outside = tmp_path_factory.mktemp("elsewhere")
    for f in part.iterdir():
        (outside / f.name).write_bytes(f.read_bytes())
        f.unlink()
    part.rmdir()
    part.symlink_to(outside, target_is_directory=True)
    monkeypatch.setenv("EVALCTL_GRACE", "0s")
    report = cli("doctor", "--repair", "--format", "json").json()
    assert list(outside.glob("*.parquet")), "deleted through a symlink"
    assert report["summary"]["pending"] >= 1


def test_doctor_reports_stray_files_in_results_and_partitions(cli, workdir, frame_file
                                                              ) -> None:
    cli(*INGEST, str(frame_file(make_frame(200), "a.parquet")))
    part = sorted((workdir / "store" / "predictions").rglob("date=*"))[0]
    (part / "notes.csv").write_text("a,b\n")
    results = workdir / "store" / "results" / "model=churn"
    results.mkdir(parents=True)
    (results / "scratch.txt").write_text("x")
    report = cli("doctor", "--format", "json")
    assert report.code == 0 and report.json()["status"] == "warn"
    stray = {r["path"] for r in report.json()["results"] if "stray" in r["problem"]}
    assert stray == {"results/model=churn/scratch.txt",
                     (part / "notes.csv").relative_to(workdir / "store").as_posix()}


def test_ingest_over_a_truncated_committed_file_is_exit_3(cli, workdir, frame_file) -> None:
    """Ingest reads the committed ids of the dates it touches: a truncated one is damage."""
    cli(*INGEST, str(frame_file(make_frame(2000), "a.parquet")))
    victim = _damage(workdir, "truncate")
    result = cli(*INGEST, str(frame_file(make_frame(100, prefix="n", seed=4), "n.parquet")))
    assert result.code == 3, result.stderr
    assert str(victim) in result.stderr and "bytes" in result.stderr
    assert "evalctl doctor" in result.stderr


def test_ingest_over_a_bit_flipped_committed_file_is_exit_3(cli, workdir, frame_file) -> None:
    """Same size, footer intact: only the checksum tells. The id check's reads go through the
    store, so a failed read is traced to the file."""
    cli(*INGEST, str(frame_file(make_frame(2000), "a.parquet")))
    victim = _damage(workdir, "flip")
    result = cli(*INGEST, str(frame_file(make_frame(100, prefix="n", seed=4), "n.parquet")))
    assert result.code == 3, result.stderr
    assert str(victim) in result.stderr and "checksum mismatch" in result.stderr
    assert "please report it" not in result.stderr


def test_the_library_reports_a_damaged_file_as_store_damage(cli, workdir, frame_file) -> None:
    import pytest

    import evalctl
    from evalctl.errors import StoreError

    cli(*INGEST, str(frame_file(make_frame(2000), "a.parquet")))
    victim = _damage(workdir, "flip")
    workspace = evalctl.open(workdir / "evalctl.yaml", store=workdir / "store")
    with pytest.raises(StoreError, match="checksum mismatch") as raised:
        workspace.export("churn", "production", workdir / "x.parquet")
    assert raised.value.file == str(victim)
