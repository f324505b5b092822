"""Client-side pacing: spend all of the API's rate limit, and stay under it.

The API's limit is a moving minute: at most ``per_minute`` requests in any 60 s. One
pacer per client, shared by every thread and task that uses it, keeps the same window
over its own requests. Slots are evenly spaced, ``per_minute`` of them in a minute and
a margin for the way to the server (no bursts), and none comes sooner than that after
the request ``per_minute`` before it (a thread woken late catches up). So the client
spends 99.6 % of the limit, and its own requests overrun the server's window only when
one reaches the server's count more than the margin late; a pacer at a fixed 97 % (until
2026-12-03) spent less and could overrun it whenever its wake-ups came late.

The server's ``ratelimit-remaining`` says how much of its window is spent. When that is
more than this pacer's own requests of the last minute account for, someone else spends
the credential too (another process, or one that just stopped), and so it is when the
server's ``ratelimit-limit`` is lower than the pacer's own: then at ``remaining`` <= 1
every slot waits for ``ratelimit-reset``, and when ``reset / remaining`` is longer than
the slot interval, slots move that far apart. A 429 holds every slot until its
``Retry-After``.

Calls queue, with a priority, for each slot as it comes due: when more calls wait than
the limit lets through, the ones that matter most go first. A sync reading several lists
at once serves its longest list first, so that no list is left to run on alone, at one
request per round trip, after the others are done. The queue and its order are one, for
the sync client's threads (``take``) and the async client's tasks (``atake``): the two
differ only in how they wait for their turn, and in how a caller gives up its place (a
thread, when its ``Cancellation`` is cancelled; a task, when it is).

The moving minute would let an idle client spend a minute's allowance at once. The pacer
does not: in a storm's pass, bursts give every list a slot without waiting, so the short
lists run ahead and the longest ends alone at a request per round trip (measured on
2026-12-03: 372.6 and 375.5 s with bursts against 363.1 s evenly spaced): priorities order
only calls that wait.
"""

from __future__ import annotations

import heapq
import itertools
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

import anyio

from producersync.client._cancel import Cancellation, check, waking
from producersync.client._closed import CLOSED
from producersync.client._exceptions import ClientClosedError
from producersync.client._retry import parse_reset, server_wait
from producersync.model.numbers import real

__all__ = ["Pacer", "orderable"]

_WINDOW = 60.0  # the API's moving minute
# Between the slot and the server's count of the request: the send itself, a client
# thread waiting for the GIL, the server's event loop busy with another page. A request
# that overtakes the one ``per_minute`` before it by more than this would be refused.
WINDOW_MARGIN = 0.25
_KEPT = 2 * _WINDOW  # how far back the log of our slots reaches
_SAFETY = 1  # at this many remaining requests, wait for the window to move
_LONGEST_HOLD = 3600.0  # a server asking for more is not taken at its word
# A caller woken this late for its slot keeps the schedule (the wake-ups' lateness would
# otherwise add up); idle time beyond it is not banked as a burst.
_LATE = 0.05


class Pacer:
    def __init__(self, per_minute: float, clock: Callable[[], float] = time.monotonic) -> None:
        if not (real(per_minute) and math.isfinite(per_minute) and per_minute > 0):  # NaN too
            # math.inf would be no pacing at all, but the window's log needs a size:
            # it would fail as a bare OverflowError (NaN, a ValueError naming no option).
            raise ValueError(f"rate_limit must be positive and finite, not {per_minute!r:.60}")
        # Spaced so that `per_minute` slots span the window and its margin: an idle gap
        # is then lost once. Spaced at the bare limit, the window would hold every slot
        # to the one `per_minute` before it, and repeat each gap every minute after.
        self.interval = (_WINDOW + WINDOW_MARGIN) / per_minute
        self._clock = clock
        self._closed = False  # its client's: no slot is given once it is
        self.forked()
        self._arrivals = itertools.count()
        self._next = 0.0  # the next free slot, on the clock
        self._hold_until = 0.0  # nothing goes before this (server said: wait)
        # Our last `per_minute` slots, oldest first: the window as the server keeps it.
        self._limit = max(1, math.floor(per_minute))
        self._sent: deque[float] = deque(maxlen=self._limit)

    def forked(self) -> None:
        """An empty queue, under locks no thread holds: in a process forked from this
        one (``_fork``), where the threads queued at the fork do not run, and a lock one
        of them held stays held. A call there waited behind their tickets for good."""
        self._lock = threading.Lock()
        self._turns = threading.Condition(self._lock)  # threads waiting their turn
        # Tasks waiting their turn: set (and dropped) when the queue moves. Made by a task,
        # as an anyio event belongs to the event loop that awaits it.
        self._moved: anyio.Event | None = None
        self._waiting: list[tuple[float, int]] = []  # (-priority, arrival): a heap

    def close(self) -> None:
        """Give no slot from now on, and wake every caller waiting for one to raise
        ``ClientClosedError``: its client closed. A thread waiting for its slot waited it out
        (an hour, behind a ``429``'s hold) and then failed, holding up a worker's
        shutdown. Called by the client, in its loop for an ``AsyncClient``."""
        with self._lock:
            self._closed = True
            self._turns.notify_all()
            if self._moved is not None:
                self._moved.set()
                self._moved = None

    def _open(self) -> None:
        """``ClientClosedError`` once closed (the lock held)."""
        if self._closed:
            raise ClientClosedError(CLOSED)

    def take(
        self,
        priority: float = 0.0,
        cancel: Cancellation | None = None,
        until: float | None = None,
    ) -> float:
        """Block until a slot is this thread's: while several wait, the highest
        ``priority`` gets the next one (the first to ask, among equals). Returns the
        slot's time on the clock (for ``observe``). Once ``cancel`` is cancelled, raises
        ``CallCancelledError`` instead, its place in the queue given up: a thread queued
        behind others at a slow pace waits for theirs, a slot interval each. A slot not
        come by ``until`` (on the clock: a call's end) is given up too, with
        ``TimeoutError``: a 429's hold, up to an hour, outlasted a job wait's timeout."""
        with self._turns, waking(cancel, self._wake):
            ticket = self._join(priority)
            try:
                while True:
                    check(cancel)  # a slot due is not taken either: nothing is sent
                    self._open()
                    wait = self._wait(ticket)
                    if wait is not None and wait <= 0:
                        return self._claim()
                    self._turns.wait(self._before(until, wait))
            finally:
                self._leave(ticket)

    def _wake(self) -> None:
        """Wake every waiting thread, to look again (a cancellation)."""
        with self._turns:
            self._turns.notify_all()

    async def atake(self, priority: float = 0.0, until: float | None = None) -> float:
        """``take`` for a task: waits its turn without blocking the event loop."""
        with self._lock:
            ticket = self._join(priority)
        try:
            while True:
                with self._lock:
                    self._open()
                    wait = self._wait(ticket)
                    if wait is not None and wait <= 0:
                        return self._claim()
                    if self._moved is None:
                        self._moved = anyio.Event()
                    moved = self._moved
                    wait = self._before(until, wait)
                with anyio.move_on_after(math.inf if wait is None else wait):
                    await moved.wait()
        finally:
            with self._lock:
                self._leave(ticket)

    def _before(self, until: float | None, wait: float | None) -> float | None:
        """``wait`` (None: until woken), cut to end at ``until``; ``TimeoutError`` once
        ``until`` has passed."""
        if until is None:
            return wait
        left = until - self._clock()
        if left <= 0:
            raise TimeoutError("no slot came before the call's end")
        return left if wait is None else min(wait, left)

    def _join(self, priority: float) -> tuple[float, int]:
        """Queue a caller (the lock held); its ticket."""
        ticket = (-orderable(priority), next(self._arrivals))
        heapq.heappush(self._waiting, ticket)
        return ticket

    def _wait(self, ticket: tuple[float, int]) -> float | None:
        """Seconds until ``ticket``'s slot, 0 or less once due (the lock held); None while
        another is ahead of it, which wakes it when it leaves."""
        if self._waiting[0] != ticket:
            return None
        return self._due() - self._clock()

    def _claim(self) -> float:
        """Take the slot that is due (the lock held); its time on the clock."""
        now = self._clock()
        self._next = max(self._due(), now - _LATE) + self.interval
        self._record(now)
        return now

    def _leave(self, ticket: tuple[float, int]) -> None:
        """Take ``ticket`` out of the queue, its slot taken or given up (the lock held),
        and wake the others: the next in line may be due already."""
        self._waiting.remove(ticket)
        heapq.heapify(self._waiting)
        self._turns.notify_all()
        if self._moved is not None:
            self._moved.set()
            self._moved = None

    def _record(self, slot: float) -> None:
        """Log a slot (the lock held). Slots older than two windows go: fewer than the
        limit in the last one put no bound on the next, and ``_shared`` looks back one
        window from a request sent a response ago (at most a minute at the default
        timeout). So a client with the limit lifted keeps two minutes of slots, not a
        million."""
        self._sent.append(slot)
        while self._sent[0] < slot - _KEPT:
            self._sent.popleft()

    def _due(self) -> float:
        """The earliest the next request may go (the lock held)."""
        due = max(self._next, self._hold_until)
        if len(self._sent) == self._limit:
            # A window of ours is full: not before its oldest leaves the server's.
            due = max(due, self._sent[0] + _WINDOW + WINDOW_MARGIN)
        return due

    def observe(
        self,
        status: int,
        headers: Mapping[str, str],
        sent_at: float | None = None,
        body: Any = None,
    ) -> None:
        """Learn from a response's rate-limit headers; ``sent_at``: its request's slot,
        as ``take`` or ``atake`` answered (default: now); ``body``: an error's, parsed,
        for the wait a 429 asks for there (``server_wait``)."""
        remaining = _number(
            headers.get("ratelimit-remaining") or headers.get("x-ratelimit-remaining")
        )
        reset = parse_reset(headers.get("ratelimit-reset") or headers.get("x-ratelimit-reset"))
        wait = None
        if status == 429:
            wait = server_wait(status, headers, body)
        elif remaining is not None and reset is not None:
            tight = remaining <= _SAFETY or reset / remaining > self.interval
            limit = _number(headers.get("ratelimit-limit") or headers.get("x-ratelimit-limit"))
            if tight and (
                self._below(limit) or self._shared(limit or self._limit, remaining, sent_at)
            ):
                if remaining <= _SAFETY:
                    wait = reset
                else:
                    self._push_next(reset / remaining)
        if wait is not None:
            wait = min(wait, _LONGEST_HOLD)
            with self._lock:
                self._hold_until = max(self._hold_until, self._clock() + wait)

    def _below(self, limit: float | None) -> bool:
        """Whether the server's limit is lower than this pacer's ``rate_limit``: its
        window is then no measure of someone else's requests, since ours alone can fill
        it. Taken for someone else's, each window's last request was the server's 429,
        and every call waited out its ``Retry-After`` (a minute, at a limit of 20)."""
        return limit is not None and limit < self._limit

    def _shared(self, limit: float, remaining: float, sent_at: float | None) -> bool:
        """Whether the server's window holds more requests than ours can be: every slot
        we took from a minute (and the margin) before ``sent_at`` until now, those sent
        after it included, since they may have overtaken it."""
        with self._lock:
            since = (self._clock() if sent_at is None else sent_at) - _WINDOW - WINDOW_MARGIN
            ours = 0
            for at in reversed(self._sent):
                if at < since:
                    break
                ours += 1
        return limit - remaining > ours

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


def orderable(priority: float) -> float:
    """``priority`` if calls can be ordered by it (an infinity can: first or last of
    all); else ``ValueError``. A NaN compares neither above nor below anything: in the
    queue's heap it would disorder every caller's turn, not only its own."""
    if not real(priority) or math.isnan(priority):
        raise ValueError(f"priority must be a number, not {priority!r:.60}")
    return priority
