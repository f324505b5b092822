"""Webhook receipts (every delivery, as it arrived) and the accepted events they dedupe to."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa

from producersync.sync.mirror.engine import dialect_insert
from producersync.sync.mirror.tables import events, receipts

__all__ = [
    "ACCEPTED",
    "Receipt",
    "mark_processed",
    "prune_receipts",
    "receipt_body",
    "record_receipt",
]

ACCEPTED = "accepted"


@dataclass(frozen=True)
class Receipt:
    event_id: str | None
    event_type: str | None
    received_at: dt.datetime
    headers: dict[str, str]  # without secrets: the receiver strips them
    body: bytes
    verdict: str  # "accepted", or "rejected: <reason>"


def _text(value: str) -> str:
    # PostgreSQL's text and JSONB cannot hold NUL, and a rejected delivery's headers may
    # (they are whatever the sender put there): it is kept, shown as U+FFFD.
    return value.replace("\x00", "\ufffd")


def record_receipt(conn: sa.Connection, receipt: Receipt) -> bool:
    """Store the receipt; False when an accepted receipt with its event id came before
    (a redelivery). A rejected receipt never marks its id as seen."""
    event_id = None if receipt.event_id is None else _text(receipt.event_id)
    conn.execute(
        sa.insert(receipts).values(
            event_id=event_id,
            event_type=None if receipt.event_type is None else _text(receipt.event_type),
            received_at=receipt.received_at,
            headers={_text(k): _text(v) for k, v in receipt.headers.items()},
            body=receipt.body,
            verdict=_text(receipt.verdict),
        )
    )
    if event_id is None:
        return True
    if receipt.verdict != ACCEPTED:
        seen = sa.select(events.c.event_id).where(events.c.event_id == event_id)
        return conn.execute(seen).first() is None
    # The primary key decides between two deliveries racing on two workers.
    first = (
        dialect_insert(conn, events)
        .values(
            event_id=event_id,
            event_type=receipt.event_type,
            received_at=receipt.received_at,
        )
        .on_conflict_do_nothing(index_elements=[events.c.event_id])
        .returning(events.c.event_id)
    )
    return conn.execute(first).first() is not None


def mark_processed(
    conn: sa.Connection, event_id: str, at: dt.datetime, error: str | None = None
) -> None:
    conn.execute(
        sa.update(events).where(events.c.event_id == event_id).values(processed_at=at, error=error)
    )


def receipt_body(conn: sa.Connection, event_id: str) -> bytes | None:
    """The raw body of the event's first accepted receipt, for a replay."""
    query = (
        sa.select(receipts.c.body)
        .where(receipts.c.event_id == event_id, receipts.c.verdict == ACCEPTED)
        .order_by(receipts.c.id)
        .limit(1)
    )
    body: bytes | None = conn.execute(query).scalar()
    return body


def prune_receipts(conn: sa.Connection, older_than: dt.datetime) -> int:
    """Delete receipts, and processed events, received before ``older_than``; the
    number of receipts deleted. An unprocessed event keeps its body, for a replay."""
    unprocessed = sa.select(events.c.event_id).where(events.c.processed_at.is_(None))
    deleted = conn.execute(
        sa.delete(receipts).where(
            receipts.c.received_at < older_than,
            sa.or_(
                receipts.c.verdict != ACCEPTED,
                receipts.c.event_id.is_(None),
                receipts.c.event_id.not_in(unprocessed),
            ),
        )
    ).rowcount
    conn.execute(
        sa.delete(events).where(
            events.c.received_at < older_than, events.c.processed_at.is_not(None)
        )
    )
    return deleted
