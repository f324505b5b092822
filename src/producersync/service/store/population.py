"""An account's monitored population: subscribed NPNs, plus the sandbox NPNs for sandbox
accounts (readable there without subscribing)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

import sqlalchemy as sa

from producersync.service.nipr.sandbox import SANDBOX_NPNS
from producersync.service.store.bulk import insert_rows
from producersync.service.store.tables import entities, subscriptions

__all__ = [
    "Population",
    "add_subscriptions",
    "all_subscribed",
    "count_subscriptions",
    "in_population",
    "is_visible",
    "lock_account",
    "page_subscriptions",
    "population_npns",
    "remove_subscriptions",
    "subscribe_one",
    "subscribed_among",
]


@dataclass(frozen=True, slots=True)
class Population:
    """Whose data a request may see."""

    account_id: int
    sandbox: bool


def population_npns(population: Population) -> sa.Select[tuple[str]]:
    """The NPNs the account may read, as a subquery-ready SELECT."""
    subscribed = sa.select(subscriptions.c.npn.label("npn")).where(
        subscriptions.c.account_id == population.account_id
    )
    if not population.sandbox:
        return subscribed
    sandbox = sa.select(entities.c.npn.label("npn")).where(entities.c.npn.in_(SANDBOX_NPNS))
    return sa.select(sa.union(subscribed, sandbox).subquery().c.npn)


def in_population(population: Population, npn: sa.ColumnElement[str]) -> sa.ColumnElement[bool]:
    """Whether ``npn`` (a column of the query it goes in) is one the account may read:
    a correlated condition, one index probe per row it is asked of."""
    subscribed = (
        sa.select(subscriptions.c.npn)  # in the index: nothing else is read
        .where(subscriptions.c.account_id == population.account_id, subscriptions.c.npn == npn)
        .exists()
    )
    return sa.or_(subscribed, npn.in_(SANDBOX_NPNS)) if population.sandbox else subscribed


def is_visible(conn: sa.Connection, population: Population, npn: str) -> bool:
    return bool(conn.execute(sa.select(in_population(population, sa.literal(npn)))).scalar())


def lock_account(conn: sa.Connection, account_id: int, *, wait: bool = True) -> bool:
    """Hold the account's population until the transaction ends: its jobs apply in order,
    and a change reads the subscriptions as the writer before it left them. SQLite needs
    nothing more: a write transaction there began IMMEDIATE. Without ``wait``, False at
    once when another transaction holds it."""
    if conn.dialect.name != "postgresql":
        return True
    if wait:
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(1, :a)"), {"a": account_id})
        return True
    taken = conn.execute(sa.text("SELECT pg_try_advisory_xact_lock(1, :a)"), {"a": account_id})
    return bool(taken.scalar_one())


def subscribe_one(conn: sa.Connection, population: Population, npn: str, at: dt.datetime) -> bool:
    """Subscribe ``npn`` from ``at`` unless the account already sees it; True when newly
    subscribed."""
    # Reads of one new NPN come side by side (its licenses, its appointments...): without
    # the lock each saw it unsubscribed, and each announced and counted it.
    lock_account(conn, population.account_id)
    if is_visible(conn, population, npn):
        return False
    return bool(add_subscriptions(conn, population.account_id, [npn], at))


def subscribed_among(conn: sa.Connection, account_id: int, npns: Iterable[str]) -> set[str]:
    wanted = list(npns)
    found: set[str] = set()
    for start in range(0, len(wanted), 5000):
        chunk = wanted[start : start + 5000]
        found.update(
            conn.execute(
                sa.select(subscriptions.c.npn).where(
                    subscriptions.c.account_id == account_id, subscriptions.c.npn.in_(chunk)
                )
            ).scalars()
        )
    return found


def all_subscribed(conn: sa.Connection, account_id: int) -> set[str]:
    return set(
        conn.execute(
            sa.select(subscriptions.c.npn).where(subscriptions.c.account_id == account_id)
        ).scalars()
    )


def add_subscriptions(
    conn: sa.Connection, account_id: int, npns: Iterable[str], at: dt.datetime
) -> list[str]:
    """Subscribe the NPNs not yet subscribed, activated at ``at`` (the time their
    ``npn.activated`` events carry: the list and the events agree); returns those that
    were added."""
    new = sorted(set(npns) - subscribed_among(conn, account_id, npns))
    for start in range(0, len(new), 5000):
        chunk = new[start : start + 5000]
        rows = [{"account_id": account_id, "npn": n, "activated_at": at} for n in chunk]
        insert_rows(conn, subscriptions, rows, skip_conflicts=True)
        _bump_subscription_count(conn, chunk, +1)
    return new


def remove_subscriptions(conn: sa.Connection, account_id: int, npns: Iterable[str]) -> list[str]:
    """Unsubscribe the NPNs that are subscribed; returns those that were removed."""
    gone = sorted(subscribed_among(conn, account_id, npns))
    for start in range(0, len(gone), 5000):
        chunk = gone[start : start + 5000]
        conn.execute(
            subscriptions.delete().where(
                subscriptions.c.account_id == account_id, subscriptions.c.npn.in_(chunk)
            )
        )
        _bump_subscription_count(conn, chunk, -1)
    return gone


def _bump_subscription_count(conn: sa.Connection, npns: list[str], delta: int) -> None:
    # subscriptionCount is bookkeeping, not NIPR data: it does not move updatedAt.
    conn.execute(
        entities.update()
        .where(entities.c.npn.in_(npns))
        .values(subscription_count=entities.c.subscription_count + delta)
    )


def count_subscriptions(conn: sa.Connection, account_id: int) -> int:
    return int(
        conn.execute(
            sa.select(sa.func.count()).where(subscriptions.c.account_id == account_id)
        ).scalar_one()
    )


def page_subscriptions(
    conn: sa.Connection, account_id: int, page: int, size: int
) -> list[sa.Row[tuple[str, dt.datetime]]]:
    """A page of the population, oldest activation first (then by NPN): a job that adds
    NPNs while a client pages through the list adds them after the client's pages, so
    the client misses none of those that were there when it started."""
    s = subscriptions
    return list(
        conn.execute(
            sa.select(s.c.npn, s.c.activated_at)
            .where(s.c.account_id == account_id)
            .order_by(s.c.activated_at, s.c.npn)
            .limit(size)
            .offset(page * size)
        )
    )
