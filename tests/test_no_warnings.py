"""Data near the float maximum, NaN and ±inf make no numpy RuntimeWarning on a user's terminal.

Finite values near 1e308 overflow the float sums of their cells and their moments (to inf,
or NaN where +inf meets -inf) when counted, and again when profiles are merged or summaries
are added: float arithmetic's answer, which numpy would also announce with a
`RuntimeWarning: overflow encountered ...` / `invalid value encountered ...` line on stderr
of ingest, `profiles build`, skew, drift, monitor and rca. Every command here runs
with its warnings recorded; none may be a RuntimeWarning, stderr holds nothing but the
commands' own lines, and the profiles' answers still equal the scan's (overflowed sums are
held as the scan's summaries hold them: ±float max, NaN as 0).
"""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from tests.helpers import PROFILED_CONFIG, CliResult, assert_same, make_frame

from evalctl.stats import NumericSummary, fit_binning, merge, summarize

M = ["--model", "churn"]
HUGE = (1e308, -1e308, 1.7e308, -1.7e308)


def extreme(frame: pl.DataFrame, seed: int, huge: bool) -> pl.DataFrame:
    """NaN and ±inf in `minutes`; with `huge`, values near ±float max in `minutes` and `age`
    too, several of each sign a day (so a day's cell sums overflow, and two days' again)."""
    rng = np.random.default_rng(seed)
    minutes, age = frame["minutes"].to_numpy().copy(), frame["age"].to_numpy().copy()
    for value in (np.nan, np.inf, -np.inf):
        minutes[rng.random(frame.height) < 0.02] = value
    if huge:
        for column in (minutes, age):
            for value in HUGE:
                column[rng.random(frame.height) < 0.02] = value
    return frame.with_columns(pl.Series("minutes", minutes), pl.Series("age", age))


def recorded(run: Callable[..., CliResult], *args: str) -> CliResult:
    """`run(*args)` with every warning recorded (threads' too: the filters are the process's);
    fails on a RuntimeWarning, naming it and where it was raised."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = run(*args)
    raised = [f"{w.filename}:{w.lineno}: {w.message}" for w in caught
              if issubclass(w.category, RuntimeWarning)]
    assert not raised, (args, raised)
    assert result.code in (0, 1), (args, result.stderr)
    return result


@pytest.fixture(params=["huge values beyond the reference", "huge values in the reference"])
def extreme_store(request: pytest.FixtureRequest, cli: Callable[..., CliResult], workdir: Path,
                  frame_file: Callable[..., Path]
                  ) -> tuple[Callable[..., CliResult], bool]:
    """A profiled store whose production holds NaN, ±inf and values near ±float max in two
    batches over the same days (their profiles merge in every window). Beyond the
    reference, the huge values fill its open tail cells; in it, they are its edges too and
    its moments overflow. Gives the CLI and whether the reference holds them."""
    (workdir / "evalctl.yaml").write_text(PROFILED_CONFIG.format(
        reference="training:v1", extra="", checks=""))
    huge_reference = request.param == "huge values in the reference"
    training = extreme(make_frame(2000, seed=1, prefix="t"), 1, huge=huge_reference)
    recorded(cli, "ingest", str(frame_file(training, "t.parquet")), *M, "--version", "v1",
             "--env", "training")
    recorded(cli, "profiles", "build", *M)
    for seed in (2, 3):
        current = extreme(make_frame(1500, seed=seed, prefix=f"p{seed}",
                                     start=datetime(2026, 11, 10), days=6), seed, huge=True)
        recorded(cli, "ingest", str(frame_file(current, f"p{seed}.parquet")), *M,
                 "--version", "v1", "--env", "production")
    return cli, huge_reference


def quiet_json(cli: Callable[..., CliResult], *args: str) -> dict:
    """The JSON report of a command that writes nothing on stderr and raises no warning."""
    result = recorded(cli, *args, "-f", "json")
    assert result.stderr == "", (args, result.stderr)
    return result.json()


@pytest.mark.parametrize("command", [
    ("skew", "--current", "production"),
    ("drift", "--current", "production", "--window", "1d"),
    ("drift", "--current", "production", "--window", "2d"),
])
def test_skew_and_drift_warn_nothing_and_profiles_equal_the_scan(
        extreme_store: tuple[Callable[..., CliResult], bool], command: tuple[str, ...]) -> None:
    cli, huge_reference = extreme_store
    prof = quiet_json(cli, *command, *M, "--engine", "profiles")
    scan = quiet_json(cli, *command, *M, "--engine", "scan")
    assert prof["inputs"]["engine"] == "profiles" and scan["inputs"]["engine"] == "scan"
    assert_same(prof["results"], scan["results"])
    assert_same(prof["summary"], scan["summary"])
    for feature in ("age", "minutes"):  # Wasserstein over the reference's std (the default)
        result = next(r for r in prof["results"] if r["feature"] == feature)
        if huge_reference:
            assert result["status"] == "error"
            assert "standard deviation overflows" in str(result), feature
        else:
            assert result["status"] != "error" and result["score"] is not None


def test_monitor_warns_nothing(extreme_store: tuple[Callable[..., CliResult], bool]) -> None:
    doc = quiet_json(extreme_store[0], "monitor", *M, "--date", "2026-11-15")
    assert doc["inputs"]["engine"] == "profiles"


def test_rca_warns_nothing(extreme_store: tuple[Callable[..., CliResult], bool]) -> None:
    """rca merges summaries (`evalctl.stats.summary.merge`), not profiles."""
    quiet_json(extreme_store[0], "rca", *M, "--baseline", "training", "--current",
               "production")


@pytest.mark.filterwarnings("error::RuntimeWarning")
def test_merged_summaries_hold_overflowed_sums_as_summarising_the_union_does() -> None:
    """Cell sums that overflow when summaries are merged are kept as summarising the union
    of their rows keeps them: ±float max (inf) and 0 (NaN), bit for bit."""
    binning = fit_binning(pl.LazyFrame({"x": [0.0, 1.0, 2.0, 3.0]}), {"x": "numeric"})
    parts = [pl.LazyFrame({"x": [1e308, 1.5e308, 5.0, -1.7e308]}),
             pl.LazyFrame({"x": [1.7e308, -1e308, 2.0, -1e308]})]
    a, b = (summarize(p, binning)[None]["x"] for p in parts)
    whole = summarize(pl.concat(parts), binning)[None]["x"]
    merged = merge(a, b)
    assert isinstance(merged, NumericSummary) and isinstance(whole, NumericSummary)
    assert merged.sums.tobytes() == whole.sums.tobytes()
    assert np.finfo(float).max in merged.sums and -np.finfo(float).max in merged.sums


def test_the_command_prints_no_warning(extreme_store: tuple[Callable[..., CliResult], bool],
                                       workdir: Path) -> None:
    """The installed entry point, as a user runs it (Python's default warning filters)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"}
    done = subprocess.run(
        [str(Path(sys.executable).with_name("evalctl")), "skew", *M, "--current",
         "production", "-f", "json"],
        cwd=workdir, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode in (0, 1), done.stderr
    assert done.stderr == ""
