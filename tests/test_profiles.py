"""Issue #16: profiles computed once per committed file on the frozen monitoring reference;
skew and drift from merged profiles equal the scan path's; the reference's lifecycle."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from tests.helpers import (
    PROFILED_CONFIG,
    STORY_CONFIG,
    CliResult,
    assert_same,
    make_frame,
    run_cli,
    store_snapshot,
    validate_envelope,
)

import evalctl.analyses.drift as drift
from evalctl.errors import StoreError
from evalctl.profiles.format import FORMAT, PROFILE_SCHEMA
from evalctl.profiles.reference import (
    Reference,
    current_reference,
    save_reference,
)
from evalctl.stats.binning import Binning, CategoricalBins, NumericBins

M = ["--model", "churn"]
CONFIG = PROFILED_CONFIG


def write_config(folder: Path, reference: str = "training:v1", extra: str = "",
                 checks: str = "") -> None:
    (folder / "evalctl.yaml").write_text(CONFIG.format(reference=reference, extra=extra,
                                                       checks=checks))


def production(n: int = 3000, seed: int = 2, start: datetime = datetime(2026, 11, 10),
               days: int = 6) -> pl.DataFrame:
    """Nulls, unseen categories, NaN and inf, a day where `minutes` is all null and a day
    with a handful of rows (insufficient for drift)."""
    frame = make_frame(n, seed=seed, prefix=f"p{seed}", start=start, days=days)
    rng = np.random.default_rng(seed)
    unseen = pl.Series(rng.choice(["XX", "YY", "ZZ", "US"], frame.height))
    minutes = frame["minutes"].to_numpy().copy()
    minutes[rng.random(frame.height) < 0.01] = np.nan
    minutes[rng.random(frame.height) < 0.01] = np.inf
    frame = frame.with_columns(
        pl.when(pl.col("age") > 65).then(unseen).otherwise(pl.col("country")).alias("country"),
        pl.Series("minutes", minutes),
    ).with_columns(pl.when(pl.col("ts").dt.date() == (start + timedelta(days=2)).date())
                   .then(None).otherwise(pl.col("minutes")).alias("minutes"))
    few = make_frame(7, seed=seed + 50, prefix=f"f{seed}", start=start + timedelta(days=days + 1),
                     days=1)
    return pl.concat([frame, few])


@pytest.fixture
def profiled(cli: Callable[..., CliResult], workdir: Path, frame_file: Callable[..., Path]
             ) -> Callable[..., CliResult]:
    """A store whose reference (training:v1) is fitted before production is ingested."""
    write_config(workdir)
    cli("ingest", str(frame_file(make_frame(3000, seed=1, prefix="t"), "t.parquet")), *M,
        "--version", "v1", "--env", "training")
    assert cli("profiles", "build", *M).code == 0
    cli("ingest", str(frame_file(production(), "p.parquet")), *M, "--version", "v1",
        "--env", "production")
    return cli


def both(cli: Callable[..., CliResult], *args: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The same report from profiles and from a scan."""
    a = cli(*args, "--engine", "profiles", "-f", "json")
    b = cli(*args, "--engine", "scan", "-f", "json")
    assert a.code == b.code and a.code in (0, 1), (a.stderr, b.stderr)
    docs = a.json(), b.json()
    for doc in docs:
        validate_envelope(doc)
    return docs


def test_skew_from_profiles_equals_the_scan(profiled) -> None:
    prof, scan = both(profiled, "skew", *M, "--current", "production")
    assert prof["inputs"]["engine"] == "profiles" and scan["inputs"]["engine"] == "scan"
    assert "cover the selection" in prof["inputs"]["engine_reason"]
    assert scan["inputs"]["engine_reason"] == "--engine scan"
    assert_same(prof["results"], scan["results"])
    country = next(r for r in prof["results"] if r["feature"] == "country")
    assert country["unseen"]["levels"] == 3 and country["unseen"]["names"] == ["XX", "YY", "ZZ"]
    auto = profiled("skew", *M, "--current", "production", "-f", "json").json()
    assert auto["inputs"]["engine"] == "profiles"


@pytest.mark.parametrize("window", ["1d", "2d", "7d"])
def test_drift_from_profiles_equals_the_scan(profiled, window: str) -> None:
    prof, scan = both(profiled, "drift", *M, "--current", "production", "--window", window)
    assert prof["inputs"]["engine"] == "profiles"
    assert_same(prof["results"], scan["results"])
    assert_same(prof["summary"], scan["summary"])
    minutes = next(r for r in prof["results"] if r["feature"] == "minutes")
    if window == "1d":  # the all-null day, the gap day and the tiny day are all there
        assert [p["rows"] for p in minutes["series"]][-1] == 7
        assert minutes["windows_insufficient"] == 1
        assert len(minutes["series"]) == 7


@pytest.mark.parametrize(("numeric", "categorical"), [
    ("psi", "psi"), ("jensen_shannon", "jensen_shannon"), ("hellinger", "hellinger"),
    ("ks", "l_infinity"), ("wasserstein", "chi_square"), ("out_of_range", "unseen"),
    ("null_rate_change", "vanished")])
def test_every_measure_from_profiles_equals_the_scan(profiled, workdir: Path, numeric: str,
                                                     categorical: str) -> None:
    checks = (f"    checks:\n      skew: {{numeric: {numeric}, categorical: {categorical}}}\n"
              f"      drift: {{numeric: {numeric}, categorical: {categorical}}}\n")
    write_config(workdir, checks=checks)
    prof, scan = both(profiled, "skew", *M, "--current", "production@2026-11-11..2026-11-14")
    assert prof["inputs"]["engine"] == "profiles"
    assert {r["method"] for r in prof["results"] if r.get("kind") == "numeric"} == {numeric}
    assert_same(prof["results"], scan["results"])
    prof, scan = both(profiled, "drift", *M, "--current", "production")
    assert_same(prof["results"], scan["results"])


def test_hourly_profiles_answer_hourly_windows(cli, workdir: Path, frame_file) -> None:
    write_config(workdir, extra="    profiles: {granularity: 1h}\n")
    cli("ingest", str(frame_file(make_frame(2000, seed=1, prefix="t"), "t.parquet")), *M,
        "--version", "v1", "--env", "training")
    cli("profiles", "build", *M)
    cli("ingest", str(frame_file(production(800, days=1), "p.parquet")), *M, "--version", "v1",
        "--env", "production")
    prof, scan = both(cli, "drift", *M, "--current", "production", "--window", "1h",
                      "--min-rows", "5")
    assert prof["inputs"]["engine"] == "profiles"
    assert prof["summary"]["windows"] > 20
    assert_same(prof["results"], scan["results"])


def test_auto_scans_when_profiles_do_not_cover_and_says_why(profiled, workdir: Path,
                                                            frame_file) -> None:
    def reason(*args: str) -> str:
        doc = profiled(*args, "-f", "json").json()
        assert doc["inputs"]["engine"] == "scan"
        return str(doc["inputs"]["engine_reason"])

    cur = ["--current", "production"]
    assert "--windows" in reason("drift", *M, *cur, "--windows", "3")
    assert "whole number" in reason("drift", *M, *cur, "--window", "1h")
    assert "--join-key" in reason("skew", *M, "--current", "training", "--join-key",
                                  "request_id")
    assert "is not the monitoring reference" in reason("skew", *M, *cur, "--reference",
                                                       "training@2026-11-01..2026-11-02")
    refused = profiled("drift", *M, *cur, "--windows", "3", "--engine", "profiles")
    assert refused.code == 2 and "--engine profiles: --windows" in refused.stderr
    assert profiled("skew", *M, *cur, "--engine", "fast").code == 2
    write_config(workdir, reference="training:v1@2026-11-01..2026-11-03")
    doc = profiled("skew", *M, *cur, "-f", "json").json()
    assert doc["inputs"]["engine"] == "scan" and "stale" in doc["inputs"]["engine_reason"]
    assert any("profiles build" in r for r in doc["recommendations"])  # the one-line hint


def test_without_a_reference_nothing_is_profiled(cli, workdir: Path, frame_file) -> None:
    cli("ingest", str(frame_file(make_frame(500, seed=1), "t.parquet")), *M, "--version", "v1",
        "--env", "training")
    assert not (workdir / "store" / "profiles").exists()
    doc = cli("skew", *M, "--current", "training", "-f", "json").json()
    assert doc["inputs"]["engine"] == "scan" and "no `reference:`" in doc["inputs"][
        "engine_reason"]
    write_config(workdir)  # configured, not yet fitted: ingest writes no profile either
    cli("ingest", str(frame_file(production(300), "p.parquet")), *M, "--version", "v1",
        "--env", "production")
    assert not (workdir / "store" / "profiles").exists()
    doc = cli("skew", *M, "--current", "production", "-f", "json").json()
    assert "no monitoring reference is fitted yet" in doc["inputs"]["engine_reason"]
    built = cli("profiles", "build", *M, "-f", "json").json()
    assert built["results"][0]["batches"] == 2  # the store ingested before profiles
    assert cli("skew", *M, "--current", "production", "-f", "json").json()["inputs"][
        "engine"] == "profiles"


def records(root: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted((root / "_ledger").glob("*.json"))]


def test_ingest_commits_profiles_with_the_batch(profiled, workdir: Path) -> None:
    root = workdir / "store"
    prod = next(r for r in records(root) if r.get("env") == "production")
    named = prod["extra"]["profiles"]
    assert named["format"] == FORMAT and len(named["files"]) == len(prod["files"])
    assert {f["data"] for f in named["files"]} == {f["path"] for f in prod["files"]}
    for entry in named["files"]:
        path = root / entry["path"]
        assert path.is_file() and path.stat().st_size == entry["bytes"]
        table = pl.read_parquet(path)
        assert table.schema == PROFILE_SCHEMA
    reference = json.loads((root / "profiles/model=churn/reference.json").read_text())["hash"]
    assert named["reference"] == reference


def test_a_failed_profile_leaves_the_store_unchanged(profiled, workdir: Path, frame_file,
                                                     monkeypatch) -> None:
    import evalctl.profiles.compute as compute

    before = store_snapshot(workdir / "store")

    def broken(*args: Any, **kwargs: Any) -> pl.DataFrame:
        raise pl.exceptions.ComputeError("disk on fire")

    monkeypatch.setattr(compute, "counted_table", broken)
    result = profiled("ingest", str(frame_file(production(200, seed=9), "q.parquet")), *M,
                      "--version", "v1", "--env", "production")
    assert result.code != 0
    after = store_snapshot(workdir / "store")
    assert {p: s for p, s in after.items() if not p.startswith("_staging")} == before


def test_removing_a_batch_removes_its_profiles_in_the_same_commit(profiled, workdir) -> None:
    root = workdir / "store"
    prod = next(r for r in records(root) if r.get("env") == "production")
    assert profiled("batches", "remove", prod["batch"]).code == 0
    from evalctl.lake.profiled import profile_index
    from evalctl.lake.store import Store

    store = Store.open(root)
    reference = json.loads((root / "profiles/model=churn/reference.json").read_text())["hash"]
    index = profile_index(root, "churn", reference, store.prediction_records("churn"))
    assert index and all("env=training" in path for path in index)


def test_the_reference_is_frozen_until_refit(profiled, workdir: Path, frame_file) -> None:
    root = workdir / "store"
    pointer = root / "profiles/model=churn/reference.json"
    first = json.loads(pointer.read_text())["hash"]
    more = make_frame(1000, seed=7, prefix="t2", start=datetime(2026, 11, 5), days=2)
    profiled("ingest", str(frame_file(more, "t2.parquet")), *M, "--version", "v1",
             "--env", "training")
    assert json.loads(pointer.read_text())["hash"] == first  # a training ingest never refits
    doc = profiled("skew", *M, "--current", "production", "-f", "json").json()
    assert doc["inputs"]["engine"] == "scan" and "--refit" in doc["inputs"]["engine_reason"]
    again = profiled("profiles", "build", *M, "-f", "json").json()["results"][0]
    assert again["reference"] == first and not again["fitted"]
    assert (again["batches"], again["already"]) == (0, 3)  # the ingest profiled it
    refit = profiled("profiles", "build", *M, "--refit", "-f", "json").json()["results"][0]
    assert refit["fitted"] and refit["reference"] != first and refit["reference_batches"] == 2
    assert refit["batches"] == 3 and refit["already"] == 0
    prof, scan = both(profiled, "skew", *M, "--current", "production")
    assert prof["inputs"]["engine"] == "profiles"
    assert_same(prof["results"], scan["results"])


def test_a_saved_reference_reads_back_bit_for_bit(tmp_path: Path) -> None:
    """`read_reference` converts the bin edges in one polars cast instead of `json`'s float
    for each: every edge comes back with the same bits as `json.loads` reads it (shortest
    reprs of random doubles, subnormals, -0.0, the infinities, NaN, integral values), and a
    categorical vocabulary of number-like strings stays strings."""
    rng = np.random.default_rng(16)
    doubles = rng.integers(0, 2**64, 22_000, dtype=np.uint64).view(np.float64)
    doubles = doubles[np.isfinite(doubles)][:20_000]  # NaN: one, below (JSON has no payloads)
    tricky = [5e-324, 2.2250738585072014e-308, 1.7976931348623157e308, -0.0, 0.1, 1 / 3,
              1e22, 1e23, 9007199254740993.0, 3.0, float("inf"), float("-inf"), float("nan")]
    numeric = {"a": NumericBins(tuple(map(float, doubles[:10_000])), tuple(tricky)),
               "b": NumericBins(tuple(map(float, doubles[10_000:])), ()),
               "c": NumericBins((), ())}
    categorical = {"k": CategoricalBins(("1.5", "2", "1e3", "x"), frozenset({"1.5", "x"}), False)}
    saved = Reference(model="m", hash="0123456789abcdef", selector="training", granularity="1d",
                      params={"top_k": 3}, batches=(("b1", 1),), files=("f.parquet",),
                      versions=("v1",), dates=("2026-11-01", "2026-11-02"), rows=7,
                      fitted_at="2026-12-04T20:00:00Z",
                      binning=Binning(kinds={"a": "numeric", "b": "numeric", "c": "numeric",
                                             "k": "categorical"},
                                      numeric=numeric, categorical=categorical))
    save_reference(tmp_path, saved)
    loaded = current_reference(tmp_path, "m")
    text = (tmp_path / "profiles" / "model=m" / "reference-0123456789abcdef.json").read_text()
    expected = Reference.from_dict(json.loads(text))
    assert loaded is not None and loaded.binning.categorical == expected.binning.categorical
    for name, bins in numeric.items():
        for key in ("edges", "psi_edges"):
            got, want = (getattr(r.binning.numeric[name], key) for r in (loaded, expected))
            assert all(type(v) is float for v in got)
            assert np.array_equal(np.array(got, dtype=np.float64).view(np.uint64),
                                  np.array(want, dtype=np.float64).view(np.uint64))
            assert got[:12] == getattr(bins, key)[:12]  # and what was saved (no NaN there)
    assert (loaded.params, loaded.rows, loaded.batches) == ({"top_k": 3}, 7, (("b1", 1),))
    path = tmp_path / "profiles" / "model=m" / "reference-0123456789abcdef.json"
    for damaged in ("abc", True, None, [1.5]):  # each refused as `float` refused it
        raw = json.loads(text)
        raw["binning"]["numeric"]["b"]["psi_edges"] = [0.5, damaged]
        path.write_text(json.dumps(raw))
        with pytest.raises(StoreError, match="monitoring reference is unreadable"):
            current_reference(tmp_path, "m")


def test_build_is_idempotent_and_resumable(cli, workdir: Path, frame_file, monkeypatch) -> None:
    write_config(workdir)
    for n, (env, seed) in enumerate([("training", 1), ("production", 2), ("production", 3)]):
        cli("ingest", str(frame_file(production(400, seed=seed), f"{n}.parquet")), *M,
            "--version", "v1", "--env", env)
    import evalctl.profiles.compute as compute

    real, calls = compute.write_profiles, []

    def interrupted(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(compute, "write_profiles", interrupted)
    assert cli("profiles", "build", *M).code == 130
    monkeypatch.setattr(compute, "write_profiles", real)
    done = cli("profiles", "build", *M, "-f", "json").json()["results"][0]
    assert (done["batches"], done["already"], done["fitted"]) == (2, 1, False)
    before = store_snapshot(workdir / "store")
    again = cli("profiles", "build", *M, "-f", "json").json()
    assert again["results"][0]["batches"] == 0 and again["recommendations"]
    assert store_snapshot(workdir / "store") == before


@pytest.mark.parametrize(("text", "message"), [
    ("reference: [training]", "models.churn.reference: expected a selector"),
    ("reference: nowhere", "models.churn.reference: selector 'nowhere'"),
    ("reference: training@last-7d", "models.churn.reference: 'training@last-7d' moves"),
    ("profiles: {granularity: 1w}", "models.churn.profiles.granularity: expected one of"),
    ("profiles: {every: 1d}", "models.churn.profiles.every: unknown key"),
])
def test_bad_profile_settings_name_the_key(workdir: Path, text: str, message: str) -> None:
    config = CONFIG.format(reference="training", extra="", checks="")
    config = config.replace("    reference: training\n", f"    {text}\n")
    (workdir / "evalctl.yaml").write_text(config)
    result = run_cli("--config", str(workdir / "evalctl.yaml"), "config", "check")
    assert result.code == 2 and message in result.stderr, result.stderr


def doctor(cli: Callable[..., CliResult], *args: str) -> dict[str, Any]:
    result = cli("doctor", *args, "-f", "json")
    doc = result.json()
    validate_envelope(doc)
    return doc


def test_doctor_checks_every_file_has_one_sound_profile(profiled, workdir: Path) -> None:
    root = workdir / "store"
    healthy = doctor(profiled)
    assert healthy["status"] == "pass" and healthy["summary"]["unprofiled"] == 0
    prod = next(r for r in records(root) if r.get("env") == "production")
    damaged = root / prod["extra"]["profiles"]["files"][0]["path"]
    damaged.write_bytes(damaged.read_bytes()[:-3] + b"xyz")
    stray = root / "profiles/model=churn/ref=0000/version=v1/part-x.parquet"
    stray.parent.mkdir(parents=True)
    stray.write_bytes(b"PAR1")
    record = next((root / "profiles/model=churn").glob("ref=*/_records/*.json"))
    record.unlink()  # the training batch's build record: its files lose their profiles
    doc = doctor(profiled)
    problems = {r["path"]: r["problem"] for r in doc["results"]}
    assert doc["status"] == "fail"
    assert problems[damaged.relative_to(root).as_posix()] == "profile checksum mismatch"
    assert problems[stray.relative_to(root).as_posix()].startswith("orphan")
    training = [r for r in doc["results"] if r["problem"].startswith("no profile on")]
    assert len(training) == 4 and doc["summary"]["unprofiled"] == 4
    assert any("profiles build --model churn" in r for r in doc["recommendations"])
    repaired = doctor(profiled, "--repair", "--grace", "0s")
    assert stray.relative_to(root).as_posix() in {
        r["path"] for r in repaired["results"] if r["problem"] == "orphan (removed)"}
    assert not stray.exists()


def test_doctor_collects_the_profiles_of_removed_batches(profiled, workdir: Path) -> None:
    root = workdir / "store"
    prod = next(r for r in records(root) if r.get("env") == "production")
    profiles = [root / f["path"] for f in prod["extra"]["profiles"]["files"]]
    profiled("batches", "remove", prod["batch"])
    pending = doctor(profiled)
    assert pending["status"] == "pass" and pending["summary"]["pending"] >= len(profiles)
    assert all(p.exists() for p in profiles)
    doctor(profiled, "--repair", "--grace", "0s")
    assert not any(p.exists() for p in profiles)


def test_the_sample_story_from_profiles_equals_the_scan(story) -> None:
    """On the story (versions, a unit bug, a flood of new users, CSV and JSON-lines exports;
    the fixture fits its reference as the demo does): skew and drift read profiles and give
    the scan's numbers."""

    def run(*args: str) -> CliResult:
        return run_cli("--config", str(STORY_CONFIG), "--store", str(story.store), *args)

    m = ["--model", "tv-recommender"]
    prof, scan = both(run, "skew", *m, "--current", "production@2026-11-15..2026-11-30")
    assert prof["inputs"]["engine"] == "profiles"
    assert_same(prof["results"], scan["results"])
    prof, scan = both(run, "drift", *m, "--current", "production@2026-11-01..2026-11-30")
    assert prof["inputs"]["engine"] == "profiles"
    assert_same(prof["results"], scan["results"])


def test_monitor_reads_drift_from_profiles(story, tmp_path: Path, monkeypatch) -> None:
    """monitor's drift check goes through drift's source of summaries: profiles cover its
    windows on the story, so it summarises no rows, and its rows are those of drift's scan
    (`monitor --engine scan`)."""
    store = tmp_path / "store"
    shutil.copytree(story.store, store)  # monitor writes its history

    def run(*args: str) -> dict[str, Any]:
        result = run_cli("--config", str(STORY_CONFIG), "--store", str(store), *args,
                         "-f", "json")
        assert result.code in (0, 1), result.stderr
        return result.json()

    def drift_rows(doc: dict[str, Any]) -> list[dict[str, Any]]:
        return [r for r in doc["results"] if r.get("check") == "drift"]

    monitor = ("monitor", "--model", "tv-recommender", "--date", "2026-11-20")
    scan_doc = run(*monitor, "--engine", "scan")
    assert (scan_doc["inputs"]["engine"], scan_doc["inputs"]["engine_reason"]) == \
        ("scan", "drift: --engine scan; labels, performance and slices read the window's rows")

    def no_scan(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("drift summarised rows although profiles cover it")

    monkeypatch.setattr(drift, "summarize", no_scan)
    monkeypatch.setattr(drift, "fit_binning", no_scan)
    doc = run(*monitor)
    assert doc["inputs"]["engine"] == "profiles", doc["inputs"]["engine_reason"]
    scanned, profiled = drift_rows(scan_doc), drift_rows(doc)
    assert scanned and all(r["status"] != "error" for r in profiled)
    assert_same(profiled, scanned)


def test_an_erased_batch_is_scanned_until_its_new_files_are_profiled(profiled, workdir: Path
                                                                     ) -> None:
    ids = workdir / "ids.txt"
    ids.write_text("p200000\np200001\n")
    assert profiled("erase", *M, "--ids", str(ids)).code == 0
    doc = profiled("skew", *M, "--current", "production", "-f", "json").json()
    assert doc["inputs"]["engine"] == "scan" and "have no profile" in doc["inputs"][
        "engine_reason"]
    assert doctor(profiled)["summary"]["unprofiled"] > 0
    assert profiled("doctor", "--repair", "--grace", "0s").code == 0
    built = profiled("profiles", "build", *M, "-f", "json").json()["results"][0]
    assert built["batches"] == 1 and not built["fitted"]
    after = doctor(profiled)
    assert after["status"] == "pass", after["results"]
    assert after["summary"]["unprofiled"] == 0
    prof, scan = both(profiled, "skew", *M, "--current", "production")
    assert prof["inputs"]["engine"] == "profiles" and prof["inputs"]["current"]["rows"] == 3005
    assert_same(prof["results"], scan["results"])
