"""Shared fixtures: a store with a tiny config, the sample story, a CLI runner, golden files.

The helpers they use (and test files import) live in tests/helpers.py.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import polars as pl
import pytest
from tests.helpers import (
    CONFIG,
    STORY_BUILD,
    STORY_CONFIG,
    CliResult,
    demo_commands,
    run_cli,
    write_story_data,
)
from tests.s3_server import S3Server
from tests.s3_server import ServerError as S3ServerError
from tests.s3_server import running as s3_running

# plain tables are $COLUMNS wide: the tests expect the default width whatever the shell says
os.environ.pop("COLUMNS", None)
# every result must fit its declared shape (reports/shape.py); strict in tests, lenient for users
os.environ["EVALCTL_STRICT_SHAPES"] = "1"


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A folder with evalctl.yaml and an initialised store."""
    (tmp_path / "evalctl.yaml").write_text(CONFIG)
    return tmp_path


@pytest.fixture
def cli(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., CliResult]:
    """Run the CLI in ``workdir`` exactly as the entry point does."""
    monkeypatch.chdir(workdir)
    monkeypatch.delenv("EVALCTL_CONFIG", raising=False)
    monkeypatch.delenv("EVALCTL_STORE", raising=False)

    assert run_cli("init", "store", "--no-config").code == 0
    return run_cli


@pytest.fixture
def frame_file(workdir: Path) -> Callable[..., Path]:
    """Write a frame in a chosen format and return its path."""

    def write(df: pl.DataFrame, name: str) -> Path:
        path = workdir / name
        if name.endswith(".csv"):
            df.write_csv(path)
        elif name.endswith(".jsonl"):
            df.write_ndjson(path)
        else:
            df.write_parquet(path)
        return path

    return write


@pytest.fixture(scope="session")
def story(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., CliResult]:
    """The sample story (scaled down) built into a store as `make demo` builds it (its
    ingests in its order, the monitoring reference fitted once the training data is in, so
    skew, drift and monitor read profiles); returns a CLI runner for it."""
    data = tmp_path_factory.mktemp("story_data")
    write_story_data(data)
    store = tmp_path_factory.mktemp("story") / "store"
    base = ["--config", str(STORY_CONFIG), "--store", str(store)]
    assert run_cli("init", str(store), "--no-config").code == 0
    for args in demo_commands(data, STORY_BUILD):
        result = run_cli(*base, *args)
        assert result.code == 0, (args, result.stderr)

    def invoke(*args: str) -> CliResult:
        return run_cli(*base, *args)

    invoke.store = store  # type: ignore[attr-defined]
    invoke.data = data  # type: ignore[attr-defined]
    return invoke


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-golden", action="store_true", default=False,
                     help="rewrite tests/golden/ from the current renderers")


@pytest.fixture
def golden(request: pytest.FixtureRequest) -> Callable[[str, str], None]:
    """Compare text with tests/golden/<name>; `pytest --update-golden` rewrites the file."""
    folder = Path(__file__).parent / "golden"

    def check(name: str, text: str) -> None:
        path = folder / name
        if request.config.getoption("--update-golden"):
            folder.mkdir(exist_ok=True)
            path.write_text(text)
            return
        assert path.exists(), f"{path} missing: run pytest --update-golden"
        assert text == path.read_text(), f"{name} differs (pytest --update-golden to accept)"

    return check


# -- object storage (issue #18): a moto S3 server on loopback, for tests marked `s3` ----------

@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """One moto server for the session (each test takes its own bucket); stopped after."""
    try:
        with s3_running(tmp_path_factory.mktemp("moto")) as server:
            yield server
    except S3ServerError as exc:
        pytest.fail(f"make test-s3: {exc}", pytrace=False)


@pytest.fixture
def s3_env(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> S3Server:
    """The server's fake credentials and endpoint in the environment; no real AWS profile,
    token or store from the shell reaches the test."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "EVALCTL_STORE",
                 "EVALCTL_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    for name, value in s3_server.env().items():
        monkeypatch.setenv(name, value)
    return s3_server


@pytest.fixture
def s3_store(s3_env: S3Server) -> str:
    """The URL of a store in a fresh, empty bucket: `s3://<bucket>/lake`."""
    return f"s3://{s3_env.make_bucket()}/lake"
