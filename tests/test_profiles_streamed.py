"""Issue #16 (ingest with profiles at most 1.3x ingest without): ingest counts the rows for its
profiles in the execution that writes them (`BatchProfiles.stream`, `_sink`) instead of reading
the written files back. Each profile equals `profile_file` of its committed file (every count,
name and flag; floats to 1e-12) on exports with nulls, unseen categories, a column all null,
from several sources, daily and hourly, over many days; a day the writer splits into several
files is read back; a failure while counting leaves the store as it was."""

from __future__ import annotations

import functools
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from tests.helpers import PROFILED_CONFIG, make_frame, store_snapshot

import evalctl.profiles.compute as compute
from evalctl.lake.store import Store
from evalctl.profiles.reference import current_reference
from evalctl.settings.load import load_config
from evalctl.stats.summarize import Counting

M = ["--model", "churn"]
FLOATS = ("sum", "low", "high", "minimum", "maximum", "mean", "m2")


def fit(cli, workdir: Path, frame_file, granularity: str = "1d") -> None:
    """A fitted reference on a training batch."""
    extra = f"    profiles: {{granularity: {granularity}}}\n"
    (workdir / "evalctl.yaml").write_text(PROFILED_CONFIG.format(
        reference="training:v1", extra=extra, checks=""))
    assert cli("ingest", str(frame_file(make_frame(1500, seed=1, prefix="t"), "t.parquet")),
               *M, "--version", "v1", "--env", "training").code == 0
    assert cli("profiles", "build", *M).code == 0


def unusual(n: int, seed: int, days: int, start: datetime = datetime(2026, 11, 10)
            ) -> pl.DataFrame:
    """Rows with null, NaN and infinite numbers, unseen and null categories, shuffled (every
    written morsel holds several days)."""
    frame = make_frame(n, seed=seed, prefix=f"u{seed}", start=start, days=days)
    rng = np.random.default_rng(seed)
    minutes = frame["minutes"].to_numpy().copy()
    minutes[rng.random(n) < 0.05] = np.nan
    minutes[rng.random(n) < 0.02] = np.inf
    country = pl.Series(rng.choice(["XX", "YY", "US", ""], n)).replace("", None)
    return frame.with_columns(pl.Series("minutes", minutes),
                              pl.when(pl.col("age") > 55).then(country)
                              .otherwise(pl.col("country")).alias("country"),
                              ).sample(fraction=1.0, shuffle=True, seed=seed)


def read_back(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record the files ingest profiles by reading them back."""
    calls: list[str] = []
    real = compute.BatchProfiles.compute_one

    def recorded(self: compute.BatchProfiles, entry: Any) -> bytes:
        calls.append(entry.path)
        return real(self, entry)

    monkeypatch.setattr(compute.BatchProfiles, "compute_one", recorded)
    return calls


def assert_profiles_of_files(workdir: Path, min_files: int) -> None:
    """Every committed production file's profile equals `profile_file` of that file."""
    store = Store.open(workdir / "store")
    model = store.resolve_model(load_config(workdir / "evalctl.yaml").models["churn"])
    reference = current_reference(store.storage, "churn")
    assert reference is not None
    record = next(r for r in store.prediction_records("churn") if r.env == "production")
    named = {e["data"]: e["path"] for e in record.extra["profiles"]["files"]}
    assert set(named) == {f.path for f in record.files} and len(named) >= min_files
    for entry in record.files:
        table = pl.read_parquet(workdir / "store" / named[entry.path])
        built = compute.profile_file(store, model, reference, "v1", "production", entry)
        assert table.drop(FLOATS).equals(built.drop(FLOATS))
        assert table.get_column("rows").max() <= entry.rows
        for name in FLOATS:
            x, y = table.get_column(name).to_numpy(), built.get_column(name).to_numpy()
            assert np.allclose(x, y, rtol=1e-12, atol=1e-12, equal_nan=True), name


@pytest.mark.parametrize("granularity", ["1d", "1h"])
def test_streamed_profiles_are_the_files_profiles(cli, workdir: Path, frame_file, monkeypatch,
                                                  granularity: str) -> None:
    fit(cli, workdir, frame_file, granularity)
    calls = read_back(monkeypatch)
    first = frame_file(unusual(3000, 5, 40), "p1.parquet")  # 40 days
    second = frame_file(unusual(800, 6, 3, datetime(2026, 12, 18)).drop("label")
                        .with_columns(minutes=None), "p2.csv")  # another source and format,
    # overlapping days, without labels, a feature all null
    result = cli("ingest", str(first), str(second), *M, "--version", "v1",
                 "--env", "production")
    assert result.code == 0, result.stderr
    assert calls == []  # every profile came from the counts taken while writing
    assert_profiles_of_files(workdir, min_files=40)
    table = pl.concat(pl.read_parquet(p) for p in (workdir / "store").rglob("profiles/**/*"
                                                                            ".parquet"))
    assert table.filter(pl.col("feature") == "country")["unseen"].list.len().max() > 0


def test_a_day_written_in_several_files_is_read_back(cli, workdir: Path, frame_file,
                                                     monkeypatch) -> None:
    fit(cli, workdir, frame_file)
    calls = read_back(monkeypatch)
    monkeypatch.setattr(pl, "PartitionBy", functools.partial(pl.PartitionBy,
                                                             max_rows_per_file=400))
    result = cli("ingest", str(frame_file(unusual(2000, 7, 4), "p.parquet")), *M,
                 "--version", "v1", "--env", "production")
    assert result.code == 0, result.stderr
    record = next(r for r in Store.open(workdir / "store").prediction_records("churn")
                  if r.env == "production")
    assert len(record.files) > 4 and len(calls) == len(record.files)
    assert_profiles_of_files(workdir, min_files=5)


def test_a_failure_while_counting_changes_nothing(cli, workdir: Path, frame_file,
                                                  monkeypatch) -> None:
    fit(cli, workdir, frame_file)
    before = store_snapshot(workdir / "store")

    def fails(self: Counting, batch: pl.DataFrame) -> None:
        raise RuntimeError("counter on fire")

    monkeypatch.setattr(Counting, "add", fails)
    result = cli("ingest", str(frame_file(unusual(30_000, 8, 5), "p.parquet")), *M,
                 "--version", "v1", "--env", "production")
    assert result.code != 0 and "counter on fire" in result.stderr
    after = store_snapshot(workdir / "store")
    assert {p: s for p, s in after.items() if not p.startswith("_staging")} == before
