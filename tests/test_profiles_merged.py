"""The stored merged profile of the monitoring reference (`evalctl.profiles.merged`): equal to
merging the reference's file profiles, the same report bits with or without it, known to
doctor, never read once stale, and a crash mid-write leaves a store that answers."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import fields
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from tests.helpers import PROFILED_CONFIG, CliResult, assert_same, make_frame

import evalctl.profiles.merged as merged_module
import evalctl.profiles.source as source
from evalctl.lake.layout import merged_profile_files
from evalctl.lake.ledger import read_ledger
from evalctl.profiles.format import (
    Merged,
    merge_profiles,
    merged_table,
    read_merged_table,
    tidy,
)
from evalctl.profiles.merged import reference_sources, sources_digest
from evalctl.profiles.reference import current_reference

M = ["--model", "churn"]
PAIR = ["--reference", "training:v1", "--current", "production"]


def unseen_production() -> pl.DataFrame:
    """Production with unseen categories, NaN, inf and nulls."""
    frame = make_frame(2500, seed=2, prefix="p", start=datetime(2026, 11, 10), days=6)
    rng = np.random.default_rng(2)
    minutes = frame["minutes"].to_numpy().copy()
    minutes[rng.random(frame.height) < 0.02] = np.nan
    minutes[rng.random(frame.height) < 0.02] = np.inf
    return frame.with_columns(
        pl.when(pl.col("age") > 65).then(pl.Series(rng.choice(["XX", "YY"], frame.height)))
        .otherwise(pl.col("country")).alias("country"), pl.Series("minutes", minutes))


def training(seed: int = 1, prefix: str = "t") -> pl.DataFrame:
    """Training with nulls, NaN and levels production lacks."""
    frame = make_frame(3000, seed=seed, prefix=prefix)
    rng = np.random.default_rng(seed)
    minutes = frame["minutes"].to_numpy().copy()
    minutes[rng.random(frame.height) < 0.01] = np.nan
    return frame.with_columns(pl.Series("minutes", minutes))


@pytest.fixture
def profiled(cli: Callable[..., CliResult], workdir: Path, frame_file: Callable[..., Path]
             ) -> Callable[..., CliResult]:
    (workdir / "evalctl.yaml").write_text(PROFILED_CONFIG.format(
        reference="training:v1", extra="", checks=""))
    cli("ingest", str(frame_file(training(), "t.parquet")), *M, "--version", "v1",
        "--env", "training")
    assert cli("profiles", "build", *M).code == 0
    cli("ingest", str(frame_file(unseen_production(), "p.parquet")), *M, "--version", "v1",
        "--env", "production")
    return cli


def store(workdir: Path) -> Path:
    return workdir / "store"


def the_merged_file(workdir: Path) -> Path:
    found = [p for p in merged_profile_files(store(workdir)) if p.suffix == ".parquet"]
    assert len(found) == 1, found
    return found[0]


def reference_profiles(workdir: Path) -> tuple[list[str], Any]:
    """The reference's profile paths in folding order, and its binning."""
    root = store(workdir)
    reference = current_reference(root, "churn")
    assert reference is not None
    sources = reference_sources(root, reference, read_ledger(root).live)
    assert sources is not None
    return [str(root / p.path) for p in sources.profiles], reference.binning


def report(cli: Callable[..., CliResult], *args: str) -> dict[str, Any]:
    result = cli(*args, "--engine", "profiles", "-f", "json")
    assert result.code in (0, 1), result.stderr
    doc = result.json()
    doc.pop("generated_at")
    return doc


def bits(value: Any) -> Any:
    """A summary's fields with floats as their bit patterns (NaN equals NaN)."""
    if isinstance(value, np.ndarray):
        return (str(value.dtype), value.tobytes())
    if isinstance(value, float):
        return np.float64(value).tobytes()
    if isinstance(value, tuple | list):
        return [bits(v) for v in value]
    return value


def summary_bits(merged: Merged) -> dict[Any, Any]:
    return {at: {f: {field.name: bits(getattr(s, field.name)) for field in fields(s)}
                 for f, s in by.items()} for at, by in merged.summaries.items()}


def test_build_writes_the_merge_and_reading_it_gives_the_merge_bit_for_bit(profiled,
                                                                           workdir) -> None:
    paths, binning = reference_profiles(workdir)
    assert len(paths) > 1
    path = the_merged_file(workdir)
    folded = merge_profiles(paths, binning)
    stored = read_merged_table(str(path), binning)
    assert summary_bits(stored) == summary_bits(folded)
    assert stored.rows == folded.rows and stored.unseen_exact == folded.unseen_exact
    # it is a profile of the format: merged again, the same counts, sums, lows and highs
    # bit for bit, the moments to 1e-12
    again = merge_profiles([str(path)], binning)
    for feature, s in folded.summaries[None].items():
        t = again.summaries[None][feature]
        assert bits(t.counts) == bits(s.counts) and t.rows == s.rows and t.nulls == s.nulls
        if hasattr(s, "sums"):
            for name in ("sums", "lows", "highs", "minimum", "maximum", "nonfinite"):
                assert bits(getattr(t, name)) == bits(getattr(s, name)), (feature, name)
            assert t.mean == pytest.approx(s.mean, rel=1e-12, abs=1e-12)
            assert t.m2 == pytest.approx(s.m2, rel=1e-12, abs=1e-12)
    # the written table is the one `merged_table` makes, and a subset of the columns reads
    # the same bits as merging just those
    assert pl.read_parquet(path).equals(merged_table(paths, binning))
    subset = source.restricted(binning, {"minutes": "numeric", "country": "categorical"})
    assert summary_bits(read_merged_table(str(path), subset)) == \
        summary_bits(merge_profiles(paths, subset))


def test_a_merged_table_equals_a_brute_force_fold(profiled, workdir) -> None:
    """Independent of `merge_profiles`: every cell count of the merged table is the sum of
    the profiles' counts, every low the minimum of theirs."""
    paths, binning = reference_profiles(workdir)
    table = tidy(pl.read_parquet(the_merged_file(workdir)))  # a row per cell
    profiles = pl.concat([tidy(pl.read_parquet(p)) for p in paths])
    cells = profiles.filter(pl.col("cell").is_not_null()).group_by("feature", "cell").agg(
        pl.col("count").sum(), pl.col("low").min(), pl.col("high").max())
    ours = table.filter(pl.col("cell").is_not_null()).select(
        "feature", "cell", "count", "low", "high")
    joined = ours.join(cells, on=["feature", "cell"], how="full", suffix="_n")
    assert joined.height == cells.height == ours.height
    assert (joined["count"] == joined["count_n"]).all()
    assert joined.filter(pl.col("low").is_not_null()).select(
        (pl.col("low") == pl.col("low_n")).all()).item()
    heads = table.filter(pl.col("cell").is_null())
    rows = profiles.filter(pl.col("cell").is_null()).group_by("feature").agg(
        pl.col("rows").sum(), pl.col("nulls").sum())
    assert heads.join(rows, on="feature").select(
        (pl.col("rows") == pl.col("rows_right")).all()).item()
    assert table.get_column("bucket").n_unique() == 1


def test_reports_are_the_same_with_and_without_the_merged_file(profiled, workdir,
                                                               monkeypatch) -> None:
    read: list[str] = []
    real = source.read_merged_table

    def spy(path: str, binning: Any) -> Merged:
        read.append(path)
        return real(path, binning)

    monkeypatch.setattr(source, "read_merged_table", spy)
    questions = [["skew", *M, *PAIR], ["drift", *M, *PAIR, "--window", "1d"],
                 ["drift", *M, *PAIR, "--window", "2d"]]
    served = [report(profiled, *q) for q in questions]
    assert len(read) == len(questions)  # each read the reference's merged file
    assert all(doc["inputs"]["engine"] == "profiles" for doc in served)
    the_merged_file(workdir).unlink()
    merged = [report(profiled, *q) for q in questions]
    assert len(read) == len(questions)  # none left to read: they merged the profiles
    assert json.dumps(served) == json.dumps(merged)
    scanned = [profiled(*q, "--engine", "scan", "-f", "json").json() for q in questions]
    for a, b in zip(merged, scanned, strict=True):
        assert_same(a["results"], b["results"])


def test_doctor_knows_verifies_and_repairs_it(profiled, workdir) -> None:
    path = the_merged_file(workdir)
    name = path.relative_to(store(workdir)).as_posix()
    healthy = profiled("doctor", "-f", "json").json()
    assert healthy["status"] == "pass" and healthy["summary"]["orphans"] == 0
    original = path.read_bytes()
    paths, binning = reference_profiles(workdir)
    merged_table(paths[:1], binning).write_parquet(path)  # a wrong, readable table
    damaged = profiled("doctor", "-f", "json")
    assert damaged.code != 0 and damaged.json()["status"] == "fail"
    assert [r["path"] for r in damaged.json()["results"]] == [name]
    assert "differs" in damaged.json()["results"][0]["problem"]
    repaired = profiled("doctor", "--repair", "-f", "json").json()
    assert "rewritten" in repaired["results"][0]["problem"]
    assert pl.read_parquet(path).equals(pl.read_parquet(_bytes_to(workdir, original)))
    path.unlink()
    assert profiled("doctor", "-f", "json").json()["status"] == "pass"  # derived: optional
    written = profiled("doctor", "--repair", "-f", "json").json()
    assert written["results"][0]["problem"] == "merged reference profile missing (written)"
    assert path.read_bytes() == original


def _bytes_to(workdir: Path, payload: bytes) -> Path:
    copy = workdir / "copy.parquet"
    copy.write_bytes(payload)
    return copy


def test_doctor_deletes_stale_ones_and_collects_interrupted_writes(profiled, workdir) -> None:
    path = the_merged_file(workdir)
    stale = path.with_name("reference-0123456789abcdef.parquet")
    stale.write_bytes(path.read_bytes())
    temp = path.with_name(f".{path.name}.0123456789ab.tmp")
    temp.write_bytes(path.read_bytes()[:100])
    found = profiled("doctor", "-f", "json").json()
    problems = {r["path"].rsplit("/", 1)[1]: r["problem"] for r in found["results"]}
    assert "never read" in problems[stale.name] and temp.name in problems
    assert found["status"] == "warn"
    profiled("doctor", "--repair", "--grace", "0s", "-f", "json")
    assert not stale.exists() and not temp.exists() and path.exists()
    assert profiled("doctor", "-f", "json").json()["status"] == "pass"


def test_a_refit_or_a_removed_batch_never_reads_a_stale_merged_file(profiled, workdir,
                                                                   frame_file) -> None:
    first = the_merged_file(workdir)
    before = len(reference_profiles(workdir)[0])
    # more reference data and a refit: a new reference, a new merged file, the old deleted
    profiled("ingest", str(frame_file(training(seed=5, prefix="u"), "u.parquet")), *M,
             "--version", "v1", "--env", "training")
    assert profiled("profiles", "build", *M, "--refit").code == 0
    second = the_merged_file(workdir)
    assert second != first and not first.exists()
    paths, binning = reference_profiles(workdir)
    assert len(paths) == 2 * before
    assert summary_bits(read_merged_table(str(second), binning)) == \
        summary_bits(merge_profiles(paths, binning))
    a = profiled("skew", *M, *PAIR, "--engine", "profiles", "-f", "json").json()
    b = profiled("skew", *M, *PAIR, "--engine", "scan", "-f", "json").json()
    assert_same(a["results"], b["results"])
    # a reference batch removed: the removal deletes the merged file it made stale, reports
    # scan (the selection is not the frozen one) and doctor finds nothing stale
    batch = next(r.batch for r in read_ledger(store(workdir)).live if r.env == "training")
    assert profiled("batches", "remove", batch).code == 0
    assert not second.exists()
    doc = profiled("skew", *M, *PAIR, "-f", "json").json()
    assert doc["inputs"]["engine"] == "scan"
    assert not any("never read" in r["problem"]
                   for r in profiled("doctor", "-f", "json").json()["results"])


def test_removal_gc_and_erase_delete_only_the_merged_files_they_make_stale(
        profiled, workdir, frame_file) -> None:
    """A commit that leaves the reference's batches alone keeps its merged file; one that
    removes or rewrites a reference batch deletes it, and a dry run deletes nothing."""
    path = the_merged_file(workdir)
    refit = "refit it with `evalctl profiles build --model churn --refit`"
    # erasing production rows only: the reference and its merged file are untouched
    rows = pl.read_parquet(
        next(store(workdir).glob("predictions/**/env=production/**/*.parquet")))
    other = frame_file(pl.DataFrame({"request_id": rows["request_id"].head(2)}), "p.parquet")
    kept = profiled("erase", *M, "--ids", str(other), "-f", "json").json()
    assert kept["summary"]["rows"] == 2 and path.exists()
    assert not any(refit in r for r in kept["recommendations"])
    production = next(r.batch for r in read_ledger(store(workdir)).live
                      if r.env == "production")
    assert profiled("batches", "remove", production).code == 0
    assert path.exists()  # not a reference batch
    reference = next(r for r in read_ledger(store(workdir)).live if r.env == "training")
    assert profiled("batches", "remove", reference.batch, "--dry-run").code == 0
    assert profiled("gc", "--older-than", "1d", "--dry-run").code == 0
    assert path.exists()
    ids = pl.read_parquet(store(workdir) / reference.files[0].path)["request_id"].head(3)
    ids_file = frame_file(pl.DataFrame({"request_id": ids}), "ids.parquet")
    dry = profiled("erase", *M, "--ids", str(ids_file), "--dry-run", "-f", "json").json()
    assert any("after the erasure, " + refit in r for r in dry["recommendations"])
    done = profiled("erase", *M, "--ids", str(ids_file), "-f", "json")
    assert done.code == 0 and any(refit in r for r in done.json()["recommendations"])
    assert not path.exists() and not merged_profile_files(store(workdir), "churn")
    # the reference is frozen on the erased generation: a refit (on the rewritten batch)
    # merges its profiles again
    assert profiled("profiles", "build", *M, "--refit").code == 0
    rebuilt = the_merged_file(workdir)
    assert rebuilt != path and profiled("doctor", "-f", "json").json()["status"] == "pass"
    assert profiled("gc", "--older-than", "1d").code == 0
    assert not merged_profile_files(store(workdir), "churn")


def test_the_digest_names_every_profile_it_merges(profiled, workdir) -> None:
    """A profile rebuilt with other bytes (or listed in another order) makes another name,
    so the report merges the file profiles instead of reading the old merge."""
    root = store(workdir)
    reference = current_reference(root, "churn")
    assert reference is not None
    sources = reference_sources(root, reference, read_ledger(root).live)
    assert sources is not None
    profiles = list(sources.profiles)
    digest = sources_digest(profiles)
    changed = [profiles[0].__class__(profiles[0].data, profiles[0].path, profiles[0].bytes,
                                     "0" * 64), *profiles[1:]]
    assert sources_digest(changed) != digest
    assert sources_digest(profiles[::-1]) != digest
    resized = [profiles[0].__class__(profiles[0].data, profiles[0].path,
                                     profiles[0].bytes + 1, profiles[0].sha256), *profiles[1:]]
    assert sources_digest(resized) != digest
    assert sources.path.endswith(f"reference-{digest}.parquet")


def test_a_crash_mid_write_leaves_a_store_that_answers(profiled, workdir, monkeypatch) -> None:
    path = the_merged_file(workdir)
    expected = report(profiled, "skew", *M, *PAIR)
    path.unlink()

    def crash(*_: Any) -> None:
        raise KeyboardInterrupt  # the process dies between writing and renaming

    with monkeypatch.context() as patch, pytest.raises(KeyboardInterrupt):
        patch.setattr(os, "replace", crash)
        merged_module.write_merged(store(workdir), "churn", read_ledger(store(workdir)).live)
    assert not path.exists()
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]
    assert report(profiled, "skew", *M, *PAIR) == expected
    # a torn file under the final name (a copy without the rename) is not trusted either
    path.write_bytes(b"PAR1 torn")
    assert report(profiled, "skew", *M, *PAIR) == expected
    assert profiled("doctor", "-f", "json").json()["status"] == "fail"
    profiled("doctor", "--repair", "-f", "json")
    assert report(profiled, "skew", *M, *PAIR) == expected


def _counted_reads(monkeypatch: pytest.MonkeyPatch, module: Any) -> list[int]:
    """Count `module`'s calls of `read_ledger` (one entry per read)."""
    reads: list[int] = []
    original = module.read_ledger

    def counted(*args: Any, **kwargs: Any) -> Any:
        reads.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(module, "read_ledger", counted)
    return reads


def test_drop_stale_reads_the_ledger_only_when_a_reference_batch_was_touched(
        profiled, workdir, monkeypatch) -> None:
    """A removal of production batches cannot make the reference's merged profile stale:
    `drop_stale` reads the two small reference files and not the ledger; a reference batch
    removed reads it once and deletes the merged file."""
    path = the_merged_file(workdir)
    reads = _counted_reads(monkeypatch, merged_module)
    live = read_ledger(store(workdir)).live
    production = next(r.batch for r in live if r.env == "production")
    assert profiled("batches", "remove", production).code == 0
    assert reads == [] and path.exists()
    reference = next(r.batch for r in live if r.env == "training")
    assert profiled("batches", "remove", reference).code == 0
    assert reads == [1] and not path.exists()


def test_doctor_repair_reads_the_ledger_twice(profiled, workdir, monkeypatch) -> None:
    """Once to verify, once under the store lock for the leftovers and the merged profiles
    (removing leftovers changes no record), and the repair still rewrites the merged file."""
    import evalctl.lake.doctor as doctor

    path = the_merged_file(workdir)
    original = path.read_bytes()
    path.unlink()
    reads = _counted_reads(monkeypatch, doctor)
    repaired = profiled("doctor", "--repair", "-f", "json").json()
    assert len(reads) == 2
    assert repaired["results"][0]["problem"] == "merged reference profile missing (written)"
    assert path.read_bytes() == original
    reads.clear()
    assert profiled("doctor", "-f", "json").json()["status"] == "pass"
    assert len(reads) == 1
