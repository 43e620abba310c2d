"""A model's `alerts:` section -> `AlertSettings`, parsed once at load (README: "Alerts and
integrations").

Secrets never live here: a URL or header value may name environment variables as
``${NAME}``, kept unexpanded; they are read only when a notification is sent
(`evalctl.alerts.secrets`). Every error names the key path.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import time
from typing import Any

from evalctl.errors import ConfigError
from evalctl.settings.values import config_integer, config_number, config_section

NOTIFY_ON = ("change", "failing")  # status changes only (default) | every failing run
MIN_STATUS = ("warn", "fail")
FORMATS = ("json", "slack")
ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_DESTINATION_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$")
_CLOCK_TIME = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
_ALERT_KEYS = {"webhooks", "notify_on", "min_status", "quiet_hours", "timeout", "retries",
               "backoff", "claim_timeout", "report_url"}
_WEBHOOK_KEYS = {"name", "url", "format", "headers"}
_QUIET_KEYS = {"start", "end", "timezone"}


@dataclass(frozen=True)
class Webhook:
    """One destination. ``url`` and ``headers`` are templates (``${VAR}`` unexpanded)."""

    name: str
    url: str
    format: str = "json"  # | slack
    headers: tuple[tuple[str, str], ...] = ()

    @property
    def variables(self) -> tuple[str, ...]:
        """The environment variables its URL and headers name, in order, once each."""
        found = ENV_REFERENCE.findall(self.url)
        for _, value in self.headers:
            found += ENV_REFERENCE.findall(value)
        return tuple(dict.fromkeys(found))


@dataclass(frozen=True)
class QuietHours:
    """Local times (in ``timezone``) between which notifications wait for a later run; an
    ``end`` before ``start`` spans midnight."""

    start: time
    end: time
    timezone: str = "UTC"


@dataclass(frozen=True)
class AlertSettings:
    """`models.<m>.alerts`: where and when `evalctl monitor` notifies."""

    webhooks: tuple[Webhook, ...] = ()
    notify_on: str = "change"
    min_status: str = "warn"
    quiet_hours: QuietHours | None = None
    timeout: float = 10.0  # seconds per attempt
    retries: int = 3  # attempts after the first
    backoff: float = 1.0  # seconds: attempt k waits up to backoff * 2**k (full jitter)
    claim_timeout: float = 600.0  # seconds before a claim with no `.sent` may be re-claimed
    report_url: str | None = None  # "{model}" / "{window}" filled in; default the -o path

    @property
    def send_budget(self) -> float:
        """Seconds one delivery may take at most: every attempt timing out and every backoff
        wait at its cap. The claim timeout must exceed it."""
        waits = sum(min(self.backoff * 2 ** k, 30.0) for k in range(self.retries))
        return (self.retries + 1) * self.timeout + waits


def parse_alert_settings(key: str, raw: Any) -> AlertSettings | None:
    """A model's `alerts:` mapping (None when absent)."""
    section = config_section(key, raw, _ALERT_KEYS)
    if section is None:
        return None
    hooks = section.get("webhooks")
    if not isinstance(hooks, list) or not hooks:
        raise ConfigError(f"{key}.webhooks: expected a list of at least one webhook "
                          "({name, url, format})")
    webhooks = tuple(_webhook(f"{key}.webhooks[{i}]", h) for i, h in enumerate(hooks))
    names = [w.name for w in webhooks]
    duplicate = next((n for n in names if names.count(n) > 1), None)
    if duplicate:
        raise ConfigError(f"{key}.webhooks: the name {duplicate!r} is used twice")
    settings = AlertSettings(
        webhooks=webhooks,
        notify_on=_choice(f"{key}.notify_on", section.get("notify_on", "change"), NOTIFY_ON),
        min_status=_choice(f"{key}.min_status", section.get("min_status", "warn"), MIN_STATUS),
        quiet_hours=_quiet_hours(f"{key}.quiet_hours", section.get("quiet_hours")),
        timeout=config_number(f"{key}.timeout", section.get("timeout", 10), 0.1, 300),
        retries=config_integer(f"{key}.retries", section.get("retries", 3), 0),
        backoff=config_number(f"{key}.backoff", section.get("backoff", 1), 0, 60),
        claim_timeout=config_number(f"{key}.claim_timeout", section.get("claim_timeout", 600),
                                    1),
        report_url=_template(f"{key}.report_url", section.get("report_url")))
    if settings.retries > 10:
        raise ConfigError(f"{key}.retries: {settings.retries} is out of range [0, 10]")
    if settings.claim_timeout <= settings.send_budget:
        raise ConfigError(f"{key}.claim_timeout: {settings.claim_timeout:g} s must exceed the "
                          f"longest a delivery can take ({settings.send_budget:g} s: every "
                          "attempt timing out, every backoff at its cap)")
    return settings


def _webhook(key: str, raw: Any) -> Webhook:
    section = config_section(key, raw, _WEBHOOK_KEYS)
    if section is None:
        raise ConfigError(f"{key}: expected a mapping with name and url")
    name = section.get("name")
    if not isinstance(name, str) or not _DESTINATION_NAME.match(name):
        raise ConfigError(f"{key}.name: expected a name of letters, digits, '-' or '_' (at "
                          f"most 40), got {name!r}")
    url = _template(f"{key}.url", section.get("url"))
    if url is None:
        raise ConfigError(f"{key}.url: required key is missing")
    if not (url.startswith(("http://", "https://")) or url.startswith("${")):
        raise ConfigError(f"{key}.url: expected an http(s) URL or ${{VAR}} naming an "
                          "environment variable that holds it")
    headers = section.get("headers") or {}
    if not isinstance(headers, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in headers.items()):
        raise ConfigError(f"{key}.headers: expected a mapping of header names to strings")
    return Webhook(name=name, url=url,
                   format=_choice(f"{key}.format", section.get("format", "json"), FORMATS),
                   headers=tuple(sorted(headers.items())))


def _template(key: str, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{key}: expected a string")
    stripped = ENV_REFERENCE.sub("", value)
    if "${" in stripped:
        raise ConfigError(f"{key}: a ${{...}} reference must name an environment variable "
                          "(letters, digits, _), e.g. ${SLACK_WEBHOOK_URL}")
    return value


def _choice(key: str, value: Any, valid: tuple[str, ...]) -> str:
    if value not in valid:
        raise ConfigError(f"{key}: expected one of {', '.join(valid)}, got {value!r}")
    return str(value)


def _quiet_hours(key: str, raw: Any) -> QuietHours | None:
    section = config_section(key, raw, _QUIET_KEYS)
    if section is None:
        return None
    times = {}
    for part in ("start", "end"):
        value = section.get(part)
        match = _CLOCK_TIME.match(value) if isinstance(value, str) else None
        if not match:
            raise ConfigError(f"{key}.{part}: expected a quoted 24-hour time such as "
                              f"\"22:00\", got {value!r}")
        times[part] = time(int(match[1]), int(match[2]))
    zone = section.get("timezone", "UTC")
    try:
        from zoneinfo import ZoneInfo  # the time-zone database, only for quiet hours

        ZoneInfo(str(zone))
    except (ValueError, KeyError, OSError) as exc:
        raise ConfigError(f"{key}.timezone: unknown time zone {zone!r} (an IANA name such as "
                          "Europe/Berlin or UTC)") from exc
    if times["start"] == times["end"]:
        raise ConfigError(f"{key}: start and end are equal (quiet all day or never?)")
    return QuietHours(start=times["start"], end=times["end"], timezone=str(zone))
