"""Profile format 2 (a row per bucket and feature, its cells as lists) beside format 1 (a row
per cell), which stores profiled before 2026-12-05 hold: the ledger records each set's
format, and a report over a store whose older batches have format-1 profiles and whose newer
ones have format 2 gives what the scan gives, and what a store of format 2 alone gives."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from tests.helpers import assert_same, fitted_store, make_frame

import evalctl.lake.profiled as profiled
import evalctl.profiles.compute as compute
from evalctl.lake.store import Store
from evalctl.profiles.format import FORMAT, tidy

M = ["--model", "churn"]
PAIR = ["--reference", "training:v1", "--current", "production"]


def ingest_production(cli: Any, frame_file: Any) -> None:
    data = str(frame_file(make_frame(2500, seed=4, prefix="p", days=5), "p.parquet"))
    assert cli("ingest", data, *M, "--version", "v1", "--env", "production").code == 0


def reports(cli: Any, engine: str) -> list[dict[str, Any]]:
    out = []
    for args in (["skew", *M, *PAIR], ["drift", *M, *PAIR, "--window", "1d"],
                 ["drift", *M, *PAIR, "--window", "2d"]):
        doc = cli(*args, "--engine", engine, "-f", "json").json()
        assert doc["inputs"]["engine"] == engine, doc["inputs"]
        out.append(doc["results"])
    return out


def formats_on_disk(root: Path) -> dict[str, set[int]]:
    """Each env's profile formats, by their columns, and as the ledger records them."""
    store = Store.open(root)
    found: dict[str, set[int]] = {}
    for record in store.prediction_records("churn"):
        for entry in profiled.file_profiles(store.storage, "churn", _hash(root), record
                                            ).values():
            columns = pl.read_parquet_schema(root / entry.path)
            on_disk = FORMAT if "cells" in columns else 1
            assert on_disk == entry.format, entry.path
            found.setdefault(record.env or "", set()).add(on_disk)
    return found


def _hash(root: Path) -> str:
    return json.loads((root / "profiles/model=churn/reference.json").read_text())["hash"]


def test_format_1_profiles_are_read_beside_format_2(cli, workdir: Path, frame_file,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    with monkeypatch.context() as old:  # an evalctl of before: format 1 tables and sets
        real = compute.counted_table
        old.setattr(compute, "counted_table", lambda *args: tidy(real(*args)))
        old.setattr(profiled, "FORMAT", 1)
        root = fitted_store(cli, workdir, frame_file)
    ingest_production(cli, frame_file)
    assert formats_on_disk(root) == {"training": {1}, "production": {FORMAT}}
    mixed = reports(cli, "profiles")
    assert_same(mixed, reports(cli, "scan"))
    doctor = cli("doctor", "-f", "json")
    assert doctor.code == 0, doctor.stdout
    # the same store profiled by today's evalctl alone gives the very same numbers
    fresh = workdir / "fresh"
    fresh.mkdir()
    monkeypatch.chdir(fresh)
    assert cli("init", "store", "--no-config").code == 0
    fitted_store(cli, fresh, frame_file)
    ingest_production(cli, frame_file)
    assert formats_on_disk(fresh / "store") == {"training": {FORMAT}, "production": {FORMAT}}
    assert_same(mixed, reports(cli, "profiles"))
