"""The sample story as `make demo` tells it (issue #16): its skew, drift and monitor are served
by profiles. The commands are read from `sample_data/demo.sh` itself, so a demo that stops
fitting the reference before its production ingests fails here; they run through the CLI on
the story scaled down (as the `story` fixture builds it)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from tests.helpers import STORY_CONFIG, CliResult, demo_commands, run_cli, write_story_data

RUN = {"ingest", "ingest-actuals", "profiles", "skew", "drift", "monitor"}


@dataclass(frozen=True)
class Demo:
    base: list[str]  # the global options naming the config and the store
    ran: list[tuple[list[str], CliResult]]  # each command run, with -f json


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    data = tmp_path_factory.mktemp("demo_data")
    write_story_data(data)
    store = tmp_path_factory.mktemp("demo") / "store"
    assert run_cli("init", str(store), "--no-config").code == 0
    base = ["--config", str(STORY_CONFIG), "--store", str(store)]
    return Demo(base, [(args, run_cli(*base, *args, "-f", "json"))
                       for args in demo_commands(data, RUN)])


def test_the_demo_fits_the_reference_once_its_data_is_in(demo: Demo) -> None:
    names = [" ".join(args[:2]) if args[0] == "profiles" else args[0] for args, _ in demo.ran]
    assert names.count("profiles build") == 1
    build = names.index("profiles build")
    envs = [args[args.index("--env") + 1] for args, _ in demo.ran if args[0] == "ingest"]
    assert envs[:2] == ["training", "training"]  # everything `reference: training` matches
    assert names[:build] == ["ingest", "ingest"]
    for args, result in demo.ran[:names.index("skew")]:
        assert result.code == 0, (args, result.stderr)
    fitted = demo.ran[build][1].json()["results"][0]
    assert fitted["selector"] == "training" and fitted["batches"] == 2


def test_skew_drift_and_monitor_are_served_by_profiles(demo: Demo) -> None:
    reports = [(args, result) for args, result in demo.ran
               if args[0] in ("skew", "drift", "monitor")]
    assert [args[0] for args, _ in reports] == ["skew", "skew", "drift", "monitor"]
    for args, result in reports:
        assert result.code in (0, 1), (args, result.stderr)
        inputs = result.json()["inputs"]
        if "--join-key" in args:  # compares rows id by id: only a scan has them
            assert (inputs["engine"], inputs["engine_reason"]) == \
                ("scan", "--join-key compares rows")
        else:
            assert inputs["engine"] == "profiles", (args, inputs["engine_reason"])
            assert inputs["engine_reason"].startswith(
                "drift: profiles on reference " if args[0] == "monitor" else
                "profiles on reference ")


@pytest.mark.parametrize("command", ["skew", "drift"])
def test_what_profiles_serve_is_what_the_scan_finds(demo: Demo, command: str) -> None:
    """The demo's findings do not depend on the engine (the full equality of the two paths
    is tested on every measure in test_profiles)."""
    args, served = next((a, r) for a, r in demo.ran if a[0] == command)
    scanned = run_cli(*demo.base, *args, "--engine", "scan", "-f", "json")
    assert scanned.code == served.code
    assert scanned.json()["inputs"]["engine"] == "scan"
    for ours, theirs in zip(served.json()["results"], scanned.json()["results"], strict=True):
        assert ours["feature"] == theirs["feature"] and ours["status"] == theirs["status"]
        for key, value in ours.items():
            if isinstance(value, float):
                assert value == pytest.approx(theirs[key], rel=1e-9, abs=1e-12), key
