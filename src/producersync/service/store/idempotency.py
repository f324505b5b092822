"""The answers to the API's writes, kept by their ``Idempotency-Key`` for a retry of them
(``service/idempotency.py`` maps them to HTTP).

A key is claimed by a row whose ``status`` is NULL, inserted by the first request; the
answer replaces the NULL if it is a 2xx, and a failure deletes the row, for a retry to
try afresh, unless the request's change was made: its answer is kept then, whatever it
is. The request's write marks the claim carried out (``committed_at``) in its own
transaction, so that a claim whose answer never came tells whether its change was made.
Times are the store's clock (``outbox.store_clock``): a key claimed on one API host is
judged on another.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

import sqlalchemy as sa

from producersync.service.store.dialect import insert
from producersync.service.store.outbox import store_clock
from producersync.service.store.tables import idempotency_keys

__all__ = [
    "Claimed",
    "Held",
    "Lost",
    "Outcome",
    "Stored",
    "carried_out",
    "claim",
    "keep",
    "release",
    "settle",
]

_T = idempotency_keys


@dataclass(frozen=True, slots=True)
class Claimed:
    """This request holds the key: it runs, then keeps or releases its claim."""

    at: dt.datetime  # the claim's time: what ``keep`` and ``release`` know it by


@dataclass(frozen=True, slots=True)
class Stored:
    """The answer a request with the key got."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes


@dataclass(frozen=True, slots=True)
class Lost:
    """The request with the key made its change (committed at ``at``), and its process
    ended before its answer was kept: a retry may neither make the change again nor
    have the answer."""

    at: dt.datetime


Held = Literal["running", "mismatch"]
"""Another request holds the key and runs still; or the key went with another request."""

Outcome = Claimed | Stored | Lost | Held


def _row(account_id: int, scope: str) -> sa.ColumnElement[bool]:
    return sa.and_(_T.c.account_id == account_id, _T.c.scope == scope)


def claim(
    conn: sa.Connection,
    account_id: int,
    scope: str,
    fingerprint: str,
    kept: dt.timedelta,
    lease: dt.timedelta,
) -> Outcome:
    """Claim the key ``scope`` of the account for a request of ``fingerprint``, or what
    holds it. Keys older than ``kept`` are pruned first (there is no other clean-up, and
    an expired key is then new again). A claim older than ``lease`` with no answer is the
    claim of a process that died with it: taken over if its request's change was not
    made (``carried_out``), else ``Lost``."""
    now = store_clock(conn)
    conn.execute(sa.delete(_T).where(_T.c.created_at < now - kept))
    values = {"account_id": account_id, "scope": scope, "fingerprint": fingerprint}
    while True:
        # RETURNING, not rowcount: psycopg's is -1 for an INSERT ... ON CONFLICT.
        added = conn.execute(
            insert(conn, _T)
            .values(**values, created_at=now)
            .on_conflict_do_nothing(index_elements=[_T.c.account_id, _T.c.scope])
            .returning(_T.c.scope)
        ).first()
        if added is not None:
            return Claimed(now)
        row = conn.execute(sa.select(_T).where(_row(account_id, scope))).first()
        # None: on PostgreSQL, the holder released the key (committed) between the two
        # statements, each of which sees what was committed before it: the key is free.
        if row is not None:
            break
    if row.fingerprint != fingerprint:
        return "mismatch"
    if row.status is not None:
        return Stored(row.status, [(name, value) for name, value in row.headers], row.body)
    if row.created_at > now - lease:
        return "running"
    if row.committed_at is not None:
        return Lost(row.committed_at)
    taken = conn.execute(
        sa.update(_T)
        .where(_row(account_id, scope), _T.c.status.is_(None), _T.c.created_at == row.created_at)
        .values(created_at=now)
    )
    return Claimed(now) if taken.rowcount else "running"


def _claimed(account_id: int, scope: str, claimed: Claimed) -> sa.ColumnElement[bool]:
    return sa.and_(_row(account_id, scope), _T.c.status.is_(None), _T.c.created_at == claimed.at)


def carried_out(conn: sa.Connection, account_id: int, scope: str, claimed: Claimed) -> None:
    """Mark the claim carried out: in the request's write transaction, before it commits,
    so that the mark commits with the change or not at all. The first write's time is
    kept."""
    conn.execute(
        sa.update(_T)
        .where(_claimed(account_id, scope, claimed), _T.c.committed_at.is_(None))
        .values(committed_at=store_clock(conn))
    )


def keep(
    conn: sa.Connection, account_id: int, scope: str, claimed: Claimed, answer: Stored
) -> None:
    """Keep ``answer`` under the key this request claimed."""
    conn.execute(
        sa.update(_T)
        .where(_claimed(account_id, scope, claimed))
        .values(
            status=answer.status,
            headers=[list(pair) for pair in answer.headers],
            body=answer.body,
        )
    )


def release(conn: sa.Connection, account_id: int, scope: str, claimed: Claimed) -> bool:
    """Give up the claim, unless its request's change was made (``carried_out``): a retry
    would make it again. Whether it was given up."""
    released = conn.execute(
        sa.delete(_T).where(_claimed(account_id, scope, claimed), _T.c.committed_at.is_(None))
    )
    return bool(released.rowcount)


def settle(
    conn: sa.Connection,
    account_id: int,
    scope: str,
    claimed: Claimed,
    answer: Stored | None,
    lease: dt.timedelta,
) -> None:
    """End the claim with its request's ``answer`` (None: it raised, and its client got a
    500 from outside): a 2xx is kept; any other gives the key up, for a retry to try
    afresh, unless the change was made. Then a retry must not make it again: the answer is
    kept, a 4xx or 5xx as it is (a retry gets it again); with none, the claim's lease is
    ended, so that a retry is ``Lost`` at once rather than ``"running"`` for the lease."""
    if answer is not None and 200 <= answer.status < 300:
        keep(conn, account_id, scope, claimed, answer)
    elif release(conn, account_id, scope, claimed):
        return
    elif answer is not None:
        keep(conn, account_id, scope, claimed, answer)
    else:
        # The claim's time moved back past the lease: the key is pruned that much sooner
        # (``lease`` of its ``kept``), and nothing else reads it.
        conn.execute(
            sa.update(_T)
            .where(_claimed(account_id, scope, claimed))
            .values(created_at=store_clock(conn) - lease)
        )
