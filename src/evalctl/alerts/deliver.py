"""One notification to one webhook: an HTTP POST (urllib, no extra dependency) with a timeout
per attempt and retries with exponential backoff and full jitter.

Retried: timeouts, connection errors, HTTP 408, 425, 429 and 5xx. Not retried: other 4xx (the
request itself is wrong; the next run tries again). A `Retry-After` in seconds is honoured
up to the backoff cap. Every attempt carries the same `Idempotency-Key`.
"""

from __future__ import annotations

import http.client
import json
import random
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from evalctl.version import __version__

BACKOFF_CAP = 30.0  # seconds: no wait between attempts is longer
_RETRIED_STATUS = {408, 425, 429}


@dataclass(frozen=True)
class Request:
    """What is sent: the expanded URL and headers are secret and never stored or shown."""

    url: str
    body: dict[str, Any]
    headers: dict[str, str]
    idempotency_key: str


@dataclass
class Policy:
    """How hard to try: ``timeout`` per attempt, ``retries`` after the first, waits drawn
    uniformly from [0, min(cap, backoff * 2**k)]; ``deadline`` (monotonic seconds) stops
    retrying when the next attempt could not finish before it. ``sleep``, ``rng`` and
    ``monotonic`` are injectable for tests."""

    timeout: float
    retries: int
    backoff: float
    deadline: float | None = None
    sleep: Callable[[float], None] = time.sleep
    rng: random.Random = field(default_factory=random.Random)
    monotonic: Callable[[], float] = time.monotonic


@dataclass(frozen=True)
class Delivery:
    """How it went: ``ok`` on a 2xx; ``reason`` says why not (no URL, no secret)."""

    ok: bool
    attempts: int
    http_status: int | None
    reason: str | None


def send(request: Request, policy: Policy) -> Delivery:
    """POST ``request`` until a 2xx, a non-retried failure, or the retries run out."""
    data = json.dumps(request.body, sort_keys=True).encode("utf-8")
    headers = {"Content-Type": "application/json", "User-Agent": f"evalctl/{__version__}",
               **request.headers, "Idempotency-Key": request.idempotency_key}
    attempt, status, reason = 0, None, None
    while True:
        attempt += 1
        status, reason, retry_after = _post(request.url, data, headers, policy.timeout)
        if status is not None and 200 <= status < 300:
            return Delivery(True, attempt, status, None)
        retried = status is None or status in _RETRIED_STATUS or status >= 500
        if not retried or attempt > policy.retries:
            return Delivery(False, attempt, status, reason)
        wait = policy.rng.uniform(0, min(BACKOFF_CAP, policy.backoff * 2 ** (attempt - 1)))
        if retry_after is not None:
            wait = max(wait, min(retry_after, BACKOFF_CAP))
        if policy.deadline is not None and (
                policy.monotonic() + wait + policy.timeout > policy.deadline):
            return Delivery(False, attempt, status, f"{reason} (no time left to retry)")
        policy.sleep(wait)


def _post(url: str, data: bytes, headers: dict[str, str],
          timeout: float) -> tuple[int | None, str, float | None]:
    """(HTTP status or None, what happened, Retry-After seconds) of one attempt."""
    request = urllib.request.Request(url, data=data, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read(65536)
            return response.status, f"HTTP {response.status}", None
    except urllib.error.HTTPError as exc:
        retry_after = exc.headers.get("Retry-After") if exc.headers else None
        exc.close()
        return exc.code, f"HTTP {exc.code}", _seconds(retry_after)
    except TimeoutError:
        return None, f"timed out after {timeout:g} s", None
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, TimeoutError):
            return None, f"timed out after {timeout:g} s", None
        if isinstance(exc.reason, OSError):
            return None, f"connection failed ({_plain(exc.reason)})", None
        return None, "request failed (check the webhook's URL)", None  # text may quote it
    except OSError as exc:
        return None, f"request failed ({type(exc).__name__}: {_plain(exc)})", None
    except (ValueError, http.client.HTTPException) as exc:  # their text may quote the URL
        return None, f"request failed ({type(exc).__name__}: check the webhook's URL)", None


def _plain(reason: object) -> str:
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror
    return str(reason)


def _seconds(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
