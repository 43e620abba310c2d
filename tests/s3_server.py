"""A real S3-compatible server on loopback for the `s3` tests and benchmarks/s3.py: moto in
server mode, in a subprocess, on 127.0.0.1 and a port the OS picks.

Why a subprocess and not moto's in-process mocks: evalctl reads through polars' and obstore's
Rust HTTP clients, which never see Python-level patches; only a server on a socket is real to
them (and a killed ingest must be a killed process, not a thread).

Why unthreaded: moto's S3 conditional put (`If-None-Match: *`) is check-then-put; `moto_server`
runs werkzeug threaded, so two racing writers can both pass the check. The launcher below
builds the same WSGI app as `moto.server.main` but serves it with `threaded=False`: one request
at a time, so the check and the put are atomic, as they are on S3.

Counting requests: werkzeug logs one line per request (`"GET /bucket/key?x HTTP/1.1" 200 -`);
the launcher sends that log to a file, and `S3Server.requests()` parses it. A request is logged
when its response headers are sent, so every request a finished command made is in the log.

Never the real AWS: `S3Server.env()` sets fake credentials, the endpoint, and points the AWS
config and credential files at files that do not exist (no profile of the machine is read).

`python -m tests.s3_server --check` starts a server, makes a bucket, writes and reads an object,
stops it, and prints one line saying whether it worked (`make test-s3` runs it first).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ACCESS_KEY = "AKIAEVALCTLTESTKEY00"  # fake: only the loopback server knows it
SECRET_KEY = "evalctl-test-secret-do-not-print-9f2c41"  # tests grep outputs for it
REGION = "us-east-1"
START_TIMEOUT = 30.0  # seconds: moto imports a lot; on a loaded 2-core host it is slow

LAUNCHER = """
import logging, sys
from werkzeug.serving import make_server
from moto.moto_server.werkzeug_app import (DomainDispatcherApplication, MotoRequestHandler,
                                           create_backend_app)
log = logging.getLogger("werkzeug")
log.setLevel(logging.INFO)
handler = logging.FileHandler(sys.argv[1])
handler.setFormatter(logging.Formatter("%(message)s"))
log.addHandler(handler)
log.propagate = False
app = DomainDispatcherApplication(create_backend_app)
server = make_server("127.0.0.1", 0, app, threaded=False, processes=1,
                     request_handler=MotoRequestHandler)
print(server.port, flush=True)
server.serve_forever()
"""

ANSI = re.compile(r"\x1b\[[0-9;]*m")  # werkzeug colours the lines of 4xx/5xx answers
REQUEST_LINE = re.compile(r'"(?P<method>[A-Z]+) (?P<target>\S+) HTTP/[0-9.]+" (?P<status>\d{3})')


@dataclass(frozen=True)
class Request:
    """One logged request: method, path (no query), query string and status code."""

    method: str
    path: str
    query: str
    status: int

    @property
    def kind(self) -> str:
        """GET, PUT, HEAD, DELETE, POST, or LIST (a GET of a bucket, not of an object)."""
        if self.method == "GET" and self.path.strip("/").count("/") == 0:
            return "LIST"
        return self.method


@dataclass
class S3Server:
    """A running moto server. `endpoint` is its URL; `log` the request log file."""

    process: subprocess.Popen[str]
    endpoint: str
    log: Path
    access_key: str = ACCESS_KEY
    secret_key: str = SECRET_KEY
    buckets: list[str] = field(default_factory=list)

    def env(self) -> dict[str, str]:
        """The environment a client of this server needs (and nothing of the real AWS)."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key, "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_ENDPOINT_URL": self.endpoint, "AWS_ALLOW_HTTP": "true",
            "AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION,
            "AWS_EC2_METADATA_DISABLED": "true",
            # files that do not exist: no profile of the machine is read (not /dev/null, which
            # a shared host may have turned into a regular file)
            "AWS_CONFIG_FILE": str(self.log.parent / "no-aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(self.log.parent / "no-aws-credentials"),
        }

    def storage_options(self) -> dict[str, str]:
        """The same as `env()`, as polars/obstore `storage_options` keys."""
        return {"aws_endpoint_url": self.endpoint, "aws_allow_http": "true",
                "aws_region": REGION, "aws_access_key_id": self.access_key,
                "aws_secret_access_key": self.secret_key}

    def client(self) -> Any:
        """A boto3 S3 client on this server (boto3 comes with moto), for setup and checks."""
        import boto3  # test-only dependency, imported where it is needed

        return boto3.client("s3", endpoint_url=self.endpoint, region_name=REGION,
                            aws_access_key_id=self.access_key,
                            aws_secret_access_key=self.secret_key)

    def make_bucket(self, prefix: str = "evalctl") -> str:
        """A new empty bucket with a unique name."""
        name = f"{prefix}-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        self.buckets.append(name)
        return name

    def keys(self, bucket: str, prefix: str = "") -> dict[str, int]:
        """Every object below `prefix` with its size (the S3 analogue of a store snapshot)."""
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket,
                                                                         Prefix=prefix)
        return {o["Key"]: o["Size"] for page in pages for o in page.get("Contents", [])}

    def requests(self) -> list[Request]:
        """Every request the server answered so far, in order (moto's own API excluded)."""
        found = []
        for line in ANSI.sub("", self.log.read_text()).splitlines():
            match = REQUEST_LINE.search(line)
            if match is None:
                continue
            path, _, query = match["target"].partition("?")
            if path.startswith("/moto-api"):
                continue
            found.append(Request(match["method"], path, query, int(match["status"])))
        return found

    @contextmanager
    def counting(self) -> Iterator[Counter[str]]:
        """Count the requests made inside the block by kind (GET/PUT/LIST/HEAD/...);
        the counter is filled when the block exits."""
        before = len(self.sync())
        counts: Counter[str] = Counter()
        yield counts
        counts.update(r.kind for r in self.sync()[before:])

    def sync(self) -> list[Request]:
        """`requests()` once every request answered so far is in the log: werkzeug may write
        a line after the client has its answer, so send a marker request and wait for its
        line (the server is unthreaded: every earlier line is written before it)."""
        marker = uuid.uuid4().hex
        with urllib.request.urlopen(f"{self.endpoint}/moto-api/?sync={marker}", timeout=10):
            pass
        deadline = time.monotonic() + 10
        while marker not in self.log.read_text():
            assert time.monotonic() < deadline, "the moto request log stopped growing"
            time.sleep(0.005)
        return self.requests()

    def enforce_auth(self) -> None:
        """From now on every request must be signed by an IAM key the server knows: create a
        user allowed s3:* and its key, make it this server's key, then set moto's
        INITIAL_NO_AUTH_ACTION_COUNT to 0 (moto has no root key, so the user is created
        before authentication is switched on)."""
        import boto3  # test-only dependency, imported where it is needed

        iam = boto3.client("iam", endpoint_url=self.endpoint, region_name=REGION,
                           aws_access_key_id=self.access_key,
                           aws_secret_access_key=self.secret_key)
        iam.create_user(UserName="evalctl")
        iam.put_user_policy(UserName="evalctl", PolicyName="s3", PolicyDocument=json.dumps({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}))
        key = iam.create_access_key(UserName="evalctl")["AccessKey"]
        self.access_key, self.secret_key = key["AccessKeyId"], key["SecretAccessKey"]
        # a JSON body: a form-encoded one would be parsed away from `request.data`
        request = urllib.request.Request(f"{self.endpoint}/moto-api/reset-auth", data=b"0",
                                         method="POST",
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after 5 s)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()


class ServerError(RuntimeError):
    """moto could not be started (not installed, or it did not answer in time)."""


def start(folder: Path) -> S3Server:
    """Start a moto server whose request log is `folder`/moto.log; raise ServerError (with one
    line saying why) if it does not answer within START_TIMEOUT seconds."""
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / "moto.log"
    log.write_text("")
    errors = folder / "moto.stderr"
    with errors.open("w") as stderr:
        process = subprocess.Popen([sys.executable, "-c", LAUNCHER, str(log)],
                                   stdout=subprocess.PIPE, stderr=stderr, text=True,
                                   env=os.environ | {"INITIAL_NO_AUTH_ACTION_COUNT": "inf"})
    assert process.stdout is not None
    port = _read_port(process, errors)
    server = S3Server(process, f"http://127.0.0.1:{port}", log)
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        try:
            with urllib.request.urlopen(f"{server.endpoint}/moto-api/", timeout=5):
                return server
        except (urllib.error.URLError, OSError) as exc:
            if time.monotonic() > deadline or process.poll() is not None:
                server.stop()
                raise ServerError(f"moto server on {server.endpoint} did not answer: "
                                  f"{exc}") from exc
            time.sleep(0.1)


def _read_port(process: subprocess.Popen[str], errors: Path) -> int:
    """The port the launcher prints once it is bound (or ServerError with its last error)."""
    import selectors

    assert process.stdout is not None
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    ready = selector.select(timeout=START_TIMEOUT)
    line = process.stdout.readline().strip() if ready else ""
    if line.isdigit():
        return int(line)
    how = "exited" if process.poll() is not None else "timed out"
    process.kill()
    process.wait()
    tail = [t for t in errors.read_text().splitlines() if t.strip()][-1:] or ["no output"]
    raise ServerError(f"moto server did not start ({how}): {tail[0]}")


@contextmanager
def running(folder: Path) -> Iterator[S3Server]:
    """A moto server for the duration of the block, stopped after (also on an exception)."""
    server = start(folder)
    try:
        yield server
    finally:
        server.stop()


def check() -> int:
    """Start a server, put and get one object, stop it; one line on stdout or stderr."""
    import tempfile

    try:
        with tempfile.TemporaryDirectory() as tmp, running(Path(tmp)) as server:
            bucket = server.make_bucket("check")
            s3 = server.client()
            s3.put_object(Bucket=bucket, Key="k", Body=b"ok")
            s3.put_object(Bucket=bucket, Key="k", Body=b"no", IfNoneMatch="*")
    except ServerError as exc:
        print(f"make test-s3: {exc}", file=sys.stderr)
        return 1
    except ImportError as exc:
        print(f"make test-s3: moto is not installed ({exc}): pip install -e '.[test]'",
              file=sys.stderr)
        return 1
    except Exception as exc:  # the conditional put must be refused: that is the success path
        if "PreconditionFailed" in str(exc):
            print(f"moto server ok on loopback (conditional put refused: {type(exc).__name__})")
            return 0
        print(f"make test-s3: moto server misbehaves: {exc}", file=sys.stderr)
        return 1
    print("make test-s3: moto accepted a second create-if-absent put of one key", file=sys.stderr)
    return 1


if __name__ == "__main__":
    if sys.argv[1:] != ["--check"]:
        sys.exit("usage: python -m tests.s3_server --check")
    sys.exit(check())
