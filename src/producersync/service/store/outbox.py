"""The webhook outbox: messages, one delivery per (message, endpoint), and every attempt.

``publish`` runs inside the transaction of the change that caused the event, so an event
exists exactly when its change does. Senders ``claim`` due deliveries (pushing them a lease
ahead: a sender that dies mid-attempt leaves them due again) and ``record`` the outcomes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from typing import Any

import sqlalchemy as sa

from producersync.service.store.bulk import insert_rows
from producersync.service.store.creation_order import next_in_order
from producersync.service.store.dialect import insert
from producersync.service.store.tables import (
    DUE_TO_ENABLED,
    webhook_attempts,
    webhook_deliveries,
    webhook_endpoints,
    webhook_messages,
)

__all__ = [
    "EVERYTHING",
    "EXPIRED_PAYLOAD",
    "PAYLOAD_EXPIRED",
    "UNSUBSCRIBED",
    "Attempt",
    "AttemptKey",
    "Claimed",
    "Deferred",
    "Delivery",
    "DeliveryRow",
    "LogFilter",
    "Message",
    "Outcome",
    "UnknownCursor",
    "attempt_stats",
    "claim_due",
    "count_deliveries",
    "count_pending",
    "defer",
    "deliveries_by_endpoint",
    "deliveries_by_id",
    "deliveries_of",
    "delivery_counts",
    "delivery_states",
    "end_unsent",
    "event_matches",
    "expired",
    "expired_messages",
    "get_attempt",
    "get_message",
    "held_back",
    "in_flight",
    "latest_attempts",
    "list_attempts",
    "list_deliveries",
    "list_messages",
    "message_at",
    "message_deliveries",
    "next_due",
    "page_above",
    "publish",
    "record",
    "recover",
    "replay",
    "store_clock",
    "unexpired",
]

PENDING, SUCCEEDED, FAILED = "pending", "succeeded", "failed"
# Why a sender put a delivery back unsent, to be tried later (``Deferred.why``).
HELD_RATE_LIMIT, HELD_ONE_AT_A_TIME = "rate_limit", "one_at_a_time"
UNSUBSCRIBED = "not sent: the endpoint no longer subscribes to"
PAYLOAD_EXPIRED = "not sent: the message's payload expired"
# What an expired message's payload is replaced with: no event is an empty document, and
# the column stays NOT NULL (made nullable, SQLite rebuilt the whole table to upgrade).
EXPIRED_PAYLOAD = ""


def expired(payload: sa.ColumnElement[str]) -> sa.ColumnElement[bool]:
    """The message's payload is expired. The empty string is a literal in the SQL: a
    partial index is used only for a condition the planner can prove implies its own, and
    PostgreSQL's generic plan of a statement prepared for reuse (psycopg prepares one run
    five times) sees a parameter there, not the value (the index of the messages whose
    payload is kept, ``webhook_messages`` by ``created_at``)."""
    return payload == sa.literal_column("''")


def unexpired(payload: sa.ColumnElement[str]) -> sa.ColumnElement[bool]:
    return payload != sa.literal_column("''")


@dataclass(frozen=True, slots=True)
class Message:
    id: str
    account_id: int
    event_type: str
    payload: bytes
    created_at: dt.datetime | None = None
    seq: int | None = None  # the order it was published in (as stored)

    @property
    def expired(self) -> bool:
        """Its payload was pruned (``ServiceSettings.payload_retention_days``)."""
        return self.payload == EXPIRED_PAYLOAD.encode()


@dataclass(frozen=True, slots=True)
class Claimed:
    """A delivery handed to a sender: what it needs to make one attempt."""

    delivery_id: int
    message_id: str
    endpoint_id: str
    url: str
    payload: bytes
    attempts: int  # made before this one
    manual: bool
    rate_limit_per_second: int | None
    # The due time the claim set: the outcome moves the delivery only while it still holds
    # (a sender whose lease ran out, or a batch recovered late, must not undo the work of
    # the sender that claimed the row after it).
    lease_until: dt.datetime
    # The message's, which its attempt is logged with. Last: a batch DBOS pickled before
    # it existed unpickles with the other fields in place, and without it (``record``
    # reads it from the message then).
    event_type: str


@dataclass(frozen=True, slots=True)
class Outcome:
    """One attempt's result and what follows it."""

    claimed: Claimed
    attempted_at: dt.datetime
    succeeded: bool
    status_code: int
    duration_ms: int
    response: str | None
    error: str | None
    next_attempt_at: dt.datetime | None  # None: no more automatic attempts
    disable_endpoint: bool = False


@dataclass(frozen=True, slots=True)
class Deferred:
    """A delivery held back without an attempt (its endpoint's rate limit, a process
    stopping, a claim about to lapse): due again."""

    claimed: Claimed
    due: dt.datetime
    # Why, for those who look at it meanwhile: ``HELD_RATE_LIMIT``, ``HELD_ONE_AT_A_TIME``;
    # None, handed back due at once. Last, and read with a default: a batch DBOS pickled
    # before it existed unpickles without it.
    why: str | None = None


@dataclass(frozen=True, slots=True)
class AttemptKey:
    """An attempt's place in the lists' order (its start, then its id): where a page ends,
    which holds whether or not the attempt is still stored (its endpoint deleted)."""

    attempted_at: dt.datetime
    id: int


@dataclass(frozen=True, slots=True)
class Attempt:
    id: int
    delivery_id: int
    message_id: str
    endpoint_id: str
    event_type: str
    attempt_number: int
    trigger: str
    attempted_at: dt.datetime
    succeeded: bool
    status_code: int
    duration_ms: int
    response: str | None
    error: str | None
    next_attempt_at: dt.datetime | None
    sent: bool = True  # False: not made (``error`` says why)
    # Where it was sent (or would have gone): None for one made before attempts kept it.
    url: str | None = None

    @property
    def key(self) -> AttemptKey:
        return AttemptKey(self.attempted_at, self.id)


@dataclass(frozen=True, slots=True)
class LogFilter:
    """What a list of messages or attempts is narrowed to: any of ``event_types``, and
    the time window from ``since`` up to, not including, ``until`` (a message's
    creation, an attempt's start), each an instant (the columns bind it as UTC). None:
    no bound."""

    event_types: frozenset[str] | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None

    def conditions(
        self, event_type: sa.ColumnElement[str], at: sa.ColumnElement[dt.datetime]
    ) -> list[sa.ColumnElement[bool]]:
        found: list[sa.ColumnElement[bool]] = []
        if self.event_types is not None:
            found.append(event_type.in_(sorted(self.event_types)))
        if self.since is not None:
            found.append(at >= self.since)
        if self.until is not None:
            found.append(at < self.until)
        return found


EVERYTHING = LogFilter()


@dataclass(frozen=True, slots=True)
class Delivery:
    id: int
    message_id: str
    endpoint_id: str
    state: str
    attempts: int
    next_attempt_at: dt.datetime | None
    updated_at: dt.datetime
    # Why a sender put it back unsent until ``next_attempt_at`` (``Deferred.why``); None
    # when its due time is not one a sender set so.
    held_for: str | None = None


def event_matches(filter_types: Sequence[str] | None, event_type: str) -> bool:
    """An endpoint's filter: ``None`` takes every type; a group name takes its types."""
    if filter_types is None:
        return True
    return any(event_type == f or event_type.startswith(f + ".") for f in filter_types)


def publish(
    conn: sa.Connection,
    messages: Sequence[Message],
    *,
    endpoint_id: str | None = None,
    now: dt.datetime | None = None,
) -> int:
    """Write the messages and a due delivery to each enabled endpoint of their account whose
    filter takes them (or only to ``endpoint_id``, whatever its filter, parked while it is
    disabled). Returns the number of deliveries written. Call inside the transaction of
    the change being announced. Stamped by the store's clock, which claims judge the due
    time by: stamped by its own, a process whose clock ran an hour ahead held back every
    event it published for that hour, and its messages' times were an hour off for
    recover and the lists."""
    if not messages:
        return 0
    now = now or store_clock(conn)
    # Numbered in the order given: stamped alike, they list in it (``list_messages``).
    numbers = next_in_order(conn, webhook_messages.name, len(messages))
    insert_rows(
        conn,
        webhook_messages,
        [
            {
                "id": m.id,
                "account_id": m.account_id,
                "event_type": m.event_type,
                "payload": m.payload.decode(),
                "created_at": now,
                "seq": seq,
            }
            for m, seq in zip(messages, numbers, strict=True)
        ],
    )
    accounts = {m.account_id for m in messages}
    e = webhook_endpoints
    query = sa.select(e.c.id, e.c.account_id, e.c.event_types, e.c.enabled).where(
        e.c.account_id.in_(accounts)
    )
    if endpoint_id is None:
        query = query.where(e.c.enabled.is_(True))
    else:
        query = query.where(e.c.id == endpoint_id).with_for_update(read=True)
    endpoints: dict[int, list[tuple[str, list[str] | None, bool]]] = {}
    for ep_id, account_id, types, enabled in conn.execute(query):
        endpoints.setdefault(account_id, []).append((ep_id, types, enabled))
    rows = [
        {
            "message_id": m.id,
            "endpoint_id": ep_id,
            "state": PENDING,
            "attempts": 0,
            "manual": False,
            "next_attempt_at": now,
            "created_at": now,
            "updated_at": now,
            "parked": not enabled,
        }
        for m in messages
        for ep_id, types, enabled in endpoints.get(m.account_id, ())
        if endpoint_id is not None or event_matches(types, m.event_type)
    ]
    insert_rows(conn, webhook_deliveries, rows)
    return len(rows)


def store_clock(conn: sa.Connection) -> dt.datetime:
    """The time by the store's clock, which every process sharing it reads alike: a claim
    and its lease are set and judged by it. Read by each process's own, a worker whose
    clock ran ahead by more than the lease took deliveries another was still sending.
    SQLite's processes share one host, and its clock. The moment it is read, not
    PostgreSQL's now(), the start of the transaction: a message published after minutes of
    a daily run's changes was stamped before those that jobs committed meanwhile, and a
    client listing them ``since`` the newest it had seen never found it."""
    if conn.dialect.name == "postgresql":
        now: dt.datetime = conn.execute(sa.select(sa.func.clock_timestamp())).scalar_one()
        return now.astimezone(dt.UTC)
    return dt.datetime.now(dt.UTC)


def _held(d: sa.Table, lease_param: str) -> sa.ColumnElement[bool]:
    """The row is still under the claim whose lease is ``lease_param``."""
    return sa.and_(
        d.c.state == PENDING,
        d.c.next_attempt_at == sa.bindparam(lease_param, type_=d.c.next_attempt_at.type),
    )


def claim_due(
    conn: sa.Connection,
    now: dt.datetime,
    limit: int,
    lease: dt.timedelta,
    *,
    per_endpoint: int | None = None,
    passed_over: Collection[str] = (),
) -> list[Claimed]:
    """Take up to ``limit`` due deliveries to enabled endpoints, oldest due first, at most
    ``per_endpoint`` of them to any one endpoint and none to those ``passed_over``, and
    push them ``lease`` ahead. Those
    parked (their endpoint disabled) are not in the due index, and not read; the join
    still asks for an enabled endpoint, for a delivery queued as its endpoint was being
    disabled (a fan-out that read it enabled), which was never parked.
    Concurrent claimers never take the same row (Postgres skips locked rows; SQLite
    writers are serialised by the caller's immediate transaction).

    Without the cap, one endpoint's backlog (a job's 50,000 activations, deliveries due
    at once after an outage) would fill every claim until it was drained, and a fresh
    event to any other endpoint would wait behind all of it: the whole backlog's attempts,
    a timeout each where that receiver hangs. Past an endpoint's cap, the claim reads on
    without it, from where it was, so a claim reads a page per endpoint it fills and one
    more at most."""
    d, e, m = webhook_deliveries, webhook_endpoints, webhook_messages
    due = (
        sa.select(
            d.c.id,
            d.c.endpoint_id,
            d.c.next_attempt_at,
            d.c.manual,
            d.c.resent,
            d.c.created_at,
            e.c.updated_at,
            e.c.event_types,
            m.c.event_type,
            expired(m.c.payload).label("expired"),
        )
        .join(e, e.c.id == d.c.endpoint_id)
        .join(m, m.c.id == d.c.message_id)
        .where(DUE_TO_ENABLED, d.c.next_attempt_at <= now, e.c.enabled.is_(True))
        .order_by(d.c.next_attempt_at, d.c.id)
    )
    if conn.dialect.name == "postgresql":
        due = due.with_for_update(of=d, skip_locked=True)
    ids: list[int] = []
    unsent: dict[int, tuple[str, str]] = {}
    taken: dict[str, int] = {}
    full: list[str] = sorted(passed_over)
    page = due.where(d.c.endpoint_id.not_in(full)) if full else due
    while len(ids) < limit:
        asked = limit - len(ids)
        read = list(conn.execute(page.limit(asked)))
        filled = False
        for row in read:
            if row.expired:
                # Made due by a replay that raced the pruner: sent, it would be an empty body.
                unsent[row.id] = (row.event_type, PAYLOAD_EXPIRED)
            elif _unsubscribed(
                row.manual or row.resent,
                row.created_at,
                row.updated_at,
                row.event_types,
                row.event_type,
            ):
                unsent[row.id] = (row.event_type, f"{UNSUBSCRIBED} {row.event_type}")
            elif row.endpoint_id not in full:
                ids.append(row.id)
                taken[row.endpoint_id] = taken.get(row.endpoint_id, 0) + 1
                if per_endpoint is not None and taken[row.endpoint_id] >= per_endpoint:
                    full.append(row.endpoint_id)
                    filled = True
        if not filled or len(read) < asked:
            break  # nothing was passed over, or no more is due
        last = read[-1]
        page = due.where(
            d.c.endpoint_id.not_in(full),
            sa.tuple_(d.c.next_attempt_at, d.c.id)
            > sa.tuple_(
                sa.literal(last.next_attempt_at, d.c.next_attempt_at.type),
                sa.literal(last.id, d.c.id.type),
            ),
        )
    end_unsent(conn, unsent, now)
    if not ids:
        return []
    lease_until = now + lease
    conn.execute(d.update().where(d.c.id.in_(ids)).values(next_attempt_at=lease_until))
    rows = conn.execute(
        sa.select(
            d.c.id,
            d.c.message_id,
            d.c.endpoint_id,
            e.c.url,
            m.c.payload,
            d.c.attempts,
            d.c.manual,
            e.c.rate_limit_per_second,
            m.c.event_type,
        )
        .join(e, e.c.id == d.c.endpoint_id)
        .join(m, m.c.id == d.c.message_id)
        .where(d.c.id.in_(ids))
    )
    claimed = {
        r[0]: Claimed(r[0], r[1], r[2], r[3], r[4].encode(), r[5], r[6], r[7], lease_until, r[8])
        for r in rows
    }
    return [claimed[i] for i in ids]  # oldest due first, as selected


def _unsubscribed(
    manual: bool,
    queued_at: dt.datetime,
    endpoint_changed_at: dt.datetime,
    filter_types: list[str] | None,
    event_type: str,
) -> bool:
    """Whether a due delivery is of a type its endpoint's filter gave up after it was
    queued: else its retries would be sent on for days to an endpoint that unsubscribed.
    Queued after the endpoint's last change, the filter is the one it was queued under, so
    one the filter does not take was queued to it whatever its filter (its test event, an
    example) and is sent; a manual attempt (a Resend among them) is sent whatever the
    filter, as in Svix."""
    return (
        not manual
        and queued_at < endpoint_changed_at
        and not event_matches(filter_types, event_type)
    )


def end_unsent(conn: sa.Connection, why: dict[int, tuple[str, str]], now: dt.datetime) -> None:
    """End the deliveries ``why`` names, each failed with an attempt that was not made and
    says why (``why``: by delivery id, its message's event type and the reason), so the
    message's log tells why its retries stopped."""
    if not why:
        return
    d = webhook_deliveries
    ids = sorted(why)
    e = webhook_endpoints
    rows = conn.execute(
        sa.select(d.c.id, d.c.message_id, d.c.endpoint_id, d.c.attempts, e.c.url)
        .join(e, e.c.id == d.c.endpoint_id)
        .where(d.c.id.in_(ids))
    )
    conn.execute(
        webhook_attempts.insert(),
        [
            {
                "delivery_id": delivery_id,
                "message_id": message_id,
                "endpoint_id": endpoint_id,
                "event_type": why[delivery_id][0],
                "attempt_number": attempts + 1,
                "trigger": "scheduled",
                "attempted_at": now,
                "succeeded": False,
                "sent": False,
                "status_code": 0,
                "duration_ms": 0,
                "response": None,
                "error": why[delivery_id][1],
                "next_attempt_at": None,
                "url": url,
            }
            for delivery_id, message_id, endpoint_id, attempts, url in rows
        ],
    )
    conn.execute(
        d.update()
        .where(d.c.id.in_(ids))
        .values(state=FAILED, attempts=d.c.attempts + 1, next_attempt_at=None, updated_at=now)
    )


def record(conn: sa.Connection, outcomes: Sequence[Outcome]) -> int:
    """Store the attempts and move each delivery on: done, due again later, or failed;
    how many moved. Every attempt made is logged, once (an attempt is known by its
    delivery and ``attempted_at``); a delivery moves only under the claim its attempt was
    made with."""
    # An endpoint deleted while its attempts were in flight took its deliveries with it.
    ids = [o.claimed.delivery_id for o in outcomes]
    d = webhook_deliveries
    # A Resend of a delivery on its schedule is logged manual, its claim not (the retries
    # it had are kept); read here, the claim a batch DBOS pickled needs no new field.
    resent: dict[int, bool] = {
        delivery_id: flag
        for delivery_id, flag in conn.execute(sa.select(d.c.id, d.c.resent).where(d.c.id.in_(ids)))
    }
    alive = set(resent)
    outcomes = [o for o in outcomes if o.claimed.delivery_id in alive]
    if not outcomes:
        return 0
    # Recorded once, however often asked: a batch settled again after a commit that was
    # never acknowledged (the connection lost in COMMIT, the process gone before DBOS noted
    # the step done) would log each of its attempts twice.
    a = webhook_attempts
    logged = {
        (delivery_id, at)
        for delivery_id, at in conn.execute(
            sa.select(a.c.delivery_id, a.c.attempted_at).where(
                a.c.delivery_id.in_([o.claimed.delivery_id for o in outcomes]),
                a.c.attempted_at >= min(o.attempted_at for o in outcomes),
            )
        )
    }
    outcomes = [o for o in outcomes if (o.claimed.delivery_id, o.attempted_at) not in logged]
    if not outcomes:
        return 0
    # Each attempt keeps its message's type, which the lists filter on (the one place
    # attempts are written: first sends, retries, resends, recoveries, tests, examples).
    event_types = _event_types(conn, outcomes)
    conn.execute(
        webhook_attempts.insert(),
        [
            {
                "delivery_id": o.claimed.delivery_id,
                "message_id": o.claimed.message_id,
                "endpoint_id": o.claimed.endpoint_id,
                "event_type": event_types[o.claimed.message_id],
                "attempt_number": o.claimed.attempts + 1,
                "trigger": "manual"
                if o.claimed.manual or resent[o.claimed.delivery_id]
                else "scheduled",
                "attempted_at": o.attempted_at,
                "succeeded": o.succeeded,
                "status_code": o.status_code,
                "duration_ms": o.duration_ms,
                "response": o.response,
                "error": o.error,
                "next_attempt_at": o.next_attempt_at,
                # The claim's, read with the delivery: the URL the request went to.
                "url": o.claimed.url,
            }
            for o in outcomes
        ],
    )
    moved = conn.execute(
        d.update()
        .where(d.c.id == sa.bindparam("b_id"), _held(d, "b_lease"))
        .values(
            state=sa.bindparam("b_state"),
            attempts=d.c.attempts + 1,
            manual=False,
            resent=False,
            next_attempt_at=sa.bindparam("b_next", type_=d.c.next_attempt_at.type),
            updated_at=sa.bindparam("b_at", type_=d.c.updated_at.type),
        ),
        [
            {
                "b_id": o.claimed.delivery_id,
                "b_state": SUCCEEDED
                if o.succeeded
                else (PENDING if o.next_attempt_at is not None else FAILED),
                "b_next": o.next_attempt_at,
                "b_at": o.attempted_at,
                "b_lease": o.claimed.lease_until,
            }
            for o in outcomes
        ],
    )
    return moved.rowcount


def _event_types(conn: sa.Connection, outcomes: Sequence[Outcome]) -> dict[str, str]:
    """Each outcome's message's event type, by message id: the one its claim read with
    the message; read again only for a claim without it, which a batch DBOS pickled
    before claims carried it (attempts made, the process gone before recording them)
    unpickles as on the new code."""
    known = {
        o.claimed.message_id: o.claimed.event_type
        for o in outcomes
        if hasattr(o.claimed, "event_type")
    }
    missing = sorted({o.claimed.message_id for o in outcomes}.difference(known))
    if missing:
        m = webhook_messages
        query = sa.select(m.c.id, m.c.event_type).where(m.c.id.in_(missing))
        known.update((message_id, event_type) for message_id, event_type in conn.execute(query))
    return known


def defer(conn: sa.Connection, deferred: Sequence[Deferred]) -> None:
    """Make held-back deliveries due again later; no attempt is counted."""
    if deferred:
        d = webhook_deliveries
        due = sa.bindparam("b_due", type_=d.c.next_attempt_at.type)
        conn.execute(
            d.update()
            .where(d.c.id == sa.bindparam("b_id"), _held(d, "b_lease"))
            .values(next_attempt_at=due, held_until=due, held_for=sa.bindparam("b_why")),
            [
                {
                    "b_id": x.claimed.delivery_id,
                    "b_due": x.due,
                    "b_lease": x.claimed.lease_until,
                    "b_why": getattr(x, "why", None),
                }
                for x in deferred
            ],
        )


def next_due(conn: sa.Connection) -> dt.datetime | None:
    """When the earliest pending delivery to an enabled endpoint falls due (maybe past)."""
    d, e = webhook_deliveries, webhook_endpoints
    # The first in the due index, not the min() of a join, which PostgreSQL may plan as a
    # read of every pending row: it did, its estimate of the rows' width grown by two
    # columns (migration 0024), for 300 parked deliveries behind 3 due.
    return conn.execute(
        sa.select(d.c.next_attempt_at)
        .join(e, e.c.id == d.c.endpoint_id)
        .where(DUE_TO_ENABLED, d.c.next_attempt_at.is_not(None), e.c.enabled.is_(True))
        .order_by(d.c.next_attempt_at)
        .limit(1)
    ).scalar()


def count_pending(conn: sa.Connection, endpoint_id: str | None = None) -> int:
    """The deliveries still owed: every endpoint's, or one's (by its pending index, so an
    endpoint's long history costs nothing)."""
    d = webhook_deliveries
    query = sa.select(sa.func.count()).select_from(d).where(d.c.state == PENDING)
    if endpoint_id is not None:
        query = query.where(d.c.endpoint_id == endpoint_id)
    return int(conn.execute(query).scalar() or 0)


def _message_select() -> sa.Select[Any]:
    m = webhook_messages
    return sa.select(m.c.id, m.c.account_id, m.c.event_type, m.c.payload, m.c.created_at, m.c.seq)


def _message(row: Sequence[Any]) -> Message:
    message_id, account_id, event_type, payload, created_at, seq = row
    return Message(message_id, account_id, event_type, payload.encode(), created_at, seq)


def expired_messages(conn: sa.Connection, message_ids: Collection[str]) -> set[str]:
    """Those of ``message_ids`` whose payload expired: a page of attempts offers no
    Resend of them (it would be refused)."""
    if not message_ids:
        return set()
    m = webhook_messages
    query = sa.select(m.c.id).where(m.c.id.in_(message_ids), expired(m.c.payload))
    return set(conn.execute(query).scalars())


def get_message(conn: sa.Connection, account_id: int | None, message_id: str) -> Message | None:
    m = webhook_messages
    query = _message_select().where(m.c.id == message_id)
    if account_id is not None:
        query = query.where(m.c.account_id == account_id)
    row = conn.execute(query).first()
    return None if row is None else _message(row)


def message_at(conn: sa.Connection, account_id: int, seq: int) -> Message | None:
    """The account's message of that place in the order published (``Message.seq``)."""
    m = webhook_messages
    query = _message_select().where(m.c.account_id == account_id, m.c.seq == seq)
    row = conn.execute(query).first()
    return None if row is None else _message(row)


def list_messages(
    conn: sa.Connection,
    account_id: int,
    *,
    limit: int,
    before: Message | None = None,
    after: Message | None = None,
    oldest: bool = False,
    narrowed: LogFilter = EVERYTHING,
    delivery_state: str | None = None,
) -> list[Message]:
    """The account's messages, newest first, after the message ``before`` (as
    ``get_message`` reads it) if given; ``after``: those newer than that message, oldest
    first (the page above one that begins there); ``oldest``: oldest first from the
    oldest; ``delivery_state``: those with a delivery in that state. Those of one time
    (published in one transaction) in the reverse of the order they were published in: by
    their random event ids, a job's events would be listed in no order, and a page's end
    would cut them anywhere."""
    m = webhook_messages
    order = (m.c.created_at, m.c.seq)
    newest_first = after is None and not oldest
    query = (
        _message_select()
        .where(m.c.account_id == account_id)
        .order_by(*(c.desc() if newest_first else c.asc() for c in order))
        .limit(limit)
    )
    for cursor, older in ((before, True), (after, False)):
        if cursor is not None:
            place = sa.tuple_(sa.literal(cursor.created_at, m.c.created_at.type), cursor.seq)
            key = sa.tuple_(*order)
            query = query.where(key < place if older else key > place)
    query = query.where(*narrowed.conditions(m.c.event_type, m.c.created_at))
    if delivery_state is not None:
        query = _in_state(conn, query, account_id, delivery_state)
    return [_message(r) for r in conn.execute(query)]


# Fewer of the account's deliveries than this in a state: its messages are read from
# the (endpoint_id, state, message_id) index, each looked up by its id and the lot sorted
# (100 failed among 100,000 messages: a page in 1 ms on SQLite, 2-4 ms on PostgreSQL,
# against 35-78 ms and up to 73 ms looking at each message in turn). More: each of the
# account's messages in order is looked at until a page is found, among its first
# hundreds when the state is common; counting up to the bound costs that page ~0.5 ms on
# SQLite, ~0.8 ms on PostgreSQL (bench/messages_list.py).
_FEW_IN_STATE = 2_000


def _in_state(
    conn: sa.Connection, query: sa.Select[Any], account_id: int, state: str
) -> sa.Select[Any]:
    """``query`` of the account's messages narrowed to those with a delivery in
    ``state``, in the shape fast for how many of its deliveries are in it, counted up to
    ``_FEW_IN_STATE`` through the index: not left to the planner, as SQLite keeps no
    counts of a column's values, and PostgreSQL's are of every account's at once."""
    d, e, m = webhook_deliveries, webhook_endpoints, webhook_messages
    its_endpoints = sa.select(e.c.id).where(e.c.account_id == account_id)
    of_state = sa.select(d.c.message_id).where(
        d.c.state == state, d.c.endpoint_id.in_(its_endpoints)
    )
    counted = sa.select(sa.func.count()).select_from(of_state.limit(_FEW_IN_STATE).subquery())
    if conn.execute(counted).scalar_one() < _FEW_IN_STATE:
        # Read here, the page's query naming them: SQLite plans a DISTINCT of them in it
        # as a walk of every delivery in message order (the unique index), and a join on
        # them, when none is in the state, as a walk of every message (12 ms in 100,000).
        found = sorted(set(conn.execute(of_state).scalars()))
        return query.where(m.c.id.in_(found))
    # By the (message, endpoint) unique index: a look at each message's own deliveries.
    return query.where(sa.exists().where(d.c.message_id == m.c.id, d.c.state == state))


def list_deliveries(
    conn: sa.Connection, *, message_id: str | None = None, endpoint_id: str | None = None
) -> list[Delivery]:
    d = webhook_deliveries
    conditions = []
    if message_id is not None:
        conditions.append(d.c.message_id == message_id)
    if endpoint_id is not None:
        conditions.append(d.c.endpoint_id == endpoint_id)
    return _deliveries(conn, *conditions)


def message_deliveries(
    conn: sa.Connection,
    message_id: str,
    *,
    limit: int,
    before: int | None = None,
    after: int | None = None,
    oldest: bool = False,
) -> list[Delivery]:
    """A message's deliveries, newest first (the reverse of the order queued);
    ``before``: those queued before the delivery of that id, which need not exist any
    more (its endpoint deleted since, and with it its deliveries); ``after``: those
    queued after it, oldest first (the page above one that begins there); ``oldest``:
    oldest first from the first queued (where the last page begins). A page is read from
    the ``(message_id, id)`` index (migration 0025), where the message's every delivery
    was read and sorted for it."""
    d = webhook_deliveries
    conditions = [d.c.message_id == message_id]
    if before is not None:
        conditions.append(d.c.id < before)
    if after is not None:
        conditions.append(d.c.id > after)
    newest_first = after is None and not oldest
    # The page's ids first, from that index alone (its own columns: no row read), then
    # their rows. Asked for the rows at once, PostgreSQL may walk the primary key back
    # from the newest delivery of all, testing each one's message: it takes a message's
    # deliveries for spread evenly among all, where they are queued together. For the
    # oldest of 3 messages each to 50,000 endpoints it read past the 100,000 queued since
    # for each page (13 ms), and with the index there it guessed that walk all but as
    # cheap as the index's rows (11.8 against 10.9).
    page = (
        sa.select(d.c.id)
        .where(*conditions)
        .order_by(d.c.id.desc() if newest_first else d.c.id)
        .limit(limit)
    )
    return _deliveries(conn, d.c.id.in_(page.scalar_subquery()), newest_first=newest_first)


def deliveries_by_id(conn: sa.Connection, delivery_ids: Collection[int]) -> dict[int, Delivery]:
    """The deliveries of those ids still stored, by id: a page of attempts' in one query."""
    if not delivery_ids:
        return {}
    found = _deliveries(conn, webhook_deliveries.c.id.in_(sorted(delivery_ids)))
    return {delivery.id: delivery for delivery in found}


def count_deliveries(conn: sa.Connection, message_id: str) -> int:
    """How many endpoints a message was queued to (by the (message, endpoint) index)."""
    d = webhook_deliveries
    query = sa.select(sa.func.count()).select_from(d).where(d.c.message_id == message_id)
    return int(conn.execute(query).scalar_one())


DeliveryRow = sa.Row[str, str, str, int, dt.datetime | None, dt.datetime]
"""A delivery as a message's view shows it: ``message_id``, ``endpoint_id``, ``state``,
``attempts``, ``next_attempt_at``, ``updated_at``."""
_SHOWN = (
    webhook_deliveries.c.message_id,
    webhook_deliveries.c.endpoint_id,
    webhook_deliveries.c.state,
    webhook_deliveries.c.attempts,
    webhook_deliveries.c.next_attempt_at,
    webhook_deliveries.c.updated_at,
)
"""Those columns, which a ``Delivery`` holds too, after its id."""


def _deliveries(
    conn: sa.Connection,
    *conditions: sa.ColumnElement[bool],
    newest_first: bool = False,
    limit: int | None = None,
) -> list[Delivery]:
    d = webhook_deliveries
    held_for = sa.case((d.c.next_attempt_at == d.c.held_until, d.c.held_for), else_=None)
    query = (
        sa.select(d.c.id, *_SHOWN, held_for)
        .where(*conditions)
        .order_by(d.c.id.desc() if newest_first else d.c.id)
        .limit(limit)
    )
    return [Delivery(*r) for r in conn.execute(query)]


def deliveries_of(conn: sa.Connection, message_ids: Sequence[str]) -> dict[str, list[DeliveryRow]]:
    """The deliveries of several messages at once, by message, each in the order queued:
    the rows as read, of the columns a message's view shows (a page of 20 messages each
    sent to 1,000 endpoints is 20,000 of them, where a ``Delivery`` made of each cost more
    than the query)."""
    d = webhook_deliveries
    found: dict[str, list[DeliveryRow]] = {}
    if message_ids:
        query = sa.select(*_SHOWN).where(d.c.message_id.in_(list(message_ids))).order_by(d.c.id)
        # Fetched at once: row by row, the driver's fetchone cost more than the rows.
        for row in conn.execute(query).all():
            found.setdefault(row[0], []).append(row)
    return found


def deliveries_by_endpoint(
    conn: sa.Connection, message_id: str, *, limit: int, before: str | None = None
) -> list[DeliveryRow]:
    """A page of one message's deliveries, of the columns a message's view shows, by
    endpoint id, the latest made first (an id begins with its millisecond); ``before``:
    those to endpoints before that one, which need not exist any more. Read from the
    ``(message_id, endpoint_id)`` unique index, a page costs its own rows alone, however
    many endpoints the message went to (as ``message_deliveries``' do, in the order
    queued, from the ``(message_id, id)`` index)."""
    d = webhook_deliveries
    query = (
        sa.select(*_SHOWN)
        .where(d.c.message_id == message_id)
        .order_by(d.c.endpoint_id.desc())
        .limit(limit)
    )
    if before is not None:
        query = query.where(d.c.endpoint_id < before)
    return list(conn.execute(query).all())


def delivery_states(conn: sa.Connection, message_ids: Sequence[str]) -> dict[str, dict[str, int]]:
    """How many of each message's deliveries are in each state, by message then state (a
    state none is in left out): counted in the store, where a page of 20 messages each
    sent to 1,000 endpoints read 20,000 deliveries to count them."""
    d = webhook_deliveries
    counts: dict[str, dict[str, int]] = {}
    if message_ids:
        query = (
            sa.select(d.c.message_id, d.c.state, sa.func.count())
            .where(d.c.message_id.in_(list(message_ids)))
            .group_by(d.c.message_id, d.c.state)
        )
        for message_id, state, n in conn.execute(query):
            counts.setdefault(message_id, {})[state] = int(n)
    return counts


def latest_attempts(conn: sa.Connection, delivery_ids: Collection[int]) -> dict[int, Attempt]:
    """Each delivery's latest attempt (by its start, then id, as ``list_attempts`` orders
    them), by delivery id; one with none is left out. One query for a page of deliveries,
    where one each made a page of 20 cost 20 statements more."""
    a = webhook_attempts
    if not delivery_ids:
        return {}
    latest_first = (a.c.attempted_at.desc(), a.c.id.desc())
    rank = sa.func.row_number().over(partition_by=a.c.delivery_id, order_by=latest_first)
    ranked = (
        sa.select(a, rank.label("rank")).where(a.c.delivery_id.in_(sorted(delivery_ids))).subquery()
    )
    query = sa.select(*(ranked.c[c.name] for c in a.columns)).where(ranked.c.rank == 1)
    return {r.delivery_id: _attempt(r) for r in conn.execute(query)}


def _attempt(r: sa.Row[tuple[object, ...]]) -> Attempt:
    return Attempt(
        id=r.id,
        delivery_id=r.delivery_id,
        message_id=r.message_id,
        endpoint_id=r.endpoint_id,
        event_type=r.event_type,
        attempt_number=r.attempt_number,
        trigger=r.trigger,
        attempted_at=r.attempted_at,
        succeeded=r.succeeded,
        status_code=r.status_code,
        duration_ms=r.duration_ms,
        response=r.response,
        error=r.error,
        next_attempt_at=r.next_attempt_at,
        sent=r.sent,
        url=r.url,
    )


class UnknownCursor(LookupError):
    """A page of attempts was asked from an attempt that is not in the list: one of
    another endpoint or message, or none."""

    def __init__(self, attempt_id: int) -> None:
        super().__init__(attempt_id)
        self.attempt_id = attempt_id


def list_attempts(
    conn: sa.Connection,
    *,
    endpoint_id: str | None = None,
    message_id: str | None = None,
    limit: int = 100,
    before: AttemptKey | int | None = None,
    after: int | None = None,
    oldest: bool = False,
    succeeded: bool | None = None,
    narrowed: LogFilter = EVERYTHING,
) -> list[Attempt]:
    """Attempts, newest first (by their start, then id), by endpoint and/or message, by
    outcome if given, and as ``narrowed`` (the message's event type, the attempt's start).
    ``before``: those older than that place, or than the attempt of that id; ``after``:
    those newer, oldest first (the page above one that begins there); ``oldest``: oldest
    first from the oldest (where the last page begins). Raises ``UnknownCursor`` for an
    id that is no attempt of the endpoint and message."""
    a = webhook_attempts
    scope = _scope(endpoint_id, message_id)
    # Paged on (attempted_at, id), the index's order after the endpoint (and the type): a
    # window far in the past starts where the index reaches it, where paging by id alone
    # would read the endpoint's attempts back from the newest until enough are in it.
    newest_first = after is None and not oldest
    query = sa.select(a).where(*scope)
    if before is not None:
        query = query.where(_beyond(conn, scope, before, older=True))
    if after is not None:
        query = query.where(_beyond(conn, scope, after, older=False))
    if succeeded is not None:
        # An equality, which the (endpoint, outcome, start) index seeks (PostgreSQL seeks
        # no IS FALSE); the column is never NULL.
        query = query.where(a.c.succeeded == succeeded)

    def page(of: sa.Select[tuple[object, ...]], at: sa.FromClause) -> sa.Select[tuple[object, ...]]:
        order = (at.c.attempted_at, at.c.id)
        return of.order_by(*(c.desc() if newest_first else c.asc() for c in order)).limit(limit)

    def narrowed_to(by: LogFilter) -> sa.Select[tuple[object, ...]]:
        return page(query.where(*by.conditions(a.c.event_type, a.c.attempted_at)), a)

    types = sorted(narrowed.event_types or ())
    if len(types) < 2:
        query = narrowed_to(narrowed)
    else:
        # A page of each type, from its own stretch of the (endpoint, type, start) index,
        # merged: the types in one IN would be either read whole from that index and
        # sorted, or found by reading the endpoint's attempts back until enough are of them.
        each = [
            sa.select(narrowed_to(replace(narrowed, event_types=frozenset({t}))).subquery())
            for t in types
        ]
        merged = sa.union_all(*each).subquery()
        query = page(sa.select(merged), merged)
    return [_attempt(r) for r in conn.execute(query)]


def page_above(
    conn: sa.Connection, attempt: AttemptKey, size: int, *, endpoint_id: str, message_id: str
) -> int | None:
    """Where the page of the endpoint's attempts of the message that holds ``attempt``
    begins, paged ``size`` at a time from the newest as ``list_attempts`` pages them: the
    id of the attempt just above that page (its ``before``), or None for the newest page.
    In one statement: with n attempts newer than it, that one is the one n mod size
    places above the next one up (none where n < size)."""
    a = webhook_attempts
    scope = _scope(endpoint_id, message_id)
    newer = (*scope, _beyond(conn, scope, attempt, older=False))
    count = sa.select(sa.func.count() % size).select_from(a).where(*newer).scalar_subquery()
    query = (
        sa.select(a.c.id).where(*newer).order_by(a.c.attempted_at, a.c.id).limit(1).offset(count)
    )
    return conn.execute(query).scalar()


def _scope(endpoint_id: str | None, message_id: str | None) -> list[sa.ColumnElement[bool]]:
    """Attempts to the endpoint and of the message, each if given."""
    a = webhook_attempts
    scope: list[sa.ColumnElement[bool]] = []
    if endpoint_id is not None:
        scope.append(a.c.endpoint_id == endpoint_id)
    if message_id is not None:
        scope.append(a.c.message_id == message_id)
    return scope


def _beyond(
    conn: sa.Connection,
    scope: list[sa.ColumnElement[bool]],
    cursor: AttemptKey | int,
    *,
    older: bool,
) -> sa.ColumnElement[bool]:
    """The attempts older (or newer) than the place ``cursor``, or than the attempt of
    that id in the list's scope."""
    a = webhook_attempts
    if isinstance(cursor, int):
        query = sa.select(a.c.attempted_at).where(a.c.id == cursor, *scope)
        at = conn.execute(query).scalar()
        if at is None:
            raise UnknownCursor(cursor)
        cursor = AttemptKey(at, cursor)
    key = sa.tuple_(a.c.attempted_at, a.c.id)
    place = sa.tuple_(
        sa.literal(cursor.attempted_at, a.c.attempted_at.type), sa.literal(cursor.id, a.c.id.type)
    )
    return key < place if older else key > place


def get_attempt(conn: sa.Connection, endpoint_id: str, attempt_id: int) -> Attempt | None:
    """One attempt to the endpoint, or None (none by that id, or one to another endpoint)."""
    a = webhook_attempts
    query = sa.select(a).where(a.c.id == attempt_id, a.c.endpoint_id == endpoint_id)
    row = conn.execute(query).first()
    return _attempt(row) if row is not None else None


def attempt_stats(
    conn: sa.Connection, endpoint_ids: Sequence[str], since: dt.datetime
) -> dict[str, tuple[int, int]]:
    """Per endpoint, the attempts made to it since ``since`` and how many succeeded
    (endpoints without any are left out). An attempt not made (``sent`` false) is no
    failure of the receiver's and is not counted."""
    a = webhook_attempts
    if not endpoint_ids:
        return {}
    rows = conn.execute(
        sa.select(
            a.c.endpoint_id,
            sa.func.count(),
            sa.func.sum(sa.case((a.c.succeeded.is_(True), 1), else_=0)),
        )
        .where(
            a.c.endpoint_id.in_(list(endpoint_ids)),
            a.c.attempted_at >= since,
            a.c.sent.is_(True),
        )
        .group_by(a.c.endpoint_id)
    )
    return {endpoint_id: (int(total), int(ok or 0)) for endpoint_id, total, ok in rows}


def delivery_counts(conn: sa.Connection, account_id: int) -> dict[str, dict[str, int]]:
    """The account's deliveries by event type, then by state (pending, succeeded, failed)."""
    d, m = webhook_deliveries, webhook_messages
    rows = conn.execute(
        sa.select(m.c.event_type, d.c.state, sa.func.count())
        .join(m, m.c.id == d.c.message_id)
        .where(m.c.account_id == account_id)
        .group_by(m.c.event_type, d.c.state)
    )
    counts: dict[str, dict[str, int]] = {}
    for event_type, state, count in rows:
        counts.setdefault(event_type, {})[state] = int(count)
    return counts


def replay(conn: sa.Connection, message_id: str, endpoint_id: str, now: dt.datetime) -> int:
    """Make one manual attempt of the message to the endpoint, due now (a delivery is
    created if the endpoint never had one). A delivery still on its retry schedule is
    brought forward instead, and keeps its retries (its attempt is a manual one all the
    same: logged so, and sent whatever the filter); one whose attempt is owed now (a
    manual one, or one a sender has in hand) is left as it is. Returns the delivery id.
    To a disabled endpoint, it waits, parked, until the endpoint is enabled."""
    d = webhook_deliveries
    parked = _endpoint_disabled(conn, endpoint_id)
    found = conn.execute(
        sa.select(d.c.id, d.c.state, d.c.manual, d.c.next_attempt_at).where(
            d.c.message_id == message_id, d.c.endpoint_id == endpoint_id
        )
    ).first()
    # Made due again, a claimed delivery would lose its claim and be claimed and sent a
    # second time beside the first: Resend pressed twice (the dispatcher, woken by the first,
    # claimed it in between), or pressed while a slow receiver had a retry in hand.
    if found is not None and found.state == PENDING:
        due = found.next_attempt_at
        if found.manual or (due is not None and _with_a_sender(conn, found.id, due, now)):
            return int(found.id)
    # One upsert, not an update then an insert: two replays at once (two API processes)
    # would each find no delivery, and the second insert break the unique (message,
    # endpoint).
    statement = (
        insert(conn, d)
        .values(
            message_id=message_id,
            endpoint_id=endpoint_id,
            state=PENDING,
            attempts=0,
            manual=True,
            next_attempt_at=now,
            created_at=now,
            updated_at=now,
            parked=parked,
        )
        .on_conflict_do_update(
            index_elements=[d.c.message_id, d.c.endpoint_id],
            set_={
                "state": PENDING,
                # Made manual, a pending delivery's one failed attempt would end it for
                # good: the replay meant to hurry it would drop the retries it still had.
                "manual": sa.case((d.c.state == PENDING, d.c.manual), else_=sa.true()),
                # Left scheduled, the Resend would be ended unsent if the endpoint's filter
                # dropped its type since the message was queued; asked for, it goes out.
                "resent": d.c.state == PENDING,
                "next_attempt_at": now,
                "updated_at": now,
                "parked": parked,
            },
        )
        .returning(d.c.id)
    )
    return int(conn.execute(statement).scalar_one())


def _endpoint_disabled(conn: sa.Connection, endpoint_id: str) -> bool:
    """Whether the endpoint is disabled, its row share-locked to the end of the
    transaction (PostgreSQL): a delivery made pending to it is parked by what this says,
    and an enable committed meanwhile (its trigger unparking the deliveries it saw) left
    it parked for good. Locked, the enable waits, and then unparks it."""
    e = webhook_endpoints
    query = sa.select(e.c.enabled).where(e.c.id == endpoint_id).with_for_update(read=True)
    return conn.execute(query).scalar() is False


def _with_a_sender(
    conn: sa.Connection, delivery_id: int, due: dt.datetime, now: dt.datetime
) -> bool:
    """Whether a pending delivery due at ``due`` is claimed (or held back by its rate
    limit) rather than waiting for its next scheduled retry (``_claimed``)."""
    if due <= now:
        return False
    a = webhook_attempts
    scheduled = conn.execute(
        sa.select(a.c.next_attempt_at)
        .where(a.c.delivery_id == delivery_id)
        .order_by(a.c.id.desc())
        .limit(1)
    ).scalar()
    return _claimed(due, scheduled, now)


def _claimed(due: dt.datetime, scheduled: dt.datetime | None, now: dt.datetime) -> bool:
    """Whether a pending delivery due at ``due``, whose last attempt set ``scheduled``
    (None: none made, or none more planned), is in a sender's hands: a retry's due time
    is the one its last attempt set, a claim's is its lease, ahead; one queued, replayed
    or recovered is due at once, not ahead."""
    return due > now and due != scheduled


def in_flight(delivery: Delivery, latest: Attempt | None, now: dt.datetime) -> bool:
    """Whether the delivery, whose latest attempt is ``latest``, is being sent now: its
    due time is then its claim's lease, not when it is next tried, which would be shown
    ~30 s ahead. One a sender put back unsent is not (``held_back``)."""
    if delivery.state != PENDING or delivery.next_attempt_at is None or delivery.held_for:
        return False
    scheduled = latest.next_attempt_at if latest is not None else None
    return _claimed(delivery.next_attempt_at, scheduled, now)


def held_back(delivery: Delivery, now: dt.datetime) -> bool:
    """Whether a sender put the delivery back unsent, to wait until its due time, still
    ahead (``Delivery.held_for`` says why)."""
    due = delivery.next_attempt_at
    return delivery.state == PENDING and bool(delivery.held_for) and due is not None and due > now


def recover(
    conn: sa.Connection,
    endpoint_id: str,
    since: dt.datetime,
    now: dt.datetime,
    limit: int,
) -> int:
    """Queue one manual attempt of every delivery to the endpoint that failed for good, of
    a message created since ``since`` (at most ``limit``). Returns how many it re-armed.
    To a disabled endpoint, they wait, parked, until the endpoint is enabled."""
    d, m = webhook_deliveries, webhook_messages
    parked = _endpoint_disabled(conn, endpoint_id)
    # The message's time, as Svix's "recover since" means: a delivery a replay created has
    # the replay's, so a message sent weeks ago and replayed since would be recovered as new.
    ids = list(
        conn.execute(
            sa.select(d.c.id)
            .join(m, m.c.id == d.c.message_id)
            .where(
                d.c.endpoint_id == endpoint_id,
                d.c.state == FAILED,
                m.c.created_at >= since,
                unexpired(m.c.payload),  # nothing left to send
            )
            .order_by(d.c.id)
            .limit(limit)
        ).scalars()
    )
    if not ids:
        return 0
    # Failed still, when the row is locked: one replayed and claimed since it was read (on
    # PostgreSQL, another process) would have its due time reset, its claim cut short, and
    # be sent a second time beside its sender's attempt.
    rearmed = conn.execute(
        d.update()
        .where(d.c.id.in_(ids), d.c.state == FAILED)
        .values(state=PENDING, manual=True, next_attempt_at=now, updated_at=now, parked=parked)
    )
    return rearmed.rowcount
