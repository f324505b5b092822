"""Webhook endpoints of an account and their signing secrets.

Their times are the store's (``outbox.store_clock``), as their deliveries' are: a claim
tells an event queued before a filter change from one queued after by them, and a secret's
grace is judged by whichever process signs next."""

from __future__ import annotations

import datetime as dt
import secrets as random
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass

import sqlalchemy as sa

from producersync.service.store.outbox import store_clock
from producersync.service.store.tables import (
    accounts,
    webhook_deliveries,
    webhook_endpoints,
    webhook_secrets,
)
from producersync.webhooks import generate_secret

__all__ = [
    "SECRETS_IN_GRACE",
    "Endpoint",
    "EndpointChanges",
    "active_secrets",
    "create_endpoint",
    "current_secret",
    "current_secret_id",
    "delete_endpoint",
    "disable_endpoint",
    "enable_endpoint",
    "endpoint_with_tail",
    "endpoints_by_id",
    "get_endpoint",
    "list_endpoints",
    "lock_endpoints",
    "new_id",
    "note_failure",
    "note_success",
    "rotate_secret",
    "rotate_secret_from",
    "secrets_in_grace",
    "update_endpoint",
]

# Secrets rotated out that sign on through their grace, at most: the newest.
SECRETS_IN_GRACE = 3


def new_id(prefix: str, tail: str | None = None) -> str:
    """``<prefix>_`` then 12 hex digits of milliseconds and 12 random (or ``tail``, 12 hex
    digits of the caller's): sortable by time."""
    return f"{prefix}_{int(time.time() * 1000):012x}{tail or random.token_hex(6)}"


def endpoint_with_tail(conn: sa.Connection, account_id: int, tail: str) -> str | None:
    """The id of the account's endpoint whose id ends with ``tail`` (``new_id``'s), if
    any. On PostgreSQL the account's row is locked first, to the end of the transaction:
    two creates of the same tail at once, each made its own id at its own millisecond,
    each found no endpoint before the other committed, and both were created."""
    conn.execute(sa.select(accounts.c.id).where(accounts.c.id == account_id).with_for_update())
    e = webhook_endpoints
    query = sa.select(e.c.id).where(e.c.account_id == account_id, e.c.id.endswith(tail))
    return conn.execute(query).scalar()


@dataclass(frozen=True, slots=True)
class Endpoint:
    id: str
    account_id: int
    url: str
    description: str
    event_types: list[str] | None
    enabled: bool
    disabled_reason: str | None
    rate_limit_per_second: int | None
    failing_since: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime
    seq: int  # its place in the order endpoints were made (``creation_order``)


@dataclass(frozen=True, slots=True)
class EndpointChanges:
    """What an update changes; ``None`` leaves a field as it is."""

    url: str | None = None
    description: str | None = None
    event_types: list[str] | None = None
    all_event_types: bool = False  # set the filter back to every type
    rate_limit_per_second: int | None = None
    no_rate_limit: bool = False


def _endpoint(row: sa.Row[tuple[object, ...]]) -> Endpoint:
    m = row._mapping
    return Endpoint(
        id=m["id"],
        account_id=m["account_id"],
        url=m["url"],
        description=m["description"],
        event_types=m["event_types"],
        enabled=m["enabled"],
        disabled_reason=m["disabled_reason"],
        rate_limit_per_second=m["rate_limit_per_second"],
        failing_since=m["failing_since"],
        created_at=m["created_at"],
        updated_at=m["updated_at"],
        seq=m["seq"],
    )


def create_endpoint(
    conn: sa.Connection,
    account_id: int,
    url: str,
    *,
    description: str = "",
    event_types: Sequence[str] | None = None,
    rate_limit_per_second: int | None = None,
    secret: str | None = None,
    endpoint_id: str | None = None,
) -> tuple[Endpoint, str]:
    """A new enabled endpoint and its first secret (returned once, to show the owner).
    ``endpoint_id``, if given, is one ``new_id`` made for it (the portal's, whose tail
    names the form that creates it)."""
    now = store_clock(conn)
    endpoint_id = endpoint_id or new_id("ep")
    conn.execute(
        webhook_endpoints.insert().values(
            id=endpoint_id,
            account_id=account_id,
            url=url,
            description=description,
            event_types=list(event_types) if event_types is not None else None,
            enabled=True,
            rate_limit_per_second=rate_limit_per_second,
            created_at=now,
            updated_at=now,
        )
    )
    secret = secret or generate_secret()
    conn.execute(
        webhook_secrets.insert().values(endpoint_id=endpoint_id, secret=secret, created_at=now)
    )
    endpoint = get_endpoint(conn, account_id, endpoint_id)
    assert endpoint is not None
    return endpoint, secret


def get_endpoint(
    conn: sa.Connection, account_id: int | None, endpoint_id: str, *, lock: bool = False
) -> Endpoint | None:
    """The endpoint, if it exists and (when ``account_id`` is given) belongs to the account;
    ``lock``: its row locked until the transaction ends."""
    query = sa.select(webhook_endpoints).where(webhook_endpoints.c.id == endpoint_id)
    if lock:
        query = query.with_for_update()
    if account_id is not None:
        query = query.where(webhook_endpoints.c.account_id == account_id)
    row = conn.execute(query).first()
    return _endpoint(row) if row else None


def endpoints_by_id(
    conn: sa.Connection, account_id: int, endpoint_ids: Collection[str]
) -> dict[str, Endpoint]:
    """The account's endpoints of those ids, by id: one gone, or another account's, is
    left out. One query for a page's endpoints, where one each cost a page of 20 deliveries
    20 statements more."""
    if not endpoint_ids:
        return {}
    e = webhook_endpoints
    query = sa.select(e).where(e.c.account_id == account_id, e.c.id.in_(sorted(endpoint_ids)))
    return {row.id: _endpoint(row) for row in conn.execute(query)}


def list_endpoints(
    conn: sa.Connection,
    account_id: int | None = None,
    *,
    limit: int | None = None,
    before: int | None = None,
    after: int | None = None,
    oldest: bool = False,
    missed: str | None = None,
) -> list[Endpoint]:
    """Endpoints (the account's, if given), newest first, as Svix lists them; ``before``:
    those made before the endpoint whose ``seq`` it is, which need not exist any more (a
    script that deletes each endpoint of a page before asking for the next goes on);
    ``after``: those made after it, oldest first (the page above one that begins there);
    ``oldest``: oldest first from the first made (where the last page begins);
    ``missed``: those with no delivery of the message of that id.

    In the order made, not by id: ids begin with a host's millisecond and end in random
    digits, so those made in one millisecond sorted in a random order, and hosts' clocks
    differ."""
    e = webhook_endpoints
    newest_first = after is None and not oldest
    query = sa.select(e).order_by(e.c.seq.desc() if newest_first else e.c.seq).limit(limit)
    if account_id is not None:
        query = query.where(e.c.account_id == account_id)
    if before is not None:
        query = query.where(e.c.seq < before)
    if after is not None:
        query = query.where(e.c.seq > after)
    if missed is not None:
        d = webhook_deliveries
        # By the (message, endpoint) unique index: one look per endpoint.
        had = sa.exists().where(d.c.message_id == missed, d.c.endpoint_id == e.c.id)
        query = query.where(~had)
    return [_endpoint(row) for row in conn.execute(query)]


def update_endpoint(
    conn: sa.Connection, account_id: int | None, endpoint_id: str, changes: EndpointChanges
) -> Endpoint | None:
    values: dict[str, object] = {}
    if changes.url is not None:
        values["url"] = changes.url
    if changes.description is not None:
        values["description"] = changes.description
    if changes.all_event_types:
        values["event_types"] = sa.null()
    elif changes.event_types is not None:
        values["event_types"] = list(changes.event_types)
    if changes.no_rate_limit:
        values["rate_limit_per_second"] = None
    elif changes.rate_limit_per_second is not None:
        values["rate_limit_per_second"] = changes.rate_limit_per_second
    if not values:  # nothing to change is no change: updatedAt stays
        return get_endpoint(conn, account_id, endpoint_id)
    return _set(conn, account_id, endpoint_id, values | {"updated_at": store_clock(conn)})


def _set(
    conn: sa.Connection, account_id: int | None, endpoint_id: str, values: dict[str, object]
) -> Endpoint | None:
    query = webhook_endpoints.update().where(webhook_endpoints.c.id == endpoint_id)
    if account_id is not None:
        query = query.where(webhook_endpoints.c.account_id == account_id)
    if conn.execute(query.values(**values)).rowcount == 0:
        return None
    return get_endpoint(conn, account_id, endpoint_id)


def enable_endpoint(
    conn: sa.Connection, account_id: int | None, endpoint_id: str
) -> Endpoint | None:
    return _set(
        conn,
        account_id,
        endpoint_id,
        {
            "enabled": True,
            "disabled_reason": None,
            "failing_since": None,
            "updated_at": store_clock(conn),
        },
    )


def disable_endpoint(
    conn: sa.Connection, account_id: int | None, endpoint_id: str, reason: str
) -> Endpoint | None:
    return _set(
        conn,
        account_id,
        endpoint_id,
        {"enabled": False, "disabled_reason": reason[:200], "updated_at": store_clock(conn)},
    )


def lock_endpoints(conn: sa.Connection, endpoint_ids: Sequence[str]) -> None:
    """The endpoints' rows locked to the end of the transaction (PostgreSQL), in the order
    of their ids, before a batch's deliveries are: disabling an endpoint parks its pending
    deliveries (migration 0018's trigger), so a batch that locked its deliveries first and
    then disabled the endpoint waited on another batch's deliveries to it, while that one
    waited on the endpoint, and PostgreSQL broke the deadlock a second later. FOR NO KEY
    UPDATE: the foreign-key checks of deliveries queued to them meanwhile do not wait."""
    if endpoint_ids:
        e = webhook_endpoints
        conn.execute(
            sa.select(e.c.id)
            .where(e.c.id.in_(sorted(set(endpoint_ids))))
            .order_by(e.c.id)
            .with_for_update(key_share=True)
        )


def delete_endpoint(conn: sa.Connection, account_id: int | None, endpoint_id: str) -> bool:
    query = webhook_endpoints.delete().where(webhook_endpoints.c.id == endpoint_id)
    if account_id is not None:
        query = query.where(webhook_endpoints.c.account_id == account_id)
    return conn.execute(query).rowcount > 0


def rotate_secret(
    conn: sa.Connection, endpoint_id: str, grace: dt.timedelta, secret: str | None = None
) -> str:
    """A new current secret; the old one keeps signing beside it for ``grace``, and so do
    the ``SECRETS_IN_GRACE`` newest of those rotated out before it."""
    _lock_for_rotation(conn, endpoint_id)
    now = store_clock(conn)
    _retire_current(conn, endpoint_id, now + grace)
    return _add_current(conn, endpoint_id, now, secret)


def rotate_secret_from(
    conn: sa.Connection, endpoint_id: str, secret_id: int, grace: dt.timedelta
) -> str | None:
    """``rotate_secret``, if the current secret is still the one of ``secret_id``; else
    ``None``, nothing changed: it was rotated since (the same form sent twice, at once or
    later, rotates once)."""
    _lock_for_rotation(conn, endpoint_id)
    now = store_clock(conn)
    if not _retire_current(conn, endpoint_id, now + grace, secret_id):
        return None
    return _add_current(conn, endpoint_id, now, None)


def _lock_for_rotation(conn: sa.Connection, endpoint_id: str) -> None:
    """The endpoint's row locked to the end of the transaction (on PostgreSQL; SQLite's
    write transactions take turns already). Rotations at once each retired the current
    secret as their statement found it, blind to the one another had just added, and each
    added its own: 8 at once left up to 8 current secrets, each signing every message
    without end. Locked first, each finds the secret the one before it added."""
    conn.execute(
        sa.select(webhook_endpoints.c.id)
        .where(webhook_endpoints.c.id == endpoint_id)
        .with_for_update()
    )


def _retire_current(
    conn: sa.Connection, endpoint_id: str, expires_at: dt.datetime, secret_id: int | None = None
) -> bool:
    current = sa.and_(
        webhook_secrets.c.endpoint_id == endpoint_id, webhook_secrets.c.expires_at.is_(None)
    )
    if secret_id is not None:
        current = sa.and_(current, webhook_secrets.c.id == secret_id)
    retired = conn.execute(webhook_secrets.update().where(current).values(expires_at=expires_at))
    return retired.rowcount > 0


def _add_current(
    conn: sa.Connection, endpoint_id: str, now: dt.datetime, secret: str | None
) -> str:
    # Rotated-out secrets past their grace sign nothing more, nor those beyond the newest
    # few: every rotation within the grace added a signature to each message, without
    # end, and a signature the sender computes on every attempt.
    newest = (
        sa.select(webhook_secrets.c.id)
        .where(webhook_secrets.c.endpoint_id == endpoint_id, webhook_secrets.c.expires_at > now)
        .order_by(webhook_secrets.c.id.desc())
        .limit(SECRETS_IN_GRACE)
    )
    conn.execute(
        webhook_secrets.delete().where(
            webhook_secrets.c.endpoint_id == endpoint_id,
            webhook_secrets.c.expires_at.is_not(None),
            sa.or_(webhook_secrets.c.expires_at <= now, webhook_secrets.c.id.not_in(newest)),
        )
    )
    secret = secret or generate_secret()
    conn.execute(
        webhook_secrets.insert().values(endpoint_id=endpoint_id, secret=secret, created_at=now)
    )
    return secret


def current_secret_id(conn: sa.Connection, endpoint_id: str) -> int | None:
    """The row of the current secret, not the secret: what a rotation form names as the
    secret it replaces."""
    found: int | None = conn.execute(
        sa.select(webhook_secrets.c.id).where(
            webhook_secrets.c.endpoint_id == endpoint_id, webhook_secrets.c.expires_at.is_(None)
        )
    ).scalar()
    return found


def current_secret(conn: sa.Connection, endpoint_id: str) -> str | None:
    return conn.execute(
        sa.select(webhook_secrets.c.secret).where(
            webhook_secrets.c.endpoint_id == endpoint_id, webhook_secrets.c.expires_at.is_(None)
        )
    ).scalar()


def secrets_in_grace(conn: sa.Connection, endpoint_id: str) -> list[dt.datetime]:
    """When each secret rotated out that still signs beside the current one stops, the
    latest first."""
    now = store_clock(conn)
    s = webhook_secrets
    found = conn.execute(
        sa.select(s.c.expires_at)
        .where(s.c.endpoint_id == endpoint_id, s.c.expires_at > now)
        .order_by(s.c.expires_at.desc())
    )
    return list(found.scalars())


def active_secrets(conn: sa.Connection, endpoint_ids: Sequence[str]) -> dict[str, list[str]]:
    """Every secret that signs now, per endpoint: the current one first, then those in grace."""
    now = store_clock(conn)
    rows = conn.execute(
        sa.select(webhook_secrets.c.endpoint_id, webhook_secrets.c.secret)
        .where(
            webhook_secrets.c.endpoint_id.in_(list(endpoint_ids)),
            sa.or_(webhook_secrets.c.expires_at.is_(None), webhook_secrets.c.expires_at > now),
        )
        .order_by(webhook_secrets.c.endpoint_id, webhook_secrets.c.id.desc())
    )
    found: dict[str, list[str]] = {}
    for endpoint_id, secret in rows:
        found.setdefault(endpoint_id, []).append(secret)
    return found


def note_success(conn: sa.Connection, endpoint_ids: Sequence[str]) -> None:
    if endpoint_ids:
        conn.execute(
            webhook_endpoints.update()
            .where(
                webhook_endpoints.c.id.in_(list(endpoint_ids)),
                webhook_endpoints.c.failing_since.is_not(None),
            )
            .values(failing_since=None)
        )


def note_failure(
    conn: sa.Connection, endpoint_ids: Sequence[str], now: dt.datetime, disable_after: dt.timedelta
) -> list[str]:
    """Start the failure clock of endpoints that were healthy; disable those failing for
    longer than ``disable_after``. Returns the ids disabled."""
    if not endpoint_ids:
        return []
    ids = list(endpoint_ids)
    conn.execute(
        webhook_endpoints.update()
        .where(webhook_endpoints.c.id.in_(ids), webhook_endpoints.c.failing_since.is_(None))
        .values(failing_since=now)
    )
    stale = list(
        conn.execute(
            sa.select(webhook_endpoints.c.id).where(
                webhook_endpoints.c.id.in_(ids),
                webhook_endpoints.c.enabled.is_(True),
                webhook_endpoints.c.failing_since <= now - disable_after,
            )
        ).scalars()
    )
    for endpoint_id in stale:
        disable_endpoint(conn, None, endpoint_id, "failing for too long")
    return stale
