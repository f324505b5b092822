"""Client-side pacing: stay under the API's rate limit without ever being told twice.

One pacer per client, shared by every thread and task that uses it. Requests take evenly
spaced slots at a share of the limit (no bursts); the server's ``ratelimit-remaining`` /
``ratelimit-reset`` and any 429 tighten the schedule further.

The async client's tasks reserve their slot when they ask (first come, first served).
The sync client's threads queue, with a priority, for each slot as it comes due: when
more calls wait than the limit lets through, the ones that matter most go first. A sync
reading several lists at once serves its longest list first, so that no list is left
to run on alone, at one request per round trip, after the others are done.

The API's limit is a moving minute, which would let an idle client spend a minute's
allowance at once. The pacer does not: it was tried (2026-12-03), and in a storm's pass
its bursts gave every list a slot without waiting, so the short lists ran ahead and the
longest ended alone at a request per round trip (372.6 and 375.5 s against 363.1 s
evenly spaced, the same evening): priorities order only calls that wait.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable, Mapping

from producersync.client._constants import PACE_SHARE
from producersync.client._retry import parse_reset, parse_retry_after

__all__ = ["Pacer"]

_SAFETY = 1  # at this many remaining requests, wait for the window to move
_LONGEST_HOLD = 3600.0  # a server asking for more is not taken at its word
# A thread woken this late for its slot keeps the schedule (the wake-ups' lateness would
# otherwise add up); idle time beyond it is not banked as a burst.
_LATE = 0.05


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
        self._turns = threading.Condition(self._lock)
        self._waiting: list[tuple[float, int]] = []  # (-priority, arrival): a heap
        self._arrivals = itertools.count()
        self._next = 0.0  # the next free slot, on the clock
        self._hold_until = 0.0  # nothing goes before this (server said: wait)

    def reserve(self) -> float:
        """Take the next slot; how long to wait before sending."""
        with self._lock:
            now = self._clock()
            slot = max(now, self._next, self._hold_until)
            self._next = slot + self.interval
            return slot - now

    def take(self, priority: float = 0.0) -> None:
        """Block until a slot is this thread's: while several wait, the highest
        ``priority`` gets the next one (the first to ask, among equals)."""
        with self._turns:
            ticket = (-priority, next(self._arrivals))
            heapq.heappush(self._waiting, ticket)
            try:
                while True:
                    due = max(self._next, self._hold_until)
                    wait = due - self._clock()
                    first = self._waiting[0] == ticket
                    if first and wait <= 0:
                        break
                    self._turns.wait(wait if first else None)
            finally:
                self._waiting.remove(ticket)
                heapq.heapify(self._waiting)
                self._turns.notify_all()  # the next in line may be due already
            self._next = max(due, self._clock() - _LATE) + self.interval

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
