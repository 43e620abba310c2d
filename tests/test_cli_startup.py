"""Start-up and exit of the `evalctl` process (README "Performance", start-up): the garbage
collector is paused while evalctl loads, the process ends without the interpreter's teardown
(`exit_now`), and none of that may change what a user sees: exit codes, output flushed to a
pipe or a file, atexit handlers and other threads finished. SIGINT / SIGTERM (130 / 143) go
through the same entry point: tests/test_cli_signals.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from tests.helpers import make_frame


def _python(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVALCTL_")}
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, text=True,
                          capture_output=True, timeout=120)


def _evalctl(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return _python("-m", "evalctl", *args, cwd=cwd)


@pytest.fixture
def skewed(cli, frame_file, workdir: Path) -> Path:
    """A store whose production `minutes` moved far from training's: skew exits 1."""
    cli("ingest", "--model", "churn", "--version", "v1", "--env", "training",
        str(frame_file(make_frame(400, seed=1, prefix="t"), "t.parquet")))
    production = make_frame(400, seed=2, prefix="p").with_columns(pl.col("minutes") * 5)
    cli("ingest", "--model", "churn", "--version", "v1", "--env", "production",
        str(frame_file(production, "p.parquet")))
    return workdir


def test_exit_codes_and_output_through_the_entry_point(skewed: Path) -> None:
    """A pipe is block-buffered: output smaller than the buffer reaches the reader only
    through the flush before the process ends."""
    version = _evalctl(skewed, "--version")
    assert (version.returncode, version.stdout, version.stderr) == (0, "evalctl 0.1.0\n", "")
    bad = _evalctl(skewed, "skew", "--bogus")
    assert bad.returncode == 2
    assert bad.stderr.splitlines() == ["evalctl: error: No such option: --bogus (see "
                                       "`evalctl skew --help`)"]
    assert json.loads(bad.stdout)["error"]["kind"] == "usage"
    skew = ["skew", "--model", "churn", "--current", "production"]
    piped = _evalctl(skewed, *skew, "--format", "json")
    assert piped.returncode == 1, piped.stderr
    report = json.loads(piped.stdout)
    assert report["status"] == "fail" and report["command"] == "skew"
    written = _evalctl(skewed, *skew, "--format", "json", "--output", "skew.json")
    assert (written.returncode, written.stdout) == (1, "")
    again = json.loads((skewed / "skew.json").read_text())
    assert again["results"] == report["results"]
    table = _evalctl(skewed, *skew, "--format", "table")
    assert table.returncode == 1 and "minutes" in table.stdout


def test_exit_now_runs_atexit_joins_threads_and_flushes(tmp_path: Path) -> None:
    code = f"""
import atexit, sys, tempfile, threading, time
from pathlib import Path
atexit.register(print, "registered before evalctl loaded")  # as a sitecustomize's would be
from evalctl.cli.app import exit_now
kept = tempfile.TemporaryDirectory(dir={str(tmp_path)!r})  # removed by a finalizer at exit
Path(kept.name, "x").write_text("x")
atexit.register(print, "atexit ran")
def late():
    time.sleep(0.3)
    Path({str(tmp_path)!r}, "thread.txt").write_text("done")
threading.Thread(target=late).start()
sys.stdout.write("buffered ")
sys.stderr.write("to stderr")
exit_now(3)
print("not reached")
"""
    proc = _python("-c", code)
    assert proc.returncode == 3
    assert proc.stdout == "buffered atexit ran\nregistered before evalctl loaded\n"
    assert proc.stderr == "to stderr"
    assert (tmp_path / "thread.txt").read_text() == "done"
    assert [p.name for p in tmp_path.iterdir()] == ["thread.txt"]  # the temporary folder went


def test_importing_evalctl_leaves_the_garbage_collector_as_it_was() -> None:
    code = ("import gc, sys; on = sys.argv[1] == 'on'; on or gc.disable(); import evalctl; "
            "print(gc.isenabled(), gc.get_freeze_count() == 0)")
    assert _python("-c", code, "on").stdout.split() == ["True", "True"]
    assert _python("-c", code, "off").stdout.split() == ["False", "True"]


COLLECTIONS = """
import atexit, gc, sys
seen = []
gc.callbacks.append(lambda phase, info: phase == "start" and seen.append(
    ("evalctl._loading" in sys.modules, gc.get_freeze_count() > 0)))
atexit.register(lambda: print("GC", sum(loaded and not frozen for loaded, frozen in seen),
                              gc.isenabled(), file=sys.stderr))
"""


def test_the_command_collects_nothing_its_imports_made(tmp_path: Path) -> None:
    """The command keeps the collector paused until its entry point has frozen what the
    imports made (a collection before would traverse all of it: `evalctl._loading`), then
    turns it back on. A `sitecustomize` counts collections from the pause on (`_loading`
    loaded) while nothing is frozen."""
    (tmp_path / "sitecustomize.py").write_text(COLLECTIONS)
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVALCTL_")}
    done = subprocess.run([sys.executable, "-m", "evalctl", "--version"], cwd=tmp_path,
                          env=env | {"PYTHONPATH": str(tmp_path)}, text=True,
                          capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert [line for line in done.stderr.splitlines() if line.startswith("GC ")] == [
        "GC 0 True"]


def test_a_failed_import_of_evalctl_turns_the_garbage_collector_back_on() -> None:
    code = ("import gc, sys; sys.modules['polars'] = None\n"
            "try:\n    import evalctl\nexcept ImportError:\n    print(gc.isenabled())")
    assert _python("-c", code).stdout.split() == ["True"]


# ---------------------------------------------------------------- commands load on use


@pytest.fixture
def profiled(skewed: Path, cli) -> Path:
    """`skewed` with a monitoring reference (training) and every file profiled on it."""
    config = skewed / "evalctl.yaml"
    config.write_text(config.read_text().replace("    features:\n", "    reference: training\n"
                                                 "    features:\n", 1))
    assert cli("profiles", "build", "--model", "churn").code == 0
    return skewed


LOADED = """
import json, sys
from evalctl.cli.app import run
code = run(sys.argv[1:])
print(json.dumps([code, sorted(sys.modules)]))
"""


def _loaded(cwd: Path, *args: str) -> tuple[int, set[str], str]:
    """Run a command in a fresh process: its exit code, every module it loaded, its stderr."""
    proc = _python("-c", LOADED, *args, cwd=cwd)
    code, loaded = json.loads(proc.stdout.splitlines()[-1])
    return code, set(loaded), proc.stderr


def test_a_command_loads_only_its_own_module(profiled: Path) -> None:
    """A profile-served drift loads no other command's module, analysis or renderer, nor the
    metrics package or the store's ingest, doctor and erase."""
    code, loaded, stderr = _loaded(profiled, "drift", "--model", "churn", "--current",
                                   "production", "--window", "1d", "--engine", "profiles",
                                   "--format", "json", "--output", "drift.json")
    assert code == 1, stderr
    commands = {m.rsplit(".", 1)[1] for m in loaded if m.startswith("evalctl.cli.commands.")}
    assert commands == {"skew_drift"}
    assert not {"evalctl.analyses.estimate", "evalctl.analyses.rca", "evalctl.render.html",
                "evalctl.analyses.slices", "evalctl.analyses.compare", "evalctl.metrics",
                "evalctl.lake.ingest", "evalctl.lake.doctor", "evalctl.lake.erase"} & loaded


def test_monitor_loads_webhook_delivery_only_to_call_a_webhook(profiled: Path) -> None:
    """Without `alerts:` nothing is delivered, so urllib, http.client and ssl (~9 ms) stay
    unloaded; the delivery itself: tests/test_alerts*.py."""
    code, loaded, stderr = _loaded(profiled, "monitor", "--model", "churn", "--format",
                                   "json", "--output", "monitor.json")
    assert code in (0, 1), stderr
    assert "evalctl.alerts.notify" in loaded
    assert not {"evalctl.alerts.deliver", "urllib.request", "http.client", "ssl"} & loaded


def test_the_config_is_parsed_by_libyaml() -> None:
    """Every command parses the config: libyaml's parser takes ~0.3 ms where PyYAML's own
    takes 2-3 ms (the strict checks on top: tests/test_config.py)."""
    import yaml

    from evalctl.config_yaml import _StrictLoader

    assert yaml.__with_libyaml__
    assert issubclass(_StrictLoader, yaml.CSafeLoader)


def test_help_lists_every_command_with_its_help(cli) -> None:
    from evalctl.cli.commands import MODULES

    text = cli("--help").stdout
    rows = text[text.index("Commands:"):].splitlines()[1:]
    listed = [row.split(None, 1) for row in rows if row.startswith("  ") and row.split()]
    assert [name for name, _ in listed] == list(MODULES)
    for name, help_text in listed:
        first = cli(name, "--help").stdout
        assert help_text.rstrip(".").rstrip() and help_text[:20] in " ".join(first.split()), name


def test_every_registered_command_is_in_the_table_of_modules() -> None:
    """A command a module registers but `MODULES` does not name could never be run."""
    import typer

    from evalctl.cli import commands
    from evalctl.cli.commands import MODULES

    folder = Path(commands.__file__).parent
    found: dict[str, str] = {}
    for path in sorted(folder.glob("*.py")):
        if path.stem == "__init__":
            continue
        module = __import__(f"evalctl.cli.commands.{path.stem}", fromlist=["register"])
        family = typer.Typer()
        module.register(family)
        names = [c.name for c in family.registered_commands] + \
            [g.name for g in family.registered_groups]
        found |= dict.fromkeys(names, path.stem)
    assert found == MODULES
