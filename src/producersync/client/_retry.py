"""The retry policy as small pure functions: what to retry, and how long to wait."""

from __future__ import annotations

import email.utils
import math
import random
import time
from collections.abc import Mapping
from typing import Any

import httpx2

from producersync.client._constants import INITIAL_RETRY_DELAY, MAX_RETRY_DELAY

__all__ = [
    "backoff",
    "body_retry_after",
    "parse_reset",
    "parse_retry_after",
    "server_wait",
    "should_retry",
]

_RETRY_STATUSES = frozenset({408, 409, 429})
_DAY = 86_400.0


def should_retry(response: httpx2.Response) -> bool:
    """Retry throttling, conflicts, request timeouts and server errors; never other 4xx."""
    hint = response.headers.get("x-should-retry")
    if hint in ("true", "false"):
        return hint == "true"
    return response.status_code in _RETRY_STATUSES or response.status_code >= 500


def _seconds(value: str) -> float | None:
    """A delay in seconds, or None: a negative or non-finite one is unreadable, not "retry
    at once", which would spend every retry at once on a server asking for a pause."""
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) and number >= 0 else None


def parse_retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds to wait, from ``retry-after-ms``, then ``Retry-After`` (seconds or an
    HTTP date); None when absent or unreadable."""
    millis = headers.get("retry-after-ms")
    if millis is not None and (wait := _seconds(millis)) is not None:
        return wait / 1000
    value = headers.get("retry-after")
    if value is None:
        return None
    if (wait := _seconds(value)) is not None:
        return wait
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (now if now is not None else time.time()))


def body_retry_after(body: Any) -> float | None:
    """Seconds to wait from an error body's ``retry_after`` (a number, or a string of
    one), as some AgentSync portals document a 429's body; None when there is none."""
    hint = body.get("retry_after") if isinstance(body, dict) else None
    if isinstance(hint, bool) or not isinstance(hint, int | float | str):
        return None
    return _seconds(str(hint))


def server_wait(status: int, headers: Mapping[str, str], body: Any = None) -> float | None:
    """Seconds the server asks us to wait before the next request: its Retry-After,
    else its error ``body``'s ``retry_after``; for a 429 with neither, until its
    rate-limit window resets. The pacer holds every slot that long, so the retry loop
    must see the same wait: it took a bare 429 for one to back off 0.5 s from, and the
    call then sat in the pacer's hold for up to an hour, past the cap over which a wait
    is raised for the caller to schedule."""
    wait = parse_retry_after(headers)
    if wait is None:
        wait = body_retry_after(body)
    if wait is None and status == 429:
        wait = parse_reset(headers.get("ratelimit-reset") or headers.get("x-ratelimit-reset"))
    return wait


def parse_reset(value: str | None, now: float | None = None) -> float | None:
    """Seconds until a rate-limit window frees up: accepts delta-seconds (the IETF draft,
    and ProducerSync) and epoch seconds (what some APIs send); clamped to [0, 3600]."""
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    if math.isnan(number):
        return None  # it would slip through the clamp below
    current = now if now is not None else time.time()
    if number > current - _DAY:  # an epoch, not a delay
        number -= current
    return min(max(number, 0.0), 3600.0)


def backoff(attempt: int, rng: random.Random | None = None) -> float:
    """Exponential backoff with up to 25 % jitter: 0.5 s, 1 s, 2 s … capped at 8 s."""
    jitter: float = 1 - 0.25 * (rng or random).random()
    return min(INITIAL_RETRY_DELAY * 2.0**attempt, MAX_RETRY_DELAY) * jitter
