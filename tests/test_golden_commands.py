"""Every command's JSON report and table on the sample story, against golden files.

Refresh with ``pytest tests/test_golden_commands.py --update-golden`` and read the diff: a
change here is a change of what a user sees. The store is the sample story ingested with a
fixed clock into a folder of the test's own (each case runs on a fresh copy of it, so commands
that write — monitor's history, a dry run that should not — cannot leak into each other), and
every command runs with a fixed clock. Machine-dependent parts are taken out: `generated_at`
(some commands stamp errors with the system clock) and the temporary folder's absolute path,
written ``<tmp>``. Tables are rendered with ``-f table`` to a pipe at ``COLUMNS=100``.
"""

from __future__ import annotations

import io
import json
import math
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from tests.helpers import (
    REPO,
    STORY_BUILD,
    STORY_CONFIG,
    CliResult,
    commands,
    demo_commands,
    validate_envelope,
)

from evalctl.cli.app import run
from evalctl.clock import fixed_clock

FOLDER = Path(__file__).parent / "golden" / "commands"
NOW = "2026-12-01T08:00:00Z"
WIDTH = "100"
M = ("--model", "tv-recommender")
LATE = "production@2026-11-15..2026-11-30"
ATTEMPT = re.compile(r"(part-[0-9a-f]{16}-)[0-9a-f]{8}-")


@dataclass(frozen=True)
class Case:
    name: str  # the golden files' stem
    args: tuple[str, ...]
    code: int = 0
    before: tuple[str, ...] = ()  # a command run first on the same copy

    @property
    def command(self) -> str:
        """The command's path below `evalctl` (`batches remove`, `config check`, `skew`)."""
        two = " ".join(self.args[:2])
        return two if two in commands() else self.args[0]


CASES = [
    Case("init", ("init", "newstore", "--no-config")),
    Case("ingest", ("ingest", "data/validation_v1.parquet", *M, "--version", "v1",
                    "--env", "validation")),
    Case("ingest_actuals", ("ingest-actuals", "data/actuals_late.csv", *M)),
    Case("catalog", ("catalog",)),
    Case("batches", ("batches",)),
    Case("batches_remove", ("batches", "remove", "802f5707180617e9", "--dry-run")),
    Case("gc", ("gc", "--older-than", "30d", "--dry-run")),
    Case("erase", ("erase", *M, "--ids", "ids.txt", "--dry-run")),
    Case("files", ("files", *M, "--selector", "production@2026-11-01..2026-11-02")),
    Case("doctor", ("doctor",)),
    Case("config_check", ("config", "check")),
    Case("skew", ("skew", *M, "--current", LATE), code=1),
    Case("skew_join", ("skew", *M, "--reference", "training:v2", "--current",
                       "production:v1@2026-11-01..2026-11-07", "--join-key", "request_id"),
         code=1),
    Case("drift", ("drift", *M, "--current", "production@2026-11-01..2026-11-30",
                   "--window", "1d"), code=1),
    Case("slices", ("slices", *M, "--selector", LATE, "--discover")),
    Case("validate", ("validate", *M, "--candidate", "v2", "--baseline", "v1"), code=1),
    Case("compare", ("compare", *M, "--champion", "v1", "--challenger", "v2", "--selector",
                     "production@2026-11-01..2026-11-25")),
    Case("rca", ("rca", *M, "--baseline", "production@2026-11-01..2026-11-14", "--current",
                 "production@2026-11-15..2026-11-25"), code=1),
    Case("export", ("export", *M, "--selector", "production@2026-11-15..2026-11-16", "--out",
                    "errors.parquet", "--only-errors")),
    Case("estimate", ("estimate", *M, "--current", "production@2026-11-20..2026-11-30"),
         code=1),
    Case("monitor", ("monitor", "--date", "2026-11-30"), code=1),
    Case("history", ("history", *M), before=("monitor", "--date", "2026-11-30")),
    Case("metrics", ("metrics", *M), before=("monitor", "--date", "2026-11-30")),
    Case("report", ("report", *M, "--current", LATE), code=1,
         before=("monitor", "--date", "2026-11-30")),
    Case("profiles_build", ("profiles", "build", *M)),  # the story has profiles: a no-op
    Case("profiles_refit", ("profiles", "build", *M, "--refit")),
    # the story's skew and drift read profiles; their scans are kept here too (see
    # test_the_scan_answers_what_profiles_answer)
    Case("skew_scan", ("skew", *M, "--current", LATE, "--engine", "scan"), code=1),
    Case("drift_scan", ("drift", *M, "--current", "production@2026-11-01..2026-11-30",
                        "--window", "1d", "--engine", "scan"), code=1),
]


@pytest.fixture(scope="module")
def lake(story: Callable[..., CliResult], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The story built as the story fixture builds it (the demo's ingests and `profiles
    build`, in its order), each command at its own fixed minute (the batches' `created_at`
    are then the same on every machine)."""
    root = tmp_path_factory.mktemp("golden")
    shutil.copytree(story.data, root / "data")  # type: ignore[attr-defined]
    (root / "ids.txt").write_text("p-0000001\np-0000002\nnot-an-id\n")
    store = str(root / "store")
    base = ("--config", str(STORY_CONFIG), "--store", store)
    assert _run(root, "init", store, "--no-config", at="2026-12-01T06:00:00Z").code == 0
    for minute, args in enumerate(demo_commands("data", STORY_BUILD), start=1):
        result = _run(root, *base, *args, at=f"2026-12-01T06:{minute:02d}:00Z")
        assert result.code == 0, (args, result.stderr)
    return root


def _run(cwd: Path, *args: str, at: str = NOW) -> CliResult:
    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(cwd)
        patch.setenv("COLUMNS", WIDTH)
        code = run(list(args), stdout=out, stderr=err, clock=fixed_clock(at))
    return CliResult(code, out.getvalue(), err.getvalue())


def run_case(lake: Path, tmp_path: Path, case: Case, fmt: str) -> CliResult:
    """`case` on a fresh copy of the story store, in a folder with the inputs it names."""
    shutil.copytree(lake / "store", tmp_path / "store")
    (tmp_path / "data").symlink_to(lake / "data")
    shutil.copy(lake / "ids.txt", tmp_path / "ids.txt")
    base = ("--config", str(STORY_CONFIG), "--store", "store")
    if case.before:
        assert _run(tmp_path, *base, *case.before, "-f", "json").code in (0, 1)
    result = _run(tmp_path, *base, *case.args, "-f", fmt)
    assert result.code == case.code, result.stderr
    return result


def machine_free(text: str, *roots: Path) -> str:
    """`text` with the absolute paths of the test's folders written ``<tmp>`` and the random
    attempt token of data file names (``part-<batch>-<attempt>-0000.parquet``) ``<attempt>``."""
    for root in sorted({str(p) for r in roots for p in (r, r.resolve())}, key=len,
                       reverse=True):
        text = text.replace(root, "<tmp>")
    text = text.replace(str(REPO), "<repo>")
    return ATTEMPT.sub(r"\1<attempt>-", text)


def assert_same_json(actual: Any, expected: Any, where: str = "$", rel: float = 1e-9) -> None:
    """The two documents are equal, numbers within a relative `rel` (and 1e-15 absolute, for
    values that are zero up to rounding).

    Used first to name the field that differs; the test then compares the exact bytes, since
    float sums are reproducible to the bit.
    """
    if isinstance(expected, dict):
        assert isinstance(actual, dict), f"{where}: expected an object, got {actual!r}"
        assert list(actual) == list(expected), f"{where}: keys {list(actual)} != {list(expected)}"
        for key, value in expected.items():
            assert_same_json(actual[key], value, f"{where}.{key}", rel)
    elif isinstance(expected, list):
        assert isinstance(actual, list), f"{where}: expected a list, got {actual!r}"
        assert len(actual) == len(expected), f"{where}: {len(actual)} items != {len(expected)}"
        for index, (a, e) in enumerate(zip(actual, expected, strict=True)):
            assert_same_json(a, e, f"{where}[{index}]", rel)
    elif isinstance(expected, float) and isinstance(actual, float):
        assert math.isclose(actual, expected, rel_tol=rel, abs_tol=1e-15), \
            f"{where}: {actual!r} != {expected!r}"
    else:
        assert type(actual) is type(expected) and actual == expected, \
            f"{where}: {actual!r} != {expected!r}"


def test_every_command_has_a_golden_case() -> None:
    covered = {case.command for case in CASES}
    missing = [name for name in commands() if name not in covered]
    assert not missing, f"commands without a golden case: {missing}"


@pytest.mark.parametrize("name", ["skew", "drift"])
def test_the_scan_answers_what_profiles_answer(name: str) -> None:
    """The story's skew and drift read profiles; their `--engine scan` goldens must say the
    same: every count and status equal, every measure within 1e-12 (float sums merged in
    another order may differ in the last bits). The goldens are the commands' outputs (the
    tests above), so this compares the two engines without running them again."""
    served = json.loads((FOLDER / f"{name}.json").read_text())
    scanned = json.loads((FOLDER / f"{name}_scan.json").read_text())
    assert served["inputs"].pop("engine") == "profiles"
    assert served["inputs"].pop("engine_reason").startswith("profiles on reference ")
    assert (scanned["inputs"].pop("engine"), scanned["inputs"].pop("engine_reason")) == \
        ("scan", "--engine scan")
    assert served["results"]
    assert_same_json(served, scanned, rel=1e-12)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_json_matches_golden(lake: Path, tmp_path: Path, case: Case,
                             request: pytest.FixtureRequest) -> None:
    result = run_case(lake, tmp_path, case, "json")
    doc = json.loads(machine_free(result.stdout, lake, tmp_path))
    validate_envelope(doc)
    del doc["generated_at"]
    path = FOLDER / f"{case.name}.json"
    if request.config.getoption("--update-golden"):
        FOLDER.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
        return
    assert path.exists(), f"{path} missing: run pytest --update-golden"
    assert_same_json(doc, json.loads(path.read_text()))  # names the first differing field
    # sums are reproducible to the bit (stats/exact.py): the bytes must match too
    assert json.dumps(doc, indent=2, ensure_ascii=False) + "\n" == path.read_text()


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_table_matches_golden(lake: Path, tmp_path: Path, case: Case,
                              golden: Callable[[str, str], None]) -> None:
    text = machine_free(run_case(lake, tmp_path, case, "table").stdout, lake, tmp_path)
    assert max(len(line) for line in text.splitlines()) <= int(WIDTH)
    FOLDER.mkdir(parents=True, exist_ok=True)
    golden(f"commands/{case.name}.{WIDTH}.table.txt", text)


@pytest.mark.parametrize(("actual", "expected", "same"), [
    ({"a": [1, 0.1 + 0.2]}, {"a": [1, 0.3]}, True),
    ({"p": 1e-18}, {"p": 0.0}, True),
    ({"a": 0.30000001}, {"a": 0.3}, False),
    ({"a": 1.0}, {"a": 1}, False),  # an int where a float was is a change of type
    ({"a": 1}, {"a": 1.0}, False),
    ({"a": True}, {"a": 1.0}, False),
    ({"b": 1, "a": 2}, {"a": 2, "b": 1}, False),  # key order is part of the contract
    ({"a": [1]}, {"a": [1, 2]}, False),
    ({"a": None}, {"a": 0.0}, False),
])
def test_json_comparison_tolerates_only_the_last_bits(actual: Any, expected: Any,
                                                      same: bool) -> None:
    if same:
        assert_same_json(actual, expected)
    else:
        with pytest.raises(AssertionError):
            assert_same_json(actual, expected)
