"""Receipts recorded by group commit: concurrent deliveries share one transaction.

Each delivery must be durable before it is acknowledged, and a transaction per delivery
makes the commit (and, on SQLite, the one write lock) the receiver's ceiling. Here the
first thread to arrive writes every receipt waiting at that moment in one transaction;
the others wait for it and find their answer done. Under light load a batch is one
receipt, so nothing waits for a timer.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import sqlalchemy as sa

from producersync.sync import mirror

__all__ = ["ReceiptLog"]

_MAX_BATCH = 500


@dataclass
class _Slot:
    receipt: mirror.Receipt
    done: bool = False
    first: bool = False
    error: BaseException | None = field(default=None, repr=False)


class ReceiptLog:
    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine
        self._pending: list[_Slot] = []
        self._flushing = False
        self._changed = threading.Condition()

    def record(self, receipt: mirror.Receipt) -> bool:
        """Store ``receipt`` durably (blocking); what ``mirror.record_receipt`` answers."""
        slot = _Slot(receipt)
        with self._changed:
            self._pending.append(slot)
        while True:
            with self._changed:
                while self._flushing and not slot.done:
                    self._changed.wait()
                if slot.done:
                    break
                self._flushing = True
                batch, self._pending = self._pending[:_MAX_BATCH], self._pending[_MAX_BATCH:]
            self._flush(batch)
        if slot.error is not None:
            raise slot.error
        return slot.first

    def _flush(self, batch: list[_Slot]) -> None:
        try:
            with mirror.write_transaction(self._engine) as conn:
                answers = mirror.record_receipts(conn, [s.receipt for s in batch])
            for slot, first in zip(batch, answers, strict=True):
                slot.first = first
        except Exception as exc:  # every waiter of the batch gets the failure
            for slot in batch:
                slot.error = exc
        finally:
            with self._changed:
                for slot in batch:
                    slot.done = True
                self._flushing = False
                self._changed.notify_all()
