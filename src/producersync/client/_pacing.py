"""Client-side pacing: stay under the API's rate limit without ever being told twice.

One pacer per client, shared by every thread and task that uses it. The API counts a
client's requests over a moving minute, so the pacer keeps the same count of its own
slots: at most a share of the limit in any minute. Within that, slots are spaced at a
few times the pace, so a client that has been idle spends what the minute allows at
once (a sync that starts from rest finishes up to a minute sooner), and one that is busy
settles at the limit's pace. The server's ``ratelimit-remaining`` / ``ratelimit-reset``
and any 429 tighten the schedule further: they count every user of the credential.

The async client's tasks reserve their slot when they ask (first come, first served).
The sync client's threads queue, with a priority, for each slot as it comes due: when
more calls wait than the limit lets through, the ones that matter most go first. A sync
reading several lists at once serves its longest list first, so that no list is left
to run on alone, at one request per round trip, after the others are done.
"""

from __future__ import annotations

import heapq
import itertools
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping

from producersync.client._constants import PACE_SHARE
from producersync.client._retry import parse_reset, parse_retry_after

__all__ = ["Pacer"]

_SAFETY = 1  # at this many remaining requests, wait for the window to move
_WINDOW = 60.0  # seconds: the API's limit is per moving minute
_BURST = 4  # a burst's slots come this many times faster than the limit's pace
# The server's count and ours disagree by the requests in flight and those whose minute
# ends between its clock and ours: a gap wider than this is someone else's requests.
_OTHERS = 3
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
        self.per_minute = per_minute
        self.interval = _WINDOW / (per_minute * share)  # the pace, on average
        self._gap = self.interval / _BURST
        self._clock = clock
        self._lock = threading.Lock()
        self._turns = threading.Condition(self._lock)
        self._waiting: list[tuple[float, int]] = []  # (-priority, arrival): a heap
        self._arrivals = itertools.count()
        # The last minute's worth of slots: the oldest frees the next when its minute ends.
        self._slots: deque[float] = deque(maxlen=max(1, math.floor(per_minute * share)))
        self._next = 0.0  # the next free slot by spacing, on the clock
        self._hold_until = 0.0  # nothing goes before this (server said: wait)

    def _due(self) -> float:
        """When the next slot is free (call with the lock held)."""
        due = max(self._next, self._hold_until)
        if len(self._slots) == self._slots.maxlen:
            due = max(due, self._slots[0] + _WINDOW)
        return due

    def _occupy(self, slot: float) -> None:
        self._slots.append(slot)
        self._next = slot + self._gap

    def reserve(self) -> float:
        """Take the next slot; how long to wait before sending."""
        with self._lock:
            now = self._clock()
            slot = max(now, self._due())
            self._occupy(slot)
            return slot - now

    def take(self, priority: float = 0.0) -> None:
        """Block until a slot is this thread's: while several wait, the highest
        ``priority`` gets the next one (the first to ask, among equals)."""
        with self._turns:
            ticket = (-priority, next(self._arrivals))
            heapq.heappush(self._waiting, ticket)
            try:
                while True:
                    wait = self._due() - self._clock()
                    first = self._waiting[0] == ticket
                    if first and wait <= 0:
                        break
                    self._turns.wait(wait if first else None)
            finally:
                self._waiting.remove(ticket)
                heapq.heapify(self._waiting)
                self._turns.notify_all()  # the next in line may be due already
            # The slot is when it went, not when it was due: a late wake-up's request
            # counts in the server's minute from when it arrives.
            self._occupy(self._clock())

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
            elif reset / remaining > self.interval and self._others(headers, remaining):
                # Someone else spends this credential too: spread what is left.
                self._push_next(reset / remaining)
        if wait is not None:
            wait = min(wait, _LONGEST_HOLD)
            with self._lock:
                self._hold_until = max(self._hold_until, self._clock() + wait)

    def _others(self, headers: Mapping[str, str], remaining: float) -> bool:
        """Whether the server counts requests in its minute that are not ours."""
        limit = _number(headers.get("ratelimit-limit") or headers.get("x-ratelimit-limit"))
        with self._lock:
            since = self._clock() - _WINDOW
            ours = sum(1 for slot in self._slots if slot > since)
        return (limit or self.per_minute) - remaining - ours > _OTHERS

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
