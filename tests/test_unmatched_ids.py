"""An actuals batch ingested again recounts its ids that no stored prediction has
(`lake.ingest._unmatched_ids`) in passes over hash buckets of its ids, as the label index
does (`labels.LABEL_PASS_ROWS` ids a pass): in one pass, a few and many, the count is the one
Python sets over every live stored file give, as predictions arrive and are removed."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from tests.helpers import CONFIG, make_frame

from evalctl.lake import idpasses, labels
from evalctl.lake.ingest import ingest_actuals, ingest_predictions
from evalctl.lake.lifecycle import remove_batches
from evalctl.lake.store import Store
from evalctl.settings.load import load_config

START = datetime(2026, 11, 1)


def _predictions(folder: Path, name: str, ids: list[int], seed: int) -> Path:
    frame = make_frame(len(ids), seed=seed, start=START).with_columns(
        pl.Series("request_id", [f"i{i:02d}" for i in ids]))
    path = folder / f"{name}.parquet"
    frame.write_parquet(path)
    return path


def _actuals(folder: Path, name: str, ids: list[int]) -> Path:
    frame = pl.DataFrame({
        "request_id": [f"i{i:02d}" for i in ids],
        "label": [k % 2 for k in range(len(ids))],
        "ts": [START + timedelta(days=1, hours=k % 24) for k in range(len(ids))],
    }, schema={"request_id": pl.String, "label": pl.Int64, "ts": pl.Datetime("us")})
    path = folder / f"{name}.parquet"
    frame.write_parquet(path)
    return path


def _brute(store: Store, model: str, ids: list[int]) -> int:
    """Distinct `ids` that no file of a live prediction batch holds."""
    store.refresh()
    paths = [str(store.root / f.path) for r in store.prediction_records(model)
             for f in r.files]
    predicted = set(pl.read_parquet(paths)["request_id"].to_list()) if paths else set()
    return len({f"i{i:02d}" for i in ids} - predicted)


@pytest.mark.parametrize("pass_rows", [labels.LABEL_PASS_ROWS, 5, 2])
def test_ingested_again_the_unmatched_ids_are_the_brute_force_count(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pass_rows: int) -> None:
    monkeypatch.setattr(labels, "LABEL_PASS_ROWS", pass_rows)
    (tmp_path / "evalctl.yaml").write_text(CONFIG)
    store = Store.init(tmp_path / "store")
    model = load_config(tmp_path / "evalctl.yaml").model("churn")
    # actuals before any prediction; ids repeated in the batch; ids no prediction will have
    first = [1, 2, 2, 3, 5, 8, 13, 21, 30, 31, 31, 40, 41, 42]
    second = [0, 4, 4, 9, 10, 22, 23, 50]
    assert idpasses.id_passes(len(first), pass_rows) == \
        {labels.LABEL_PASS_ROWS: 1, 5: 3, 2: 7}[pass_rows]
    exports = [_actuals(tmp_path, "a1", first), _actuals(tmp_path, "a2", second)]

    def again(n: int, ids: list[int]) -> None:
        expected = _brute(store, model.name, ids)
        result = ingest_actuals(store, model, [exports[n]])
        assert result.already_ingested and result.unmatched_ids == expected
        assert expected == len(set(ids) - live)  # the brute force sees what the steps did

    live: set[int] = set()
    assert ingest_actuals(store, model, [exports[0]]).unmatched_ids == len(set(first))
    again(0, first)
    v1 = ingest_predictions(store, model, [_predictions(tmp_path, "p1", list(range(12)), 1)],
                            version="v1", env="production")
    live |= set(range(12))
    again(0, first)
    ingest_actuals(store, model, [exports[1]])
    shadow = ingest_predictions(store, model,
                                [_predictions(tmp_path, "p2", [20, 21, 22, 30, 31], 2)],
                                version="v2", env="shadow")
    live |= {20, 21, 22, 30, 31}
    again(0, first)
    again(1, second)
    remove_batches(store, [v1.batch])  # removed predictions label nothing any more
    live -= set(range(12))
    again(0, first)
    again(1, second)
    remove_batches(store, [shadow.batch])
    live.clear()
    again(0, first)
