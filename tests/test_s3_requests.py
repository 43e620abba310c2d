"""Object reads stay bounded on an `s3://` store (issue #18 item 5), counted at the server
(the moto request log), not inside evalctl: with a ledger of many batches, `catalog` and one
more ingest cost a number of requests that does not grow with the number of batches."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from tests.helpers import CliResult, run_cli
from tests.s3_server import S3Server

from evalctl.lake.checkpoint import CHECKPOINT_EVERY

pytestmark = pytest.mark.s3

CONFIG = """store: {store}
models:
  tiny:
    task: binary_classification
    id: request_id
    timestamp: ts
    prediction: predicted_label
    score: score
    label: label
    features:
      f: numeric
"""


def _ingest(folder: Path, i: int) -> CliResult:
    """A 5-row batch on day `i` of its own: an ingest reads the ids of the committed files of
    the days it touches (duplicate ids), so batches on one day would measure that instead."""
    path = folder / "tiny.parquet"
    pl.DataFrame({"request_id": [f"b{i}-{j}" for j in range(5)],
                  "ts": [datetime(2024, 1, 1) + timedelta(days=i)] * 5,
                  "f": [1.0, 2.0, 3.0, 4.0, float(i)], "score": [0.1, 0.4, 0.5, 0.7, 0.9],
                  "predicted_label": [0, 0, 1, 1, 1], "label": [0, 1, 1, 1, 0]}
                 ).write_parquet(path)
    return run_cli("ingest", str(path), "--model", "tiny", "--version", "v1", "--env",
                   "production", "--format", "json")


def _requests(server: S3Server, *args: str) -> tuple[CliResult, dict[str, int]]:
    with server.counting() as counts:
        result = run_cli(*args)
    return result, dict(counts)


def test_catalog_and_ingest_requests_do_not_grow_with_the_ledger(
        s3_store: str, s3_env: S3Server, tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "evalctl.yaml").write_text(CONFIG.format(store=s3_store))
    monkeypatch.chdir(tmp_path)
    assert run_cli("init", s3_store, "--no-config").code == 0
    seen: dict[int, dict[str, dict[str, int]]] = {}
    batches = 0
    for target in (CHECKPOINT_EVERY + 5, 2 * CHECKPOINT_EVERY + 10):  # the ledger doubles
        while batches < target - 1:
            assert _ingest(tmp_path, batches).code == 0
            batches += 1
        with s3_env.counting() as ingest:
            assert _ingest(tmp_path, batches).code == 0
        batches += 1
        catalog, counts = _requests(s3_env, "catalog", "--format", "json")
        assert catalog.json()["summary"]["batches"] == batches
        seen[batches] = {"catalog": counts, "ingest": dict(ingest)}
    print(seen)  # shown with -s: the figures behind the bounds
    for n, counts in seen.items():
        # a reader: one LIST of the ledger, one of the checkpoints, one GET of the newest
        # checkpoint and at most CHECKPOINT_EVERY GETs of the records it does not hold
        assert counts["catalog"].get("GET", 0) <= CHECKPOINT_EVERY + 3, (n, seen)
        assert counts["catalog"].get("LIST", 0) <= 3, (n, seen)
        # a writer reads the ledger a bounded number of times (3 or 4 today: 8-10 LISTs) and
        # puts its data file, its record, perhaps a checkpoint and the label index
        assert counts["ingest"].get("LIST", 0) <= 12, (n, seen)
        assert counts["ingest"].get("GET", 0) <= 4 * (CHECKPOINT_EVERY + 3) + 5, (n, seen)
        assert counts["ingest"].get("PUT", 0) <= 4, (n, seen)
    small, large = (seen[n] for n in sorted(seen))
    for command in ("catalog", "ingest"):  # the ledger doubled: the listings did not
        assert large[command].get("LIST", 0) == small[command].get("LIST", 0), seen
