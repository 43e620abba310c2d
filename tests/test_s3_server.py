"""The moto fixture itself (tests/s3_server.py): it serves S3 on loopback, refuses a second
create-if-absent put of a key even under concurrent writers, counts requests by kind from its
log, enforces IAM signatures when asked, and stops."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from tests.s3_server import S3Server, running

pytestmark = pytest.mark.s3


def test_conditional_puts_of_one_key_from_many_writers_let_exactly_one_win(
        s3_server: S3Server) -> None:
    bucket = s3_server.make_bucket()
    s3 = s3_server.client()

    def put(i: int) -> str:
        try:
            s3.put_object(Bucket=bucket, Key="ledger/record.json", Body=f"{i}".encode(),
                          IfNoneMatch="*")
            return "won"
        except ClientError as exc:
            return exc.response["Error"]["Code"]

    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(put, range(32)))
    assert outcomes.count("won") == 1
    assert set(outcomes) == {"won", "PreconditionFailed"}
    winner = outcomes.index("won")
    body = s3.get_object(Bucket=bucket, Key="ledger/record.json")["Body"].read()
    assert body == f"{winner}".encode()


def test_requests_are_counted_by_kind(s3_server: S3Server) -> None:
    bucket = s3_server.make_bucket()
    s3 = s3_server.client()
    with s3_server.counting() as counts:
        for i in range(3):
            s3.put_object(Bucket=bucket, Key=f"a/{i}", Body=b"x")
        s3.get_object(Bucket=bucket, Key="a/0")
        s3.head_object(Bucket=bucket, Key="a/1")
        s3.list_objects_v2(Bucket=bucket, Prefix="a/")
        s3.delete_object(Bucket=bucket, Key="a/2")
    assert dict(counts) == {"PUT": 3, "GET": 1, "HEAD": 1, "LIST": 1, "DELETE": 1}
    assert s3_server.keys(bucket, "a/") == {"a/0": 1, "a/1": 1}


def test_the_auth_variant_refuses_a_wrong_secret_and_stops(tmp_path: Path) -> None:
    with running(tmp_path) as server:
        server.enforce_auth()
        bucket = server.make_bucket()  # with the IAM user's key
        server.client().put_object(Bucket=bucket, Key="k", Body=b"ok")
        right = server.secret_key
        server.secret_key = "not-the-secret"
        with pytest.raises(ClientError) as refused:
            server.client().get_object(Bucket=bucket, Key="k")
        assert refused.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
        server.secret_key = right
        assert server.client().get_object(Bucket=bucket, Key="k")["Body"].read() == b"ok"
        process = server.process
    assert process.poll() is not None  # stopped on leaving the block
