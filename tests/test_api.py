"""The library without the CLI: `evalctl.open()` and its Workspace, the clock, the errors.

Every entry point runs on the sample story and must give the same JSON as the CLI command
(both with the same fixed clock, so even `generated_at` agrees)."""

from __future__ import annotations

import io
import json
import math
import shutil
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import yaml
from tests.helpers import CONFIG, STORY_CONFIG, make_frame, store_snapshot

import evalctl
from evalctl import api
from evalctl.cli.app import run
from evalctl.lake.layout import RESULTS
from evalctl.settings.load import load_config

M = "tv-recommender"
NOON = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
CLOCK = evalctl.fixed_clock(NOON)
BEFORE = "production@2026-11-01..2026-11-14"
AFTER = "production@2026-11-15..2026-11-25"


def cli_json(store: Path, *args: str, config: Path = STORY_CONFIG,
             clock: evalctl.Clock = CLOCK) -> tuple[int, dict[str, Any]]:
    out, err = io.StringIO(), io.StringIO()
    code = run(["--config", str(config), "--store", str(store), *args, "-f", "json"],
               stdout=out, stderr=err, clock=clock)
    assert code in (0, 1), err.getvalue()
    return code, json.loads(out.getvalue())


def as_json(report: evalctl.Report) -> dict[str, Any]:
    """The report exactly as the CLI prints it."""
    return json.loads(json.dumps(report.to_dict(), allow_nan=False))


def same(mine: Any, theirs: Any, where: str = "report") -> None:
    """Equal JSON, floats within 1e-9 (relative): polars' parallel sums may differ in the
    last bits between two runs of the same query."""
    if isinstance(mine, float) or isinstance(theirs, float):
        assert isinstance(theirs, int | float) and isinstance(mine, int | float), where
        assert math.isclose(mine, theirs, rel_tol=1e-9, abs_tol=1e-12), where
    elif isinstance(mine, dict):
        assert isinstance(theirs, dict) and mine.keys() == theirs.keys(), where
        for key in mine:
            same(mine[key], theirs[key], f"{where}.{key}")
    elif isinstance(mine, list):
        assert isinstance(theirs, list) and len(mine) == len(theirs), where
        for i, (a, b) in enumerate(zip(mine, theirs, strict=True)):
            same(a, b, f"{where}[{i}]")
    else:
        assert mine == theirs, where


@pytest.fixture
def ws(story) -> evalctl.Workspace:
    return evalctl.open(STORY_CONFIG, store=story.store, clock=CLOCK)


@pytest.fixture
def story_copy(story, tmp_path: Path) -> Path:
    """A private copy of the story's store, for entry points that write."""
    root = tmp_path / "store"
    shutil.copytree(story.store, root)
    return root


def test_import_evalctl_exposes_the_documented_api() -> None:
    for name in ("open", "Workspace", "Report", "MonitorOutcome", "Clock", "fixed_clock",
                 "InputError", "StoreError", "ConfigError", "SelectorError", "Selector",
                 "Store", "parse_selector", "__version__"):
        assert hasattr(evalctl, name), name
    assert set(evalctl.__all__) <= set(dir(evalctl))
    assert not hasattr(api, "open_store")  # dead code, removed


READING = [
    ("skew", dict(model=M, current=AFTER, reference="training:v1"),
     ["skew", "-m", M, "--current", AFTER, "--reference", "training:v1"]),
    ("skew", dict(model=M, current="validation:v2", reference="validation:v1",
                  join_key="request_id"),
     ["skew", "-m", M, "-C", "validation:v2", "-r", "validation:v1", "--join-key",
      "request_id"]),
    ("drift", dict(model=M, current="production@2026-11-01..2026-11-30", window="7d"),
     ["drift", "-m", M, "--current", "production@2026-11-01..2026-11-30", "--window", "7d"]),
    ("slices", dict(model=M, selector=AFTER, compare_to=BEFORE, top=3, min_size=50),
     ["slices", "-m", M, "-S", AFTER, "--compare-to", BEFORE, "--top", "3",
      "--min-size", "50"]),
    ("validate", dict(model=M, candidate="v2", baseline="v1"),
     ["validate", "-m", M, "--candidate", "v2", "--baseline", "v1"]),
    ("compare", dict(model=M, selector="production@2026-11-01..2026-11-25", champion="v1",
                     challengers=["v2"], n_boot=20, seed=3),
     ["compare", "-m", M, "-S", "production@2026-11-01..2026-11-25", "--champion", "v1",
      "--challenger", "v2", "--n-boot", "20", "--seed", "3"]),
    ("rca", dict(model=M, baseline=BEFORE, current=AFTER, top=3),
     ["rca", "-m", M, "--baseline", BEFORE, "--current", AFTER, "--top", "3"]),
    ("estimate", dict(model=M, current="production@2026-11-20..2026-11-30", window="7d"),
     ["estimate", "-m", M, "-C", "production@2026-11-20..2026-11-30", "--window", "7d"]),
    ("report", dict(model=M, current=AFTER, window="7d"),
     ["report", "-m", M, "--current", AFTER, "--window", "7d"]),
    ("catalog", dict(model=M), ["catalog", "-m", M]),
    ("batches", dict(), ["batches"]),
    ("files", dict(model=M, selector="training:v1"), ["files", "-m", M, "-S", "training:v1"]),
    ("files", dict(model=M, actuals=True), ["files", "-m", M, "--actuals"]),
    ("doctor", dict(), ["doctor"]),
]


@pytest.mark.parametrize(("method", "kwargs", "args"), READING,
                         ids=[f"{m}-{i}" for i, (m, _, _) in enumerate(READING)])
def test_each_entry_point_equals_the_cli_json(ws, story, method, kwargs, args) -> None:
    report = getattr(ws, method)(**kwargs)
    assert isinstance(report, evalctl.Report) and report.command == args[0]
    _, doc = cli_json(story.store, *args)
    same(as_json(report), doc)
    assert doc["generated_at"] == "2026-11-30T12:00:00Z"  # stamped by the clock


def test_writing_entry_points_equal_the_cli_json(story, tmp_path: Path) -> None:
    """ingest, ingest-actuals, batches remove, gc and erase on two copies of a small store:
    the library's and the CLI's answers and the resulting ledgers are the same."""
    data = tmp_path / "data"
    data.mkdir()
    (tmp_path / "evalctl.yaml").write_text(CONFIG)
    config = tmp_path / "evalctl.yaml"
    frame = make_frame(120)
    frame.write_parquet(data / "p.parquet")
    frame.select("request_id", "label").write_csv(data / "a.csv")
    (data / "ids.txt").write_text("r00001\nr00002\n")
    stores = [tmp_path / "lib", tmp_path / "cli"]
    for root in stores:
        evalctl.Store.init(root)
    lib = evalctl.open(config, store=stores[0], clock=CLOCK)
    steps = [
        (lambda: lib.ingest("churn", [data / "p.parquet"], version="v1", env="production"),
         ["ingest", str(data / "p.parquet"), "-m", "churn", "-v", "v1", "-e", "production"]),
        (lambda: lib.ingest_actuals("churn", [data / "a.csv"]),
         ["ingest-actuals", str(data / "a.csv"), "-m", "churn"]),
        (lambda: lib.erase("churn", data / "ids.txt", dry_run=True),
         ["erase", "-m", "churn", "--ids", str(data / "ids.txt"), "--dry-run"]),
        (lambda: lib.gc("30d", dry_run=True), ["gc", "--older-than", "30d", "--dry-run"]),
    ]

    def cli_on_the_other_store(*args: str) -> dict[str, Any]:
        _, doc = cli_json(stores[1], *args, config=config)
        return json.loads(json.dumps(doc).replace(str(stores[1]), str(stores[0])))

    for call, args in steps:
        same(as_json(call()), cli_on_the_other_store(*args), args[0])
    batch = lib.batches().results[0]["batch"]
    removed = [as_json(lib.remove([batch])), cli_on_the_other_store("batches", "remove", batch)]
    stamps = [doc["summary"].pop("tombstone") for doc in removed]  # time-random
    assert all(stamp.startswith("20261130T1200") for stamp in stamps)  # the clock's time
    same(removed[0], removed[1])
    same(as_json(lib.batches()), cli_on_the_other_store("batches"))


def test_export_equals_the_cli(ws, story, tmp_path: Path) -> None:
    mine, theirs = tmp_path / "lib.parquet", tmp_path / "cli.parquet"
    report = ws.export(M, AFTER, mine, where="age < 30", sample=200, seed=1)
    _, doc = cli_json(story.store, "export", "-m", M, "-S", AFTER, "--out", str(theirs),
                      "--where", "age < 30", "--sample", "200", "--seed", "1")
    same(as_json(report), json.loads(json.dumps(doc).replace(str(theirs), str(mine))))
    assert report.summary and pl.read_parquet(mine).equals(pl.read_parquet(theirs))


def test_the_ledger_is_stamped_by_the_clock(tmp_path: Path) -> None:
    (tmp_path / "evalctl.yaml").write_text(CONFIG)
    make_frame(50).write_parquet(tmp_path / "p.parquet")
    evalctl.Store.init(tmp_path / "store")
    ws = evalctl.open(tmp_path / "evalctl.yaml", clock=evalctl.fixed_clock("2026-01-02T03:04:05Z"))
    ws.ingest("churn", [tmp_path / "p.parquet"], version="v1", env="training")
    assert ws.batches().to_dict()["results"][0]["created_at"] == "2026-01-02T03:04:05Z"


def test_monitor_returns_a_typed_outcome_equal_to_the_cli(story, tmp_path: Path) -> None:
    """No day given: the window is the day before the clock's date, freshness is measured
    against the clock, and the CLI with the same clock writes the same report."""
    roots = [tmp_path / "lib", tmp_path / "cli"]
    for root in roots:  # without the monitor results other tests may have left in the story
        shutil.copytree(story.store, root, ignore=lambda folder, names: (
            [RESULTS] if Path(folder) == story.store else []))
    clock = evalctl.fixed_clock("2026-12-01T06:00:00+00:00")
    outcome = evalctl.open(STORY_CONFIG, store=roots[0], clock=clock).monitor(M)
    assert isinstance(outcome, evalctl.MonitorOutcome)
    assert isinstance(outcome.report, evalctl.Report) and isinstance(outcome.alerts, list)
    assert outcome.report.inputs["windows"] == {M: "2026-11-30"}
    assert outcome.report.to_dict()["inputs"]["run_at"] == "2026-12-01T06:00:00Z"
    assert {a["window"] for a in outcome.alerts} == {"2026-11-30"} and outcome.alerts
    code, doc = cli_json(roots[1], "monitor", "-m", M, clock=clock)
    assert code == 1
    same(as_json(outcome.report), doc)
    # the history both wrote is the same
    history = [as_json(evalctl.open(STORY_CONFIG, store=r, clock=clock).history(M))
               for r in roots]
    same(history[0], history[1])
    assert history[0]["results"]


def test_monitor_freshness_reads_the_clock(story_copy: Path) -> None:
    """Judging today's window, the lag is measured up to the clock's time (the story's
    newest prediction is 2026-11-30 23:58)."""
    def freshness(moment: str) -> dict[str, Any]:
        ws = evalctl.open(STORY_CONFIG, store=story_copy, clock=evalctl.fixed_clock(moment))
        rows = ws.monitor(M, day=date(2026, 12, 5)).report.results
        return next(r for r in rows if r["check"] == "freshness")

    noon, evening = freshness("2026-12-05T12:00:00Z"), freshness("2026-12-05T18:00:00Z")
    assert math.isclose(evening["value"] - noon["value"], 6.0)
    assert noon["value"] > 4 * 24 and noon["status"] == "fail"


def test_last_nd_counts_back_from_the_clock(ws, story) -> None:
    week = ws.selector("production@last-7d")
    assert (week.start, week.end) == (date(2026, 11, 24), date(2026, 11, 30))
    assert ws.selector("production@last-7d", as_of=date(2026, 11, 10)).end == date(2026, 11, 10)
    by_clock = ws.skew(M, current="production@last-7d")
    explicit = ws.skew(M, current="production@2026-11-24..2026-11-30")
    assert by_clock.inputs["current"]["rows"] == explicit.inputs["current"]["rows"] > 0
    assert by_clock.results == explicit.results
    _, doc = cli_json(story.store, "skew", "-m", M, "--current", "production@last-7d")
    assert doc["inputs"]["current"]["rows"] == explicit.inputs["current"]["rows"]
    # another day, another window: the clock is really read
    later = evalctl.open(STORY_CONFIG, store=story.store,
                         clock=evalctl.fixed_clock(date(2026, 11, 20)))
    assert later.selector("production@last-7d").end == date(2026, 11, 20)


def test_feature_kinds_given_as_a_list_are_resolved_inside(story, tmp_path: Path) -> None:
    """The issue's example: a config listing features without kinds works through the
    library, with no `store.resolve_model` call by the caller."""
    raw = yaml.safe_load(STORY_CONFIG.read_text())
    raw["store"] = str(story.store)
    raw["models"][M]["features"] = list(raw["models"][M]["features"])
    path = tmp_path / "evalctl.yaml"
    path.write_text(yaml.safe_dump(raw))
    model = load_config(path).model(M)
    assert set(model.features.values()) == {"auto"}
    store = evalctl.Store.open(story.store)
    low = api.skew(store, model, evalctl.parse_selector("training:v1"),
                   evalctl.parse_selector(AFTER))
    declared = evalctl.open(STORY_CONFIG, store=story.store, clock=CLOCK)
    assert {r["feature"]: r["kind"] for r in low.results} == {
        r["feature"]: r["kind"] for r in declared.skew(M, AFTER, "training:v1").results}
    ws = evalctl.open(path, clock=CLOCK)  # the store comes from the config
    assert ws.model(M).features == declared.model(M).features
    assert ws.slices(M, AFTER, top=0).status == declared.slices(M, AFTER, top=0).status


def test_models_and_selectors_may_be_objects(ws) -> None:
    model = ws.model(M)
    by_object = ws.drift(model, evalctl.parse_selector(AFTER),
                         evalctl.parse_selector("training:v1"), window="7d")
    by_name = ws.drift(M, AFTER, "training:v1", window="7d")
    same(as_json(by_object), as_json(by_name))


def test_slices_options_are_explicit_and_fall_back_to_the_config(story, tmp_path: Path) -> None:
    """An option left None takes checks.slices from the config; a given one wins."""
    raw = yaml.safe_load(STORY_CONFIG.read_text())
    raw["models"][M]["checks"] = {"slices": {"min_size": 100_000}}
    path = tmp_path / "evalctl.yaml"
    path.write_text(yaml.safe_dump(raw))
    ws = evalctl.open(path, store=story.store, clock=CLOCK)
    with pytest.raises(TypeError):
        ws.slices(M, AFTER, no_such_option=1)  # type: ignore[call-arg]

    def unjudged(report: evalctl.Report) -> int:
        return sum("not judged" in (r["reason"] or "") for r in report.results)

    from_config = ws.slices(M, AFTER, top=0)
    segments = [r for r in from_config.results if r["slice"] != "overall"]
    assert segments and unjudged(from_config) == len(segments)
    given = ws.slices(M, AFTER, top=0, min_size=1)
    assert unjudged(given) == 0


def test_open_finds_the_config_and_store_like_the_cli(story, tmp_path: Path,
                                                       monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("EVALCTL_CONFIG", raising=False)
    monkeypatch.setenv("EVALCTL_STORE", str(story.store))
    (tmp_path / "configs").mkdir()
    shutil.copy(STORY_CONFIG, tmp_path / "configs" / "evalctl.yaml")
    ws = evalctl.open()
    assert ws.store.root == story.store and ws.config.path == Path("configs/evalctl.yaml")
    assert ws.catalog(M).summary["rows"] > 0
    monkeypatch.delenv("EVALCTL_STORE")
    with pytest.raises(evalctl.InputError, match="not an evalctl store"):
        evalctl.open()  # the story config's store (../demo_store) does not exist here
    ws = evalctl.open(load_config(STORY_CONFIG), store=evalctl.Store.open(story.store))
    assert ws.model(M).name == M


def test_errors_are_raised_as_the_documented_classes(ws, story, tmp_path: Path,
                                                     monkeypatch) -> None:
    with pytest.raises(evalctl.ConfigError, match="unknown model 'nope'"):
        ws.skew("nope", AFTER)
    with pytest.raises(evalctl.SelectorError, match="unknown env"):
        ws.skew(M, "prod@last-7d")
    with pytest.raises(evalctl.SelectorError):
        ws.skew(M, "production@2020-01-01..2020-01-07")  # an empty selection
    with pytest.raises(evalctl.InputError, match="--seed"):
        ws.compare(M, AFTER, champion="v1", challengers=["v2"], seed=-1)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("EVALCTL_STORE", raising=False)
    monkeypatch.delenv("EVALCTL_CONFIG", raising=False)
    with pytest.raises(evalctl.InputError, match="no store given"):
        evalctl.open()
    bare = evalctl.open(store=story.store)  # a store without a config
    assert bare.catalog().summary["models"] == 1
    with pytest.raises(evalctl.InputError, match="no config found"):
        bare.skew(M, AFTER)
    with pytest.raises(evalctl.InputError, match="clock"):
        evalctl.fixed_clock("yesterday")
    broken = evalctl.open(STORY_CONFIG, store=story.store,
                          clock=lambda: "today")  # type: ignore[arg-type,return-value]
    with pytest.raises(evalctl.InputError, match="clock: expected a datetime"):
        broken.skew(M, "production@last-7d")


def test_a_failed_ingest_through_the_library_leaves_the_store_unchanged(story_copy: Path,
                                                                        tmp_path: Path) -> None:
    ws = evalctl.open(STORY_CONFIG, store=story_copy, clock=CLOCK)
    bad = tmp_path / "bad.csv"
    bad.write_text("request_id,ts\nx,2026-11-01T00:00:00\n")
    before = store_snapshot(story_copy)
    with pytest.raises(evalctl.InputError):
        ws.ingest(M, [bad], version="v9", env="production")
    assert store_snapshot(story_copy) == before


def test_fixed_clock_accepts_dates_strings_and_naive_times() -> None:
    expected = datetime(2026, 11, 30, tzinfo=UTC)
    assert evalctl.fixed_clock(date(2026, 11, 30))() == expected
    assert evalctl.fixed_clock("2026-11-30")() == expected
    assert evalctl.fixed_clock(datetime(2026, 11, 30))() == expected
    assert evalctl.fixed_clock("2026-11-30T02:00:00+02:00")() == expected
    assert evalctl.system_clock().tzinfo is UTC
