"""Issue #16: the profiles ingest commits with a batch are bit for bit the profiles `profiles
build` makes from the same files (counts, sums, moments, the Parquet bytes), on exports with
nulls, unseen categories, several days, in or out of time order, daily and hourly; and a file
read in slices (`PART_ROWS`, what bounds the memory) is profiled exactly as read whole."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from tests.helpers import PROFILED_CONFIG, CliResult, make_frame

import evalctl.profiles.compute as compute
from evalctl.lake.store import Store
from evalctl.profiles.format import tidy
from evalctl.profiles.reference import current_reference
from evalctl.settings.load import load_config

M = ["--model", "churn"]


def messy(n: int, seed: int, days: int, shuffled: bool) -> pl.DataFrame:
    """Rows over `days` days with nulls, NaN, inf, unseen categories and a feature all null
    on one day; in time order, or shuffled (windows interleave in every batch)."""
    frame = make_frame(n, seed=seed, prefix=f"m{seed}", start=datetime(2026, 11, 10),
                       days=days)
    rng = np.random.default_rng(seed)
    minutes = frame["minutes"].to_numpy().copy()
    minutes[rng.random(n) < 0.05] = np.nan
    minutes[rng.random(n) < 0.02] = np.inf
    unseen = pl.Series(rng.choice(["XX", "YY", "US"], n))
    frame = frame.with_columns(
        pl.Series("minutes", minutes),
        pl.when(pl.col("age") > 60).then(unseen).otherwise(pl.col("country")).alias("country"),
        pl.when(pl.Series(rng.random(n) < 0.1)).then(None).otherwise(pl.col("age"))
        .alias("age"),
    ).with_columns(pl.when(pl.col("ts").dt.date() == datetime(2026, 11, 11).date())
                   .then(None).otherwise(pl.col("minutes")).alias("minutes"))
    if shuffled:
        return frame.sample(fraction=1.0, shuffle=True, seed=seed)
    return frame.sort("ts", maintain_order=True)


def ingest_profiled(cli: Callable[..., CliResult], workdir: Path, frame_file: Callable[..., Path],
                    granularity: str, monkeypatch: pytest.MonkeyPatch,
                    shuffled: bool = False) -> None:
    """Fit the reference on training, then ingest a messy production export."""
    extra = f"    profiles: {{granularity: {granularity}}}\n"
    (workdir / "evalctl.yaml").write_text(PROFILED_CONFIG.format(
        reference="training:v1", extra=extra, checks=""))
    cli("ingest", str(frame_file(make_frame(2000, seed=1, prefix="t"), "t.parquet")), *M,
        "--version", "v1", "--env", "training")
    assert cli("profiles", "build", *M).code == 0
    monkeypatch.setattr(compute, "PART_ROWS", 97)  # every file read in several slices
    result = cli("ingest", str(frame_file(messy(3000, 5, 4, shuffled), "p.parquet")), *M,
                 "--version", "v1", "--env", "production")
    assert result.code == 0, result.stderr


@pytest.mark.parametrize(("granularity", "shuffled"),
                         [("1d", False), ("1h", False), ("1d", True), ("1h", True)])
def test_ingest_profiles_are_the_builds_bit_for_bit(cli, workdir: Path, frame_file,
                                                    monkeypatch, granularity: str,
                                                    shuffled: bool) -> None:
    ingest_profiled(cli, workdir, frame_file, granularity, monkeypatch, shuffled)
    store = Store.open(workdir / "store")
    model = store.resolve_model(load_config(workdir / "evalctl.yaml").models["churn"])
    reference = current_reference(store.storage, "churn")
    assert reference is not None and reference.granularity == granularity
    record = next(r for r in store.prediction_records("churn") if r.env == "production")
    named = {e["data"]: e["path"] for e in record.extra["profiles"]["files"]}
    assert set(named) == {f.path for f in record.files} and len(named) >= 4
    buckets = 0
    for entry in record.files:
        stored = (workdir / "store" / named[entry.path]).read_bytes()
        # what `profiles build` writes for the same file
        built = compute.profile_file(store, model, reference, "v1", "production", entry)
        assert stored == compute.profile_bytes(built)
        table = pl.read_parquet(workdir / "store" / named[entry.path])
        assert table.equals(built)
        # read whole (no slices): every count the same, every float to 1e-12
        monkeypatch.setattr(compute, "PART_ROWS", 10**9)
        whole = compute.profile_file(store, model, reference, "v1", "production", entry)
        monkeypatch.setattr(compute, "PART_ROWS", 97)
        assert_tables_close(table, whole)
        buckets += table.get_column("bucket").n_unique()
    assert buckets > (24 if granularity == "1h" else 3)


def test_ingest_profiles_count_what_the_scan_counts(cli, workdir: Path, frame_file,
                                                    monkeypatch) -> None:
    ingest_profiled(cli, workdir, frame_file, "1h", monkeypatch)
    doc = cli("drift", *M, "--reference", "training", "--current", "production", "--window",
              "1h", "--engine", "profiles", "-f", "json").json()
    scan = cli("drift", *M, "--reference", "training", "--current", "production", "--window",
               "1h", "--engine", "scan", "-f", "json").json()
    assert doc["inputs"]["engine"] == "profiles" and scan["inputs"]["engine"] == "scan"
    from tests.helpers import assert_same

    assert_same(doc["results"], scan["results"])


FLOATS = ("sum", "low", "high", "minimum", "maximum", "mean", "m2")


def assert_tables_close(a: pl.DataFrame, b: pl.DataFrame) -> None:
    """The same profile table up to the order floats were added in: everything else equal,
    floats to 1e-12 (compared in the tidy layout: a row per cell)."""
    a, b = tidy(a), tidy(b)
    assert a.drop(FLOATS).equals(b.drop(FLOATS))
    for name in FLOATS:
        x, y = a.get_column(name).to_numpy(), b.get_column(name).to_numpy()
        assert np.allclose(x, y, rtol=1e-12, atol=1e-12, equal_nan=True), name
