"""Every next-step command evalctl prints runs on the store it was printed for (issue #12, 7).

The sample story's commands (as `sample_data/demo.sh` runs them) are run on a copy of the story
store; every command-looking hint in their recommendations is then run itself and must exit 0
or 1 — never 2 (bad input), 3 (store) or 4 (bug).
"""

from __future__ import annotations

import io
import re
import shlex
import shutil
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from tests.helpers import STORY_CONFIG, CliResult, make_frame

from evalctl.cli.app import run
from evalctl.lake.selectors import parse_selector

M = ["--model", "tv-recommender"]
STORY = [
    ["catalog"],
    ["doctor"],
    ["profiles", "build", *M],  # done already (the fixture fits as the demo does): hints --refit
    ["skew", *M, "--reference", "training", "--current", "production@2026-11-15..2026-11-30"],
    ["skew", *M, "--reference", "training:v2", "--current",
     "production:v1@2026-11-01..2026-11-07", "--join-key", "request_id"],
    ["drift", *M, "--reference", "training", "--current", "production@2026-11-01..2026-11-30",
     "--window", "1d"],
    ["slices", *M, "--selector", "production@2026-11-15..2026-11-30", "--top", "5",
     "--discover", "--compare-to", "production@2026-11-01..2026-11-14"],
    ["validate", *M, "--candidate", "v2", "--baseline", "v1", "--selector", "validation"],
    ["monitor", *M, "--date", "2026-11-10"],
    ["monitor", *M, "--date", "2026-11-30"],
    ["monitor", *M, "--date", "2026-12-10"],  # a window without rows
    ["history", *M, "--check", "drift"],
    ["compare", *M, "--champion", "v1", "--challenger", "v2", "--selector",
     "production@2026-11-17..2026-11-30"],
    ["rca", *M, "--baseline", "production@2026-11-01..2026-11-14", "--current",
     "production@2026-11-15..2026-11-25"],
    ["estimate", *M, "--reference", "validation", "--current",
     "production@2026-11-20..2026-11-30"],
    ["export", *M, "--selector", "production@2026-11-15..2026-11-25", "--segment",
     "age=[-inf,28)", "--only-errors", "--out", "young-errors.parquet"],
]
# `evalctl <command>` and the options / values that follow it, up to the prose around it
COMMAND = re.compile(r"evalctl\s+[a-z][a-z-]*(?:\s+(?:--?[a-z][\w-]*|'[^']*'|[^\s;()'`,—]+))*")


def story_command(name: str) -> list[str]:
    """The story's first run of `name`."""
    return next(args for args in STORY if args[0] == name)


def hints_in(text: str) -> list[str]:
    """The commands a recommendation names (a sentence's closing period is not part of one)."""
    return [m.group(0).rstrip(".") for m in COMMAND.finditer(text)]


def test_the_extractor_finds_commands_in_prose() -> None:
    text = ("age < 28: explains 72%. examples: evalctl export --model m --selector "
            "production@2026-11-15..2026-11-25 --segment 'age=[-inf,28)' --out a.parquet; "
            "evidence: evalctl drift --model m --reference training --current production.")
    assert hints_in(text) == [
        "evalctl export --model m --selector production@2026-11-15..2026-11-25 --segment "
        "'age=[-inf,28)' --out a.parquet",
        "evalctl drift --model m --reference training --current production"]


@pytest.fixture(scope="module")
def story_copy(story, tmp_path_factory: pytest.TempPathFactory):
    """A private copy of the story store (monitor writes history) and a runner in a scratch
    folder (export hints write files relative to it)."""
    root = tmp_path_factory.mktemp("hints")
    store = root / "store"
    shutil.copytree(story.store, store)
    base = ["--config", str(STORY_CONFIG), "--store", str(store)]

    def invoke(args: list[str]) -> CliResult:
        out, err = io.StringIO(), io.StringIO()
        code = run([*base, *args], stdout=out, stderr=err)
        return CliResult(code, out.getvalue(), err.getvalue())

    return invoke, root


def _in(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(folder)


def test_every_hint_of_the_story_runs(story_copy, monkeypatch: pytest.MonkeyPatch) -> None:
    invoke, root = story_copy
    _in(root, monkeypatch)
    hints: dict[str, str] = {}
    for args in STORY:
        result = invoke(args)
        assert result.code in (0, 1), (args, result.stderr)
        for text in result.json()["recommendations"]:
            for hint in hints_in(text):
                hints.setdefault(hint, " ".join(args[:1]))
    assert len(hints) >= 8, sorted(hints)
    commands = {shlex.split(h)[1] for h in hints}
    assert {"skew", "drift", "rca", "export", "slices", "profiles"} <= commands, commands
    failures = []
    for hint, source in hints.items():
        result = invoke(shlex.split(hint)[1:])
        if result.code not in (0, 1):
            failures.append(f"{source} printed {hint!r}: exit {result.code}: {result.stderr}")
    assert not failures, "\n".join(failures)


def test_skew_suggests_the_join_only_with_selectors_that_share_ids(story_copy) -> None:
    invoke, _ = story_copy
    doc = invoke(story_command("skew")).json()
    (join,) = [h for r in doc["recommendations"] for h in hints_in(r) if "--join-key" in h]
    # training (t- ids) shares no id with production; the recomputed training:v2 does
    assert "--reference training:v2" in join
    assert "--current production@2026-11-01..2026-11-07" in join
    assert any("share none" in r for r in doc["recommendations"])
    assert invoke(shlex.split(join)[1:]).code == 1  # the unit bug, found row by row


def test_rca_pipeline_hint_joins_on_shared_ids(story_copy) -> None:
    invoke, _ = story_copy
    doc = invoke(story_command("rca")).json()
    watch = next(r for r in doc["recommendations"] if r.startswith("watch_minutes_7d"))
    (join,) = [h for h in hints_in(watch) if "--join-key" in h]
    assert "--reference training:v2" in join
    assert "production@2026-11-15..2026-11-25" not in join


def test_no_join_hint_when_no_selection_shares_ids(cli, frame_file) -> None:
    shifted = make_frame(300, seed=2, prefix="p").with_columns(age=make_frame(300)["age"] * 3)
    cli("ingest", "--model", "churn", "--version", "v1", "--env", "training",
        str(frame_file(make_frame(300, prefix="t"), "t.parquet")))
    cli("ingest", "--model", "churn", "--version", "v1", "--env", "production",
        str(frame_file(shifted, "p.parquet")))
    result = cli("skew", "--model", "churn", "--reference", "training", "--current",
                 "production")
    doc = result.json()
    assert result.code == 1 and any(r["feature"] == "age" and r["status"] == "fail"
                                    for r in doc["results"])
    assert not any("--join-key" in r for r in doc["recommendations"])
    assert any("evalctl drift" in r for r in doc["recommendations"])


def test_join_hint_when_the_selections_share_ids(cli, frame_file) -> None:
    base = make_frame(300, prefix="r")
    cli("ingest", "--model", "churn", "--version", "v1", "--env", "training",
        str(frame_file(base, "t.parquet")))
    cli("ingest", "--model", "churn", "--version", "v1", "--env", "production",
        str(frame_file(base.with_columns(age=base["age"] * 3), "p.parquet")))
    doc = cli("skew", "--model", "churn", "--reference", "training", "--current",
              "production").json()
    (join,) = [h for r in doc["recommendations"] for h in hints_in(r) if "--join-key" in h]
    assert join == ("evalctl skew --model churn --reference training --current production "
                    "--join-key request_id")
    assert cli(*shlex.split(join)[1:]).code == 1


def test_a_join_that_finds_nothing_names_selectors_that_share_ids(story_copy) -> None:
    invoke, _ = story_copy
    result = invoke(["skew", *M, "--reference", "training", "--current",
                     "production@2026-11-15..2026-11-30", "--join-key", "request_id"])
    assert result.code == 2
    (line,) = result.stderr.strip().splitlines()
    assert "no id is in both selections (training and production@2026-11-15..2026-11-30)" in line
    assert ("training:v2 shares ids with production@2026-11-01..2026-11-07: evalctl skew "
            "--model tv-recommender --reference training:v2 --current "
            "production@2026-11-01..2026-11-07 --join-key request_id") in line


@pytest.mark.parametrize("case", ["concept_drift", "data_quality", "unlabelled"])
def test_every_rca_hint_runs_in_each_failure_mode(cli, frame_file, workdir, monkeypatch,
                                                  case: str) -> None:
    from datetime import datetime

    from tests.helpers import RCA_CHURN as CHURN
    from tests.helpers import write_window

    monkeypatch.chdir(workdir)
    cli("ingest", "--model", "churn", "--version", "v1", "--env", "training",
        str(frame_file(make_frame(2000, seed=9, prefix="t"), "t.parquet")))
    cli("ingest", "--model", "churn", "--version", "v1", "--env", "validation",
        str(frame_file(make_frame(2000, seed=8, prefix="v"), "v.parquet")))
    write_window(frame_file, cli, 4000, 1, datetime(2026, 11, 1), young=0.05)
    later = {"concept_drift": {"noise": 0.5}, "data_quality": {"noise": 0.5, "unit": 5.0},
             "unlabelled": {"young": 0.4, "labelled": False}}[case]
    write_window(frame_file, cli, 4000, 2, datetime(2026, 11, 5),
                 **{"young": 0.05, **later})  # type: ignore[arg-type]
    doc = cli(*CHURN).json()
    hints = [h for r in doc["recommendations"] for h in hints_in(r)]
    expected = {"concept_drift": "evalctl slices", "data_quality": "evalctl drift",
                "unlabelled": "evalctl estimate --model churn --reference validation"}[case]
    assert any(h.startswith(expected) for h in hints), doc["recommendations"]
    for hint in hints:
        result = cli(*shlex.split(hint)[1:])
        assert result.code in (0, 1), (hint, result.stderr)



def _hint_store(workdir: Path, cli, frame_file, reference: pl.DataFrame,
                current: pl.DataFrame) -> tuple[Any, Any]:
    """A store holding `reference` as training:v1 and `current` as production:v1; the open
    store and the churn model."""
    from evalctl.workspace import open_workspace

    for frame, env in ((reference, "training"), (current, "production")):
        result = cli("ingest", "--model", "churn", "--version", "v1", "--env", env,
                     str(frame_file(frame, f"{env}.parquet")))
        assert result.code == 0, result.stderr
    ws = open_workspace(workdir / "evalctl.yaml", workdir / "store")
    return ws.store, ws.model("churn")


def _shares(store: Any, model: Any, reference: str = "training",
            current: str = "production") -> bool:
    from evalctl.analyses.hints import shares_ids

    return shares_ids(store, model, parse_selector(reference), parse_selector(current),
                      "request_id")


def test_the_id_sample_reads_at_most_four_files_per_side(workdir, cli, frame_file,
                                                         monkeypatch) -> None:
    """Six daily files a side sharing every id: the hint fires, reading the key column of at
    most ID_FILES files (and ID_ROWS ids) of each side, however many the selections hold."""
    from evalctl.analyses import hints
    from evalctl.lake.store import Store

    base = make_frame(1200, days=6, prefix="r")
    store, model = _hint_store(workdir, cli, frame_file, base,
                               base.with_columns(age=base["age"] * 3))
    assert len(store.select("churn", parse_selector("training")).files) == 6
    read: list[int] = []
    scan = Store.scan

    def counted(self: Store, model: Any, selector: Any, **kwargs: Any) -> Any:
        read.append(len(kwargs["selection"].files))
        return scan(self, model, selector, **kwargs)

    monkeypatch.setattr(Store, "scan", counted)
    assert _shares(store, model)
    assert read == [hints.ID_FILES, hints.ID_FILES]


def test_the_sample_is_taken_on_the_dates_both_sides_hold(workdir, cli, frame_file) -> None:
    """Production recomputed for the last two of six training days: the first files of the
    training side hold none of its ids, those of the shared dates do: the hint fires."""
    base = make_frame(1200, days=6, prefix="r")
    late = base.filter(pl.col("ts") >= datetime(2026, 11, 5))
    store, model = _hint_store(workdir, cli, frame_file, base, late)
    assert _shares(store, model)
    assert _shares(store, model, "production", "training")


def test_no_hint_when_the_ids_differ_or_fall_outside_the_sample(workdir, cli,
                                                                frame_file) -> None:
    """The ids of training's last days stamped on its first days: shared, but not in the
    files of the dates both sides hold (the sample's bound: the hint says nothing rather
    than read every file). Other ids: nothing is shared, and no selector is suggested."""
    from evalctl.analyses.hints import joinable_selectors

    base = make_frame(1200, days=6, prefix="r")
    moved = base.filter(pl.col("ts") >= datetime(2026, 11, 5)).with_columns(
        pl.col("ts") - timedelta(days=4))
    store, model = _hint_store(workdir, cli, frame_file, base, moved)
    assert not _shares(store, model)
    cli("ingest", "--model", "churn", "--version", "v2", "--env", "production",
        str(frame_file(make_frame(400, days=2, prefix="p"), "other.parquet")))
    store.refresh()
    assert not _shares(store, model, "training", "production:v2")
    assert joinable_selectors(store, model, parse_selector("training"),
                              parse_selector("production:v2")) is None
