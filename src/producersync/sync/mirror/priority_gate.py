"""One holder at a time, the waiter of highest priority next: SQLite's one writer.

A backfill's streams queue their pages for the mirror's one writer; served in whatever
order a lock gave them, the longest stream's pages waited behind the others' and its
reading stalled (``sync/read_ahead.py``). And the receiver's acknowledgements, each
waiting for its receipt to be written, waited behind every page queued.
"""

from __future__ import annotations

import heapq
import itertools
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["PriorityGate"]


class PriorityGate:
    """One holder at a time; the waiter of highest priority next, first come first among
    equals."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._busy = False
        self._waiting: list[tuple[float, int]] = []
        self._order = itertools.count()

    @contextmanager
    def held(self, priority: float) -> Iterator[None]:
        with self._changed:
            entry = (-priority, next(self._order))
            heapq.heappush(self._waiting, entry)
            while self._busy or self._waiting[0] != entry:
                self._changed.wait()
            heapq.heappop(self._waiting)
            self._busy = True
        try:
            yield
        finally:
            with self._changed:
                self._busy = False
                self._changed.notify_all()
