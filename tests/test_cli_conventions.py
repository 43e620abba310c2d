"""What users of a well-loved CLI expect: JSON error envelopes, -o rules, -h, colours,
encodings, help text, completion, --quiet/--verbose, config check (issue: CLI trust)."""

from __future__ import annotations

import errno
import io
import json
import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from tests.helpers import commands, make_frame, store_snapshot, validate_envelope

from evalctl.cli.app import app, hoist_global_flags, run
from evalctl.cli.errors import ErrorRequest
from evalctl.cli.output import ascii_text

INGEST = ["ingest", "--model", "churn", "--version", "v1", "--env", "production"]
MODEL_COMMANDS = {
    "skew": ["-C", "production"], "drift": ["-C", "production"], "slices": ["-S", "production"],
    "validate": ["--candidate", "v2", "--baseline", "v1"], "rca": ["--baseline", "production",
                                                                  "-C", "production"],
    "estimate": ["-C", "production"], "export": ["-S", "production", "--out", "x.csv"],
    "history": [], "compare": ["--champion", "v1", "--challenger", "v2", "-S", "production"],
    "ingest": ["-v", "v1", "-e", "production", "p.parquet"], "ingest-actuals": ["p.parquet"],
    "catalog": [], "batches": [], "monitor": [],
}


@pytest.fixture
def filled(cli, frame_file):
    assert cli(*INGEST, str(frame_file(make_frame(300), "p.parquet"))).code == 0
    return cli


# ---------------------------------------------------------------- JSON error envelopes


@pytest.mark.parametrize("command", commands())
def test_a_usage_error_writes_an_error_envelope(filled, command: str) -> None:
    result = filled(*command.split(), "--no-such-option")
    assert result.code == 2
    assert len(result.stderr.strip().splitlines()) == 1
    envelope = result.json()
    validate_envelope(envelope)
    assert envelope["status"] == "error" and envelope["command"] == command.split()[0]
    assert envelope["error"]["kind"] == "usage" and envelope["error"]["exit_code"] == 2
    assert envelope["error"]["key"] == "--no-such-option"
    assert envelope["error"]["message"] in result.stderr


@pytest.mark.parametrize("command", sorted(MODEL_COMMANDS))
def test_an_unknown_model_writes_an_error_envelope(filled, command: str) -> None:
    result = filled(command, "--model", "nope", *MODEL_COMMANDS[command])
    assert result.code == 2, result.stderr
    envelope = result.json()
    validate_envelope(envelope)
    assert envelope["model"] == "nope" and envelope["error"]["exit_code"] == 2
    assert "nope" in envelope["error"]["message"]
    assert result.stderr.startswith("evalctl: error: ")


def test_config_errors_name_the_file_and_key(filled, workdir: Path) -> None:
    config = workdir / "evalctl.yaml"
    config.write_text(config.read_text().replace("age: numeric", "age: number"))
    result = filled("skew", "-m", "churn", "-C", "production", "-f", "json")
    assert result.code == 2
    error = result.json()["error"]
    assert error["kind"] == "config" and error["key"] == "models.churn.features.age"
    assert error["file"].endswith("evalctl.yaml")


def test_store_damage_is_exit_3_with_an_envelope(filled, workdir: Path) -> None:
    record = next((workdir / "store" / "_ledger").glob("*.json"))
    record.write_text("{ not json")
    result = filled("catalog")
    assert result.code == 3
    error = result.json()["error"]
    assert error["kind"] == "store" and error["exit_code"] == 3 and "doctor" in error["hint"]


def test_a_bug_is_exit_4_with_an_envelope(filled, monkeypatch) -> None:
    from evalctl import api

    monkeypatch.setattr(api, "catalog", lambda *a, **k: 1 / 0)
    result = filled("catalog")
    assert result.code == 4
    assert result.json()["error"]["kind"] == "internal"


def test_the_envelope_goes_where_the_report_would_have(filled, workdir: Path) -> None:
    result = filled("skew", "-m", "nope", "-C", "production", "-o", "gate.json")
    assert result.code == 2 and result.stdout == ""
    validate_envelope(json.loads((workdir / "gate.json").read_text()))
    table = filled("skew", "-m", "nope", "-C", "production", "-f", "table")
    assert table.code == 2 and table.stdout == ""  # people read stderr, not an envelope
    markdown = filled("skew", "-m", "nope", "-C", "production", "-o", "gate.md")
    assert markdown.code == 2 and not (workdir / "gate.md").exists()


def test_an_os_error_is_exit_3_with_the_reason(filled, monkeypatch, frame_file) -> None:
    from evalctl.lake import ingest

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", "store/_ledger/x.json")

    monkeypatch.setattr(ingest, "commit_record", full)
    result = filled(*INGEST[:-2], "-e", "shadow", str(frame_file(make_frame(20), "q.parquet")))
    assert result.code == 3
    assert result.stderr.strip().splitlines() == [
        "evalctl: error: store/_ledger/x.json: No space left on device (ENOSPC)"]


def test_error_request_reads_the_command_line() -> None:
    request = ErrorRequest.from_args(["--store", "s", "skew", "-m", "churn", "-fjson"],
                                     io.StringIO())
    assert (request.command, request.model, request.fmt) == ("skew", "churn", "json")
    request = ErrorRequest.from_args(["-c", "x.yaml", "catalog", "--output=r.md"], io.StringIO())
    assert (request.command, request.output, request.wants_json()) == ("catalog", "r.md", False)


# ---------------------------------------------------------------- -o, -f, -h


def test_output_extension_rules(filled, workdir: Path) -> None:
    pdf = filled("catalog", "-o", "report.pdf")
    assert pdf.code == 2 and "cannot write .pdf" in pdf.stderr
    assert not (workdir / "report.pdf").exists()
    assert filled("catalog", "-o", "report.html").code == 0
    assert (workdir / "report.html").read_text().startswith("<!DOCTYPE html>")
    clash = filled("catalog", "-f", "markdown", "-o", "r.json")
    assert clash.code == 2 and "contradicts" in clash.stderr and not (workdir / "r.json").exists()
    assert filled("catalog", "-o", "plain").code == 0
    validate_envelope(json.loads((workdir / "plain").read_text()))
    assert filled("catalog", "-o", "r.txt").code == 0
    assert "production" in (workdir / "r.txt").read_text()
    dash = filled("catalog", "-o", "-")
    assert dash.code == 0 and dash.json()["command"] == "catalog" and not (workdir / "-").exists()
    assert not [p for p in workdir.iterdir() if p.name.endswith(".tmp")]


def test_dash_h_is_help(filled) -> None:
    assert filled("-h").stdout == filled("--help").stdout
    short = filled("skew", "-h")
    assert short.code == 0 and short.stdout == filled("skew", "--help").stdout


def test_reports_are_never_written_into_the_store_folders(filled, workdir: Path) -> None:
    before = store_snapshot(workdir / "store")
    for args in (["catalog", "-o", "store/_ledger/x.json"],
                 ["catalog", "-o", "store/predictions/x.md"],
                 ["export", "-m", "churn", "-S", "production", "--out", "store/_staging/x.csv"],
                 ["monitor", "-m", "churn", "--alerts", "store/results/a.jsonl"],
                 ["catalog", "-o", "store/evalctl-store.json"],
                 ["catalog", "-o", "store/_lock"]):
        result = filled(*args)
        assert result.code == 2, (args, result.stderr)
        assert "which only evalctl writes" in result.stderr or "the store's own" in result.stderr
    assert store_snapshot(workdir / "store") == before
    assert filled("catalog").code == 0  # the store is still readable
    beside = filled("catalog", "-o", "store/catalog.json")
    assert beside.code == 0 and (workdir / "store" / "catalog.json").is_file()


def test_a_missing_config_is_an_error_for_every_command(filled) -> None:
    for command in (["catalog"], ["doctor"], ["batches"]):
        result = filled("--config", "nope.yaml", *command)
        assert result.code == 2 and "nope.yaml: config file not found" in result.stderr


# ---------------------------------------------------------------- help text and metavars


def _params():
    def walk(command, path):
        for param in getattr(command, "params", []):
            yield path, param
        for name, sub in getattr(command, "commands", {}).items():
            yield from walk(sub, f"{path} {name}")

    return list(walk(typer.main.get_command(app), "evalctl"))


def test_every_option_has_help_and_a_readable_metavar(filled) -> None:
    from evalctl.cli.metavars import tidy_metavars

    group = typer.main.get_command(app)
    tidy_metavars(group)
    for path, param in _params():
        if type(param).__name__.endswith("Option"):
            assert param.help, f"{path} {param.opts[0]} has no help text"
    for command in commands():
        text = filled(*command.split(), "--help").stdout
        leaked = re.findall(r"<[A-Za-z_%][\w\[\], %-]*>|%[YmdHMS]|list\[|\{\w+\}", text)
        assert not leaked, f"evalctl {command} --help shows {leaked}"


def test_shell_completion_script_is_printed_and_edits_nothing(tmp_path: Path) -> None:
    env = {**os.environ, "HOME": str(tmp_path), "SHELL": "/bin/bash"}
    proc = subprocess.run([sys.executable, "-m", "evalctl", "--show-completion", "bash"],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "complete" in proc.stdout and "_EVALCTL_COMPLETE" in proc.stdout
    assert list(tmp_path.rglob("*")) == []


# ---------------------------------------------------------------- colour and encodings


def _in_pty(args: list[str], env: dict[str, str], cwd: Path) -> bytes:
    """Run evalctl with stdout and stderr on a real pseudo-terminal; return what it showed."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "evalctl", *args], stdin=slave,
                            stdout=slave, stderr=slave, cwd=cwd, env=env, close_fds=True)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=60)
    os.close(master)
    return b"".join(chunks)


@pytest.mark.parametrize(("flag", "env_extra"), [([], {"NO_COLOR": "1"}), (["--no-color"], {})])
def test_no_color_at_a_terminal(filled, workdir: Path, flag: list[str],
                                env_extra: dict[str, str]) -> None:
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    env.update({"COLUMNS": "120", "TERM": "xterm-256color"})
    coloured = _in_pty(["catalog"], env, workdir)
    assert b"\x1b[" in coloured  # the check below can fail
    plain = _in_pty([*flag, "catalog"], {**env, **env_extra}, workdir)
    assert b"\x1b[" not in plain and b"production" in plain


def test_a_stdout_that_cannot_encode_unicode_gets_ascii(filled, workdir: Path) -> None:
    env = {**os.environ, "PYTHONIOENCODING": "ascii", "LANG": "C", "LC_ALL": "C"}
    proc = subprocess.run([sys.executable, "-m", "evalctl", "catalog", "-f", "table"],
                          capture_output=True, env=env, cwd=workdir, timeout=60)
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout.decode("ascii")
    assert "production" in text and "+---" in text or "|" in text


def test_ascii_text_spells_symbols() -> None:
    assert ascii_text("a → b · c …") == "a -> b | c ..."
    assert ascii_text("┏━┳━┓\n┃x┃y┃") == "+-+-+\n|x|y|"
    assert ascii_text("▁▄█ é") == "_-# ?"


# ---------------------------------------------------------------- stderr: quiet, verbose


def test_quiet_and_verbose(cli, frame_file) -> None:
    path = str(frame_file(make_frame(50), "p.parquet"))
    plain = cli(*INGEST, path)
    assert plain.stderr.startswith("evalctl: ingested 50 rows")
    assert "\x1b" not in plain.stderr and "\r" not in plain.stderr  # no spinner in a pipe
    quiet = cli(*INGEST[:-1], "shadow", path, "--quiet")
    assert quiet.code == 0 and quiet.stderr == ""
    verbose = cli("skew", "-m", "churn", "-r", "production", "-C", "shadow", "--verbose")
    lines = verbose.stderr.splitlines()
    stamp = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ evalctl skew: .+ \[\d+\.\ds\]$"
    assert lines and all(re.match(stamp, line) for line in lines), lines
    assert lines[-1].split(": ", 1)[1].startswith("finished")
    assert cli("--quiet", "skew", "-m", "nope", "-C", "shadow").stderr.startswith(
        "evalctl: error: ")  # errors are never silenced


def test_global_flags_after_the_command_are_hoisted() -> None:
    assert hoist_global_flags(["skew", "-m", "x", "--quiet", "--no-color"]) == [
        "--quiet", "--no-color", "skew", "-m", "x"]
    assert hoist_global_flags(["export", "--", "--quiet"]) == ["export", "--", "--quiet"]


# ---------------------------------------------------------------- config check


def test_config_check(cli, workdir: Path) -> None:
    ok = cli("config", "check", "-f", "json")
    assert ok.code == 0 and ok.json()["results"][0]["model"] == "churn"
    bad = workdir / "bad.yaml"
    bad.write_text((workdir / "evalctl.yaml").read_text().replace("age: numeric", "age: number"))
    result = cli("config", "check", "--config", str(bad))
    assert result.code == 2
    loaded = cli("--config", str(bad), "skew", "-m", "churn", "-C", "production")
    assert result.stderr == loaded.stderr  # the same message as every command's load


def test_run_reports_interrupts_as_130(filled, monkeypatch) -> None:
    from evalctl import api

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(api, "catalog", interrupted)
    out, err = io.StringIO(), io.StringIO()
    assert run(["catalog", "-f", "json"], stdout=out, stderr=err) == 130
    assert out.getvalue() == "" and err.getvalue() == "evalctl: interrupted\n"


def test_monitor_date_outside_the_plausible_years_is_exit_2(filled) -> None:
    result = filled("monitor", "-m", "churn", "--date", "0001-01-01")
    assert result.code == 2 and result.no_report()
    assert result.stderr.strip() == ("evalctl: error: --date: 0001-01-01 is outside the "
                                     "plausible years 1970-2100")


def test_verbose_progress_counts_the_steps(filled) -> None:
    result = filled("--verbose", "doctor")
    assert result.code == 0
    lines = [line.split(": ", 1)[1] for line in result.stderr.splitlines()]
    assert any(line.startswith("verifying committed files (4 files)") for line in lines), lines
    assert any(line.startswith("  4/4 done") for line in lines), lines


def test_a_terminal_sees_live_progress_that_goes_away(filled, workdir: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    env.update({"COLUMNS": "120", "TERM": "xterm-256color"})
    shown = _in_pty(["doctor"], env, workdir).decode()
    assert "verifying checksums" in shown and "looking for leftovers" in shown  # phases drawn
    assert "\x1b[?25h" in shown  # and the cursor it hid was given back
    piped = subprocess.run([sys.executable, "-m", "evalctl", "doctor", "-f", "json"],
                           capture_output=True, text=True, cwd=workdir, env=env, timeout=60)
    assert "verifying" not in piped.stderr and "leftovers" not in piped.stderr  # not in a pipe


def test_an_error_envelope_is_stamped_by_the_injected_clock(tmp_path: Path) -> None:
    """Reports and error envelopes read the same clock: a fixed one stamps both."""
    from evalctl.clock import fixed_clock

    out, err = io.StringIO(), io.StringIO()
    code = run(["--config", str(tmp_path / "missing.yaml"), "catalog", "-f", "json"],
               stdout=out, stderr=err, clock=fixed_clock("2026-01-02T03:04:05Z"))
    assert code == 2, err.getvalue()
    envelope = json.loads(out.getvalue())
    validate_envelope(envelope)
    assert envelope["generated_at"] == "2026-01-02T03:04:05Z"
