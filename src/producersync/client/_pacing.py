"""Client-side pacing: stay under the API's rate limit without ever being told twice.

One pacer per client, shared by every thread and task that uses it. Requests take evenly
spaced slots at a share of the limit (no bursts); the server's ``ratelimit-remaining`` /
``ratelimit-reset`` and any 429 tighten the schedule further.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping

from producersync.client._constants import PACE_SHARE
from producersync.client._retry import parse_reset, parse_retry_after

__all__ = ["Pacer"]

_SAFETY = 1  # at this many remaining requests, wait for the window to move
_LONGEST_HOLD = 3600.0  # a server asking for more is not taken at its word


class Pacer:
    def __init__(
        self,
        per_minute: float,
        share: float = PACE_SHARE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if per_minute <= 0:
            raise ValueError("rate_limit must be positive")
        self.interval = 60.0 / (per_minute * share)
        self._clock = clock
        self._lock = threading.Lock()
        self._next = 0.0  # the next free slot, on the clock
        self._hold_until = 0.0  # nothing goes before this (server said: wait)

    def reserve(self) -> float:
        """Take the next slot; how long to wait before sending."""
        with self._lock:
            now = self._clock()
            slot = max(now, self._next, self._hold_until)
            self._next = slot + self.interval
            return slot - now

    def observe(self, status: int, headers: Mapping[str, str]) -> None:
        """Learn from a response's rate-limit headers."""
        remaining = _number(
            headers.get("ratelimit-remaining") or headers.get("x-ratelimit-remaining")
        )
        reset = parse_reset(headers.get("ratelimit-reset") or headers.get("x-ratelimit-reset"))
        wait = None
        if status == 429:
            wait = parse_retry_after(headers)
            if wait is None:
                wait = reset
        elif remaining is not None and reset is not None:
            if remaining <= _SAFETY:
                wait = reset
            elif reset / remaining > self.interval:
                # Someone else spends this credential too: spread what is left.
                self._push_next(reset / remaining)
        if wait is not None:
            wait = min(wait, _LONGEST_HOLD)
            with self._lock:
                self._hold_until = max(self._hold_until, self._clock() + wait)

    def _push_next(self, spacing: float) -> None:
        with self._lock:
            self._next = max(self._next, self._clock() + spacing)


def _number(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return None
