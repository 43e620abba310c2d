"""CLI contract: formats, --output, JSON schema of every command, help, entry point."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from tests.helpers import commands, make_frame
from tests.helpers import validate_envelope as validate

INGEST = ["ingest", "--model", "churn", "--version", "v1", "--env", "production"]


@pytest.fixture
def filled(cli, frame_file):
    assert cli(*INGEST, str(frame_file(make_frame(300), "p.parquet"))).code == 0
    return cli


STORE_COMMANDS = [["catalog"], ["catalog", "--model", "churn"], ["batches"], ["doctor"]]


@pytest.mark.parametrize("args", STORE_COMMANDS)
def test_every_store_command_emits_schema_valid_json(filled, args) -> None:
    result = filled(*args, "--format", "json")
    assert result.code == 0, result.stderr
    doc = result.json()
    validate(doc)
    assert doc["command"] == args[0]


def test_ingest_json_and_message_on_stderr(cli, frame_file) -> None:
    path = frame_file(make_frame(50), "p.parquet")
    first = cli(*INGEST, str(path))
    validate(first.json())
    assert "ingested 50 rows into 4 partition(s)" in first.stderr
    again = cli(*INGEST, str(path))
    assert again.code == 0 and "already ingested" in again.stderr
    assert again.json()["results"][0]["already_ingested"] is True


def test_json_is_the_default_when_not_a_terminal(filled) -> None:
    assert filled("catalog").json()["summary"]["rows"] == 300


def test_table_and_markdown(filled) -> None:
    table = filled("catalog", "--format", "table")
    assert "production" in table.stdout and "300" in table.stdout
    assert "\x1b[" not in table.stdout  # no ANSI when not a terminal
    md = filled("catalog", "--format", "markdown").stdout
    assert md.startswith("### evalctl catalog")
    assert "| churn | v1 | production | 2026-11-01 | 2026-11-04 | 4 | 300 | 1 |" in md


def test_output_file(filled, workdir) -> None:
    result = filled("catalog", "--output", "out/cat.json")
    assert result.stdout == "" and result.code == 0
    validate(json.loads((workdir / "out" / "cat.json").read_text()))
    filled("catalog", "--output", "cat.md")
    assert (workdir / "cat.md").read_text().startswith("### evalctl catalog")


def test_bad_format_is_exit_2(filled) -> None:
    result = filled("catalog", "--format", "xml")
    assert result.code == 2 and "--format: expected one of" in result.stderr


def test_fail_on_controls_the_exit_code(filled, workdir) -> None:
    (workdir / "store" / "predictions" / "stray.parquet").write_bytes(b"x")
    assert filled("doctor").code == 0  # an orphan is a warning
    assert filled("doctor", "--fail-on", "warn").code == 1
    assert filled("doctor", "--fail-on", "never").code == 0


def test_internal_errors_are_exit_4_with_one_line(filled, monkeypatch) -> None:
    import evalctl.api as api

    def boom(*_a, **_k):
        raise ZeroDivisionError("oops")

    monkeypatch.setattr(api, "catalog", boom)
    result = filled("catalog")
    assert result.code == 4
    assert result.stderr.strip().splitlines() == [
        "evalctl: error: internal error: ZeroDivisionError: oops "
        "(rerun with --debug; please report it)"]
    debug = filled("--debug", "catalog")
    assert debug.code == 4 and "Traceback" in debug.stderr


@pytest.mark.parametrize("name", commands())
def test_every_command_has_help_with_an_example(cli, name: str) -> None:
    result = cli(*name.split(), "--help")
    assert result.code == 0
    assert "Example" in result.stdout, f"{name} --help has no example"


def test_every_command_is_in_the_readme() -> None:
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    missing = [name for name in commands() if f"evalctl {name}" not in readme]
    assert not missing, f"commands missing from README: {missing}"


def test_installed_entry_point_runs(tmp_path: Path) -> None:
    exe = shutil.which("evalctl") or str(Path(sys.executable).parent / "evalctl")
    proc = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.startswith("evalctl 0.")
    proc = subprocess.run([exe, "init", str(tmp_path / "s"), "--format", "json"],
                          capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert proc.returncode == 0 and json.loads(proc.stdout)["command"] == "init"


@pytest.mark.parametrize(("target", "config_dir", "store_value"), [
    (".", ".", "."),                 # the current folder becomes the store (was `store: `)
    ("evalstore", ".", "evalstore"),
    ("deep/er/store", "deep/er", "store"),
])
def test_init_writes_a_config_that_finds_its_store(tmp_path: Path, monkeypatch, target: str,
                                                   config_dir: str, store_value: str) -> None:
    from evalctl.cli.app import run

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("EVALCTL_CONFIG", raising=False)
    monkeypatch.delenv("EVALCTL_STORE", raising=False)
    (tmp_path / target).mkdir(parents=True, exist_ok=True)
    out, err = io.StringIO(), io.StringIO()
    assert run(["init", target, "-f", "json"], stdout=out, stderr=err) == 0, err.getvalue()
    config = tmp_path / config_dir / "evalctl.yaml"
    assert f"store: {store_value}\n" in config.read_text()
    monkeypatch.chdir(tmp_path / config_dir)
    out = io.StringIO()
    assert run(["catalog", "-f", "json"], stdout=out, stderr=err) == 0, err.getvalue()
    assert json.loads(out.getvalue())["inputs"]["store"] == str((tmp_path / target).resolve())


@pytest.mark.parametrize(("columns", "width"), [(None, 120), ("200", 200), ("39", 120),
                                                 ("wide", 120), ("", 120)])
def test_plain_tables_honour_columns(monkeypatch, columns: str | None, width: int) -> None:
    from evalctl.cli.output import plain_width

    if columns is None:
        monkeypatch.delenv("COLUMNS", raising=False)
    else:
        monkeypatch.setenv("COLUMNS", columns)
    assert plain_width() == width


def test_table_to_a_file_is_columns_wide(cli, monkeypatch, frame_file) -> None:
    cli("ingest", "--model", "churn", "--version", "v1", "--env", "production",
        str(frame_file(make_frame(50), "p.parquet")))
    args = ["slices", "--model", "churn", "--selector", "production", "-f", "table"]
    monkeypatch.setenv("COLUMNS", "200")
    assert max(len(line) for line in cli(*args).stdout.splitlines()) > 120
    monkeypatch.delenv("COLUMNS")
    assert max(len(line) for line in cli(*args).stdout.splitlines()) <= 120
