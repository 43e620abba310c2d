"""Equal-row chunks read part by part (issue #16, item 6): `chunked_scans` gives every row the
chunk `chunk_index` gives it over the whole scan, and skew's reference chunks and drift's
`--windows` summaries equal those of the whole-scan ranking (counts bit for bit, floats to
1e-12), on data with timestamp ties across files and inside slices, and with nulls."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from tests.helpers import assert_same, make_frame, normal

from evalctl import open as open_workspace
from evalctl.analyses import drift as drift_module
from evalctl.analyses import skew as skew_module
from evalctl.analyses.common import chunk_index, open_side
from evalctl.lake.selectors import parse_selector
from evalctl.lake.store import Store
from evalctl.profiles import parts as parts_module
from evalctl.profiles.parts import CHUNK, chunk_bounds, chunked_scans
from evalctl.settings.load import load_config
from evalctl.stats import fit_binning, summarize
from evalctl.stats import streamed as streamed_module


def tied_frame(n: int, seed: int, start: datetime, prefix: str) -> pl.DataFrame:
    """`make_frame` rows whose timestamps fall on a coarse grid (runs of ties), shuffled
    inside the file, with nulls in `age`."""
    frame = make_frame(n, seed=seed, start=start, days=2, prefix=prefix)
    rng = np.random.default_rng(seed)
    hours = rng.integers(0, 48, n) // 6 * 6  # 8 distinct timestamps over the 2 days
    return frame.with_columns(
        ts=pl.Series([start + timedelta(hours=int(h)) for h in hours]))


@pytest.fixture
def tied_store(cli, workdir: Path, frame_file) -> Path:
    """Training and production of three batches each over the same two days (files of the
    same day tie on timestamps), 150-400 rows a file."""
    for env, base in (("training", 0), ("production", 10)):
        for k, n in enumerate((300, 517, 800)):
            frame = tied_frame(n, seed=base + k, start=datetime(2026, 11, 1),
                               prefix=f"{env[0]}{k}_")
            path = frame_file(frame, f"{env}{k}.parquet")
            assert cli("ingest", str(path), "--model", "churn", "--version", "v1",
                       "--env", env).code == 0
    return workdir


@pytest.fixture(params=["in memory", "streamed"])
def small_parts(request, monkeypatch: pytest.MonkeyPatch) -> None:
    """Parts of 37 rows (files sliced and small ones grouped, so boundaries and ties fall
    inside parts and on their edges); 'streamed' also finds the boundary timestamps in
    streamed passes that collect at most 16 values."""
    monkeypatch.setattr(parts_module, "PART_ROWS", 37)
    if request.param == "streamed":
        monkeypatch.setattr(parts_module, "IN_MEMORY_VALUES", 0)
        monkeypatch.setattr(streamed_module, "COLLECT", 16)


def sides(root: Path, env: str) -> tuple[Store, Any, Any, Any]:
    config = load_config(root / "evalctl.yaml")
    store = Store(root / "store")
    model = config.models["churn"]
    selection, lf = open_side(store, model, parse_selector(env))
    return store, model, selection, lf


@pytest.mark.parametrize("chunks", [2, 3, 7, 10, 64, 5000])
def test_every_row_gets_the_chunk_of_the_whole_scan_ranking(tied_store: Path, small_parts,
                                                            chunks: int) -> None:
    store, model, selection, lf = sides(tied_store, "production")
    expected = lf.select(chunk_index("ts", chunks).alias("c"), "request_id").collect()
    parts = chunked_scans(store, model, selection, lf.collect_schema(), chunks)
    assert len(parts) > 3
    got = pl.concat([p.select(pl.col(CHUNK).alias("c"), "request_id").collect()
                     for p in parts])
    assert got.get_column("request_id").to_list() == \
        expected.get_column("request_id").to_list()  # the scan's row order
    assert got.get_column("c").to_list() == expected.get_column("c").to_list()
    bounds = chunk_bounds(parts, "ts")
    whole = (lf.group_by(chunk_index("ts", chunks).alias("c"))
             .agg(pl.col("ts").min(), pl.col("ts").max().alias("hi"), pl.len()).sort("c").collect())
    assert bounds == {c: (lo, hi, n) for c, lo, hi, n in whole.iter_rows()}



def test_chunk_summaries_equal_the_whole_scan_ranking(tied_store: Path, small_parts) -> None:
    store, model, selection, lf = sides(tied_store, "training")
    kinds = {"age": "numeric", "minutes": "numeric", "country": "categorical"}
    binning = fit_binning(lf, kinds)
    expected = summarize(lf, binning, by=chunk_index("ts", 10))
    parts = chunked_scans(store, model, selection, lf.collect_schema(), 10)
    got = summarize(lf, binning, by=CHUNK, parts=parts)
    assert list(got) == list(expected) == list(range(10))
    assert got[3]["age"].nulls and got[3]["age"].rows  # nulls inside the chunks
    assert_same(normal(got), normal(expected))


def report_doc(root: Path, command: str, **options: Any) -> dict[str, Any]:
    workspace = open_workspace(root / "evalctl.yaml")
    report = getattr(workspace, command)("churn", reference="training", current="production",
                                         engine="scan", **options)
    doc = report.to_dict()
    doc.pop("meta", None)
    doc.pop("generated_at", None)
    return doc


def whole_scan_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Today's implementation: equal-row chunks ranked over the whole scan at once."""
    monkeypatch.setattr(skew_module, "reference_chunks", lambda *_: None)
    monkeypatch.setattr(drift_module, "reference_chunks", lambda *_: None)

    def ranked(store, model, selection, schema, chunks):  # noqa: ANN001, ANN202
        lf = store.scan(model, selection.selector, with_actuals=False, selection=selection)
        return [lf.with_columns(chunk_index(model.timestamp, chunks).alias(CHUNK))]

    monkeypatch.setattr(drift_module, "chunked_scans", ranked)


def test_skew_and_drift_with_chunks_equal_the_whole_scan_ranking(
        tied_store: Path, small_parts, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tied_store / "evalctl.yaml"
    config.write_text(config.read_text() + "    checks:\n      skew:\n"
                      "        thresholds: reference_chunks\n        chunks: 7\n"
                      "      drift:\n        thresholds: reference_chunks\n        chunks: 7\n")
    got = {"skew": report_doc(tied_store, "skew"),
           "drift": report_doc(tied_store, "drift", windows=9)}
    with monkeypatch.context() as patch:
        whole_scan_chunks(patch)
        expected = {"skew": report_doc(tied_store, "skew"),
                    "drift": report_doc(tied_store, "drift", windows=9)}
    assert any(r.get("threshold_source") for r in got["skew"]["results"])
    assert got["drift"]["summary"]["windows"] == 9
    assert_same(got, expected)

