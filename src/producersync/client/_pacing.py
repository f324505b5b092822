"""Client-side pacing: stay under the API's rate limit without ever being told twice.

One pacer per client, shared by every thread and task that uses it. The API counts
requests per rolling minute (the contract: 300 per client), so the pacer keeps a log of
its own sends and lets a request go while fewer than a share of the limit went in the
last minute. A minute left idle is spent at once when work arrives: an activation storm
starts on a full budget instead of one slot every 0.2 s. Any window of a minute then
holds at most that share, so a server counting per fixed minute is never over either.
The server's ``ratelimit-remaining`` / ``ratelimit-reset`` and any 429 tighten the log
further.

The async client's tasks reserve their slot when they ask (first come, first served).
The sync client's threads queue, with a priority, for each slot as it comes free: when
more calls wait than the limit lets through, the ones that matter most go first. A sync
reading several lists at once serves its longest list first, so that no list is left
to run on alone, at one request per round trip, after the others are done.
"""

from __future__ import annotations

import bisect
import collections
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


class Pacer:
    def __init__(
        self,
        limit: float,
        window: float = 60.0,
        share: float = PACE_SHARE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """At most ``share`` of ``limit`` requests in any ``window`` seconds."""
        if limit <= 0:
            raise ValueError("rate_limit must be positive")
        self.budget = max(1, int(limit * share))
        self.window = window
        self._clock = clock
        self._lock = threading.Lock()
        self._turns = threading.Condition(self._lock)
        self._waiting: list[tuple[float, int]] = []  # (-priority, arrival): a heap
        self._arrivals = itertools.count()
        # The last `budget` send times, oldest first: the window is full while the
        # oldest of them is younger than `window`.
        self._sent: collections.deque[float] = collections.deque(maxlen=self.budget)
        self._hold_until = 0.0  # nothing goes before this (server said: wait)

    def reserve(self) -> float:
        """Take the next free slot; how long to wait before sending."""
        with self._lock:
            now = self._clock()
            slot = self._log(max(now, self._due()))
            return slot - now

    def take(self, priority: float = 0.0) -> None:
        """Block until a slot is this thread's: while several wait, the highest
        ``priority`` gets the next one (the first to ask, among equals)."""
        with self._turns:
            ticket = (-priority, next(self._arrivals))
            heapq.heappush(self._waiting, ticket)
            try:
                while True:
                    now = self._clock()
                    wait = self._due() - now
                    first = self._waiting[0] == ticket
                    if first and wait <= 0:
                        break
                    self._turns.wait(wait if first else None)
            finally:
                self._waiting.remove(ticket)
                heapq.heapify(self._waiting)
                self._turns.notify_all()  # the next in line may be free to go already
            self._log(now)

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
        elif remaining is not None and remaining <= _SAFETY:
            wait = reset
        with self._lock:
            if wait is not None:
                wait = min(wait, _LONGEST_HOLD)
                self._hold_until = max(self._hold_until, self._clock() + wait)
            elif remaining is not None and remaining < self.budget:
                # Someone else spends this credential too: what the server has left is
                # all there is, so count the difference as sends of ours, for a window.
                for _ in range(self._free() - int(remaining - _SAFETY)):
                    self._log(self._clock())

    def _due(self) -> float:
        """When the next request may go (lock held)."""
        full = len(self._sent) == self.budget
        return max(self._hold_until, self._sent[0] + self.window if full else 0.0)

    def _free(self) -> int:
        """Requests the window has room for now (lock held)."""
        expired = bisect.bisect_right(self._sent, self._clock() - self.window)
        return self.budget - len(self._sent) + expired

    def _log(self, at: float) -> float:
        """Record a send at ``at``, or after the last one logged (the log stays in
        order); when it counts as sent (lock held)."""
        if self._sent:
            at = max(at, self._sent[-1])
        self._sent.append(at)
        return at


def _number(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return None
