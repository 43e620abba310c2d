"""The notification step of `evalctl monitor`: decide, record, deliver, report.

After the monitor has stored a model's window, the rules decide which checks to notify
about; each notification is recorded in the delivery log (the outbox), and every recorded
notification not yet delivered — this run's and earlier runs' that failed or were held in
quiet hours — is claimed and sent. A failed delivery changes neither the verdict, nor the exit
code, nor the history: it becomes a warning, and the next run retries it.
"""

from __future__ import annotations

import os
import random
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from evalctl.alerts.log import Claim, DeliveryLog, Outbox
from evalctl.alerts.payload import ModelWindow, build_payload, idempotency_key, slack_payload
from evalctl.alerts.rules import check_status, decide, in_quiet_hours
from evalctl.alerts.secrets import Secrets, check_variables
from evalctl.clock import rfc3339
from evalctl.config import ModelConfig
from evalctl.errors import ConfigError, InputError
from evalctl.lake.results import previous_window
from evalctl.lake.store import Store
from evalctl.reports import Report
from evalctl.settings.alerts import AlertSettings, Webhook


@dataclass
class Notifications:
    """What the notification step did (the report's `summary.notifications`)."""

    decided: int = 0  # notifications this run decided on (new in the outbox)
    sent: int = 0  # deliveries that got a 2xx
    failed: int = 0  # deliveries that did not (retried on the next run)
    held: int = 0  # deliveries waiting for the end of quiet hours
    skipped: int = 0  # delivered already, or being delivered by a concurrent run
    warnings: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)  # also in warnings

    def failure(self, text: str) -> None:
        self.failures.append(text)
        self.warnings.append(text)

    def as_summary(self) -> dict[str, Any]:
        return {"decided": self.decided, "sent": self.sent, "failed": self.failed,
                "held": self.held, "skipped": self.skipped, "warnings": list(self.warnings)}


@dataclass
class Delivering:
    """How this run delivers: ``forced`` ignores quiet hours (`--notify`); ``report`` is the
    path of the report (`-o`) when the config gives no `report_url`; the rest is injectable
    for tests (the environment secrets come from, waits, jitter, clocks)."""

    now: datetime
    forced: bool = False
    report: str | None = None
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    env: Mapping[str, str] = field(default_factory=lambda: os.environ)
    sleep: Callable[[float], None] = time.sleep
    rng: random.Random = field(default_factory=random.Random)
    wall: Callable[[], float] = time.time
    monotonic: Callable[[], float] = time.monotonic


def models_to_notify(models: Sequence[ModelConfig], notify: bool | None,
                     env: Mapping[str, str]) -> list[ModelConfig]:
    """The models whose alerts this run delivers, checked before the monitor runs (so a bad
    setup writes nothing): ``notify`` None = those with `alerts:`, False = none, True = all
    of them, each of which must have `alerts:`. A variable a webhook names must be set."""
    if notify is False:
        return []
    if notify:
        missing = [m.name for m in models if m.settings.alerts is None]
        if missing:
            raise InputError(f"--notify: model {missing[0]!r} has no alerts: section in the "
                             "config (README: Alerts and integrations)", key="--notify")
    chosen = [m for m in models if m.settings.alerts is not None]
    for model in chosen:
        assert model.settings.alerts is not None
        check_variables(f"models.{model.name}.alerts", model.settings.alerts, env)
    return chosen


def notify_models(store: Store, models: Sequence[ModelConfig], report: Report,
                  how: Delivering) -> Notifications:
    """Decide, record and deliver each model's notifications; add the outcome to ``report``
    (`summary.notifications`, and a recommendation per failed delivery)."""
    done = Notifications()
    for model in models:
        settings = model.settings.alerts
        assert settings is not None
        seen = _model_window(model, report, settings, how)
        log = DeliveryLog(store.storage, model.name, how.wall)
        for outbox in _decisions(store, seen, settings):
            done.decided += log.record(outbox)
        pending = log.pending()
        quiet = settings.quiet_hours
        if pending and quiet and not how.forced and in_quiet_hours(
                how.now, quiet.start, quiet.end, quiet.timezone):
            done.held += sum(len(o.destinations) for o in pending)
            done.warnings.append(
                f"{model.name}: quiet hours ({quiet.start:%H:%M}-{quiet.end:%H:%M} "
                f"{quiet.timezone}): {len(pending)} notification(s) wait for a run after "
                f"{quiet.end:%H:%M} (or --notify)")
            continue
        _deliver(log, pending, settings, how, done)
    report.summary["notifications"] = done.as_summary()
    report.recommendations += done.failures
    return done


def _model_window(model: ModelConfig, report: Report, settings: AlertSettings,
                  how: Delivering) -> ModelWindow:
    window = str(report.inputs["windows"][model.name])
    rows = [r for r in report.results if r.get("model") == model.name]
    advice = [r["summary"] for r in rows if r["check"] == "retraining" and r.get("summary")]
    advice += [r for r in report.recommendations if r.startswith(f"{model.name} ")]
    link = how.report
    if settings.report_url:
        link = settings.report_url.replace("{model}", model.name).replace("{window}", window)
    return ModelWindow(model=model.name, window=window, run_at=rfc3339(how.now.replace(
        microsecond=0)), rows=rows, recommendations=advice, report=link)


def _decisions(store: Store, seen: ModelWindow, settings: AlertSettings) -> list[Outbox]:
    by_check: dict[str, list[dict[str, Any]]] = {}
    for row in seen.rows:
        by_check.setdefault(row["check"], []).append(row)
    current = {check: check_status(rows) for check, rows in by_check.items()}
    day = datetime.fromisoformat(seen.window).date()
    previous: dict[str, str | None] = {}
    for check in current:
        earlier = previous_window(store.storage, seen.model, check, day)
        previous[check] = check_status(earlier[1]["results"]) if earlier else None
    names = tuple(w.name for w in settings.webhooks)
    return [Outbox(idempotency_key(seen.model, seen.window, d.check), build_payload(d, seen),
                   names)
            for d in decide(current, previous, settings.notify_on, settings.min_status)]


def _deliver(log: DeliveryLog, pending: list[Outbox], settings: AlertSettings,
             how: Delivering, done: Notifications) -> None:
    """Claim and send each pending delivery; after one destination fails, the rest of its
    deliveries wait for the next run (no minutes of retries against a webhook that is down)."""
    hooks = {w.name: w for w in settings.webhooks}
    down: set[str] = set()
    for outbox in pending:
        for name in outbox.destinations:
            hook = hooks.get(name)
            if hook is None:  # removed from the config since: nothing to send it to
                continue
            if name in down:
                done.failed += 1
                continue
            claim = log.claim(outbox.key, name, how.run_id, settings.claim_timeout)
            if isinstance(claim, str):
                done.skipped += 1
                continue
            if _send_one(log, claim, hook, outbox, settings, how, done):
                done.sent += 1
            else:
                done.failed += 1
                down.add(name)


def _send_one(log: DeliveryLog, claim: Claim, hook: Webhook, outbox: Outbox,
              settings: AlertSettings, how: Delivering, done: Notifications) -> bool:
    # start-up time: urllib, http.client and ssl (~9 ms) load only when a webhook is called,
    # not for every `monitor` run
    from evalctl.alerts.deliver import Policy, Request, send

    secrets = Secrets(how.env)
    what = (f"{outbox.payload['model']} {outbox.payload['window']} "
            f"{outbox.payload['check']}")
    try:
        request = Request(
            url=secrets.expand(hook.url),
            body=slack_payload(outbox.payload) if hook.format == "slack" else outbox.payload,
            headers={k: secrets.expand(v) for k, v in hook.headers},
            idempotency_key=outbox.key)
    except ConfigError as exc:
        log.failed(claim, None, 0, str(exc))
        done.failure(f"notification {what} to {hook.name} failed: {exc}")
        return False
    policy = Policy(timeout=settings.timeout, retries=settings.retries,
                    backoff=settings.backoff,
                    deadline=how.monotonic() + settings.claim_timeout - 1.0,
                    sleep=how.sleep, rng=how.rng, monotonic=how.monotonic)
    delivery = send(request, policy)
    if delivery.ok:
        log.sent(claim, delivery.http_status, delivery.attempts)
        return True
    reason = secrets.redact(delivery.reason or "failed")
    log.failed(claim, delivery.http_status, delivery.attempts, reason)
    done.failure(
        f"notification {what} to {hook.name} failed after {delivery.attempts} attempt(s) "
        f"({reason}); the verdict, exit code and history stand, the next run retries it")
    return False
