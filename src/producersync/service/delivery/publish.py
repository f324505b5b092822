"""Publishing events: called inside the transaction of the change that caused them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence

import sqlalchemy as sa

from producersync.model.events import Event, to_millisecond
from producersync.service.store.accounts import list_accounts
from producersync.service.store.outbox import Message, publish, store_clock

__all__ = ["event_time", "publish_events", "publish_to_every_account"]


def event_time(conn: sa.Connection) -> dt.datetime:
    """The time an event made now carries: the store's, as its message's and its
    delivery's are. By this process's own, a host a day ahead sent an example of
    tomorrow's run, and an event's time disagreed with its message's."""
    return to_millisecond(store_clock(conn))


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
