"""The `evalctl` command's BLAS threads (`evalctl.blas`): one for the command, set before numpy
loads, never over the user's choice; a program importing evalctl keeps numpy's default.

The end-to-end tests run real interpreters with a `sitecustomize` that reports, at exit, how
many threads numpy's OpenBLAS runs (threadpoolctl asks the library itself)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from tests.helpers import reported_at_exit

from evalctl.blas import BLAS_CHOICES, BLAS_THREADS_ENV, blas_environ

PYTHON = sys.executable
REPORT = """
import atexit, sys
def report():
    from threadpoolctl import threadpool_info
    found = [p["num_threads"] for p in threadpool_info() if p["internal_api"] == "openblas"]
    print("BLAS=" + ",".join(map(str, found)), file=sys.stderr)
atexit.register(report)
"""


def test_the_command_gets_one_thread() -> None:
    assert blas_environ(True, {}) == {
        BLAS_THREADS_ENV: "1"}
    assert blas_environ(True, {}) == {
        BLAS_THREADS_ENV: "1"}


def test_a_library_user_gets_nothing() -> None:
    assert blas_environ(False, {}) == {}


@pytest.mark.parametrize("name", BLAS_CHOICES)
def test_the_users_choice_wins(name: str) -> None:
    assert blas_environ(True, {name: "4"}) == {}


def _blas_threads(args: list[str], tmp_path: Path, **env: str) -> int:
    """OpenBLAS's thread count in a process run with `args`, read at its exit."""
    pytest.importorskip("threadpoolctl")
    found = reported_at_exit(args, tmp_path, REPORT, "BLAS=", BLAS_CHOICES, **env)
    assert len(found) == 1, found
    if not found[0]:
        pytest.skip("numpy does not run OpenBLAS here")
    return int(found[0].split(",")[0])


def test_the_command_runs_one_blas_thread(tmp_path: Path) -> None:
    # `--version` loads numpy: evalctl imports it with the CLI
    assert _blas_threads([PYTHON, "-m", "evalctl", "--version"], tmp_path) == 1


def test_importing_evalctl_keeps_numpys_threads(tmp_path: Path) -> None:
    default = _blas_threads([PYTHON, "-c", "import numpy"], tmp_path)
    assert _blas_threads([PYTHON, "-c", "import evalctl, evalctl.api"], tmp_path) == default


def test_the_users_thread_count_wins_in_the_command(tmp_path: Path) -> None:
    assert _blas_threads([PYTHON, "-m", "evalctl", "--version"], tmp_path,
                         **{BLAS_THREADS_ENV: "2"}) == 2
