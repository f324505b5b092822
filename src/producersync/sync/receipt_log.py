"""Receipts recorded by group commit: concurrent deliveries share one transaction.

Each delivery must be durable before it is acknowledged, and a transaction per delivery
makes the commit (and, on SQLite, the one write lock) the receiver's ceiling. Here one
writer thread takes every receipt waiting at that moment and writes them in one
transaction, then settles each request's future on its event loop. Under light load a
batch is one receipt, so nothing waits for a timer; and a request never occupies a
thread while it waits (an earlier design parked each in a worker thread on a shared
condition, and waking them cost the receiver a fifth of its CPU at saturation).
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections import defaultdict
from collections.abc import Callable

import sqlalchemy as sa

from producersync.db_outage import unavailable
from producersync.sync import mirror

__all__ = ["ReceiptLog"]

_MAX_BATCH = 500

_Waiter = tuple[mirror.Receipt, asyncio.AbstractEventLoop, "asyncio.Future[bool]"]


class ReceiptLog:
    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine
        self._queue: queue.SimpleQueue[_Waiter | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    async def record(self, receipt: mirror.Receipt) -> bool:
        """Store ``receipt`` durably; what ``mirror.record_receipt`` answers."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bool] = loop.create_future()
        self._ensure_writer()
        self._queue.put((receipt, loop, future))
        return await future

    def close(self) -> None:
        """Write what is queued, then stop the writer."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join(timeout=30)

    def _ensure_writer(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="receipts", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while (first := self._queue.get()) is not None:
            batch, stopping = [first], False
            while len(batch) < _MAX_BATCH:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stopping = True
                    break
                batch.append(more)
            self._flush(batch)
            if stopping:
                return

    def _flush(self, batch: list[_Waiter]) -> None:
        try:
            with mirror.write_transaction(self._engine) as conn:  # first in line
                answers = mirror.record_receipts(conn, [receipt for receipt, _, _ in batch])
        except Exception as exc:
            if len(batch) > 1 and not unavailable(exc):
                # One receipt the database refuses must not fail the deliveries that
                # happened to share its batch (on PostgreSQL a 20 KB event id would fail
                # three good ones): each again alone, in a transaction of its own. Not
                # when the database is unavailable: that fails every one of them, and a
                # server that does not answer would hold each of 500 for its timeout.
                for waiter in batch:
                    self._flush([waiter])
                return
            failure = exc  # ``exc`` itself is unbound when the except clause ends
            _settle(batch, lambda future, _i: future.set_exception(failure))
        else:
            _settle(batch, lambda future, i: future.set_result(answers[i]))


def _settle(batch: list[_Waiter], outcome: Callable[[asyncio.Future[bool], int], None]) -> None:
    """Apply ``outcome`` to each waiter's future on its own loop: one wake-up per loop."""
    by_loop: defaultdict[asyncio.AbstractEventLoop, list[tuple[int, asyncio.Future[bool]]]]
    by_loop = defaultdict(list)
    for i, (_, loop, future) in enumerate(batch):
        by_loop[loop].append((i, future))

    def run(waiters: list[tuple[int, asyncio.Future[bool]]]) -> None:
        for i, future in waiters:
            if not future.done():  # its request may have been cancelled meanwhile
                outcome(future, i)

    for loop, waiters in by_loop.items():
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits any more
            loop.call_soon_threadsafe(run, waiters)
