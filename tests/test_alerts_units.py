"""The pieces of alert delivery on their own: the rules, quiet hours, retries and backoff, the
`alerts:` settings, secret expansion and redaction, the delivery log's claims."""

from __future__ import annotations

import random
import threading
from datetime import UTC, datetime, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from evalctl.alerts.deliver import BACKOFF_CAP, Policy, Request, send
from evalctl.alerts.log import Claim, DeliveryLog, Outbox
from evalctl.alerts.payload import idempotency_key
from evalctl.alerts.rules import Decision, check_status, decide, in_quiet_hours
from evalctl.alerts.secrets import Secrets, check_variables
from evalctl.errors import ConfigError
from evalctl.settings.alerts import parse_alert_settings

# ------------------------------------------------------------------------------ rules


@pytest.mark.parametrize(("before", "now", "notify_on", "floor", "expected"), [
    (None, "fail", "change", "warn", "alert"),  # first window alerting
    (None, "pass", "change", "warn", None),
    ("pass", "warn", "change", "warn", "alert"),
    ("warn", "warn", "change", "warn", None),  # unchanged: quiet
    ("warn", "fail", "change", "warn", "alert"),  # worse: notify
    ("fail", "warn", "change", "warn", "alert"),  # better but still alerting
    ("fail", "pass", "change", "warn", "resolved"),
    ("warn", "insufficient", "change", "warn", "resolved"),  # not judged is not alerting
    ("pass", "warn", "change", "fail", None),  # below min_status
    ("warn", "pass", "change", "fail", None),  # was below min_status too: nothing to resolve
    ("fail", "fail", "failing", "warn", "alert"),  # every failing run
    ("pass", "error", "change", "warn", "alert"),  # could not compute: alerts as a warning
    ("fail", "fail", "change", "warn", None),
])
def test_decide(before: str | None, now: str, notify_on: str, floor: str,
                expected: str | None) -> None:
    got = decide({"drift": now}, {"drift": before}, notify_on, floor)
    assert got == ([Decision("drift", now, before, expected)] if expected else [])


def test_check_status_is_the_worst() -> None:
    rows = [{"status": s} for s in ("pass", "insufficient", "warn")]
    assert check_status(rows) == "warn"
    assert check_status([*rows, {"status": "error"}]) == "error"
    assert check_status([*rows, {"status": "fail"}, {"status": "error"}]) == "fail"
    assert check_status([{"status": "insufficient"}]) == "insufficient"


@pytest.mark.parametrize(("moment", "quiet"), [
    ("2026-12-01T21:30:00Z", True),  # 22:30 in Berlin (winter, UTC+1)
    ("2026-12-01T20:59:00Z", False),  # 21:59
    ("2026-12-01T05:59:00Z", True),  # 06:59
    ("2026-12-01T06:00:00Z", False),  # 07:00: the end is not quiet
    ("2026-07-01T05:30:00Z", False),  # 07:30 in summer (UTC+2)
    ("2026-07-01T04:30:00Z", True),  # 06:30 in summer
])
def test_quiet_hours_span_midnight_in_their_zone(moment: str, quiet: bool) -> None:
    at = datetime.fromisoformat(moment.replace("Z", "+00:00"))
    assert in_quiet_hours(at, time(22), time(7), "Europe/Berlin") is quiet


def test_quiet_hours_within_one_day() -> None:
    at = datetime(2026, 12, 1, 12, 30, tzinfo=UTC)
    assert in_quiet_hours(at, time(12), time(13), "UTC")
    assert not in_quiet_hours(at, time(13), time(14), "UTC")


def test_idempotency_key_is_stable_and_distinct() -> None:
    key = idempotency_key("m", "2026-11-30", "drift")
    assert key == idempotency_key("m", "2026-11-30", "drift") and len(key) == 32
    assert len({key, idempotency_key("m", "2026-11-30", "volume"),
                idempotency_key("m", "2026-11-29", "drift"),
                idempotency_key("m2", "2026-11-30", "drift")}) == 4
    # fields cannot run into each other
    assert idempotency_key("a", "b-c", "d") != idempotency_key("a-b", "c", "d")


# ------------------------------------------------------------------------------ delivery


class Recorder:
    """A loopback server answering each POST from `plan` (then 200)."""

    def __init__(self, plan: list[Any]) -> None:
        self.plan = plan
        self.seen: list[dict[str, str]] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                self.rfile.read(int(self.headers["Content-Length"]))
                recorder.seen.append(dict(self.headers))
                status, headers = (recorder.plan.pop(0) if recorder.plan else (200, {}))
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Recorder:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/x"


def policy(waits: list[float], **kw: Any) -> Policy:
    return Policy(timeout=kw.pop("timeout", 2), retries=kw.pop("retries", 4),
                  backoff=kw.pop("backoff", 1), sleep=waits.append, rng=random.Random(7),
                  **kw)


def test_backoff_is_exponential_with_full_jitter() -> None:
    with Recorder([(500, {})] * 4) as server:
        waits: list[float] = []
        got = send(Request(server.url, {"a": 1}, {}, "k" * 32), policy(waits))
    assert got.ok and got.attempts == 5 and got.http_status == 200
    rng = random.Random(7)
    assert waits == [rng.uniform(0, min(BACKOFF_CAP, 2 ** k)) for k in range(4)]
    assert {h["Idempotency-Key"] for h in server.seen} == {"k" * 32}


def test_client_errors_are_not_retried_and_retry_after_is_honoured() -> None:
    with Recorder([(404, {})]) as server:
        waits: list[float] = []
        got = send(Request(server.url, {}, {}, "k"), policy(waits))
    assert not got.ok and got.attempts == 1 and got.reason == "HTTP 404" and not waits
    with Recorder([(429, {"Retry-After": "3"})]) as server:
        waits = []
        got = send(Request(server.url, {}, {}, "k"), policy(waits, backoff=0.001))
    assert got.ok and got.attempts == 2 and waits == [3.0]


def test_retries_run_out_and_the_deadline_stops_them() -> None:
    with Recorder([(500, {})] * 10) as server:
        waits: list[float] = []
        got = send(Request(server.url, {}, {}, "k"), policy(waits, retries=2))
        assert not got.ok and got.attempts == 3 and got.reason == "HTTP 500"
        clock = iter([100.0] * 10)
        got = send(Request(server.url, {}, {}, "k"),
                   policy([], retries=5, deadline=101.0, monotonic=lambda: next(clock)))
        assert not got.ok and got.attempts == 1 and "no time left" in str(got.reason)


def test_connection_refused_is_a_failure_not_an_exception() -> None:
    with Recorder([]) as server:
        url = server.url
    got = send(Request(url, {}, {}, "k"), policy([], retries=1, backoff=0))
    assert not got.ok and got.attempts == 2 and got.http_status is None
    assert got.reason and got.reason.startswith("connection failed")


# ------------------------------------------------------------------------------ secrets


def test_secrets_expand_only_when_asked_and_are_redacted() -> None:
    secrets = Secrets({"TOKEN": "abc123secret", "HOST": "hooks.example"})
    url = secrets.expand("https://${HOST}/services/${TOKEN}")
    assert url == "https://hooks.example/services/abc123secret"
    message = f"request failed (ValueError: unknown url type: {url!r})"
    assert "abc123secret" not in secrets.redact(message)
    assert "***" in secrets.redact(message)
    with pytest.raises(ConfigError, match="environment variable NOPE is not set"):
        secrets.expand("${NOPE}")


def test_check_variables_names_the_variable_never_a_value() -> None:
    settings = parse_alert_settings("a", {"webhooks": [
        {"name": "x", "url": "https://h/${A}", "headers": {"Authorization": "Bearer ${B}"}}]})
    assert settings is not None
    check_variables("a", settings, {"A": "1", "B": "2"})
    with pytest.raises(ConfigError) as caught:
        check_variables("a", settings, {"A": "value-of-a"})
    assert "B is not set" in str(caught.value) and "value-of-a" not in str(caught.value)


# ------------------------------------------------------------------------------ settings

GOOD = {"webhooks": [{"name": "oncall", "url": "${URL}"}]}


def test_settings_defaults() -> None:
    settings = parse_alert_settings("k", GOOD)
    assert settings is not None
    assert (settings.notify_on, settings.min_status, settings.timeout, settings.retries) == (
        "change", "warn", 10.0, 3)
    assert settings.webhooks[0].format == "json" and settings.quiet_hours is None
    assert settings.claim_timeout > settings.send_budget == 4 * 10 + 1 + 2 + 4
    assert parse_alert_settings("k", None) is None


@pytest.mark.parametrize(("raw", "message"), [
    ({"webhook": []}, "k.webhook: unknown key"),
    ({"webhooks": []}, "k.webhooks: expected a list of at least one webhook"),
    ({"webhooks": [{"name": "a b", "url": "${U}"}]}, "k.webhooks[0].name: expected a name"),
    ({"webhooks": [{"name": "a"}]}, "k.webhooks[0].url: required key is missing"),
    ({"webhooks": [{"name": "a", "url": "ftp://x"}]}, "k.webhooks[0].url: expected an http"),
    ({"webhooks": [{"name": "a", "url": "https://x/${bad-name}"}]}, "must name an environ"),
    ({"webhooks": [{"name": "a", "url": "${U}", "format": "teams"}]},
     "k.webhooks[0].format: expected one of json, slack, got 'teams'"),
    ({"webhooks": [{"name": "a", "url": "${U}"}, {"name": "a", "url": "${V}"}]},
     "the name 'a' is used twice"),
    ({**GOOD, "notify_on": "always"}, "k.notify_on: expected one of change, failing"),
    ({**GOOD, "min_status": "pass"}, "k.min_status: expected one of warn, fail"),
    ({**GOOD, "quiet_hours": {"start": "22:00", "end": "7"}}, "k.quiet_hours.end: expected"),
    ({**GOOD, "quiet_hours": {"start": "22:00", "end": "07:00", "timezone": "Mars/Base"}},
     "k.quiet_hours.timezone: unknown time zone 'Mars/Base'"),
    ({**GOOD, "timeout": 0}, "k.timeout: 0 is out of range"),
    ({**GOOD, "retries": 11}, "k.retries: 11 is out of range"),
    ({**GOOD, "claim_timeout": 30}, "k.claim_timeout: 30 s must exceed the longest"),
])
def test_settings_errors_name_the_key(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=None) as caught:
        parse_alert_settings("k", raw)
    assert message in str(caught.value)


def test_an_unquoted_time_is_refused_with_a_hint(tmp_path: Path) -> None:
    raw = yaml.safe_load("quiet_hours: {start: 22:00, end: 07:00}")  # YAML 1.1: sexagesimal
    with pytest.raises(ConfigError, match='quoted 24-hour time such as "22:00"'):
        parse_alert_settings("k", {**GOOD, **raw})


def test_the_config_takes_alerts_per_model(cli, workdir: Path) -> None:
    config = workdir / "evalctl.yaml"
    config.write_text(config.read_text() + "    alerts: {webhooks: [{name: x, url: '${U}'}],"
                      " retries: -1}\n")
    result = cli("config", "check")
    assert result.code == 2
    assert "models.churn.alerts.retries: -1 is out of range" in result.stderr
    config.write_text(config.read_text().replace("retries: -1", "retries: 1"))
    assert cli("config", "check").code == 0
    lines = [line for line in config.read_text().splitlines() if "alerts:" not in line]
    config.write_text("\n".join([*lines, "    checks: {alerts: {}}"]) + "\n")
    assert "checks.alerts: unknown check" in cli("config", "check").stderr  # not a check


# ------------------------------------------------------------------------------ the log


def test_claims_are_exclusive_and_released_by_failure(tmp_path: Path) -> None:
    (tmp_path / "evalctl-store.json").write_text("{}")
    wall = [1000.0]
    log = DeliveryLog(tmp_path, "m", wall=lambda: wall[0])
    key = idempotency_key("m", "2026-11-30", "drift")
    assert log.record(Outbox(key, {"window": "2026-11-30"}, ("a", "b")))
    assert not log.record(Outbox(key, {"window": "other"}, ("a",)))  # first writer wins
    first = log.claim(key, "a", "run1", timeout=60)
    assert isinstance(first, Claim) and first.number == 1
    assert log.claim(key, "a", "run2", timeout=60) == "busy"  # live claim
    log.failed(first, 500, 4, "HTTP 500")
    second = log.claim(key, "a", "run2", timeout=60)
    assert isinstance(second, Claim) and second.number == 2  # released by the failure
    wall[0] += 61
    third = log.claim(key, "a", "run3", timeout=60)  # run2 went silent: stale
    assert isinstance(third, Claim) and third.number == 3
    log.sent(third, 200, 1)
    assert log.claim(key, "a", "run4", timeout=60) == "sent"
    assert [(o.key, o.destinations) for o in log.pending()] == [(key, ("b",))]
    names = sorted(p.name for p in log.folder.iterdir())
    assert names == sorted([f"{key}.json", f"{key}.a.claim-1", f"{key}.a.failed-1",
                            f"{key}.a.claim-2", f"{key}.a.claim-3", f"{key}.a.sent"])


def test_racing_claims_have_one_winner(tmp_path: Path) -> None:
    (tmp_path / "evalctl-store.json").write_text("{}")
    log = DeliveryLog(tmp_path, "m")
    key = idempotency_key("m", "2026-11-30", "drift")
    results: list[Any] = []
    barrier = threading.Barrier(8)

    def race() -> None:
        barrier.wait()
        results.append(log.claim(key, "a", "r", timeout=60))

    threads = [threading.Thread(target=race) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(isinstance(r, Claim) for r in results) == 1
    assert results.count("busy") == 7


@pytest.mark.parametrize("url", ["http://127.0.0.1:port-s3cret/x", "s3cret://host/x"])
def test_a_malformed_url_never_reaches_the_reason(url: str) -> None:
    got = send(Request(url, {}, {}, "k"), policy([], retries=0))
    assert not got.ok and got.attempts == 1 and got.reason
    assert "s3cret" not in got.reason and "check the webhook's URL" in got.reason
