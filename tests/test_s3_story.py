"""The whole sample story on an `s3://` store (a moto server on loopback) gives the same
reports as on a local store (issue #18 item 4).

One lake of each kind is built from the same exports, in the same order, with the same fixed
clock; then every command runs on both, in one sequence (the writers — monitor's history,
profiles build — write to both), and each command's `results` and `summary` must be the same
bytes once the store's own location is written ``<store>`` and the random attempt token of data
file names ``<attempt>``.
"""

from __future__ import annotations

import io
import json
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from tests.helpers import STORY_BUILD, STORY_CONFIG, CliResult, demo_commands, validate_envelope
from tests.s3_server import S3Server

from evalctl.cli.app import run
from evalctl.clock import fixed_clock

pytestmark = pytest.mark.s3

NOW = "2026-12-01T08:00:00Z"
M = ("--model", "tv-recommender")
LATE = "production@2026-11-15..2026-11-30"
ATTEMPT = re.compile(r"(part-[0-9a-f]{16}-)[0-9a-f]{8}-")


@dataclass(frozen=True)
class Case:
    name: str
    args: tuple[str, ...]
    reports: bool = True  # results must not be empty


# In order: the writers (monitor, profiles build) come before the commands that read what
# they wrote (history, metrics, skew on profiles).
CASES = [
    Case("catalog", ("catalog",)),
    Case("batches", ("batches",)),
    Case("files", ("files", *M, "--selector", "production@2026-11-01..2026-11-02")),
    Case("doctor", ("doctor",), reports=False),
    Case("skew", ("skew", *M, "--current", LATE)),
    Case("skew_join", ("skew", *M, "--reference", "training:v2", "--current",
                       "production:v1@2026-11-01..2026-11-07", "--join-key", "request_id")),
    Case("drift", ("drift", *M, "--current", "production@2026-11-01..2026-11-30",
                   "--window", "1d")),
    Case("slices", ("slices", *M, "--selector", LATE, "--discover")),
    Case("validate", ("validate", *M, "--candidate", "v2", "--baseline", "v1")),
    Case("compare", ("compare", *M, "--champion", "v1", "--challenger", "v2", "--selector",
                     "production@2026-11-01..2026-11-25")),
    Case("rca", ("rca", *M, "--baseline", "production@2026-11-01..2026-11-14", "--current",
                 "production@2026-11-15..2026-11-25")),
    Case("estimate", ("estimate", *M, "--current", "production@2026-11-20..2026-11-30")),
    Case("export", ("export", *M, "--selector", "production@2026-11-15..2026-11-16", "--out",
                    "errors-{kind}.parquet", "--only-errors")),
    Case("gc", ("gc", "--older-than", "30d", "--dry-run"), reports=False),
    Case("batches_remove", ("batches", "remove", "802f5707180617e9", "--dry-run")),
    Case("monitor", ("monitor", "--date", "2026-11-30")),
    Case("history", ("history", *M)),
    Case("metrics", ("metrics", *M)),
    Case("profiles_build", ("profiles", "build", *M)),
    Case("skew_profiles", ("skew", *M, "--current", LATE)),
    Case("doctor_after", ("doctor",), reports=False),
]


@dataclass
class Lakes:
    root: Path  # the working folder (inputs, exports)
    local: str
    s3: str
    server: S3Server
    built: dict[str, list[CliResult]]  # init, the ingests and ingest-actuals, by store


def _run(cwd: Path, *args: str, env: dict[str, str] | None = None, at: str = NOW) -> CliResult:
    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(cwd)
        patch.setenv("COLUMNS", "100")
        for name in ("EVALCTL_STORE", "EVALCTL_CONFIG", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
            patch.delenv(name, raising=False)
        for name, value in (env or {}).items():
            patch.setenv(name, value)
        code = run(list(args), stdout=out, stderr=err, clock=fixed_clock(at))
    return CliResult(code, out.getvalue(), err.getvalue())


def _build(root: Path, store: str, env: dict[str, str]) -> list[CliResult]:
    """The story built in the story fixture's order (the demo's ingests and `profiles
    build`), each command at its own minute; the JSON reports of init and of each command."""
    base = ("--config", str(STORY_CONFIG), "--store", store)
    results = [_run(root, "init", store, "--no-config", "-f", "json", env=env,
                    at="2026-12-01T06:00:00Z")]
    for minute, args in enumerate(demo_commands("data", STORY_BUILD), start=1):
        results.append(_run(root, *base, *args, "-f", "json", env=env,
                            at=f"2026-12-01T06:{minute:02d}:00Z"))
    for result in results:
        assert result.code == 0, result.stderr
    return results


@pytest.fixture(scope="module")
def lakes(story: Callable[..., CliResult], s3_server: S3Server,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lakes]:
    root = tmp_path_factory.mktemp("s3story")
    shutil.copytree(story.data, root / "data")  # type: ignore[attr-defined]
    local = str(root / "store")
    s3 = f"s3://{s3_server.make_bucket('story')}/lake"
    built = {local: _build(root, local, {}), s3: _build(root, s3, s3_server.env())}
    yield Lakes(root, local, s3, s3_server, built)


def _normalised(result: CliResult, store: str) -> dict[str, Any]:
    text = result.stdout.replace(store, "<store>")
    text = text.replace("errors-local", "errors-<kind>").replace("errors-s3", "errors-<kind>")
    doc: dict[str, Any] = json.loads(ATTEMPT.sub(r"\1<attempt>-", text))
    validate_envelope(doc)
    return doc


def test_the_s3_lake_holds_objects_and_no_local_folder(lakes: Lakes) -> None:
    bucket, _, prefix = lakes.s3.removeprefix("s3://").partition("/")
    keys = lakes.server.keys(bucket, prefix)
    ingests = [a for a in demo_commands("data", STORY_BUILD) if a[0] == "ingest"]
    assert sum(k.endswith(".parquet") for k in keys) >= len(ingests)
    assert not (lakes.root / "s3:").exists() and not (lakes.root / "lake").exists()


def test_init_and_the_ingests_report_the_same_on_s3(lakes: Lakes) -> None:
    pairs = zip(lakes.built[lakes.local], lakes.built[lakes.s3], strict=True)
    for step, (local, remote) in enumerate(pairs):
        a, b = _normalised(local, lakes.local), _normalised(remote, lakes.s3)
        assert a["results"], step
        assert json.dumps(b["results"], indent=2) == json.dumps(a["results"], indent=2), step
        assert json.dumps(b["summary"], indent=2) == json.dumps(a["summary"], indent=2), step


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_every_command_gives_the_same_results_on_s3(lakes: Lakes, case: Case) -> None:
    args = ["--config", str(STORY_CONFIG), *case.args, "-f", "json"]
    local = _run(lakes.root, "--store", lakes.local,
                 *[a.replace("{kind}", "local") for a in args])
    remote = _run(lakes.root, "--store", lakes.s3,
                  *[a.replace("{kind}", "s3") for a in args], env=lakes.server.env())
    assert local.code in (0, 1), local.stderr
    assert remote.code == local.code, remote.stderr
    a, b = _normalised(local, lakes.local), _normalised(remote, lakes.s3)
    if case.reports:
        assert a["results"], f"{case.name}: no results on the local store"
    # byte-identical: the same JSON text, not only equal numbers
    assert json.dumps(b["results"], indent=2) == json.dumps(a["results"], indent=2)
    assert json.dumps(b["summary"], indent=2) == json.dumps(a["summary"], indent=2)
    assert b["status"] == a["status"]
    if case.name == "export":
        assert pl.read_parquet(lakes.root / "errors-s3.parquet").equals(
            pl.read_parquet(lakes.root / "errors-local.parquet"))
