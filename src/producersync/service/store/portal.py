"""The webhook portal's one-time login links and its sessions.

Their times are the store's (``outbox.store_clock``): a link is issued by one process (the
CLI's) and redeemed by another, a session started by one portal process and checked by
every other behind the same balancer. By each one's own clock, a portal host two hours
ahead of the CLI's found its 1-hour links expired, and ended its sessions early.

Link tokens and session ids are 256 random bits; only their SHA-256 digests are stored, and
a lookup is by digest, so neither a copy of the tables nor timing a comparison gives one
away (a slow KDF buys nothing against secrets with that much entropy).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass
from typing import Literal

import sqlalchemy as sa

from producersync.service.store.outbox import store_clock
from producersync.service.store.tables import accounts, portal_links, portal_sessions

__all__ = [
    "LinkRefused",
    "PortalSession",
    "Refusal",
    "check_link",
    "end_session",
    "find_session",
    "issue_link",
    "redeem_link",
]

_LINK_PREFIX = "psl_"

Refusal = Literal["unknown", "used", "expired"]
_LinkRow = sa.Row[tuple[int, dt.datetime | None, dt.datetime, str]]


class LinkRefused(Exception):
    """A login link that starts no session; ``reason`` says why, and ``account_id`` whose
    link it is (``None`` for an unknown one)."""

    def __init__(self, reason: Refusal, account_id: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.account_id = account_id


@dataclass(frozen=True, slots=True)
class PortalSession:
    """A signed-in session: whose it is, until when."""

    account_id: int
    account_name: str
    expires_at: dt.datetime


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def issue_link(conn: sa.Connection, account_id: int, ttl: dt.timedelta) -> tuple[str, dt.datetime]:
    """A new login link token for the account (shown once) and when it expires. Links
    issued before stay valid until used or expired."""
    token = _LINK_PREFIX + secrets.token_urlsafe(32)
    now = store_clock(conn)
    conn.execute(
        portal_links.insert().values(
            token_hash=_digest(token), account_id=account_id, created_at=now, expires_at=now + ttl
        )
    )
    return token, now + ttl


def _link(token: str) -> sa.Select[tuple[int, dt.datetime | None, dt.datetime, str]]:
    return (
        sa.select(
            portal_links.c.account_id,
            portal_links.c.used_at,
            portal_links.c.expires_at,
            accounts.c.name,
        )
        .join(accounts, accounts.c.id == portal_links.c.account_id)
        .where(portal_links.c.token_hash == _digest(token))
    )


def _usable(row: _LinkRow | None, now: dt.datetime) -> _LinkRow:
    """The link's row, if it can start a session ``now``; else ``LinkRefused``."""
    if row is None:
        raise LinkRefused("unknown")
    if row.used_at is not None:
        raise LinkRefused("used", row.account_id)
    if row.expires_at <= now:
        raise LinkRefused("expired", row.account_id)
    return row


def check_link(conn: sa.Connection, token: str) -> str:
    """The name of the account the link signs in to, if it would still start a session;
    otherwise ``LinkRefused``. Changes nothing."""
    return str(_usable(conn.execute(_link(token)).first(), store_clock(conn)).name)


def redeem_link(conn: sa.Connection, token: str, session_ttl: dt.timedelta) -> str:
    """Use the link up and start a session; returns the session id (for the cookie only).
    Call in a write transaction: of two concurrent redeemers, the one that waited for the
    row lock (Postgres) or the write lock (SQLite) finds the link used."""
    now = store_clock(conn)
    row = _usable(conn.execute(_link(token).with_for_update(of=portal_links)).first(), now)
    conn.execute(
        portal_links.update().where(portal_links.c.token_hash == _digest(token)).values(used_at=now)
    )
    # Sessions past their expiry are dead weight: sweep them whenever one starts.
    conn.execute(portal_sessions.delete().where(portal_sessions.c.expires_at <= now))
    session_id = secrets.token_urlsafe(32)
    conn.execute(
        portal_sessions.insert().values(
            id_hash=_digest(session_id),
            account_id=row.account_id,
            created_at=now,
            expires_at=now + session_ttl,
        )
    )
    return session_id


def find_session(conn: sa.Connection, session_id: str) -> PortalSession | None:
    """The live session with this id, if any."""
    row = conn.execute(
        sa.select(portal_sessions.c.account_id, portal_sessions.c.expires_at, accounts.c.name)
        .join(accounts, accounts.c.id == portal_sessions.c.account_id)
        .where(portal_sessions.c.id_hash == _digest(session_id))
    ).first()
    if row is None or row.expires_at <= store_clock(conn):
        return None
    return PortalSession(row.account_id, row.name, row.expires_at)


def end_session(conn: sa.Connection, session_id: str) -> None:
    conn.execute(portal_sessions.delete().where(portal_sessions.c.id_hash == _digest(session_id)))
