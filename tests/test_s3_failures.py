"""What a user sees when an `s3://` store cannot be reached (issue #18 item 4): bad
credentials (a moto server that enforces IAM signatures), a missing bucket and an unreachable
endpoint each give one line on stderr naming the store, exit 3, no traceback, and never the
secret (grepped in stdout and stderr)."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.helpers import CONFIG, CliResult, make_frame, run_cli
from tests.s3_server import SECRET_KEY, S3Server, running

pytestmark = pytest.mark.s3

WRONG_SECRET = "wrong-secret-that-must-never-be-printed-77aa"


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[S3Server, str]]:
    """A moto server that checks every request's signature against its IAM keys, with a
    bucket holding an initialised store (made before authentication was switched on)."""
    with running(tmp_path_factory.mktemp("moto-auth")) as server:
        server.enforce_auth()
        bucket = server.make_bucket("auth")
        yield server, f"s3://{bucket}/lake"


def _env(monkeypatch: pytest.MonkeyPatch, server: S3Server, **overrides: str) -> None:
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "EVALCTL_STORE", "EVALCTL_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    for name, value in (server.env() | overrides).items():
        monkeypatch.setenv(name, value)


def _one_line_exit_3(result: CliResult, store: str, *secrets: str) -> None:
    assert result.code == 3, (result.code, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert store in lines[0]
    assert "Traceback" not in result.stderr
    for secret in secrets:
        assert secret not in result.stdout + result.stderr


def test_the_auth_server_accepts_the_right_key(auth_server, monkeypatch, tmp_path) -> None:
    server, store = auth_server
    _env(monkeypatch, server)
    monkeypatch.chdir(tmp_path)
    assert run_cli("init", store, "--no-config").code == 0
    assert run_cli("--store", store, "catalog", "--format", "json").code == 0
    bucket, _, prefix = store.removeprefix("s3://").partition("/")
    assert server.keys(bucket, prefix), "init wrote nothing into the bucket"
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("command", [("catalog",), ("init", "{store}", "--no-config")])
def test_bad_credentials_are_one_line_exit_3(auth_server, monkeypatch, tmp_path,
                                             command: tuple[str, ...]) -> None:
    server, store = auth_server
    _env(monkeypatch, server, AWS_SECRET_ACCESS_KEY=WRONG_SECRET)
    monkeypatch.chdir(tmp_path)
    args = [a.replace("{store}", store) for a in command]
    result = run_cli("--store", store, *args)
    _one_line_exit_3(result, store, WRONG_SECRET, server.secret_key, SECRET_KEY)


def test_bad_credentials_in_the_config_are_masked(auth_server, monkeypatch,
                                                  tmp_path: Path) -> None:
    server, store = auth_server
    _env(monkeypatch, server)
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    config = CONFIG.replace("store: store", f"store: {store}\nstorage_options:\n"
                            f"  aws_secret_access_key: {WRONG_SECRET}\n"
                            f"  aws_access_key_id: {server.access_key}")
    (tmp_path / "evalctl.yaml").write_text(config)
    monkeypatch.chdir(tmp_path)
    frame = tmp_path / "a.parquet"
    make_frame(50).write_parquet(frame)
    for args in (("catalog",), ("ingest", "--model", "churn", "--version", "v1", "--env",
                                "production", str(frame)), ("config", "check")):
        result = run_cli(*args, "--format", "json")
        assert WRONG_SECRET not in result.stdout + result.stderr, args
        if args[0] != "config":
            _one_line_exit_3(result, store, WRONG_SECRET)


def test_a_missing_bucket_is_one_line_exit_3(s3_env: S3Server, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    store = "s3://no-such-bucket-evalctl/lake"
    for args in (("init", store, "--no-config"), ("--store", store, "catalog")):
        result = run_cli(*args)
        _one_line_exit_3(result, store, SECRET_KEY)
    assert not any(tmp_path.iterdir())  # nothing written locally instead


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_an_unreachable_endpoint_fails_fast_in_one_line(s3_env: S3Server, tmp_path,
                                                        monkeypatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{_closed_port()}")
    monkeypatch.chdir(tmp_path)
    store = f"s3://{s3_env.make_bucket()}/lake"
    for args in (("init", store, "--no-config"), ("--store", store, "catalog")):
        started = time.monotonic()
        result = run_cli(*args)
        elapsed = time.monotonic() - started
        _one_line_exit_3(result, store, SECRET_KEY)
        assert elapsed < 20, f"{args[0]} took {elapsed:.1f} s to give up"
