"""Publishing events: called inside the transaction of the change that caused them."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import sqlalchemy as sa

from producersync.model.events import Event
from producersync.service.store.accounts import list_accounts
from producersync.service.store.outbox import Message, publish

__all__ = ["publish_events", "publish_to_every_account"]


def publish_events(
    conn: sa.Connection,
    account_id: int,
    events: Sequence[Event],
    *,
    endpoint_id: str | None = None,
) -> int:
    """Queue the events for the account's matching endpoints (or for ``endpoint_id`` only,
    whatever its filter). Returns the number of deliveries queued."""
    return publish(
        conn,
        [Message(e.id, account_id, e.type, e.to_json()) for e in events],
        endpoint_id=endpoint_id,
    )


def publish_to_every_account(conn: sa.Connection, make_event: Callable[[], Event]) -> int:
    """One event per account (each its own id), e.g. ``updates_available`` after a run."""
    messages = []
    for account in list_accounts(conn):
        event = make_event()
        messages.append(Message(event.id, account.id, event.type, event.to_json()))
    return publish(conn, messages)
