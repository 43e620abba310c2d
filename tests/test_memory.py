"""The `evalctl` command's allocator options (`evalctl.memory`): set for the command only,
before polars loads, never over the user's own value, and what polars' allocator then reads.

The end-to-end tests run real interpreters: a `sitecustomize` on `PYTHONPATH` prints, at exit,
the variable polars' jemalloc was configured from (polars writes its final value back into
the environment as it loads), so each test sees what the process's allocator read."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest
from tests.helpers import reported_at_exit

from evalctl.memory import (
    ALLOCATOR_ENV,
    COMMAND_ALLOCATOR,
    allocator_environ,
    is_evalctl_command,
    release_freed_memory,
)

PYTHON = sys.executable
SCRIPT = Path(PYTHON).with_name("evalctl")  # the installed console script
REPORT = """
import atexit, os, sys
atexit.register(lambda: print("ALLOCATOR=" + os.environ.get({name!r}, "<unset>"),
                              file=sys.stderr))
"""


def test_console_script_is_the_command() -> None:
    assert is_evalctl_command(["/venv/bin/evalctl", "skew"], ["/venv/bin/python",
                                                              "/venv/bin/evalctl", "skew"])
    assert is_evalctl_command(["evalctl", "--version"], ["python3", "evalctl", "--version"])


def test_python_dash_m_evalctl_is_the_command() -> None:
    # while `python -m evalctl` imports the package, argv[0] is "-m"
    assert is_evalctl_command(["-m", "skew"], ["python", "-m", "evalctl", "skew"])
    assert is_evalctl_command(["-m"], ["python", "-X", "importtime", "-m", "evalctl"])
    # the interpreter's own spellings: the module in the same word, options sharing a word
    assert is_evalctl_command(["-m", "skew"], ["python", "-mevalctl", "skew"])
    assert is_evalctl_command(["-m"], ["python", "-Bm", "evalctl"])
    assert is_evalctl_command(["-m"], ["python", "-BOmevalctl"])
    assert is_evalctl_command(["-m"], ["python", "-Ximporttime", "-Wdefault", "-mevalctl"])
    assert is_evalctl_command(["-m"], ["python", "--check-hash-based-pycs", "never", "-m",
                                       "evalctl"])


@pytest.mark.parametrize(("argv", "orig_argv"), [
    (["-m", "-q"], ["python", "-m", "pytest", "-q"]),           # another module
    (["-m"], ["python", "-m", "evalctl.cli"]),                  # not the command's module
    (["-m"], ["python", "-mevalctl.cli"]),
    (["-m", "-q"], ["python", "-Bmpytest", "-q", "-mevalctl"]),  # pytest's own -m
    (["-m"], ["python", "-Wevalctl", "-mpytest"]),               # a value, not the module
    (["-m"], ["python", "-X", "evalctl", "-m", "pytest"]),
    (["-c"], ["python", "-cimport evalctl", "-mevalctl"]),
    (["-c"], ["python", "-c", "import evalctl", "-m", "evalctl"]),
    (["/home/me/notebook.py"], ["python", "/home/me/notebook.py"]),
    (["/venv/bin/evalctl-helper"], ["python", "/venv/bin/evalctl-helper"]),
    ([""], ["python"]),                                          # interactive interpreter
    ([], []),                                                    # embedded, no argv
])
def test_library_users_are_not_the_command(argv: list[str], orig_argv: list[str]) -> None:
    assert not is_evalctl_command(argv, orig_argv)


def test_the_command_gets_the_options() -> None:
    assert allocator_environ(True, {}) == {
        ALLOCATOR_ENV: COMMAND_ALLOCATOR}


def test_a_library_user_gets_nothing() -> None:
    assert allocator_environ(False, {}) == {}


def test_the_users_value_wins() -> None:
    environ = {ALLOCATOR_ENV: "narenas:1"}
    assert allocator_environ(True,
                             environ) == {}
    # an empty value is still the user's choice (jemalloc's defaults, then polars')
    assert allocator_environ(True, {ALLOCATOR_ENV: ""}) == {}


@pytest.mark.parametrize("inherited", [
    "dirty_decay_ms:500,muzzy_decay_ms:1000",                   # a parent imported polars
    "dirty_decay_ms:500,muzzy_decay_ms:1000,dirty_decay_ms:500,muzzy_decay_ms:1000",
    "dirty_decay_ms:500,muzzy_decay_ms:1000,thp:always,metadata_thp:always",  # POLARS_THP=1
])
def test_polars_own_defaults_inherited_from_a_parent_are_not_the_users(inherited: str) -> None:
    assert allocator_environ(True,
                             {ALLOCATOR_ENV: inherited}) == {ALLOCATOR_ENV: COMMAND_ALLOCATOR}


@pytest.mark.parametrize("chosen", [
    "dirty_decay_ms:500,muzzy_decay_ms:1000,narenas:4",  # a parent of polars', plus the user's
    "muzzy_decay_ms:1000",                                # one of the defaults, on its own
    "dirty_decay_ms:500,muzzy_decay_ms:1000,",            # not what polars writes
    "dirty_decay_ms:0",
])
def test_a_value_with_anything_but_polars_defaults_is_the_users(chosen: str) -> None:
    assert allocator_environ(True,
                             {ALLOCATOR_ENV: chosen}) == {}


def test_options_are_jemalloc_key_value_pairs() -> None:
    pairs = [option.split(":") for option in COMMAND_ALLOCATOR.split(",")]
    assert all(len(pair) == 2 and pair[1].isdigit() for pair in pairs)
    assert {key for key, _ in pairs} <= {"dirty_decay_ms", "muzzy_decay_ms", "narenas"}


def _allocator_of(args: list[str], tmp_path: Path, **env: str) -> str:
    """What polars' allocator read in a process run with `args`: the variable at exit."""
    found = reported_at_exit(args, tmp_path, REPORT.format(name=ALLOCATOR_ENV), "ALLOCATOR=",
                             [ALLOCATOR_ENV], **env)
    assert len(found) == 1, found
    return found[0]


def _polars_defaults(tmp_path: Path) -> str:
    """polars' own value, read from a process that only imports polars."""
    return _allocator_of([PYTHON, "-c", "import polars"], tmp_path)


@pytest.mark.parametrize("run", [["-m", "evalctl"], ["-mevalctl"], ["-Bm", "evalctl"]])
def test_python_dash_m_evalctl_runs_with_the_options(run: list[str], tmp_path: Path) -> None:
    value = _allocator_of([PYTHON, *run, "--version"], tmp_path)
    # polars puts its defaults first and ours after them: a later option wins in jemalloc
    assert value == f"{_polars_defaults(tmp_path)},{COMMAND_ALLOCATOR}"


@pytest.mark.skipif(not SCRIPT.exists(), reason="evalctl's console script is not installed")
def test_console_script_runs_with_the_options(tmp_path: Path) -> None:
    value = _allocator_of([str(SCRIPT), "--version"], tmp_path)
    assert value == f"{_polars_defaults(tmp_path)},{COMMAND_ALLOCATOR}"


def test_importing_evalctl_keeps_polars_defaults(tmp_path: Path) -> None:
    value = _allocator_of([PYTHON, "-c", "import evalctl, evalctl.api"], tmp_path)
    assert value == _polars_defaults(tmp_path)
    assert COMMAND_ALLOCATOR not in value


def test_the_users_value_wins_in_the_command(tmp_path: Path) -> None:
    value = _allocator_of([PYTHON, "-m", "evalctl", "--version"], tmp_path,
                          **{ALLOCATOR_ENV: "narenas:1"})
    assert value == f"{_polars_defaults(tmp_path)},narenas:1"


def test_the_command_started_by_a_polars_program_runs_with_the_options(tmp_path: Path) -> None:
    """A Python program that imported polars (the benchmarks, a CI script) starts the command:
    the child inherits polars' defaults, which are not the user's choice."""
    start = (f"import polars, subprocess, sys; sys.exit(subprocess.run([{PYTHON!r}, '-m', "
             "'evalctl', '--version']).returncode)")
    child = reported_at_exit([PYTHON, "-c", start], tmp_path,
                             REPORT.format(name=ALLOCATOR_ENV), "ALLOCATOR=", [ALLOCATOR_ENV])[0]
    assert child.endswith(f",{COMMAND_ALLOCATOR}")


def test_a_child_that_loads_polars_keeps_the_commands_options(tmp_path: Path) -> None:
    """A child of the command (a Spark worker, a notifier script) inherits the variable; if it
    loads polars, polars puts its defaults before the inherited value, so the command's
    options still come last and win."""
    parent = f"{_polars_defaults(tmp_path)},{COMMAND_ALLOCATOR}"
    value = _allocator_of([PYTHON, "-c", "import polars"], tmp_path, **{ALLOCATOR_ENV: parent})
    assert value.endswith(f",{COMMAND_ALLOCATOR}")


# Arrays below glibc's mmap threshold come from its heap; freeing all but every 50th leaves
# the heap's top in use, so free() alone cannot shrink it: the freed pages stay resident
# until `malloc_trim` returns them.
FRAGMENTED = """
import numpy as np
from evalctl.memory import release_freed_memory

def resident():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1])

arrays = [np.ones(1000) for _ in range(60_000)]  # ~480 MB of 8 kB arrays
kept = arrays[::50]
del arrays
before = resident()
print(release_freed_memory(), before, resident())
"""


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="malloc_trim is glibc's")
def test_release_freed_memory_returns_the_heap_numpy_freed() -> None:
    out = subprocess.run([PYTHON, "-c", FRAGMENTED], capture_output=True, text=True,
                         check=True).stdout.split()
    released, before, after = out[0] == "True", int(out[1]), int(out[2])
    assert released
    pages_per_mib = (1 << 20) // os.sysconf("SC_PAGE_SIZE")
    assert (before - after) / pages_per_mib > 200  # of ~470 MiB freed


def test_release_freed_memory_is_a_no_op_without_malloc_trim(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from evalctl import memory

    monkeypatch.setattr(memory, "_malloc_trim", lambda: None)
    assert release_freed_memory() is False


# Three 4 MiB arrays made and freed, twenty times: glibc's default trims the heap's top each
# time they are freed (above twice its adjusted mmap threshold), so every round faults their
# pages in afresh; the command's heap keeps them.
ROUNDS = """
import resource, sys
import numpy as np
from evalctl.memory import keep_arrays_in_heap

kept = keep_arrays_in_heap({}) if sys.argv[1] == "command" else None
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt

for _ in range(2):  # the first round faults in either case
    arrays = [np.ones(1 << 19) for _ in range(3)]
    del arrays
before = faults()
for _ in range(20):
    arrays = [np.ones(1 << 19) for _ in range(3)]
    del arrays
print(kept, faults() - before)
"""


def _rounds(kind: str) -> tuple[str, int]:
    out = subprocess.run([PYTHON, "-c", ROUNDS, kind], capture_output=True, text=True,
                         check=True).stdout.split()
    return out[0], int(out[1])


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_the_commands_heap_keeps_numpys_arrays() -> None:
    pages = (3 << 22) // os.sysconf("SC_PAGE_SIZE")  # one round's pages
    kept, command = _rounds("command")
    _, default = _rounds("library")
    assert kept == "True"
    assert command < pages  # a few stray pages, not a round's
    assert default > 4 * pages  # rounds faulted in afresh (~a third of each, here)


def test_the_users_malloc_settings_win(monkeypatch: pytest.MonkeyPatch) -> None:
    from evalctl import memory

    calls: list[tuple[int, int]] = []
    monkeypatch.setattr(memory, "_mallopt", lambda: lambda p, v: calls.append((p, v)) or 1)
    for chosen in [{"MALLOC_TRIM_THRESHOLD_": "0"}, {"MALLOC_MMAP_THRESHOLD_": "1"},
                   {"GLIBC_TUNABLES": "glibc.malloc.trim_threshold=0"}]:
        assert memory.keep_arrays_in_heap(chosen) is False
    assert calls == []
    assert memory.keep_arrays_in_heap({"GLIBC_TUNABLES": "glibc.pthread.rseq=0"}) is True
    assert calls == [(memory.M_MMAP_THRESHOLD, memory.HEAP_MMAP_THRESHOLD),
                     (memory.M_TRIM_THRESHOLD, memory.HEAP_TRIM_THRESHOLD)]
    monkeypatch.setattr(memory, "_mallopt", lambda: None)
    assert memory.keep_arrays_in_heap({}) is False
