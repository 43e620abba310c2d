"""Alert delivery from `evalctl monitor` against a real HTTP server on loopback: payloads valid
under their schema, retries on 500 and on timeouts, no duplicate across re-runs and concurrent
runs, secrets never written anywhere, failed deliveries that change nothing else."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from tests.helpers import REPO, STORY_CONFIG, CliResult, run_cli, schema_registry, store_snapshot

import evalctl
from evalctl.clock import fixed_clock

M = ["--model", "tv-recommender"]
SECRET_PATH = "s3cr3t-path-7f1e"
SECRET_TOKEN = "t0ken-93ab-secret"


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class Hook:
    """A webhook receiver: records every request; `plan` gives the responses in order (an
    int status, or ("sleep", seconds) to stall past the client's timeout), then `default`."""

    server: ThreadingHTTPServer
    received: list[Received] = field(default_factory=list)
    plan: list[Any] = field(default_factory=list)
    default: Any = 200
    delay: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/{SECRET_PATH}"

    def keys(self) -> list[str]:
        return [r.headers["Idempotency-Key"] for r in self.received]


@pytest.fixture
def hook() -> Iterator[Hook]:
    state: dict[str, Hook] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            me = state["hook"]
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with me.lock:
                me.received.append(Received(self.path, dict(self.headers), body))
                action = me.plan.pop(0) if me.plan else me.default
            if isinstance(action, tuple):
                time.sleep(action[1])
                action = 200
            time.sleep(me.delay)
            self.send_response(action)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state["hook"] = Hook(server)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state["hook"]
    server.shutdown()
    server.server_close()
    thread.join()


ALERTS = """\
    alerts:
      webhooks:
        - name: oncall
          url: ${{EVALCTL_TEST_HOOK}}
          headers: {{Authorization: "Bearer ${{EVALCTL_TEST_TOKEN}}"}}
{extra_hooks}      timeout: {timeout}
      retries: {retries}
      backoff: 0.01
{extra}"""


@pytest.fixture
def setup(story, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hook: Hook):
    """A copy of the story's store and a config whose model alerts the test's webhook."""
    store = tmp_path / "store"
    shutil.copytree(story.store, store)
    monkeypatch.setenv("EVALCTL_TEST_HOOK", hook.url)
    monkeypatch.setenv("EVALCTL_TEST_TOKEN", SECRET_TOKEN)

    def configure(timeout: float = 20, retries: int = 2, extra: str = "",
                  extra_hooks: str = "") -> Path:
        config = tmp_path / "evalctl.yaml"
        text = STORY_CONFIG.read_text().replace("store: ../demo_store", f"store: {store}")
        config.write_text(text.rstrip("\n") + "\n" + ALERTS.format(
            timeout=timeout, retries=retries, extra=extra, extra_hooks=extra_hooks))
        return config

    return store, configure


def monitor(config: Path, *args: str) -> CliResult:
    return run_cli("--config", str(config), "monitor", *M, *args)


def secrets_absent(store: Path, *texts: str) -> None:
    for text in texts:
        assert SECRET_PATH not in text and SECRET_TOKEN not in text
    for path in store.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert SECRET_PATH.encode() not in data and SECRET_TOKEN.encode() not in data, path


def payload_validator() -> jsonschema.Draft202012Validator:
    registry = schema_registry()
    schema = registry.contents("https://evalctl.dev/schemas/alert-payload.v1.json")
    return jsonschema.Draft202012Validator(schema, registry=registry)


def statuses(doc: dict[str, Any]) -> dict[str, str]:
    """check -> its worst status, computed here from the report's rows."""
    order = ["fail", "error", "warn", "insufficient", "pass"]
    out: dict[str, str] = {}
    for row in doc["results"]:
        now = out.get(row["check"], "pass")
        out[row["check"]] = min(now, row["status"], key=order.index)
    return out


# ------------------------------------------------------------------------- delivery


def test_payloads_validate_carry_the_key_and_no_secret_leaks(setup, hook: Hook) -> None:
    store, configure = setup
    config = configure()
    result = monitor(config, "--date", "2026-11-30", "--verbose", "-o",
                     str(store.parent / "monitor.json"))
    assert result.code == 1, result.stderr
    doc = json.loads((store.parent / "monitor.json").read_text())
    alerting = {c for c, s in statuses(doc).items() if s in ("warn", "fail", "error")}
    assert alerting and {r.body["check"] for r in hook.received} == alerting
    validator = payload_validator()
    for r in hook.received:
        validator.validate(r.body)
        assert r.headers["Idempotency-Key"] == r.body["idempotency_key"]
        assert r.headers["Authorization"] == f"Bearer {SECRET_TOKEN}"  # expanded at send
        assert r.path == f"/hooks/{SECRET_PATH}"
        assert r.body["model"] == "tv-recommender" and r.body["window"] == "2026-11-30"
        assert r.body["report"] == str((store.parent / "monitor.json").resolve())
        assert r.body["previous_status"] is None and r.body["event"] == "alert"
    assert len(set(hook.keys())) == len(hook.received)
    drift = next(r.body for r in hook.received if r.body["check"] == "drift")
    assert {x["feature"] for x in drift["results"]} >= {"age", "watch_minutes_7d"}
    assert doc["summary"]["notifications"] == {
        "decided": len(alerting), "sent": len(alerting), "failed": 0, "held": 0,
        "skipped": 0, "warnings": []}
    secrets_absent(store, result.stdout, result.stderr, doc.__repr__())


def test_a_rerun_sends_nothing_twice(setup, hook: Hook) -> None:
    store, configure = setup
    config = configure()
    assert monitor(config, "--date", "2026-11-30").code == 1
    first = len(hook.received)
    again = monitor(config, "--date", "2026-11-30", "-f", "json")
    assert again.code == 1 and len(hook.received) == first
    assert again.json()["summary"]["notifications"]["sent"] == 0
    forced = monitor(config, "--date", "2026-11-30", "--notify")
    assert forced.code == 1 and len(hook.received) == first  # --notify never resends


def test_status_change_only_notifies_what_changed(setup, hook: Hook) -> None:
    _, configure = setup
    config = configure()
    day1 = monitor(config, "--date", "2026-11-14", "-f", "json").json()
    sent1 = len(hook.received)
    day2 = monitor(config, "--date", "2026-11-16", "-f", "json").json()
    before, after = statuses(day1), statuses(day2)
    changed = {c for c in after if after[c] != before.get(c)
               and ({after[c], before.get(c)} & {"warn", "fail", "error"})}
    got = {r.body["check"]: r.body for r in hook.received[sent1:]}
    assert set(got) == changed and changed  # the flood starts on the 15th
    for check, body in got.items():
        assert body["previous_status"] == before[check] and body["status"] == after[check]
        assert body["event"] == ("alert" if after[check] in ("warn", "fail", "error")
                                 else "resolved")


def test_every_failing_run_notifies_with_failing(setup, hook: Hook) -> None:
    _, configure = setup
    config = configure(extra="      notify_on: failing\n      min_status: fail\n")
    monitor(config, "--date", "2026-11-29")
    first = {r.body["check"] for r in hook.received}
    doc = monitor(config, "--date", "2026-11-30", "-f", "json").json()
    second = {r.body["check"] for r in hook.received[len(first):]}
    failing = {c for c, s in statuses(doc).items() if s == "fail"}
    assert second == failing and first  # again, although nothing changed


def test_retries_on_500_then_delivers_once(setup, hook: Hook) -> None:
    store, configure = setup
    config = configure(retries=3)
    hook.plan = [500, 503]
    result = monitor(config, "--date", "2026-11-30", "-f", "json")
    assert result.code == 1
    keys = hook.keys()
    assert keys[0] == keys[1] == keys[2]  # the first delivery: two 5xx, then a 2xx
    sent = json.loads(next((store / "results/model=tv-recommender/deliveries").glob(
        f"{keys[0]}.oncall.sent")).read_text())
    assert sent["attempts"] == 3 and sent["http_status"] == 200
    assert result.json()["summary"]["notifications"]["failed"] == 0


def test_retries_after_a_timeout(setup, hook: Hook) -> None:
    _, configure = setup
    config = configure(timeout=1, retries=3)
    hook.plan = [("sleep", 3)]
    result = monitor(config, "--date", "2026-11-30", "-f", "json")
    notes = result.json()["summary"]["notifications"]
    assert notes["failed"] == 0 and notes["sent"] >= 1
    keys = hook.keys()
    assert keys[0] == keys[1]  # the stalled attempt was retried with the same key


def test_a_failed_delivery_keeps_the_verdict_and_is_retried_next_run(setup, hook: Hook
                                                                     ) -> None:
    store, configure = setup
    config = configure(retries=1)
    quiet = monitor(config, "--date", "2026-11-29", "--no-notify", "-f", "json")
    assert not hook.received
    hook.default = 500
    failed = monitor(config, "--date", "2026-11-30", "-f", "json")
    assert failed.code == 1
    doc = failed.json()
    assert doc["status"] == "fail"
    notes = doc["summary"]["notifications"]
    assert notes["sent"] == 0 and notes["failed"] == notes["decided"] > 0
    assert "failed after 2 attempt(s) (HTTP 500)" in failed.stderr
    assert any("the next run retries it" in r for r in doc["recommendations"])
    assert len(hook.received) == 2  # one destination down: the rest wait for the next run
    secrets_absent(store, failed.stdout, failed.stderr)
    hook.default = 200
    later = monitor(config, "--date", "2026-11-30", "-f", "json").json()
    assert later["summary"]["notifications"]["sent"] == notes["decided"]
    delivered = [r.body["idempotency_key"] for r in hook.received[2:]]
    assert len(delivered) == len(set(delivered)) == notes["decided"]
    assert quiet.json()["status"] in ("warn", "fail")


def test_a_stale_claim_is_reclaimed_and_a_live_one_is_left_alone(setup, hook: Hook) -> None:
    store, configure = setup
    config = configure()
    folder = store / "results/model=tv-recommender/deliveries"
    assert monitor(config, "--date", "2026-11-30", "--no-notify").code == 1
    ws = evalctl.open(config, clock=fixed_clock("2026-12-01T12:00:00Z"))
    # a run that decided, claimed and died (crash before sending or before logging .sent)
    from evalctl.alerts.payload import idempotency_key

    key = idempotency_key("tv-recommender", "2026-11-30", "drift")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{key}.oncall.claim-1").write_text(
        json.dumps({"claimed_epoch": time.time() - 3600}))
    outcome = ws.monitor("tv-recommender", day=fixed_clock("2026-11-30")().date(),
                         notify=True)
    sent = [r.body["check"] for r in hook.received]
    assert "drift" in sent and (folder / f"{key}.oncall.claim-2").exists()
    assert outcome.report.summary["notifications"]["skipped"] == 0
    # a live claim: another run is sending this one right now
    other = idempotency_key("tv-recommender", "2026-11-29", "drift")
    (folder / f"{other}.oncall.claim-1").write_text(json.dumps({"claimed_epoch": time.time()}))
    before = len(hook.received)
    again = ws.monitor("tv-recommender", day=fixed_clock("2026-11-29")().date(), notify=True)
    assert "drift" not in [r.body["check"] for r in hook.received[before:]]
    assert again.report.summary["notifications"]["skipped"] >= 1


def test_two_concurrent_runs_send_each_notification_once(setup, hook: Hook) -> None:
    store, configure = setup
    config = configure()
    hook.delay = 0.2  # a slow receiver widens the race
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    command = [sys.executable, "-m", "evalctl", "--config", str(config), "monitor", *M,
               "--date", "2026-11-30", "-f", "json"]
    runs = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             env=env, text=True) for _ in range(2)]
    outs = [run.communicate(timeout=300) for run in runs]
    assert [run.returncode for run in runs] == [1, 1], [o[1] for o in outs]
    keys = hook.keys()
    assert keys and len(keys) == len(set(keys))
    docs = [json.loads(o[0]) for o in outs]
    sent = sum(d["summary"]["notifications"]["sent"] for d in docs)
    decided = sum(d["summary"]["notifications"]["decided"] for d in docs)
    assert sent == len(keys) == decided  # each recorded by one run and sent by one
    for out, err in outs:
        secrets_absent(store, out, err)


def test_slack_format(setup, hook: Hook) -> None:
    _, configure = setup
    config = configure(extra_hooks="        - name: slack\n"
                       "          url: ${EVALCTL_TEST_HOOK}\n          format: slack\n")
    assert monitor(config, "--date", "2026-11-30").code == 1
    slack = [r.body for r in hook.received if "blocks" in r.body]
    plain = [r.body for r in hook.received if "blocks" not in r.body]
    assert len(slack) == len(plain) > 0
    for body in slack:
        assert set(body) == {"text", "blocks"}
        assert body["text"].split(" ", 1)[1].startswith("evalctl tv-recommender 2026-11-30")
    drift = next(b for b in slack if ": drift " in b["text"])
    assert "*age* fail" in drift["blocks"][1]["text"]["text"]


def test_quiet_hours_hold_until_a_later_run(setup, hook: Hook) -> None:
    store, configure = setup
    config = configure(extra="      quiet_hours: {start: \"22:00\", end: \"07:00\", "
                       "timezone: Europe/Berlin}\n")
    day = fixed_clock("2026-11-30")().date()
    night = evalctl.open(config, clock=fixed_clock("2026-12-01T05:30:00Z"))  # 06:30 Berlin
    held = night.monitor("tv-recommender", day=day)
    notes = held.report.summary["notifications"]
    assert not hook.received and notes["held"] == notes["decided"] > 0
    assert "quiet hours" in notes["warnings"][0]
    morning = evalctl.open(config, clock=fixed_clock("2026-12-01T06:30:00Z"))  # 07:30 Berlin
    later = morning.monitor("tv-recommender", day=day)
    assert later.report.summary["notifications"]["sent"] == notes["decided"]
    assert len(hook.received) == notes["decided"]
    forced = evalctl.open(config, clock=fixed_clock("2026-12-02T05:30:00Z"))
    forced.monitor("tv-recommender", day=fixed_clock("2026-12-01")().date(), notify=True)
    assert len(hook.received) > notes["decided"]  # --notify sends in quiet hours


def test_a_missing_variable_is_exit_2_naming_it_and_writes_nothing(
        setup, monkeypatch: pytest.MonkeyPatch) -> None:
    store, configure = setup
    config = configure()
    monkeypatch.delenv("EVALCTL_TEST_TOKEN")
    before = store_snapshot(store)
    result = monitor(config, "--date", "2026-11-30", "-f", "json")
    assert result.code == 2
    assert result.stderr.strip().splitlines() == [
        "evalctl: error: models.tv-recommender.alerts.webhooks[0] (oncall): environment "
        "variable EVALCTL_TEST_TOKEN is not set"] or "EVALCTL_TEST_TOKEN" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert store_snapshot(store) == before
    secrets_absent(store, result.stdout, result.stderr)
    assert monitor(config, "--date", "2026-11-30", "--no-notify").code == 1


def test_notify_without_alerts_is_exit_2(story) -> None:
    result = story("monitor", *M, "--date", "2026-11-30", "--notify")
    assert result.code == 2 and "has no alerts: section" in result.stderr


def test_doctor_accepts_the_delivery_log(setup, hook: Hook) -> None:
    store, configure = setup
    config = configure()
    assert monitor(config, "--date", "2026-11-30").code == 1
    assert hook.received
    doctor = run_cli("--store", str(store), "doctor", "-f", "json")
    assert doctor.code == 0, doctor.stdout
