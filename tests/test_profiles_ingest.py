"""Issue #16: ingest counts its batch's profiles from the export's rows while it writes them
(nothing read back), and they are bit for bit the profiles `profiles build` makes from the
written files: counts, sums, moments, the Parquet bytes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from tests.helpers import PROFILED_CONFIG, CliResult, make_frame

import evalctl.profiles.compute as compute
from evalctl.lake.ledger import FileEntry
from evalctl.lake.store import Store
from evalctl.profiles.reference import current_reference
from evalctl.settings.load import load_config
from evalctl.stats import fit_binning
from evalctl.stats.summarize import count_windows, row_query

M = ["--model", "churn"]


def messy(n: int, seed: int, days: int) -> pl.DataFrame:
    """Rows over `days` days in shuffled time order (windows interleave in every batch),
    with nulls, NaN, inf, unseen categories and a feature all null on one day."""
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
    return frame.sample(fraction=1.0, shuffle=True, seed=seed)


def ingest_profiled(cli: Callable[..., CliResult], workdir: Path, frame_file: Callable[..., Path],
                    granularity: str, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Fit the reference on training, then ingest a messy production export; returns how
    many files ingest read back to profile them."""
    extra = f"    profiles: {{granularity: {granularity}}}\n"
    (workdir / "evalctl.yaml").write_text(PROFILED_CONFIG.format(
        reference="training:v1", extra=extra, checks=""))
    cli("ingest", str(frame_file(make_frame(2000, seed=1, prefix="t"), "t.parquet")), *M,
        "--version", "v1", "--env", "training")
    assert cli("profiles", "build", *M).code == 0
    read_back = [0]
    original = compute.profile_file

    def counted(*args: Any, **kwargs: Any) -> pl.DataFrame:
        read_back[0] += 1
        return original(*args, **kwargs)

    monkeypatch.setattr(compute, "profile_file", counted)
    # small slices and morsels: every window is counted in many slices, across batches
    monkeypatch.setattr(compute, "SLICE_ROWS", 37)
    monkeypatch.setattr(compute, "MORSEL_ROWS", 50)
    result = cli("ingest", str(frame_file(messy(3000, 5, 4), "p.parquet")), *M,
                 "--version", "v1", "--env", "production")
    assert result.code == 0, result.stderr
    monkeypatch.setattr(compute, "profile_file", original)
    return read_back


@pytest.mark.parametrize("granularity", ["1d", "1h"])
def test_ingest_profiles_are_the_builds_bit_for_bit(cli, workdir: Path, frame_file,
                                                    monkeypatch, granularity: str) -> None:
    read_back = ingest_profiled(cli, workdir, frame_file, granularity, monkeypatch)
    assert read_back == [0]  # every file profiled from the rows as they were written
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
        # what `profiles build` writes for the same file (read back, another batching)
        built = compute.profile_file(store, model, reference, "v1", "production", entry)
        assert stored == compute.profile_bytes(built)
        table = pl.read_parquet(workdir / "store" / named[entry.path])
        assert table.equals(built)
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


def rows(n: int, seed: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    x = np.round(rng.normal(0, 1.5, n), 1)
    x[rng.random(n) < 0.1] = np.nan
    return pl.DataFrame({
        "ts": pl.Series(np.datetime64("2026-11-01", "us")
                        + rng.integers(0, 3 * 86_400_000_000, n).astype("timedelta64[us]")),
        "x": pl.Series(x).fill_nan(None),
        "c": pl.Series(rng.choice(["a", "b", "c", "z", "y"], n)).set(
            pl.Series(rng.random(n) < 0.1), None),
    })


# bins fitted on other rows: values and levels outside them, ties at edges
BINNING = fit_binning(rows(400, 1).lazy(), {"x": "numeric", "c": "categorical"}, n_bins=5,
                      top_k=2, fine_bins=20)


def fixed(frame: pl.DataFrame, splits: list[int]) -> dict[Any, Any]:
    """`FixedSlices` fed the rows of `frame` in batches cut at `splits`."""
    query = row_query(frame.lazy(), BINNING, by=pl.col("ts").dt.truncate("1d"))
    counters = compute.FixedSlices(frame.lazy().collect_schema(), BINNING)
    batches = query.collect()
    for lo, hi in zip([0, *splits], [*splits, batches.height], strict=True):
        counters.add(batches.slice(lo, hi - lo))
    return counters.finish()


def as_table(windows: dict[Any, Any]) -> pl.DataFrame:
    from evalctl.profiles.format import counted_table

    return counted_table(windows, ["x", "c"])


def test_fixed_slices_do_not_depend_on_the_batches(monkeypatch) -> None:
    monkeypatch.setattr(compute, "SLICE_ROWS", 16)
    frame = rows(700, 3)
    whole = as_table(fixed(frame, []))
    for seed in range(5):
        cuts = sorted(set(np.random.default_rng(seed).integers(1, 700, 9).tolist()))
        assert as_table(fixed(frame, cuts)).equals(whole)
    # the counts are the scan path's exactly, every float to 1e-12
    scan = as_table(count_windows(frame.lazy(), BINNING, by=pl.col("ts").dt.truncate("1d")))
    assert whole.drop("sum", "mean", "m2").equals(scan.drop("sum", "mean", "m2"))
    for name in ("sum", "mean", "m2"):
        a, b = whole.get_column(name).to_numpy(), scan.get_column(name).to_numpy()
        assert np.allclose(a, b, rtol=1e-12, atol=1e-12, equal_nan=True)


def test_a_day_written_to_several_files_is_read_back(monkeypatch) -> None:
    frame = rows(300, 4)
    tap = compute.WriteTap(BINNING, "ts", "1d")
    tap.count(frame.lazy())
    days = frame.group_by(pl.col("ts").dt.date().alias("d")).len().sort("d").rows()
    entries = [FileEntry(path=f"f{n}", rows=count, bytes=1, sha256="", date=day.isoformat())
               for n, (day, count) in enumerate(days)]
    first, *rest = entries
    split = [FileEntry(path="a", rows=first.rows - 1, bytes=1, sha256="", date=first.date),
             FileEntry(path="b", rows=1, bytes=1, sha256="", date=first.date)]
    tables = tap.tables([*split, *rest])
    assert set(tables) == {e.path for e in rest}  # "a" and "b" are left to a read-back
    assert all(t.get_column("rows").max() > 0 for t in tables.values())
