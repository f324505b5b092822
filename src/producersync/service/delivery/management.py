"""What the management API and the CLI do to endpoints and messages: the rules (URL guard,
known event types, one test event on creation) in one place, the SQL in the store."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence

import sqlalchemy as sa

from producersync.model.events import (
    EVENT_GROUP,
    EVENT_TYPES,
    NPN_ACTIVATED,
    NPN_DEACTIVATED,
    UPDATES_AVAILABLE,
    EndpointTest,
    Event,
    NpnActivated,
    NpnDeactivated,
    UpdatesAvailable,
)
from producersync.model.spaces import trim
from producersync.service.delivery.publish import event_time, publish_events
from producersync.service.delivery.urls import (
    EndpointUrlError,
    PrivateEndpointError,
    check_endpoint_url,
)
from producersync.service.settings import ServiceSettings
from producersync.service.store import endpoints as store
from producersync.service.store import outbox

__all__ = [
    "EXAMPLE_NPN",
    "RECOVER_LIMIT",
    "RECOVER_SLACK",
    "RECOVER_WINDOW",
    "SUBSCRIBABLE",
    "EndpointRuleError",
    "PayloadExpired",
    "check_event_types",
    "create_endpoint",
    "example_event",
    "recover",
    "replay",
    "rotate_secret",
    "rotate_secret_from",
    "send_example",
    "update_endpoint",
]

SUBSCRIBABLE: tuple[str, ...] = (EVENT_GROUP, *sorted(EVENT_TYPES))
EXAMPLE_NPN = "15645555"
RECOVER_WINDOW = dt.timedelta(days=14)
# Beyond the window, as Svix allows it: a `since` taken as 14 days back (`date -d '-14
# days'`, the portal's earliest minute) is older than that by the time it is judged: refused,
# the whole window could never be recovered.
RECOVER_SLACK = dt.timedelta(minutes=5)
RECOVER_LIMIT = 10_000


class PayloadExpired(LookupError):
    """The message's payload was pruned: there is nothing left to send."""

    def __init__(self, message_id: str) -> None:
        super().__init__(message_id)
        self.message_id = message_id


class EndpointRuleError(ValueError):
    """A request the rules refuse; ``field`` names what was wrong, and ``private`` tells a
    URL refused only for plain http or a non-public address (``PrivateEndpointError``):
    one ``allow_private_endpoints`` would take."""

    def __init__(self, field: str, message: str, *, private: bool = False) -> None:
        super().__init__(message)
        self.field = field
        self.private = private


def check_event_types(values: Sequence[str] | None) -> list[str] | None:
    """The filter as stored: ``None`` (every type) or distinct known types and groups."""
    if values is None:
        return None
    cleaned = list(dict.fromkeys(trim(v) for v in values))
    if not cleaned:
        raise EndpointRuleError("eventTypes", "give at least one event type, or omit the filter")
    unknown = [v for v in cleaned if v not in SUBSCRIBABLE]
    if unknown:
        raise EndpointRuleError(
            "eventTypes",
            f"unknown event type '{unknown[0][:100]}'; known: {', '.join(SUBSCRIBABLE)}",
        )
    return cleaned


def _url(url: str, settings: ServiceSettings) -> str:
    try:
        return check_endpoint_url(url, allow_private=settings.allow_private_endpoints)
    except EndpointUrlError as exc:
        private = isinstance(exc, PrivateEndpointError)
        raise EndpointRuleError("url", str(exc), private=private) from None


def _rate(value: int | None) -> int | None:
    if value is not None and not 1 <= value <= 10_000:
        raise EndpointRuleError("rateLimitPerSecond", f"{value} is not between 1 and 10000")
    return value


def create_endpoint(
    conn: sa.Connection,
    settings: ServiceSettings,
    account_id: int,
    url: str,
    *,
    description: str = "",
    event_types: Sequence[str] | None = None,
    rate_limit_per_second: int | None = None,
    secret: str | None = None,
    endpoint_id: str | None = None,
) -> tuple[store.Endpoint, str]:
    """Save an endpoint and queue its test event (in the same transaction). Returns the
    endpoint and its secret (``secret``, or a new one), which is shown this once."""
    endpoint, secret = store.create_endpoint(
        conn,
        account_id,
        _url(url, settings),
        description=description,
        event_types=check_event_types(event_types),
        rate_limit_per_second=_rate(rate_limit_per_second),
        secret=secret,
        endpoint_id=endpoint_id,
    )
    test = EndpointTest.create(endpoint.id, timestamp=event_time(conn))
    publish_events(conn, account_id, [test], endpoint_id=endpoint.id)
    return endpoint, secret


def update_endpoint(
    conn: sa.Connection,
    settings: ServiceSettings,
    account_id: int | None,
    endpoint_id: str,
    changes: store.EndpointChanges,
) -> store.Endpoint | None:
    # Stored as create stores them: the URL as checked, the filter stripped and distinct.
    changes = dataclasses.replace(
        changes,
        url=None if changes.url is None else _url(changes.url, settings),
        event_types=check_event_types(changes.event_types),
        rate_limit_per_second=_rate(changes.rate_limit_per_second),
    )
    return store.update_endpoint(conn, account_id, endpoint_id, changes)


def _grace(settings: ServiceSettings) -> dt.timedelta:
    return dt.timedelta(seconds=settings.webhook_secret_grace_seconds)


def rotate_secret(conn: sa.Connection, settings: ServiceSettings, endpoint_id: str) -> str:
    return store.rotate_secret(conn, endpoint_id, _grace(settings))


def rotate_secret_from(
    conn: sa.Connection, settings: ServiceSettings, endpoint_id: str, secret_id: int
) -> str | None:
    """The new secret, or ``None`` if the secret of ``secret_id`` was rotated already."""
    return store.rotate_secret_from(conn, endpoint_id, secret_id, _grace(settings))


def example_event(event_type: str, at: dt.datetime) -> Event:
    """A realistic example of the type as if sent ``at``, for Send Example (the sandbox
    NPN)."""
    if event_type == UPDATES_AVAILABLE:
        return UpdatesAvailable.create(at.date(), timestamp=at)
    if event_type == NPN_ACTIVATED:
        return NpnActivated.create(EXAMPLE_NPN, at, timestamp=at)
    if event_type == NPN_DEACTIVATED:
        return NpnDeactivated.create(EXAMPLE_NPN, at, timestamp=at)
    raise EndpointRuleError(
        "eventType",
        f"unknown event type '{event_type[:100]}'; known: {', '.join(sorted(EVENT_TYPES))}",
    )


def send_example(conn: sa.Connection, endpoint: store.Endpoint, event_type: str) -> str:
    """Queue an example event of the type to this endpoint only; returns the message id."""
    event = example_event(event_type, event_time(conn))
    publish_events(conn, endpoint.account_id, [event], endpoint_id=endpoint.id)
    return event.id


def replay(conn: sa.Connection, endpoint: store.Endpoint, message_id: str) -> int | None:
    """One manual attempt of the account's message to the endpoint; ``None`` when the
    account has no such message. Raises ``PayloadExpired`` for one whose payload expired:
    queued, it would be sent with an empty body."""
    message = outbox.get_message(conn, endpoint.account_id, message_id)
    if message is None:
        return None
    if message.expired:
        raise PayloadExpired(message_id)
    # By the store's clock, as the claims are: by a clock ahead of it by more than the
    # lease, a delivery a worker is sending would look lapsed, and be made due again.
    return outbox.replay(conn, message_id, endpoint.id, outbox.store_clock(conn))


def recover(conn: sa.Connection, endpoint: store.Endpoint, since: dt.datetime) -> int:
    """One manual attempt of every delivery to the endpoint that failed for good, of the
    messages created since ``since`` (at most 14 days back, at most 10,000 messages)."""
    now = outbox.store_clock(conn)
    since = since.replace(tzinfo=dt.UTC) if since.tzinfo is None else since
    # The window first, on the time as given: converted first, a time within a day of the
    # calendar's ends (0001-01-01T00:00+14:00) had no UTC to become and raised.
    if since > now:
        raise EndpointRuleError("since", f"'{since.isoformat()}' is in the future")
    if now - since > RECOVER_WINDOW + RECOVER_SLACK:
        raise EndpointRuleError("since", f"'{since.isoformat()}' is more than 14 days ago")
    return outbox.recover(conn, endpoint.id, since, now, RECOVER_LIMIT)
