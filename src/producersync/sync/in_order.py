"""Batches handed over by several threads, delivered one at a time from one thread, in
the order their places were taken.

The sync's writers commit pages side by side (``pull_concurrency``), and each goes on
from its commit on its own thread: called there, the hooks ran several at once, and in
no set order (four streams: batches starting at change 1, 16, 6, 11). A hook that kept
the last id it handled and died between two calls skipped the earlier batch for good.
So a writer takes a place while it holds the change feed's order (after its last
append, before its commit: ``mirror.feed``), which makes the places commit order, and
after the commit hands its batch over for that place, or gives the place up when the
transaction did not commit. One thread delivers each batch once every place before it
is settled, while the writers go on with their next pages (the hooks keep a batch for
each hook's own thread: ``hooks``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

__all__ = ["InOrder", "Undelivered"]

T = TypeVar("T")

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Undelivered(Generic[T]):
    """What ``InOrder.close`` left: the batches handed over and not delivered (the
    first maybe halfway through), in order, and the places not settled yet (their
    writers' transactions still open)."""

    batches: list[T]
    open_places: int


class InOrder(Generic[T]):
    """Delivers each batch to ``deliver`` in the order of its place, from a thread that
    runs while a place is taken and not delivered (a process with none has no thread)."""

    def __init__(self, deliver: Callable[[T], object], *, name: str) -> None:
        self._deliver, self._name = deliver, name
        self._changed = threading.Condition()
        self._taken = 0  # places taken: the next one is this
        self._next = 0  # the place delivered next (or being delivered)
        self._settled: dict[int, T | None] = {}  # by place; None: given up
        self._thread: threading.Thread | None = None
        self._closed = False

    def take(self) -> int:
        """The next place. Settle it (``hand_over`` or ``give_up``), whatever happens:
        every place after it waits for it."""
        with self._changed:
            place, self._taken = self._taken, self._taken + 1
            if self._thread is None and not self._closed:
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
            return place

    def hand_over(self, place: int, batch: T) -> bool:
        """``batch`` to deliver at ``place``; False if it never will be (closed)."""
        with self._changed:
            self._settled[place] = batch
            self._changed.notify_all()
            return not self._closed

    def give_up(self, place: int) -> None:
        """Nothing to deliver at ``place`` (its transaction did not commit): the batches
        after it go on."""
        with self._changed:
            self._settled[place] = None
            self._changed.notify_all()

    def close(self, timeout: float) -> Undelivered[T]:
        """Deliver what is taken, for at most ``timeout`` seconds, then stop (the batch
        being delivered then is left to finish); what was not delivered."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while self._next < self._taken and (left := deadline - time.monotonic()) > 0:
                self._changed.wait(left)
            self._closed = True
            self._changed.notify_all()
            batches = [self._settled[p] for p in sorted(self._settled) if p >= self._next]
            return Undelivered(
                [batch for batch in batches if batch is not None],
                self._taken - self._next - len(batches),
            )

    def _run(self) -> None:
        while True:
            with self._changed:
                self._changed.wait_for(
                    lambda: self._next in self._settled or self._next == self._taken or self._closed
                )
                if self._closed or self._next == self._taken:
                    self._thread = None  # a place taken from now on starts another
                    return
                batch = self._settled[self._next]
            if batch is not None:
                try:
                    self._deliver(batch)
                except Exception:  # the thread must go on: every later batch waits on it
                    log.exception("%s: a batch could not be delivered", self._name)
            with self._changed:
                del self._settled[self._next]
                self._next += 1
                self._changed.notify_all()
