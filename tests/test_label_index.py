"""The label index (lake/labels.py): a scan joins only the actuals batches that can hold its
ids, and finds exactly the labels the full join over every actual finds."""

from __future__ import annotations

import json
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.helpers import CONFIG, make_frame

from evalctl.lake import idpasses, labels
from evalctl.lake.erase import erase_ids
from evalctl.lake.ingest import ingest_actuals, ingest_predictions
from evalctl.lake.lifecycle import remove_batches
from evalctl.lake.locking import StoreBusyError
from evalctl.lake.selectors import Selector, parse_selector
from evalctl.lake.store import Selection, Store
from evalctl.settings.load import load_config

START = datetime(2026, 11, 1)
DAYS = 5
POOL = 24  # ids i00..i23, shared by predictions and actuals


def _setup(folder: Path):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "evalctl.yaml").write_text(CONFIG)
    store = Store.init(folder / "store")
    return store, load_config(folder / "evalctl.yaml").model("churn")


def _predictions(folder: Path, name: str, ids: list[int], days: list[int], seed: int) -> Path:
    base = make_frame(len(ids), seed=seed)
    frame = base.with_columns(
        pl.Series("request_id", [f"i{i:02d}" for i in ids]),
        pl.Series("ts", [START + timedelta(days=d, hours=1 + k % 20)
                         for k, d in enumerate(days)]),
        # some inline labels, some null: an actual overrides the first kind
        pl.Series("label", [None if k % 3 == 0 else k % 2 for k in range(len(ids))],
                  dtype=pl.Int64))
    path = folder / f"{name}.parquet"
    frame.write_parquet(path)
    return path


def _actuals(folder: Path, name: str, rows: list[tuple[int, int, int | None]]) -> Path:
    """(id, label, hour offset from START or None: the ingest time is its arrival)."""
    frame = pl.DataFrame({
        "request_id": [f"i{i:02d}" for i, _, _ in rows],
        "label": [label for _, label, _ in rows],
        "ts": [None if h is None else START + timedelta(hours=h) for _, _, h in rows],
    }, schema={"request_id": pl.String, "label": pl.Int64, "ts": pl.Datetime("us")})
    path = folder / f"{name}.parquet"
    frame.write_parquet(path)
    return path


def _stored_ids(store: Store, model) -> set[str]:
    store.refresh()
    paths = [str(store.root / f.path) for r in store.prediction_records(model.name)
             for f in r.files]
    return set(pl.read_parquet(paths)["request_id"].to_list()) if paths else set()


def _full_join(store: Store, model, selector: Selector) -> pl.DataFrame:
    """The reference: the scan's rows joined with every live actual of the model."""
    lf = store.scan(model, selector, with_actuals=False)
    return store._join_actuals(lf, model, None).collect()


def _by_id(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.sort(frame.columns, nulls_last=True)


_day = st.integers(0, DAYS - 1)
_prediction_op = st.tuples(st.just("predict"), st.lists(st.integers(0, POOL - 1), min_size=1,
                                                         max_size=10, unique=True),
                           st.sampled_from(["v1", "v2", "v2 shadow"]),
                           st.lists(_day, min_size=10,
                                                                   max_size=10))
# duplicates, ties on the timestamp (hours from a small set), and actuals without timestamps
_actual_row = st.tuples(st.integers(0, POOL + 3), st.integers(0, 1),
                        st.one_of(st.none(), st.sampled_from([2, 30, 30, 60, 200])))
_actuals_op = st.tuples(st.just("actuals"), st.lists(_actual_row, min_size=1, max_size=12))
_erase_op = st.tuples(st.just("erase"), st.lists(st.integers(0, POOL - 1), min_size=1,
                                                  max_size=3))
_remove_op = st.tuples(st.just("remove"), st.integers(0, 50))
_ops = st.lists(st.one_of(_prediction_op, _prediction_op, _actuals_op, _actuals_op, _erase_op,
                          _remove_op), min_size=2, max_size=8)


@settings(max_examples=50, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(ops=_ops)
def test_pruned_join_equals_full_join(tmp_path_factory, ops) -> None:
    folder = tmp_path_factory.mktemp("labels")
    store, model = _setup(folder)
    clock = datetime(2026, 12, 1, tzinfo=UTC)
    for n, op in enumerate(ops):
        clock += timedelta(minutes=1)
        if op[0] == "predict":
            _, ids, target, days = op
            version, _, env = target.partition(" ")
            path = _predictions(folder, f"p{n}", ids, days[:len(ids)], seed=n)
            ingest_predictions(store, model, [path], version=version, env=env or "production")
        elif op[0] == "actuals":
            path = _actuals(folder, f"a{n}", op[1])
            predicted = _stored_ids(store, model)
            result = ingest_actuals(store, model, [path], now=lambda c=clock: c)
            # counted at the commit, from the same pass as the index
            labelled = {f"i{i:02d}" for i, _, _ in op[1]}
            assert result.already_ingested or result.unmatched_ids == len(labelled - predicted)
        elif op[0] == "erase":
            if not store.records:
                continue
            erase_ids(store, model, pl.Series([f"i{i:02d}" for i in op[1]]))
        else:
            live = [r.batch for r in store.records]
            if live:
                remove_batches(store, [live[op[1] % len(live)]])
        store.refresh()
    if not store.prediction_records(model.name):
        return
    selectors = ["production", "shadow"] + [
        f"{env}@{(START + timedelta(days=d)).date()}" for d in range(DAYS)
        for env in ("production", "shadow")] + ["production@2026-11-02..2026-11-03"]
    for text in selectors:
        selector = parse_selector(text)
        try:
            selection = store.select(model.name, selector)
        except Exception:  # nothing predicted on that day
            continue
        pruned = store.scan(model, selector, selection=selection).collect()
        full = _full_join(store, model, selector)
        assert pruned.columns == full.columns
        assert _by_id(pruned).equals(_by_id(full)), text


def test_a_window_reads_only_the_actuals_that_can_label_it(tmp_path) -> None:
    store, model = _setup(tmp_path)
    for day in range(DAYS):  # one prediction batch and its next-day actuals per day
        ids = list(range(day * 4, day * 4 + 4))
        ingest_predictions(store, model, [_predictions(tmp_path, f"p{day}", ids, [day] * 4,
                                                       day)], version="v1", env="production")
        rows = [(i, i % 2, day * 24 + 30) for i in ids]
        ingest_actuals(store, model, [_actuals(tmp_path, f"a{day}", rows)])
    store.refresh()
    batches = [r.batch for r in store.actual_records(model.name)]
    assert [r.extra["labels"]["prediction_dates"] for r in store.actual_records(model.name)] \
        == [[str((START + timedelta(days=d)).date())] for d in range(DAYS)]
    selection = store.select(model.name, parse_selector("production@2026-11-03"))
    assert [r.batch for r in labels.actuals_for(store, model.name, selection)] == [batches[2]]
    scanned = store.scan(model, selection.selector, selection=selection).collect()
    assert scanned["_label_source"].to_list() == ["actuals"] * 4


def test_actuals_that_precede_their_predictions_are_found(tmp_path) -> None:
    store, model = _setup(tmp_path)
    early = ingest_actuals(store, model, [_actuals(tmp_path, "a", [(1, 1, 5), (2, 0, 5)])])
    other = ingest_actuals(store, model, [_actuals(tmp_path, "b", [(9, 1, 5)])])
    assert early.unmatched_ids == 2
    ingest_predictions(store, model, [_predictions(tmp_path, "p", [1, 2, 3], [0, 0, 0], 0)],
                       version="v1", env="production")
    store.refresh()
    record = store.prediction_records(model.name)[0]
    assert record.extra["labels"]["actuals"] == [early.batch]
    selection = store.select(model.name, parse_selector("production"))
    assert [r.batch for r in labels.actuals_for(store, model.name, selection)] == [early.batch]
    assert other.batch not in record.extra["labels"]["actuals"]
    back = store.scan(model, selection.selector).collect().sort("request_id")
    assert back["label"].to_list()[:2] == [1, 0]
    assert back["_label_source"].to_list()[:2] == ["actuals", "actuals"]


def test_a_window_no_actual_labels_keeps_the_join_columns(tmp_path) -> None:
    store, model = _setup(tmp_path)
    ingest_predictions(store, model, [_predictions(tmp_path, "p", [1, 2], [0, 3], 0)],
                       version="v1", env="production")
    ingest_actuals(store, model, [_actuals(tmp_path, "a", [(2, 1, 90)])])
    selector = parse_selector("production@2026-11-01")
    selection = store.select(model.name, selector)
    assert labels.actuals_for(store, model.name, selection) == []
    pruned = store.scan(model, selector).collect()
    assert pruned.equals(_full_join(store, model, selector))


def test_records_without_the_index_are_read_conservatively(tmp_path) -> None:
    """A store written before the index: its batches join every actual (and every
    unindexed actuals batch is joined), so the labels stay right."""
    store, model = _setup(tmp_path)
    ingest_actuals(store, model, [_actuals(tmp_path, "a", [(1, 1, 5)])])
    ingest_predictions(store, model, [_predictions(tmp_path, "p", [1, 2], [0, 1], 0)],
                       version="v1", env="production")
    ingest_actuals(store, model, [_actuals(tmp_path, "b", [(2, 0, 50)])])
    for path in (store.root / "_ledger").glob("*.json"):  # as an older evalctl wrote them
        raw = json.loads(path.read_text())
        raw["extra"].pop("labels")
        path.write_text(json.dumps(raw))
    store.refresh()
    selection = store.select(model.name, parse_selector("production@2026-11-01"))
    assert len(labels.actuals_for(store, model.name, selection)) == 2
    back = store.scan(model, selection.selector).collect()
    assert back["label"].to_list() == [1]


def test_the_commit_lock_is_exclusive(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("EVALCTL_LOCK_WAIT", "0s")
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with labels.commit_lock(tmp_path):
            held.set()
            release.wait(10)

    thread = threading.Thread(target=hold)
    thread.start()
    try:
        assert held.wait(10)
        fd = os.open(tmp_path / labels.LOCK_FILE, os.O_RDWR)
        os.close(fd)
        with pytest.raises(StoreBusyError, match="another ingest is committing"):
            with labels.commit_lock(tmp_path):
                pass
    finally:
        release.set()
        thread.join()
    with labels.commit_lock(tmp_path):  # free again
        pass


def test_a_selection_built_without_its_records_finds_the_early_actuals(tmp_path) -> None:
    """compare builds its sides' selections from files alone: the index is found by file."""
    store, model = _setup(tmp_path)
    early = ingest_actuals(store, model, [_actuals(tmp_path, "a", [(1, 1, 5)])])
    ingest_predictions(store, model, [_predictions(tmp_path, "p", [1, 2], [0, 1], 0)],
                       version="v1", env="production")
    store.refresh()
    full = store.select(model.name, parse_selector("production"))
    bare = Selection(selector=full.selector, files=full.files)
    assert [r.batch for r in labels.actuals_for(store, model.name, bare)] == [early.batch]
    back = store.scan(model, full.selector, selection=bare).collect().sort("request_id")
    assert back["_label_source"].to_list() == ["actuals", "inline"]


def test_concurrent_ingests_of_both_kinds_link_their_rows(tmp_path) -> None:
    """An actuals and a predictions ingest running at once: whichever commits second sees
    the first (the commit lock), so the window's labels are always found."""
    store, model = _setup(tmp_path)
    for round_ in range(8):
        ids = list(range(round_ * 5, round_ * 5 + 5))
        actuals = _actuals(tmp_path, f"a{round_}", [(i, 1, 20) for i in ids])
        predictions = _predictions(tmp_path, f"p{round_}", ids, [round_] * 5, round_)
        with ThreadPoolExecutor(2) as pool:
            done = [pool.submit(ingest_actuals, Store.open(store.root), model, [actuals]),
                    pool.submit(ingest_predictions, Store.open(store.root), model,
                                [predictions], version="v1", env="production")]
            for job in done:
                job.result()
        store.refresh()
        selector = parse_selector(f"production@{(START + timedelta(days=round_)).date()}")
        back = store.scan(model, selector).collect()
        assert back["_label_source"].to_list() == ["actuals"] * 5
        assert back.sort(back.columns, nulls_last=True).equals(
            _by_id(_full_join(store, model, selector)))


def test_every_id_falls_in_one_bucket_null_included() -> None:
    """The passes split the ids, never drop or share one: each row is kept by exactly one
    bucket, and all rows of an id (a null id too) by the same one."""
    frame = pl.DataFrame({"id": ["a", "b", None, "c", "a", None, "d", "b"]})
    for passes in (1, 2, 3, 7):
        kept = [frame.filter(idpasses.in_bucket("id", b, passes)) for b in range(passes)]
        assert sum(k.height for k in kept) == frame.height
        buckets = [set(k["id"].to_list()) for k in kept]
        assert sum(len(b) for b in buckets) == len(set(frame["id"].to_list()))


def _file_ids(store: Store, entry) -> set[str]:
    return set(pl.read_parquet(store.root / entry.path)["request_id"].to_list())


def _brute_actuals_index(store: Store, model, ids: set[str]) -> dict:
    """What `index_actuals` must record, from Python sets over every stored file."""
    store.refresh()
    dates, matched = set(), set()
    for record in store.prediction_records(model.name):
        for entry in record.files:
            if hit := ids & _file_ids(store, entry):
                dates.add(entry.date)
                matched |= hit
    return {"format": 1, "prediction_dates": sorted(dates), "unmatched_ids": len(ids - matched)}


def _brute_predictions_index(store: Store, model, ids: set[str]) -> dict:
    store.refresh()
    return {"format": 1, "actuals": sorted(
        r.batch for r in store.actual_records(model.name)
        if any(ids & _file_ids(store, f) for f in r.files))}


@pytest.mark.parametrize("pass_rows", [labels.LABEL_PASS_ROWS, 5, 2])
def test_the_index_in_passes_is_the_brute_force_index(tmp_path, monkeypatch,
                                                      pass_rows: int) -> None:
    """The label index holds at most `LABEL_PASS_ROWS` ids a pass (hash buckets of the ids): in
    one pass, a few (5 ids a pass) and many (2), every ingest records the index that sets
    over every stored file give — actuals before and after their predictions, ids repeated
    in a batch, actuals that label nothing, null labels and timestamps, several batches."""
    monkeypatch.setattr(labels, "LABEL_PASS_ROWS", pass_rows)
    store, model = _setup(tmp_path)
    # (kind, ids, days of predictions or (label, hour or None) of actuals, target)
    steps = [
        ("actuals", [1, 2, 2, 3, 30, 31], None, None),  # before any prediction
        ("predict", list(range(12)), [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 0, 4], "v1"),
        ("predict", [5, 6, 7, 8, 9, 9, 10, 11, 12, 13, 14, 15, 16], [1] * 6 + [2] * 7, "v2 shadow"),
        ("actuals", [4, 4, 5, 10, 12, 15, 20, 27, 27, 31, 40], None, None),
        ("predict", list(range(17, 24)), [3] * 7, "v1"),  # 20 labelled above
        ("actuals", [0, 1, 1, 2, 3, 6, 9, 13, 17, 18, 19, 22, 23, 41, 42], None, None),
        ("predict", [24, 25, 26, 27, 28, 29, 30, 31], [4] * 8, "v2"),  # 27, 30, 31 above
        ("actuals", [24, 24, 25, 26, 26, 50], None, None),
    ]
    assert max(idpasses.id_passes(len(ids), pass_rows) for _, ids, _, _ in steps) == \
        {labels.LABEL_PASS_ROWS: 1, 5: 3, 2: 8}[pass_rows]
    for n, (kind, ids, days, target) in enumerate(steps):
        names = {f"i{i:02d}" for i in ids}
        if kind == "predict":
            expected = _brute_predictions_index(store, model, names)
            version, _, env = target.partition(" ")
            result = ingest_predictions(store, model, [_predictions(tmp_path, f"p{n}", ids,
                                                                    days, seed=n)],
                                        version=version, env=env or "production")
        else:
            expected = _brute_actuals_index(store, model, names)
            rows = [(i, k % 2 if k % 4 else None, None if k % 3 == 0 else 24 * (k % 5))
                    for k, i in enumerate(ids)]
            result = ingest_actuals(store, model, [_actuals(tmp_path, f"a{n}", rows)])
            assert result.unmatched_ids == expected["unmatched_ids"]
        store.refresh()
        record = next(r for r in store.records if r.batch == result.batch)
        assert record.extra["labels"] == expected, (n, kind)
    indexed = [r.extra["labels"] for r in store.records]
    assert any(i.get("actuals") for i in indexed)  # the links exist both ways
    assert any(i.get("prediction_dates") for i in indexed)
