"""What a person sees at a real terminal: the CLI run in a pseudo-terminal of a given size.

CliRunner and StringIO streams are not terminals, so these tests spawn `python -m evalctl`
with stdin, stdout and stderr on a pty whose window size is set, and read what it displays.
"""

from __future__ import annotations

import fcntl
import os
import re
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest
from tests.helpers import make_frame

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")


def run_in_pty(args: list[str], cwd: Path, columns: int, rows: int = 50) -> str:
    """Run evalctl in a pty of `columns` x `rows`; return the screen text without ANSI codes."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "NO_COLOR")}
    env["TERM"] = "xterm-256color"
    proc = subprocess.Popen([sys.executable, "-m", "evalctl", *args], cwd=cwd, env=env,
                            stdin=slave, stdout=slave, stderr=slave, close_fds=True)
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child closed its end
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    proc.wait(timeout=60)
    return ANSI.sub("", b"".join(chunks).decode("utf-8", "replace")).replace("\r\n", "\n")


@pytest.fixture
def filled_store(cli, frame_file, workdir: Path) -> Path:
    for version, env, seed in (("v1", "training", 1), ("v1", "production", 2)):
        path = frame_file(make_frame(300, seed=seed, prefix=env[0]), f"{env}.parquet")
        assert cli("ingest", "--model", "churn", "--version", version, "--env", env,
                   str(path)).code == 0
    return workdir


@pytest.mark.parametrize("args, title", [
    (["catalog"], "evalctl catalog"),
    (["batches"], "evalctl batches"),
    (["skew", "--model", "churn", "--reference", "training", "--current", "production",
      "--fail-on", "never"], "evalctl skew · churn"),
])
def test_a_report_prints_once_at_a_terminal(filled_store: Path, args, title) -> None:
    screen = run_in_pty(args, filled_store, columns=120)
    command = args[0]
    assert screen.count(title) == 1, screen
    status_lines = [line for line in screen.splitlines()
                    if line.startswith(f"{command} · status ")]
    assert len(status_lines) == 1, screen


@pytest.mark.parametrize("columns", [80, 120])
def test_terminal_tables_take_the_terminal_width(filled_store: Path, columns: int) -> None:
    screen = run_in_pty(["skew", "--model", "churn", "--reference", "training",
                         "--current", "production", "--fail-on", "never"],
                        filled_store, columns=columns)
    table = [line for line in screen.splitlines() if line[:1] in ("┏", "┃", "│", "└")]
    assert table, screen
    assert max(len(line) for line in table) <= columns
