"""The webhook outbox and endpoints in the store, on SQLite and PostgreSQL: fan-out by
filter, claiming, recording outcomes, replay and recover, paging, the failure clock and
secret rotation. No service process: the store functions are called directly."""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import itertools
import pickle
import random
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from producersync.model.events import (
    ENDPOINT_TEST,
    EVENT_GROUP,
    NPN_ACTIVATED,
    NPN_DEACTIVATED,
    UPDATES_AVAILABLE,
    EndpointTest,
    Event,
    NpnActivated,
    NpnDeactivated,
    UpdatesAvailable,
)
from producersync.service.delivery import management
from producersync.service.delivery.policy import RetryPolicy
from producersync.service.settings import ServiceSettings
from producersync.service.store import accounts, endpoints, outbox
from producersync.service.store.engine import write_transaction
from producersync.service.store.tables import (
    webhook_attempts,
    webhook_deliveries,
    webhook_endpoints,
    webhook_messages,
    webhook_secrets,
)
from tests.conftest import BACKENDS
from tests.support.databases import statements, table_plans, waiting_on_a_lock
from tests.support.delivery import opened_store as opened
from tests.support.waiting import eventually

pytestmark = pytest.mark.slow(60)

T0 = dt.datetime(2025, 6, 1, 12, 0, tzinfo=dt.UTC)
LEASE = dt.timedelta(seconds=30)
URL = "https://93.184.216.34/hook"
NPN = "15645555"


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    """A fresh, migrated store on each backend."""
    with opened(request.param, tmp_path) as engine:
        yield engine


def seconds(n: float) -> dt.timedelta:
    return dt.timedelta(seconds=n)


def updates() -> UpdatesAvailable:
    return UpdatesAvailable.create(dt.date(2025, 6, 1))


def activated() -> NpnActivated:
    return NpnActivated.create(NPN)


def deactivated() -> NpnDeactivated:
    return NpnDeactivated.create(NPN)


def message(account_id: int, event: Event) -> outbox.Message:
    return outbox.Message(event.id, account_id, event.type, event.to_json())


def new_account(conn: sa.Connection, name: str = "acme") -> int:
    return accounts.create_account(conn, name, sandbox=False).id


def new_endpoint(
    conn: sa.Connection,
    account_id: int,
    event_types: list[str] | None = None,
    *,
    rate_limit_per_second: int | None = None,
) -> str:
    endpoint, _secret = endpoints.create_endpoint(
        conn,
        account_id,
        URL,
        event_types=event_types,
        rate_limit_per_second=rate_limit_per_second,
    )
    return endpoint.id


def one_claimed(
    conn: sa.Connection, *, rate_limit_per_second: int | None = None
) -> tuple[str, NpnActivated, outbox.Claimed]:
    """A new account's endpoint, and one activation published to it at T0, claimed."""
    account = new_account(conn)
    ep = new_endpoint(conn, account, rate_limit_per_second=rate_limit_per_second)
    event = activated()
    outbox.publish(conn, [message(account, event)], now=T0)
    (claimed,) = outbox.claim_due(conn, T0, 10, LEASE)
    return ep, event, claimed


def pairs(conn: sa.Connection) -> set[tuple[str, str]]:
    return {(d.message_id, d.endpoint_id) for d in outbox.list_deliveries(conn)}


def manual_flag(conn: sa.Connection, delivery_id: int) -> bool:
    d = webhook_deliveries
    return bool(conn.execute(sa.select(d.c.manual).where(d.c.id == delivery_id)).scalar_one())


def only_delivery(conn: sa.Connection, message_id: str, endpoint_id: str) -> outbox.Delivery:
    found = outbox.list_deliveries(conn, message_id=message_id, endpoint_id=endpoint_id)
    assert len(found) == 1
    return found[0]


def outcome(
    claimed: outbox.Claimed,
    at: dt.datetime,
    *,
    succeeded: bool,
    next_at: dt.datetime | None = None,
    status: int | None = None,
) -> outbox.Outcome:
    return outbox.Outcome(
        claimed=claimed,
        attempted_at=at,
        succeeded=succeeded,
        status_code=status if status is not None else (200 if succeeded else 500),
        duration_ms=12,
        response="ok" if succeeded else "boom",
        error=None,
        next_attempt_at=next_at,
    )


# --- publish: who gets a delivery ------------------------------------------------------


@pytest.mark.parametrize(
    ("filter_types", "event_type", "matches"),
    [
        (None, UPDATES_AVAILABLE, True),
        (None, NPN_ACTIVATED, True),
        (None, NPN_DEACTIVATED, True),
        ([EVENT_GROUP], UPDATES_AVAILABLE, True),
        ([EVENT_GROUP], NPN_ACTIVATED, True),
        ([EVENT_GROUP], NPN_DEACTIVATED, True),
        ([EVENT_GROUP], ENDPOINT_TEST, False),
        ([NPN_ACTIVATED], NPN_ACTIVATED, True),
        ([NPN_ACTIVATED], NPN_DEACTIVATED, False),
        ([NPN_ACTIVATED], UPDATES_AVAILABLE, False),
        ([NPN_ACTIVATED], ENDPOINT_TEST, False),
        ([UPDATES_AVAILABLE, NPN_DEACTIVATED], NPN_DEACTIVATED, True),
        ([UPDATES_AVAILABLE, NPN_DEACTIVATED], NPN_ACTIVATED, False),
        # A group takes its dotted members only, not a longer name sharing the prefix.
        ([EVENT_GROUP], "producersyncx.other", False),
        (["producersync.updates"], UPDATES_AVAILABLE, False),
        ([], UPDATES_AVAILABLE, False),
    ],
)
def test_event_matches(filter_types: list[str] | None, event_type: str, matches: bool) -> None:
    assert outbox.event_matches(filter_types, event_type) is matches


def test_publish_fans_out_to_the_endpoints_whose_filter_takes_the_type(
    engine: sa.Engine,
) -> None:
    events: list[Event] = [updates(), activated(), deactivated()]
    u, a, d = (e.id for e in events)
    with write_transaction(engine) as conn:
        account = new_account(conn)
        other = new_account(conn, "other")
        every = new_endpoint(conn, account, None)
        group = new_endpoint(conn, account, [EVENT_GROUP])
        exact = new_endpoint(conn, account, [NPN_ACTIVATED])
        two = new_endpoint(conn, account, [UPDATES_AVAILABLE, NPN_DEACTIVATED])
        new_endpoint(conn, other, None)  # another account's endpoint hears nothing
        written = outbox.publish(conn, [message(account, e) for e in events], now=T0)
        expected = {
            (u, every), (a, every), (d, every),
            (u, group), (a, group), (d, group),
            (a, exact),
            (u, two), (d, two),
        }  # fmt: skip
        assert written == len(expected)
        assert pairs(conn) == expected
        for delivery in outbox.list_deliveries(conn):
            assert delivery.state == "pending"
            assert delivery.attempts == 0
            assert delivery.next_attempt_at == T0
        assert {m.id for m in outbox.list_messages(conn, account, limit=10)} == {u, a, d}
        assert outbox.list_messages(conn, other, limit=10) == []


def test_webhook_test_reaches_only_the_endpoint_named(engine: sa.Engine) -> None:
    with write_transaction(engine) as conn:
        account = new_account(conn)
        target = new_endpoint(conn, account, [NPN_ACTIVATED])
        bystander = new_endpoint(conn, account, [EVENT_GROUP])
        # Published without an endpoint, no filtered endpoint takes webhook.test...
        stray = EndpointTest.create(target)
        assert outbox.publish(conn, [message(account, stray)], now=T0) == 0
        # ...named, the endpoint gets it whatever its filter, and no other endpoint does.
        test = EndpointTest.create(target)
        assert outbox.publish(conn, [message(account, test)], endpoint_id=target, now=T0) == 1
        assert pairs(conn) == {(test.id, target)}
        # Forcing an endpoint also overrides a filter that excludes a subscribable type.
        example = updates()
        assert outbox.publish(conn, [message(account, example)], endpoint_id=target) == 1
        assert (example.id, target) in pairs(conn)
        assert (example.id, bystander) not in pairs(conn)


def test_disabled_endpoints_get_no_deliveries(engine: sa.Engine) -> None:
    with write_transaction(engine) as conn:
        account = new_account(conn)
        on = new_endpoint(conn, account)
        off = new_endpoint(conn, account)
        assert endpoints.disable_endpoint(conn, account, off, "paused") is not None
        first = activated()
        assert outbox.publish(conn, [message(account, first)], now=T0) == 1
        assert pairs(conn) == {(first.id, on)}
        assert endpoints.enable_endpoint(conn, account, off) is not None
        second = activated()
        assert outbox.publish(conn, [message(account, second)], now=T0) == 2
        assert pairs(conn) == {(first.id, on), (second.id, on), (second.id, off)}


def test_an_endpoint_is_found_by_its_ids_tail_in_its_account_only(engine: sa.Engine) -> None:
    """The portal's Add Endpoint looks for the endpoint its form made (the account's row
    locked on PostgreSQL, which the statement must compile and run under)."""
    with write_transaction(engine) as conn:
        mine, theirs = new_account(conn), new_account(conn, "other")
        made, _ = endpoints.create_endpoint(
            conn, mine, "https://a.example/", endpoint_id=endpoints.new_id("ep", "0123456789ab")
        )
        assert made.id.endswith("0123456789ab")
        assert endpoints.endpoint_with_tail(conn, mine, "0123456789ab") == made.id
        assert endpoints.endpoint_with_tail(conn, theirs, "0123456789ab") is None
        assert endpoints.endpoint_with_tail(conn, mine, "ba9876543210") is None


def test_a_duplicate_event_id_is_refused_and_nothing_is_doubled(engine: sa.Engine) -> None:
    event = activated()
    with write_transaction(engine) as conn:
        account = new_account(conn)
        new_endpoint(conn, account)
        new_endpoint(conn, account)
        assert outbox.publish(conn, [message(account, event)], now=T0) == 2
    fresh = deactivated()
    batches: list[list[Event]] = [[event], [fresh, event]]
    for batch in batches:
        with pytest.raises(IntegrityError), write_transaction(engine) as conn:
            outbox.publish(conn, [message(account, e) for e in batch], now=T0 + seconds(1))
    with engine.connect() as conn:
        count = conn.execute(sa.select(sa.func.count()).select_from(webhook_messages))
        assert count.scalar_one() == 1
        assert outbox.get_message(conn, account, event.id) is not None
        # The batch that carried the duplicate was rolled back whole.
        assert outbox.get_message(conn, account, fresh.id) is None
        found = outbox.list_deliveries(conn)
        assert len(found) == 2
        assert {d.message_id for d in found} == {event.id}


# --- claim -----------------------------------------------------------------------------


def test_claim_takes_due_rows_of_enabled_endpoints_oldest_first_and_leases_them(
    engine: sa.Engine,
) -> None:
    with write_transaction(engine) as conn:
        account = new_account(conn)
        on = new_endpoint(conn, account, rate_limit_per_second=5)
        off = new_endpoint(conn, account)
        due_at: dict[str, dt.datetime] = {}
        # Published out of due order: the first-written row is the last due.
        for offset in (3, 1, 2):
            event = activated()
            outbox.publish(conn, [message(account, event)], now=T0 + seconds(offset))
            due_at[event.id] = T0 + seconds(offset)
        later = activated()
        outbox.publish(conn, [message(account, later)], now=T0 + dt.timedelta(hours=1))
        endpoints.disable_endpoint(conn, account, off, "paused")
        assert outbox.next_due(conn) == T0 + seconds(1)
    by_due = sorted(due_at, key=due_at.__getitem__)
    now = T0 + seconds(10)

    with write_transaction(engine) as conn:
        first = outbox.claim_due(conn, now, 2, LEASE)
    assert {c.message_id for c in first} == set(by_due[:2])  # the two oldest, by due time
    for claimed in first:
        assert claimed.endpoint_id == on
        assert claimed.url == URL
        assert claimed.attempts == 0
        assert claimed.manual is False
        assert claimed.rate_limit_per_second == 5
    with engine.connect() as conn:
        payload = outbox.get_message(conn, account, first[0].message_id)
        assert payload is not None
        assert first[0].payload == payload.payload

    with write_transaction(engine) as conn:
        second = outbox.claim_due(conn, now, 10, LEASE)
        assert [c.message_id for c in second] == by_due[2:]
        # Everything due is leased now: a claim at the same moment gets nothing.
        assert outbox.claim_due(conn, now, 10, LEASE) == []
        assert outbox.next_due(conn) == now + LEASE
        assert outbox.claim_due(conn, now + LEASE - dt.timedelta(microseconds=1), 10, LEASE) == []

    # The lease over (a sender died mid-attempt), the same rows are due again.
    with write_transaction(engine) as conn:
        again = outbox.claim_due(conn, now + LEASE, 10, LEASE)
    assert sorted(c.delivery_id for c in again) == sorted(c.delivery_id for c in first + second)
    assert later.id not in {c.message_id for c in again}
    with engine.connect() as conn:
        # The disabled endpoint's deliveries stay pending, untouched.
        published = {**due_at, later.id: T0 + dt.timedelta(hours=1)}
        untouched = outbox.list_deliveries(conn, endpoint_id=off)
        assert {d.message_id for d in untouched} == set(published)
        for delivery in untouched:
            assert delivery.state == "pending"
            assert delivery.next_attempt_at == published[delivery.message_id]


def test_a_claim_takes_at_most_its_share_of_one_endpoints_backlog_and_reads_on(
    engine: sa.Engine,
) -> None:
    """Oldest due first, whole, a claim of 4 took four of a busy endpoint's nine and none
    of the quiet ones' deliveries due after them; with a share of 2 it takes two of the
    busy one's, then the others' oldest first, and what it passed over stays due."""
    with write_transaction(engine) as conn:
        account = new_account(conn)
        busy, quiet, other = (new_endpoint(conn, account) for _ in range(3))
        backlog = [activated() for _ in range(9)]
        for offset, event in enumerate(backlog):
            outbox.publish(
                conn, [message(account, event)], endpoint_id=busy, now=T0 + seconds(offset)
            )
        fresh = {}
        for offset, endpoint_id in ((20, quiet), (21, other), (22, quiet)):
            event = activated()
            fresh[event.id] = endpoint_id
            outbox.publish(
                conn, [message(account, event)], endpoint_id=endpoint_id, now=T0 + seconds(offset)
            )
    now = T0 + seconds(30)
    with write_transaction(engine) as conn:
        first = outbox.claim_due(conn, now, 4, LEASE, per_endpoint=2)
        second = outbox.claim_due(conn, now, 4, LEASE, per_endpoint=2)
        rest = outbox.claim_due(conn, now, 100, LEASE)
    assert [c.message_id for c in first] == [backlog[0].id, backlog[1].id, *list(fresh)[:2]]
    assert [c.endpoint_id for c in second] == [busy, busy, quiet]
    assert [c.message_id for c in rest] == [e.id for e in backlog[4:]]
    assert [c.message_id for c in second][:2] == [backlog[2].id, backlog[3].id]


def test_a_claim_passes_over_the_endpoints_whose_slots_are_full(engine: sa.Engine) -> None:
    """Those the dispatcher names (as many in its hands as they may send at once): taken,
    their deliveries would wait in the sender behind the others, and in every claim after
    it, while the shared slots stayed free."""
    with write_transaction(engine) as conn:
        account = new_account(conn)
        busy, quiet = new_endpoint(conn, account), new_endpoint(conn, account)
        for offset, endpoint_id in enumerate((busy, busy, quiet, busy, quiet)):
            outbox.publish(
                conn,
                [message(account, activated())],
                endpoint_id=endpoint_id,
                now=T0 + seconds(offset),
            )
    with write_transaction(engine) as conn:
        passing = outbox.claim_due(conn, T0 + seconds(10), 10, LEASE, passed_over=[busy])
        rest = outbox.claim_due(conn, T0 + seconds(10), 10, LEASE)
    assert [c.endpoint_id for c in passing] == [quiet, quiet]
    assert [c.endpoint_id for c in rest] == [busy, busy, busy]


def test_concurrent_claimers_never_take_the_same_row(engine: sa.Engine) -> None:
    with write_transaction(engine) as conn:
        account = new_account(conn)
        new_endpoint(conn, account)
        new_endpoint(conn, account)
        events = [activated() for _ in range(30)]
        outbox.publish(conn, [message(account, e) for e in events], now=T0)
        total = len(outbox.list_deliveries(conn))
    now = T0 + seconds(1)
    barrier = threading.Barrier(4)
    taken: list[list[int]] = [[] for _ in range(4)]
    errors: list[BaseException] = []

    def claimer(slot: int) -> None:
        try:
            barrier.wait()
            while True:
                with write_transaction(engine) as conn:
                    got = outbox.claim_due(conn, now, 3, LEASE)
                if not got:
                    return
                taken[slot].extend(c.delivery_id for c in got)
        except BaseException as exc:  # reported in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=claimer, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    every = [i for ids in taken for i in ids]
    assert len(every) == len(set(every)) == total


@pytest.mark.postgres
def test_open_postgres_transactions_skip_each_others_claimed_rows(tmp_path: Path) -> None:
    with opened("postgres", tmp_path) as engine:
        with write_transaction(engine) as conn:
            account = new_account(conn)
            new_endpoint(conn, account)
            outbox.publish(conn, [message(account, activated()) for _ in range(6)], now=T0)
        now = T0 + seconds(1)
        with engine.connect() as one, engine.connect() as two:
            first_tx = one.begin()
            first = outbox.claim_due(one, now, 4, LEASE)
            second_tx = two.begin()
            # Were the rows locked rather than skipped, this would wait: fail instead.
            two.execute(sa.text("SET LOCAL lock_timeout = '5s'"))
            second = outbox.claim_due(two, now, 10, LEASE)
            third = outbox.claim_due(two, now, 10, LEASE)
            first_tx.commit()
            second_tx.commit()
        assert len(first) == 4
        assert len(second) == 2
        assert third == []
        assert not {c.delivery_id for c in first} & {c.delivery_id for c in second}


# --- record ----------------------------------------------------------------------------


def test_record_moves_deliveries_on_and_keeps_every_attempt(engine: sa.Engine) -> None:
    with write_transaction(engine) as conn:
        account = new_account(conn)
        ep = new_endpoint(conn, account)
        flaky, fine = activated(), deactivated()
        outbox.publish(conn, [message(account, flaky), message(account, fine)], now=T0)

    with write_transaction(engine) as conn:
        claimed = {c.message_id: c for c in outbox.claim_due(conn, T0, 10, LEASE)}
        outbox.record(
            conn,
            [
                outcome(claimed[flaky.id], T0, succeeded=False, next_at=T0 + seconds(60)),
                outcome(claimed[fine.id], T0, succeeded=True),
            ],
        )
        retrying = only_delivery(conn, flaky.id, ep)
        assert (retrying.state, retrying.attempts) == ("pending", 1)
        assert retrying.next_attempt_at == T0 + seconds(60)
        done = only_delivery(conn, fine.id, ep)
        assert (done.state, done.attempts) == ("succeeded", 1)
        assert outbox.next_due(conn) == T0 + seconds(60)

    with write_transaction(engine) as conn:
        assert outbox.claim_due(conn, T0 + seconds(59), 10, LEASE) == []
        (retry,) = outbox.claim_due(conn, T0 + seconds(60), 10, LEASE)
        assert (retry.message_id, retry.attempts, retry.manual) == (flaky.id, 1, False)
        outbox.record(conn, [outcome(retry, T0 + seconds(60), succeeded=False, status=410)])
        dead = only_delivery(conn, flaky.id, ep)
        assert (dead.state, dead.attempts, dead.next_attempt_at) == ("failed", 2, None)
        assert outbox.next_due(conn) is None
        assert outbox.count_pending(conn) == 0

    with write_transaction(engine) as conn:
        replayed = outbox.replay(conn, flaky.id, ep, T0 + seconds(120))
        assert replayed == dead.id  # the same delivery, re-armed
        assert manual_flag(conn, replayed)
        (manual,) = outbox.claim_due(conn, T0 + seconds(120), 10, LEASE)
        assert (manual.delivery_id, manual.attempts, manual.manual) == (dead.id, 2, True)
        outbox.record(conn, [outcome(manual, T0 + seconds(121), succeeded=True)])
        final = only_delivery(conn, flaky.id, ep)
        assert (final.state, final.attempts) == ("succeeded", 3)
        assert not manual_flag(conn, final.id)

    with engine.connect() as conn:
        attempts = outbox.list_attempts(conn, message_id=flaky.id)
        assert [a.attempt_number for a in attempts] == [3, 2, 1]  # newest first
        assert [a.trigger for a in attempts] == ["manual", "scheduled", "scheduled"]
        assert [a.succeeded for a in attempts] == [True, False, False]
        assert [a.status_code for a in attempts] == [200, 410, 500]
        assert [a.next_attempt_at for a in attempts] == [None, None, T0 + seconds(60)]
        assert attempts[-1].attempted_at == T0
        assert {a.delivery_id for a in attempts} == {dead.id}
        assert {a.endpoint_id for a in attempts} == {ep}
        # Paging by attempt id, and by endpoint.
        page = outbox.list_attempts(conn, endpoint_id=ep, limit=2)
        rest = outbox.list_attempts(conn, endpoint_id=ep, limit=10, before=page[-1].id)
        ids = [a.id for a in page + rest]
        assert ids == sorted(ids, reverse=True)
        assert len(ids) == len(set(ids)) == 4
        assert outbox.list_attempts(conn, endpoint_id=ep, message_id=fine.id)[0].succeeded


def test_defer_makes_a_claimed_delivery_due_later_without_an_attempt(engine: sa.Engine) -> None:
    with write_transaction(engine) as conn:
        ep, event, claimed = one_claimed(conn, rate_limit_per_second=1)
        outbox.defer(conn, [outbox.Deferred(claimed, T0 + seconds(2))])
        outbox.defer(conn, [])
        held = only_delivery(conn, event.id, ep)
        assert (held.state, held.attempts, held.next_attempt_at) == ("pending", 0, T0 + seconds(2))
        assert outbox.claim_due(conn, T0 + seconds(1), 10, LEASE) == []
        (again,) = outbox.claim_due(conn, T0 + seconds(2), 10, LEASE)
        assert (again.delivery_id, again.attempts) == (claimed.delivery_id, 0)
        assert outbox.list_attempts(conn, endpoint_id=ep) == []


@pytest.mark.parametrize("why", [outbox.HELD_RATE_LIMIT, outbox.HELD_ONE_AT_A_TIME, None])
def test_a_deferred_delivery_says_why_it_waits_until_it_is_claimed_again(
    engine: sa.Engine, why: str | None
) -> None:
    """Told by its due time alone (neither a claim's lease nor a retry an attempt planned),
    a delivery put back was "Sending now" in the portal, as one a sender has in hand."""
    with write_transaction(engine) as conn:
        ep, event, claimed = one_claimed(conn, rate_limit_per_second=1)
        outbox.defer(conn, [outbox.Deferred(claimed, T0 + seconds(60), why)])
        held = only_delivery(conn, event.id, ep)
        assert held.held_for == why
        assert outbox.held_back(held, T0 + seconds(1)) is (why is not None)
        assert not outbox.held_back(held, T0 + seconds(60))  # due now
        assert outbox.in_flight(held, None, T0 + seconds(1)) is (why is None)
        assert len(outbox.claim_due(conn, T0 + seconds(60), 10, LEASE)) == 1
        sent = only_delivery(conn, event.id, ep)
        assert sent.held_for is None and outbox.in_flight(sent, None, T0 + seconds(61))


def test_a_deferral_pickled_before_it_said_why_is_stored_as_held_by_no_one(
    engine: sa.Engine,
) -> None:
    # A batch DBOS recorded before ``why`` existed: its outcomes unpickle without it.
    with write_transaction(engine) as conn:
        ep, event, claimed = one_claimed(conn)
        old = outbox.Deferred.__new__(outbox.Deferred)
        old.__setstate__((claimed, T0 + seconds(2)))
        outbox.defer(conn, [old])
        held = only_delivery(conn, event.id, ep)
        assert (held.next_attempt_at, held.held_for) == (T0 + seconds(2), None)


def test_an_outcome_under_an_expired_claim_is_logged_but_moves_nothing(
    engine: sa.Engine,
) -> None:
    with write_transaction(engine) as conn:
        ep, event, late = one_claimed(conn)
        # The first sender outlived its lease (its attempt, begun under it, hung): another
        # took the delivery and succeeded.
        (second,) = outbox.claim_due(conn, T0 + LEASE, 10, LEASE)
        assert outbox.record(conn, [outcome(second, T0 + LEASE, succeeded=True)]) == 1
        assert outbox.record(conn, [outcome(late, T0 + seconds(1), succeeded=False)]) == 0
        outbox.defer(conn, [outbox.Deferred(late, T0 + seconds(999))])
        done = only_delivery(conn, event.id, ep)
        assert (done.state, done.attempts) == ("succeeded", 1)
        assert len(outbox.list_attempts(conn, endpoint_id=ep)) == 2  # both were made


def test_the_claim_carries_the_event_type_record_logs(engine: sa.Engine) -> None:
    """``record`` read each batch's types from the messages again, though the claim had
    joined them already: one query a batch. It reads no message now, and each attempt
    still stores its message's type."""
    with write_transaction(engine) as conn:
        account = new_account(conn)
        ep = new_endpoint(conn, account)
        events = [updates(), activated(), deactivated()]
        outbox.publish(conn, [message(account, e) for e in events], now=T0)
    with write_transaction(engine) as conn:
        claimed = outbox.claim_due(conn, T0, 10, LEASE)
        assert {c.message_id: c.event_type for c in claimed} == {e.id: e.type for e in events}
        with statements(engine) as sent:
            assert outbox.record(conn, [outcome(c, T0, succeeded=True) for c in claimed]) == 3
        assert not [s for s in sent if "webhook_messages" in s]
        logged = outbox.list_attempts(conn, endpoint_id=ep)
    assert {a.message_id: a.event_type for a in logged} == {e.id: e.type for e in events}


def test_an_attempt_logs_the_url_its_claim_sent_it_to(engine: sa.Engine) -> None:
    """The endpoint's URL changed while an attempt was in flight: the attempt logs the URL
    its claim read, which it went to, and the next claim reads the new one. One ended
    unsent (its type no longer subscribed to) logs the URL it would have gone to."""
    moved = URL + "/moved"
    e = webhook_endpoints
    with write_transaction(engine) as conn:
        ep, _, claimed = one_claimed(conn)
        conn.execute(e.update().where(e.c.id == ep).values(url=moved))
        outbox.record(conn, [outcome(claimed, T0, succeeded=False, next_at=T0 + seconds(5))])
        (retry,) = outbox.claim_due(conn, T0 + seconds(5), 10, LEASE)
        outbox.record(conn, [outcome(retry, T0 + seconds(5), succeeded=True)])
        logged = outbox.list_attempts(conn, endpoint_id=ep)
        assert [(a.attempt_number, a.url) for a in logged] == [(2, moved), (1, URL)]

        account = new_account(conn, "dropped")
        dropped = new_endpoint(conn, account)
        outbox.publish(conn, [message(account, activated())], now=T0)
        conn.execute(
            e.update()
            .where(e.c.id == dropped)
            .values(event_types=[UPDATES_AVAILABLE], updated_at=T0 + seconds(1))
        )
        assert outbox.claim_due(conn, T0 + seconds(10), 10, LEASE) == []
        (unsent,) = outbox.list_attempts(conn, endpoint_id=dropped)
    assert (unsent.sent, unsent.url) == (False, URL)


def test_a_batch_pickled_before_claims_carried_the_event_type_is_recorded(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch DBOS pickled before the upgrade (its attempts made, the process gone before
    recording them, restarted on the new code) unpickles without ``event_type``: record
    raised AttributeError, and those attempts were never logged. Its types are read from
    the messages, those claims' only."""
    with write_transaction(engine) as conn:
        account = new_account(conn)
        ep = new_endpoint(conn, account)
        events = [updates(), activated()]
        outbox.publish(conn, [message(account, e) for e in events], now=T0)
    with write_transaction(engine) as conn:
        claimed = outbox.claim_due(conn, T0, 10, LEASE)
    # Pickled as the old class did: a slotted dataclass's state is its fields' values, in
    # order, and it had all but the last.
    with monkeypatch.context() as old_class:
        old_class.setattr(outbox.Claimed, "__getstate__", lambda c: _values(c)[:-1])
        pickled = pickle.dumps(claimed[0])
    old = pickle.loads(pickled)
    assert type(old) is outbox.Claimed and not hasattr(old, "event_type")
    new = claimed[1]
    with write_transaction(engine) as conn, statements(engine) as sent:
        assert outbox.record(conn, [outcome(c, T0, succeeded=True) for c in (old, new)]) == 2
    assert len([s for s in sent if "webhook_messages" in s]) == 1
    with engine.connect() as conn:
        logged = outbox.list_attempts(conn, endpoint_id=ep)
    assert {a.message_id: a.event_type for a in logged} == {e.id: e.type for e in events}


def _values(claimed: outbox.Claimed) -> list[Any]:
    return [getattr(claimed, f.name) for f in dataclasses.fields(claimed)]


def test_a_batch_recorded_again_logs_and_moves_nothing_more(engine: sa.Engine) -> None:
    # Settled again after a commit never acknowledged, a batch logged every attempt twice.
    with write_transaction(engine) as conn:
        account = new_account(conn)
        ep = new_endpoint(conn, account)
        flaky, fine = activated(), deactivated()
        outbox.publish(conn, [message(account, flaky), message(account, fine)], now=T0)
        claimed = {c.message_id: c for c in outbox.claim_due(conn, T0, 10, LEASE)}
        batch = [
            outcome(claimed[flaky.id], T0, succeeded=False, next_at=T0 + seconds(60)),
            outcome(claimed[fine.id], T0 + seconds(1), succeeded=True),
        ]
        assert outbox.record(conn, batch) == 2
    with write_transaction(engine) as conn:
        assert outbox.record(conn, batch) == 0
        assert len(outbox.list_attempts(conn, endpoint_id=ep)) == 2
        retrying = only_delivery(conn, flaky.id, ep)
        assert (retrying.state, retrying.attempts) == ("pending", 1)
        assert retrying.next_attempt_at == T0 + seconds(60)


def test_attempts_to_an_endpoint_deleted_in_flight_are_dropped(engine: sa.Engine) -> None:
    with write_transaction(engine) as conn:
        account = new_account(conn)
        ep = new_endpoint(conn, account)
        outbox.publish(conn, [message(account, activated())], now=T0)
        (claimed,) = outbox.claim_due(conn, T0, 10, LEASE)
        assert endpoints.delete_endpoint(conn, account, ep)
        outbox.record(conn, [outcome(claimed, T0, succeeded=True)])
        assert outbox.list_attempts(conn, endpoint_id=ep) == []


def test_replay_creates_a_manual_delivery_when_the_endpoint_never_had_one(
    engine: sa.Engine,
) -> None:
    with write_transaction(engine) as conn:
        account = new_account(conn)
        picky = new_endpoint(conn, account, [UPDATES_AVAILABLE])
        event = activated()
        assert outbox.publish(conn, [message(account, event)], now=T0) == 0
        delivery_id = outbox.replay(conn, event.id, picky, T0 + seconds(5))
        delivery = only_delivery(conn, event.id, picky)
        assert delivery.id == delivery_id
        assert (delivery.state, delivery.attempts) == ("pending", 0)
        assert delivery.next_attempt_at == T0 + seconds(5)
        assert manual_flag(conn, delivery_id)
        # Replaying again before it is sent re-arms the same delivery, never a second.
        assert outbox.replay(conn, event.id, picky, T0 + seconds(6)) == delivery_id
        assert len(outbox.list_deliveries(conn, message_id=event.id)) == 1
        (claimed,) = outbox.claim_due(conn, T0 + seconds(6), 10, LEASE)
        assert (claimed.delivery_id, claimed.manual) == (delivery_id, True)


def test_a_replay_pressed_again_while_its_attempt_is_in_flight_sends_nothing_more(
    engine: sa.Engine,
) -> None:
    """Resend pressed twice, the dispatcher (woken by the first) having claimed the
    delivery in between: the second press made it due again, it was claimed a second time
    and the message sent twice at once."""
    with write_transaction(engine) as conn:
        ep, event, first = one_claimed(conn)
        outbox.record(conn, [outcome(first, T0, succeeded=False, status=410)])
        pressed = outbox.replay(conn, event.id, ep, T0 + seconds(10))
        (in_flight,) = outbox.claim_due(conn, T0 + seconds(10), 10, LEASE)
        assert outbox.replay(conn, event.id, ep, T0 + seconds(11)) == pressed
        assert outbox.claim_due(conn, T0 + seconds(11), 10, LEASE) == []
        assert outbox.record(conn, [outcome(in_flight, T0 + seconds(12), succeeded=True)]) == 1
        done = only_delivery(conn, event.id, ep)
        assert (done.state, done.attempts) == ("succeeded", 2)
        # Once made, a press asks for one more attempt again.
        assert outbox.replay(conn, event.id, ep, T0 + seconds(20)) == pressed
        (again,) = outbox.claim_due(conn, T0 + seconds(20), 10, LEASE)
        assert (again.attempts, again.manual) == (2, True)


def test_a_replay_of_a_retry_in_flight_leaves_it_to_its_sender(engine: sa.Engine) -> None:
    """Resend pressed while a slow receiver held the scheduled retry: made due again, the
    delivery was claimed and sent a second time beside it, and the first attempt's
    outcome, under a claim no longer held, moved nothing."""
    with write_transaction(engine) as conn:
        ep, event, first = one_claimed(conn)
        outbox.record(conn, [outcome(first, T0, succeeded=False, next_at=T0 + seconds(60))])
        (retry,) = outbox.claim_due(conn, T0 + seconds(60), 10, LEASE)
        assert outbox.replay(conn, event.id, ep, T0 + seconds(61)) == first.delivery_id
        assert outbox.claim_due(conn, T0 + seconds(61), 10, LEASE) == []
        assert outbox.record(conn, [outcome(retry, T0 + seconds(65), succeeded=True)]) == 1
        assert only_delivery(conn, event.id, ep).state == "succeeded"


@pytest.mark.postgres
def test_two_first_replays_at_once_make_one_delivery_on_postgresql(tmp_path: Path) -> None:
    # Two API processes replaying a message to an endpoint that never had it: each found no
    # delivery to re-arm and inserted one, and the second's insert broke the unique
    # (message, endpoint) pair, a 500 for a replay that had done what was asked.
    with opened("postgres", tmp_path) as engine:
        with write_transaction(engine) as conn:
            account = new_account(conn)
            picky = new_endpoint(conn, account, [UPDATES_AVAILABLE])
            event = activated()
            outbox.publish(conn, [message(account, event)], now=T0)
        outcome: list[object] = []

        def second() -> None:
            try:
                with write_transaction(engine) as conn:
                    outcome.append(outbox.replay(conn, event.id, picky, T0 + seconds(1)))
            except IntegrityError as exc:
                outcome.append(exc)

        with write_transaction(engine) as conn:
            first = outbox.replay(conn, event.id, picky, T0)
            thread = threading.Thread(target=second)
            thread.start()
            eventually(lambda: bool(outcome) or waiting_on_a_lock(engine))
        thread.join()
        with engine.connect() as conn:
            delivery = only_delivery(conn, event.id, picky)
            assert manual_flag(conn, delivery.id)
    assert outcome == [first]
    assert delivery.id == first
    assert delivery.next_attempt_at == T0 + seconds(1)


def test_replaying_a_delivery_still_on_its_schedule_keeps_its_retries(
    engine: sa.Engine,
) -> None:
    # Replayed, it was made manual: its one failed attempt ended it for good, and the six
    # retries it still had were dropped.
    policy = RetryPolicy(
        schedule=(5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0),
        jitter=0.0,
        retry_after_cap=3600.0,
        overload_step=60.0,
        timeout=5.0,
        disable_after=dt.timedelta(days=5),
        claim_lease=30.0,
    )

    def fail(claimed: outbox.Claimed, at: dt.datetime) -> None:
        next_at = policy.next_attempt(
            attempts_made=claimed.attempts + 1,
            manual=claimed.manual,
            status_code=500,
            retry_after=None,
            timed_out=False,
            now=at,
            rng=random.Random(0),
        )
        outbox.record(conn, [outcome(claimed, at, succeeded=False, next_at=next_at)])

    with write_transaction(engine) as conn:
        ep, event, first = one_claimed(conn)
        fail(first, T0)
        assert outbox.replay(conn, event.id, ep, T0 + seconds(1)) == first.delivery_id
        (hurried,) = outbox.claim_due(conn, T0 + seconds(1), 10, LEASE)
        assert (hurried.attempts, hurried.manual) == (1, False)
        fail(hurried, T0 + seconds(1))
        retrying = only_delivery(conn, event.id, ep)
        assert (retrying.state, retrying.attempts) == ("pending", 2)
        assert retrying.next_attempt_at == T0 + seconds(301)  # the schedule's next step


def test_recover_rearms_only_failed_deliveries_of_the_endpoint_since_then(
    engine: sa.Engine,
) -> None:
    since = T0 - dt.timedelta(days=14)
    with write_transaction(engine) as conn:
        account = new_account(conn)
        ep = new_endpoint(conn, account, [NPN_ACTIVATED])
        other = new_endpoint(conn, account, [UPDATES_AVAILABLE])

        def send(event: Event, at: dt.datetime, *, succeeded: bool) -> None:
            outbox.publish(conn, [message(account, event)], now=at)
            (claimed,) = outbox.claim_due(conn, at, 10, LEASE)
            outbox.record(conn, [outcome(claimed, at, succeeded=succeeded)])

        too_old, edge, late = activated(), activated(), [activated() for _ in range(3)]
        send(too_old, since - seconds(1), succeeded=False)
        send(edge, since, succeeded=False)  # created exactly at `since`: included
        for i, event in enumerate(late):
            send(event, T0 - dt.timedelta(days=2) + seconds(i), succeeded=False)
        elsewhere = updates()
        send(elsewhere, T0 - dt.timedelta(days=1), succeeded=False)
        fine = activated()
        send(fine, T0 - dt.timedelta(days=1), succeeded=True)
        waiting = activated()
        outbox.publish(conn, [message(account, waiting)], now=T0 + dt.timedelta(hours=1))

        expected = [edge.id, *(e.id for e in late)]
        rearmed: list[str] = []
        for want in (2, 2, 0):
            before = {d.id for d in outbox.list_deliveries(conn) if d.state == "pending"}
            assert outbox.recover(conn, ep, since, T0, 2) == want
            now_pending = outbox.list_deliveries(conn)
            new = [d for d in now_pending if d.state == "pending" and d.id not in before]
            assert len(new) == want
            for delivery in new:
                assert delivery.endpoint_id == ep
                assert delivery.next_attempt_at == T0
                assert manual_flag(conn, delivery.id)
            rearmed += [d.message_id for d in new]
        assert rearmed == expected  # oldest first, each once

        assert only_delivery(conn, too_old.id, ep).state == "failed"
        assert only_delivery(conn, elsewhere.id, other).state == "failed"
        assert only_delivery(conn, fine.id, ep).state == "succeeded"
        untouched = only_delivery(conn, waiting.id, ep)
        assert untouched.next_attempt_at == T0 + dt.timedelta(hours=1)
        assert not manual_flag(conn, untouched.id)
        claimed = outbox.claim_due(conn, T0, 100, LEASE)
        assert sorted(c.message_id for c in claimed) == sorted(expected)
        assert all(c.manual for c in claimed)


@pytest.mark.postgres
def test_recover_leaves_a_delivery_replayed_and_claimed_meanwhile_to_its_sender(
    tmp_path: Path,
) -> None:
    # Recover read the failed deliveries, then re-armed them by id: one replayed and claimed
    # by another process in between was made due again under its sender, claimed a second
    # time and sent twice, and the first sender's outcome moved nothing.
    with opened("postgres", tmp_path) as engine:
        with write_transaction(engine) as conn:
            ep, event, first = one_claimed(conn)
            outbox.record(conn, [outcome(first, T0, succeeded=False)])  # failed for good
        recovered: list[int] = []

        def recover() -> None:
            with write_transaction(engine) as conn:
                recovered.append(outbox.recover(conn, ep, T0, T0 + seconds(20), 10))

        with write_transaction(engine) as conn:
            outbox.replay(conn, event.id, ep, T0 + seconds(10))
            (in_flight,) = outbox.claim_due(conn, T0 + seconds(10), 10, LEASE)
            thread = threading.Thread(target=recover)
            thread.start()
            eventually(lambda: bool(recovered) or waiting_on_a_lock(engine))
        thread.join()
        with write_transaction(engine) as conn:
            assert outbox.claim_due(conn, T0 + seconds(20), 10, LEASE) == []
            done = outcome(in_flight, T0 + seconds(21), succeeded=True)
            assert outbox.record(conn, [done]) == 1
    assert recovered == [0]  # it re-armed nothing


# --- reading ---------------------------------------------------------------------------


def test_a_messages_deliveries_and_the_endpoints_that_missed_it_are_paged(
    engine: sa.Engine,
) -> None:
    """What a message's page in the portal lists, a page at a time: its deliveries, the
    latest queued first, and the account's endpoints that never had it, newest first;
    each from a place in its order that need not be in the list any more."""
    with write_transaction(engine) as conn:
        account = new_account(conn)
        had = [new_endpoint(conn, account) for _ in range(5)]
        event = updates()
        outbox.publish(conn, [message(account, event)], now=T0)
        later = [new_endpoint(conn, account) for _ in range(4)]
        # Another account's, and another message's: in neither list.
        new_endpoint(conn, new_account(conn, "other"))
        outbox.publish(conn, [message(account, activated())], now=T0)
        queued = outbox.list_deliveries(conn, message_id=event.id)  # in the order queued

    with engine.connect() as conn:
        deliveries = functools.partial(outbox.message_deliveries, conn, event.id)
        assert [d.endpoint_id for d in deliveries(limit=10)] == had[::-1]
        assert outbox.count_deliveries(conn, event.id) == 5
        ids = [d.id for d in queued]
        assert [d.id for d in deliveries(limit=2, before=ids[3])] == [ids[2], ids[1]]
        assert [d.id for d in deliveries(limit=2, after=ids[1])] == [ids[2], ids[3]]
        assert [d.id for d in deliveries(limit=2, oldest=True)] == ids[:2]
        assert deliveries(limit=2, before=ids[0]) == []

        missed = functools.partial(endpoints.list_endpoints, conn, account, missed=event.id)
        made = {e.id: e.seq for e in endpoints.list_endpoints(conn, account)}
        assert [e.id for e in missed(limit=10)] == later[::-1]
        assert [e.id for e in missed(limit=2, before=made[later[2]])] == [later[1], later[0]]
        assert [e.id for e in missed(limit=1, after=made[later[1]])] == [later[2]]
        # From the place of one that had it (not in the list): on from there all the same.
        assert [e.id for e in missed(limit=10, before=made[had[4]])] == []
        assert [e.id for e in missed(limit=10, after=made[had[0]])] == later


def test_list_messages_pages_newest_first_without_losing_or_repeating(
    engine: sa.Engine,
) -> None:
    with write_transaction(engine) as conn:
        account = new_account(conn)
        other = new_account(conn, "other")
        new_endpoint(conn, account)
        expected: list[tuple[dt.datetime, int, str]] = []
        for i in range(8):
            at = T0 + seconds(i)
            event = activated() if i % 2 else updates()
            outbox.publish(conn, [message(account, event)], now=at)
            expected.append((at, 0, event.id))
        # Messages published together share their time: they list in the reverse of the
        # order they were published in (by their random ids, they listed in none).
        same = [deactivated() for _ in range(12)]
        outbox.publish(conn, [message(account, e) for e in same], now=T0 + seconds(4))
        expected += [(T0 + seconds(4), n, e.id) for n, e in enumerate(same, 1)]
        outbox.publish(conn, [message(other, activated())], now=T0 + seconds(3))
    expected.sort(reverse=True)
    want = [message_id for _at, _published, message_id in expected]

    with engine.connect() as conn:
        seen: list[str] = []
        before: outbox.Message | None = None
        pages = 0
        while True:
            page = outbox.list_messages(conn, account, limit=3, before=before)
            if not page:
                break
            pages += 1
            assert len(page) <= 3
            assert all(m.account_id == account for m in page)
            seen += [m.id for m in page]
            before = page[-1]
        assert pages == 7
        assert seen == want
        first = outbox.list_messages(conn, account, limit=1)[0]
        assert first.created_at == T0 + seconds(7)
        deactivations = outbox.LogFilter(frozenset({NPN_DEACTIVATED}))
        typed = outbox.list_messages(conn, account, limit=50, narrowed=deactivations)
        assert [m.id for m in typed] == [i for i in want if i in {e.id for e in same}]
        # Created from T0 + 2 s up to, not including, T0 + 4 s.
        window = outbox.LogFilter(since=T0 + seconds(2), until=T0 + seconds(4))
        timed = outbox.list_messages(conn, account, limit=50, narrowed=window)
        assert [m.created_at for m in timed] == [T0 + seconds(3), T0 + seconds(2)]

        # Up from a message, oldest first (the portal's Newer), and from the oldest (its
        # Oldest); a place in the order published names the account's message alone.
        middle = outbox.list_messages(conn, account, limit=11)[-1]
        newer = outbox.list_messages(conn, account, limit=50, after=middle)
        assert [m.id for m in newer] == want[:10][::-1]
        oldest = outbox.list_messages(conn, account, limit=4, oldest=True)
        assert [m.id for m in oldest] == want[::-1][:4]
        assert middle.seq is not None
        assert outbox.message_at(conn, account, middle.seq) == middle
        assert outbox.message_at(conn, other, middle.seq) is None


def test_a_message_published_after_another_commits_lists_since_it_on_postgresql(
    tmp_path: Path,
) -> None:
    # PostgreSQL's now() is the start of the transaction: the daily run, which publishes
    # after minutes of changes, stamped its updates_available before the messages that
    # jobs published and committed meanwhile, and a client that had listed those read on
    # ``since`` the newest it saw and never found it.
    with opened("postgres", tmp_path) as engine:
        with write_transaction(engine) as conn:
            account = new_account(conn)
            new_endpoint(conn, account)
        late, early = updates(), activated()
        with write_transaction(engine) as long_one:
            long_one.execute(sa.select(1))  # its work begins
            with write_transaction(engine) as conn:
                outbox.publish(conn, [message(account, early)])
            with engine.connect() as conn:
                seen = outbox.list_messages(conn, account, limit=50)
            outbox.publish(long_one, [message(account, late)])
        assert [m.id for m in seen] == [early.id]
        with engine.connect() as conn:
            since = outbox.LogFilter(since=seen[0].created_at)
            found = outbox.list_messages(conn, account, limit=50, narrowed=since)
        assert [m.id for m in found] == [late.id, early.id]


def set_states(conn: sa.Connection, states: dict[str, tuple[str, ...]]) -> None:
    """Each message's deliveries put in the states given for it, in the order they were
    made."""
    d = webhook_deliveries
    for message_id, wanted in states.items():
        ids = conn.execute(
            sa.select(d.c.id).where(d.c.message_id == message_id).order_by(d.c.id)
        ).scalars()
        for delivery_id, state in zip(ids, wanted, strict=True):
            conn.execute(d.update().where(d.c.id == delivery_id).values(state=state))


@pytest.mark.parametrize("few", [0, 10**6], ids=["message-by-message", "from-the-state"])
def test_list_messages_by_delivery_state_pages_both_ways_in_either_shape(
    engine: sa.Engine, few: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A state's messages are those with a delivery in it, each listed once, in the order
    of the unfiltered list and paged down, up and from the oldest as it is, whether the
    store reads them message by message (a common state) or from the state's deliveries
    (a rare one): ``few`` makes every state the one or the other."""
    monkeypatch.setattr(outbox, "_FEW_IN_STATE", few)
    both = [
        (outbox.FAILED, outbox.FAILED),
        (outbox.SUCCEEDED, outbox.PENDING),
        (outbox.SUCCEEDED, outbox.SUCCEEDED),
        (outbox.PENDING, outbox.FAILED),
    ]
    with write_transaction(engine) as conn:
        account = new_account(conn)
        other = new_account(conn, "other")
        new_endpoint(conn, account)
        new_endpoint(conn, account)
        new_endpoint(conn, other)
        events = [activated() for _ in range(10)]
        for i, event in enumerate(events[:7]):
            outbox.publish(conn, [message(account, event)], now=T0 + seconds(i))
        # Three of one time, listed in the reverse of the order they were published in.
        outbox.publish(conn, [message(account, e) for e in events[7:]], now=T0 + seconds(3))
        theirs = activated()
        outbox.publish(conn, [message(other, theirs)], now=T0 + seconds(2))
        set_states(conn, {e.id: both[n % len(both)] for n, e in enumerate(events)})
        set_states(conn, {theirs.id: (outbox.FAILED,)})

    with engine.connect() as conn:
        everything = outbox.list_messages(conn, account, limit=50)
        states = {e.id: both[n % len(both)] for n, e in enumerate(events)}
        for state in (outbox.FAILED, outbox.PENDING, outbox.SUCCEEDED):
            want = [m.id for m in everything if state in states[m.id]]
            assert 3 <= len(want) < len(everything), state
            listed = outbox.list_messages(conn, account, limit=50, delivery_state=state)
            assert [m.id for m in listed] == want, state

            seen: list[str] = []
            before: outbox.Message | None = None
            while page := outbox.list_messages(
                conn, account, limit=2, before=before, delivery_state=state
            ):
                seen += [m.id for m in page]
                before = page[-1]
            assert seen == want, state
            newer = outbox.list_messages(
                conn, account, limit=50, after=listed[-1], delivery_state=state
            )
            assert [m.id for m in newer] == want[:-1][::-1], state
            oldest = outbox.list_messages(conn, account, limit=2, oldest=True, delivery_state=state)
            assert [m.id for m in oldest] == want[::-1][:2], state
            window = outbox.LogFilter(since=T0 + seconds(2), until=T0 + seconds(5))
            timed = outbox.list_messages(
                conn, account, limit=50, narrowed=window, delivery_state=state
            )
            assert [m.id for m in timed] == [
                m.id
                for m in everything
                if m.id in want and T0 + seconds(2) <= m.created_at < T0 + seconds(5)
            ], state


def test_a_rare_delivery_state_costs_what_the_newest_page_does(engine: sa.Engine) -> None:
    """Filtered by a state that one delivery in 2,000 is in, the list looked at each of
    the account's messages in turn for a delivery in it: a page cost 650 ms among
    100,000 messages on SQLite. (A common state's, more deliveries in it than
    ``_FEW_IN_STATE``, is read so still: its cost is the bench's, bench/messages_list.py.)"""
    with write_transaction(engine) as conn:
        account = new_account(conn)
        new_endpoint(conn, account)
        events = [activated() for _ in range(2000)]
        outbox.publish(conn, [message(account, e) for e in events], now=T0)
        d = webhook_deliveries
        conn.execute(d.update().values(state=outbox.SUCCEEDED))
        oldest, middle = events[0].id, events[1000].id
        set_states(conn, {oldest: (outbox.FAILED,), middle: (outbox.PENDING,)})
        conn.execute(sa.text("ANALYZE"))
    with engine.connect() as conn:

        def cost(**given: Any) -> int:
            page = functools.partial(outbox.list_messages, conn, account, limit=10, **given)
            return rows_read(conn, page, "webhook_messages")

        newest = cost()
        for given in (
            {"delivery_state": outbox.FAILED},
            {"delivery_state": outbox.PENDING},
            {"delivery_state": outbox.FAILED, "oldest": True},
            {"delivery_state": outbox.PENDING, "oldest": True},
        ):
            assert cost(**given) <= 2 * newest + 20, given


def test_another_accounts_many_failures_leave_an_accounts_few_rare(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The deliveries in a state are counted for the account: counted for every account,
    another's endpoint down made an account's few failures look common, and its page
    looked at each of its messages in turn."""
    monkeypatch.setattr(outbox, "_FEW_IN_STATE", 20)
    with write_transaction(engine) as conn:
        account, other = new_account(conn), new_account(conn, "other")
        new_endpoint(conn, account)
        new_endpoint(conn, other)
        events = [activated() for _ in range(300)]
        outbox.publish(conn, [message(account, e) for e in events], now=T0)
        theirs = [activated() for _ in range(30)]
        outbox.publish(conn, [message(other, e) for e in theirs], now=T0)
        conn.execute(webhook_deliveries.update().values(state=outbox.SUCCEEDED))
        set_states(conn, {e.id: (outbox.FAILED,) for e in [events[0], *theirs]})
        conn.execute(sa.text("ANALYZE"))
    with engine.connect() as conn:
        newest = rows_read(
            conn, lambda: outbox.list_messages(conn, account, limit=10), "webhook_messages"
        )
        failed: list[outbox.Message] = []
        cost = rows_read(
            conn,
            lambda: failed.extend(
                outbox.list_messages(conn, account, limit=10, delivery_state=outbox.FAILED)
            ),
            "webhook_messages",
        )
        assert [m.id for m in failed] == [events[0].id]
        assert cost <= 2 * newest + 20


def test_a_rare_delivery_state_is_read_from_the_state_index_on_sqlite(tmp_path: Path) -> None:
    """SQLite keeps no statistics of how many deliveries are in each state: the page is
    read from the state's index entries, each message looked up by its id, not from the
    account's messages in order (PostgreSQL's plans follow its statistics: the cost test
    above measures its rows read)."""
    with opened("sqlite", tmp_path) as engine:
        with write_transaction(engine) as conn:
            account = new_account(conn)
            new_endpoint(conn, account)
            events = [activated() for _ in range(20)]
            outbox.publish(conn, [message(account, e) for e in events], now=T0)
            set_states(conn, {events[3].id: (outbox.FAILED,)})
        with (
            table_plans(engine, "webhook_deliveries") as deliveries,
            table_plans(engine, "webhook_messages") as messages,
            engine.connect() as conn,
        ):
            found = outbox.list_messages(conn, account, limit=10, delivery_state=outbox.FAILED)
        assert [m.id for m in found] == [events[3].id]
        assert deliveries
        index = "INDEX ix_webhook_deliveries_endpoint_id_state_message_id"
        assert all(f"{index} (endpoint_id=? AND state=?)" in s for s in deliveries)
        assert len(messages) == 1
        assert "(id=?)" in messages[0]


# --- the attempts log, filtered ----------------------------------------------------------

_LOGGED = [UPDATES_AVAILABLE, NPN_ACTIVATED, NPN_DEACTIVATED, UPDATES_AVAILABLE]


def logged_attempts(conn: sa.Connection) -> str:
    """An endpoint with one attempt of each of ``_LOGGED``, the nth at T0 + n hours (and
    another account's endpoint with attempts of the same types and times); its id."""
    mine = ""
    for name in ("acme", "other"):
        account = new_account(conn, name)
        endpoint = new_endpoint(conn, account)
        mine = mine or endpoint
        events = {
            UPDATES_AVAILABLE: updates,
            NPN_ACTIVATED: activated,
            NPN_DEACTIVATED: deactivated,
        }
        for n, event_type in enumerate(_LOGGED):
            at = T0 + dt.timedelta(hours=n)
            outbox.publish(conn, [message(account, events[event_type]())], now=at)
            (claimed,) = outbox.claim_due(conn, at, 10, LEASE)
            outbox.record(conn, [outcome(claimed, at, succeeded=n % 2 == 0)])
    return mine


def hours_of(attempts: list[outbox.Attempt]) -> list[int]:
    return [int((a.attempted_at - T0) / dt.timedelta(hours=1)) for a in attempts]


@pytest.mark.parametrize(
    ("types", "hours"),
    [
        ({UPDATES_AVAILABLE}, [3, 0]),
        ({NPN_ACTIVATED, NPN_DEACTIVATED}, [2, 1]),
        ({ENDPOINT_TEST}, []),
    ],
)
def test_attempts_are_filtered_by_their_messages_event_type(
    engine: sa.Engine, types: set[str], hours: list[int]
) -> None:
    with write_transaction(engine) as conn:
        endpoint = logged_attempts(conn)
    with engine.connect() as conn:
        narrowed = outbox.LogFilter(frozenset(types))
        found = outbox.list_attempts(conn, endpoint_id=endpoint, narrowed=narrowed)
        assert {a.endpoint_id for a in found} <= {endpoint}
        assert hours_of(found) == hours
        # With the outcome and the pager's cursor, the newest (hour 3): those that
        # failed before it.
        (newest, *_) = outbox.list_attempts(conn, endpoint_id=endpoint)
        failed = outbox.list_attempts(
            conn, endpoint_id=endpoint, narrowed=narrowed, succeeded=False, before=newest.id
        )
        assert hours_of(failed) == [h for h in hours if h % 2 and h < 3]


def test_attempts_are_filtered_from_since_on(engine: sa.Engine) -> None:
    with write_transaction(engine) as conn:
        endpoint = logged_attempts(conn)
    with engine.connect() as conn:
        since = outbox.LogFilter(since=T0 + dt.timedelta(hours=1))
        assert hours_of(outbox.list_attempts(conn, endpoint_id=endpoint, narrowed=since)) == [
            3,
            2,
            1,
        ]


def test_attempts_are_filtered_up_to_until_not_included(engine: sa.Engine) -> None:
    with write_transaction(engine) as conn:
        endpoint = logged_attempts(conn)
    with engine.connect() as conn:
        until = outbox.LogFilter(until=T0 + dt.timedelta(hours=2))
        assert hours_of(outbox.list_attempts(conn, endpoint_id=endpoint, narrowed=until)) == [1, 0]
        # All three filters at once, paged oldest first from a cursor (the pager's Newer).
        both = outbox.LogFilter(
            frozenset({UPDATES_AVAILABLE}), since=T0, until=T0 + dt.timedelta(hours=3)
        )
        assert hours_of(outbox.list_attempts(conn, endpoint_id=endpoint, narrowed=both)) == [0]
        (newest, *_) = outbox.list_attempts(conn, endpoint_id=endpoint)
        assert (
            outbox.list_attempts(conn, endpoint_id=endpoint, narrowed=both, after=newest.id) == []
        )


_EVERY_TYPE = [ENDPOINT_TEST, UPDATES_AVAILABLE, NPN_ACTIVATED, NPN_DEACTIVATED]


def test_attempts_filtered_by_type_are_those_of_their_messages_type_page_by_page(
    engine: sa.Engine,
) -> None:
    """The type is read from the attempt, no longer from its message: every set of types,
    with and without a window, lists what the messages' types said, across pages each way
    (starts shared by several attempts included)."""
    shuffled = random.Random(7)
    minutes = [shuffled.randrange(40) for _ in range(60)]

    def kind(n: int) -> str:  # the test events and updates_available rare, NPN events not
        if n % 20 == 0:
            return ENDPOINT_TEST
        if n % 12 == 5:
            return UPDATES_AVAILABLE
        return NPN_ACTIVATED if n % 3 else NPN_DEACTIVATED

    with write_transaction(engine) as conn:
        endpoint = attempts_at(conn, minutes, "mine", types=kind)
        logged_attempts(conn)  # another account's endpoint, of the same types
    with engine.connect() as conn:
        every = outbox.list_attempts(conn, endpoint_id=endpoint, limit=1000)
        of_message = {a.message_id: type_of_message(conn, a.message_id) for a in every}
        assert set(of_message.values()) == set(_EVERY_TYPE)
        windows = [(None, None), (T0 + seconds(600), T0 + seconds(1800))]
        for size in range(1, len(_EVERY_TYPE) + 1):
            for types in itertools.combinations(_EVERY_TYPE, size):
                for since, until in windows:
                    narrowed = outbox.LogFilter(frozenset(types), since, until)
                    want = [
                        a
                        for a in every
                        if of_message[a.message_id] in types
                        and (since is None or since <= a.attempted_at)
                        and (until is None or a.attempted_at < until)
                    ]
                    assert paged(conn, endpoint, narrowed, older=True) == want, types
                    newer = paged(conn, endpoint, narrowed, older=False, start=want[-1:])
                    assert newer == list(reversed(want[:-1])), types


def paged(
    conn: sa.Connection,
    endpoint: str,
    narrowed: outbox.LogFilter,
    *,
    older: bool,
    start: list[outbox.Attempt] | None = None,
) -> list[outbox.Attempt]:
    """Every attempt of the list, three a page: older ones from the newest, or newer ones
    from the attempt ``start`` (none: nothing)."""
    if not older and not start:
        return []
    read: list[outbox.Attempt] = []
    cursor = start[0].id if start else None
    while True:
        page = outbox.list_attempts(
            conn,
            endpoint_id=endpoint,
            limit=3,
            before=cursor if older else None,
            after=None if older else cursor,
            narrowed=narrowed,
        )
        read += page
        if len(page) < 3:
            return read
        cursor = page[-1].id


def test_every_way_an_attempt_is_made_keeps_its_messages_event_type(engine: sa.Engine) -> None:
    """The first attempts of an endpoint's test event, of Send Example and of published
    events; their retries; the attempts Recover and Resend queue: each stores its
    message's type, which the filtered list goes by."""
    settings = ServiceSettings(allow_private_endpoints=False)
    with write_transaction(engine) as conn:
        account = new_account(conn)
        endpoint, _secret = management.create_endpoint(conn, settings, account, URL)
        published = [updates(), activated(), deactivated()]
        outbox.publish(conn, [message(account, e) for e in published])
        management.send_example(conn, endpoint, NPN_DEACTIVATED)

    def attempt_what_is_due(*, succeeded: bool, retried: bool = False) -> int:
        with write_transaction(engine) as conn:
            now = outbox.store_clock(conn)
            claimed = outbox.claim_due(conn, now, 100, LEASE)
            retry = now if retried else None
            outbox.record(
                conn, [outcome(c, now, succeeded=succeeded, next_at=retry) for c in claimed]
            )
            return len(claimed)

    assert attempt_what_is_due(succeeded=False, retried=True) == 5
    assert attempt_what_is_due(succeeded=False) == 5  # the retries, the last ones
    with write_transaction(engine) as conn:
        since = outbox.store_clock(conn) - dt.timedelta(hours=1)
        assert management.recover(conn, endpoint, since) == 5
    assert attempt_what_is_due(succeeded=True) == 5
    with write_transaction(engine) as conn:
        for delivery in outbox.list_deliveries(conn, endpoint_id=endpoint.id):
            management.replay(conn, endpoint, delivery.message_id)
    assert attempt_what_is_due(succeeded=True) == 5

    with engine.connect() as conn:
        every = outbox.list_attempts(conn, endpoint_id=endpoint.id)
        assert [a.trigger for a in every] == ["manual"] * 10 + ["scheduled"] * 10
        types = {a.message_id: type_of_message(conn, a.message_id) for a in every}
        assert [a.event_type for a in every] == [types[a.message_id] for a in every]
        assert sorted(types.values()) == sorted([*_EVERY_TYPE, NPN_DEACTIVATED])
        for event_type in _EVERY_TYPE:
            narrowed = outbox.LogFilter(frozenset({event_type}))
            found = outbox.list_attempts(conn, endpoint_id=endpoint.id, narrowed=narrowed)
            assert found == [a for a in every if types[a.message_id] == event_type]


def test_deliveries_of_groups_by_message(engine: sa.Engine) -> None:
    with write_transaction(engine) as conn:
        account = new_account(conn)
        a, b = new_endpoint(conn, account), new_endpoint(conn, account, [NPN_ACTIVATED])
        one, two = activated(), updates()
        outbox.publish(conn, [message(account, one), message(account, two)], now=T0)
        found = outbox.deliveries_of(conn, [one.id, two.id, "evt_none"])
        assert {k: sorted(d.endpoint_id for d in v) for k, v in found.items()} == {
            one.id: sorted([a, b]),
            two.id: [a],
        }
        assert outbox.deliveries_of(conn, []) == {}


def test_delivery_states_counts_each_messages_deliveries_by_state(engine: sa.Engine) -> None:
    """What a row of the portal's Messages says, counted in the store: a page of 20
    messages each sent to 1,000 endpoints read 20,000 deliveries to count them."""
    with write_transaction(engine) as conn:
        account = new_account(conn)
        a, b, _pending = (new_endpoint(conn, account) for _ in range(3))
        one, two = activated(), updates()
        outbox.publish(conn, [message(account, one), message(account, two)], now=T0)
        d = webhook_deliveries
        conn.execute(
            d.update()
            .where(d.c.message_id == one.id, d.c.endpoint_id.in_([a, b]))
            .values(state=outbox.FAILED)
        )
        assert outbox.delivery_states(conn, [one.id, two.id, "evt_none"]) == {
            one.id: {outbox.FAILED: 2, outbox.PENDING: 1},
            two.id: {outbox.PENDING: 3},
        }
        assert outbox.delivery_states(conn, []) == {}


def test_latest_attempts_are_each_deliveries_latest_by_start_then_id(engine: sa.Engine) -> None:
    """What a message's page shows beside each delivery, read for the page at once: one
    read per delivery made a page of 20 cost 20 statements more."""
    with write_transaction(engine) as conn:
        account = new_account(conn)
        a, b, c = (new_endpoint(conn, account) for _ in range(3))
        event = activated()
        outbox.publish(conn, [message(account, event)], now=T0)
        delivered = {ep: only_delivery(conn, event.id, ep).id for ep in (a, b, c)}

        def attempt(endpoint_id: str, at: dt.datetime, status: int) -> dict[str, Any]:
            return {
                "delivery_id": delivered[endpoint_id],
                "message_id": event.id,
                "endpoint_id": endpoint_id,
                "event_type": NPN_ACTIVATED,
                "attempt_number": 1,
                "trigger": "scheduled",
                "attempted_at": at,
                "succeeded": status == 200,
                "status_code": status,
                "duration_ms": 5,
            }

        # Inserted out of order; b's two latest started at once (the later id wins). c has none.
        conn.execute(
            webhook_attempts.insert(),
            [
                attempt(a, T0 + seconds(2), 200),
                attempt(a, T0 + seconds(1), 500),
                attempt(b, T0 + seconds(3), 502),
                attempt(b, T0 + seconds(3), 503),
                attempt(b, T0, 500),
            ],
        )
        latest = outbox.latest_attempts(conn, list(delivered.values()))
        assert {d: found.status_code for d, found in latest.items()} == {
            delivered[a]: 200,
            delivered[b]: 503,
        }
        for endpoint_id in (a, b):
            expected = outbox.list_attempts(conn, endpoint_id=endpoint_id, limit=1)
            assert [latest[delivered[endpoint_id]]] == expected
        assert outbox.latest_attempts(conn, []) == {}


def test_endpoints_by_id_are_the_accounts_own(engine: sa.Engine) -> None:
    with write_transaction(engine) as conn:
        account = new_account(conn)
        ours = [new_endpoint(conn, account) for _ in range(2)]
        theirs = new_endpoint(conn, new_account(conn, "other"))
        found = endpoints.endpoints_by_id(conn, account, [*ours, theirs, "ep_gone"])
        assert {k: v.id for k, v in found.items()} == {ep: ep for ep in ours}
        assert found[ours[0]] == endpoints.get_endpoint(conn, account, ours[0])
        assert endpoints.endpoints_by_id(conn, account, []) == {}


# --- endpoints: the failure clock and secrets ------------------------------------------


def test_note_failure_disables_after_the_window_and_success_resets_the_clock(
    engine: sa.Engine,
) -> None:
    window = dt.timedelta(hours=5)
    with write_transaction(engine) as conn:
        account = new_account(conn)
        ep = new_endpoint(conn, account)
        healthy = new_endpoint(conn, account)

        def failing_since() -> dt.datetime | None:
            found = endpoints.get_endpoint(conn, account, ep)
            assert found is not None
            return found.failing_since

        assert endpoints.note_failure(conn, [], T0, window) == []
        assert endpoints.note_failure(conn, [ep], T0, window) == []
        assert failing_since() == T0
        # Later failures keep the clock where it started.
        assert endpoints.note_failure(conn, [ep], T0 + window - seconds(1), window) == []
        assert failing_since() == T0
        endpoints.note_success(conn, [ep])
        assert failing_since() is None
        # The clock starts over: failing again just past the old window disables nothing.
        restart = T0 + window + seconds(1)
        assert endpoints.note_failure(conn, [ep], restart, window) == []
        assert failing_since() == restart
        assert endpoints.note_failure(conn, [ep], restart + window + seconds(1), window) == [ep]
        gone = endpoints.get_endpoint(conn, account, ep)
        assert gone is not None
        assert not gone.enabled
        assert gone.disabled_reason
        other = endpoints.get_endpoint(conn, account, healthy)
        assert other is not None
        assert other.enabled
        assert other.failing_since is None
        # Enabling again clears the clock.
        back = endpoints.enable_endpoint(conn, account, ep)
        assert back is not None
        assert (back.enabled, back.disabled_reason, back.failing_since) == (True, None, None)


def test_rotate_secret_keeps_the_old_one_during_grace_only(engine: sa.Engine) -> None:
    with write_transaction(engine) as conn:
        account = new_account(conn)
        ep, first = endpoints.create_endpoint(conn, account, URL, secret="whsec_first")
        other, _ = endpoints.create_endpoint(conn, account, URL, secret="whsec_other")
        assert first == "whsec_first"
        assert endpoints.active_secrets(conn, [ep.id]) == {ep.id: ["whsec_first"]}

        second = endpoints.rotate_secret(conn, ep.id, dt.timedelta(hours=1))
        assert second not in ("whsec_first", "")
        assert endpoints.current_secret(conn, ep.id) == second
        assert endpoints.active_secrets(conn, [ep.id, other.id]) == {
            ep.id: [second, "whsec_first"],  # current first, then those in grace
            other.id: ["whsec_other"],
        }

        # No grace: the secret rotated out stops signing at once and is dropped.
        third = endpoints.rotate_secret(conn, ep.id, dt.timedelta(0), secret="whsec_third")
        assert third == "whsec_third"
        assert endpoints.active_secrets(conn, [ep.id]) == {ep.id: [third, "whsec_first"]}
        stored = conn.execute(
            sa.select(webhook_secrets.c.secret).where(webhook_secrets.c.endpoint_id == ep.id)
        ).scalars()
        assert second not in set(stored)

        assert endpoints.rotate_secret(conn, other.id, dt.timedelta(0), secret="whsec_new")
        assert endpoints.active_secrets(conn, [other.id]) == {other.id: ["whsec_new"]}
        assert endpoints.active_secrets(conn, []) == {}


def test_rotations_within_the_grace_keep_only_the_newest_secrets_signing(
    engine: sa.Engine,
) -> None:
    """Each rotation within the grace added a signature to every message, without end."""
    with write_transaction(engine) as conn:
        ep, first = endpoints.create_endpoint(conn, new_account(conn), URL, secret="whsec_0")
        rotated = [first]
        for i in range(1, 7):
            rotated.append(
                endpoints.rotate_secret(conn, ep.id, dt.timedelta(hours=1), secret=f"whsec_{i}")
            )
        newest = rotated[::-1][: 1 + endpoints.SECRETS_IN_GRACE]
        assert endpoints.active_secrets(conn, [ep.id]) == {ep.id: newest}
        stored = conn.execute(
            sa.select(webhook_secrets.c.secret).where(webhook_secrets.c.endpoint_id == ep.id)
        ).scalars()
        assert sorted(stored) == sorted(newest)


def test_a_rotation_from_a_secret_rotated_since_changes_nothing(engine: sa.Engine) -> None:
    """The portal's Rotate form names the secret it replaces: sent again, it rotates
    nothing more (and a form sent without it rotates whatever is current)."""
    with write_transaction(engine) as conn:
        ep, _ = endpoints.create_endpoint(conn, new_account(conn), URL, secret="whsec_first")
        first = endpoints.current_secret_id(conn, ep.id)
        assert first is not None
        second = endpoints.rotate_secret_from(conn, ep.id, first, dt.timedelta(hours=1))
        assert second is not None and endpoints.current_secret(conn, ep.id) == second
        assert endpoints.rotate_secret_from(conn, ep.id, first, dt.timedelta(hours=1)) is None
        assert endpoints.active_secrets(conn, [ep.id]) == {ep.id: [second, "whsec_first"]}
        assert endpoints.current_secret_id(conn, "ep_nosuchendpoint") is None


@pytest.mark.postgres
def test_two_rotations_from_one_secret_at_once_rotate_once_on_postgresql(tmp_path: Path) -> None:
    # A Rotate form pressed twice: the second waits on the row the first retires, then
    # finds it rotated. A check before the update, at READ COMMITTED, saw it current in
    # both, and the endpoint was left with two current secrets.
    with opened("postgres", tmp_path) as engine:
        with write_transaction(engine) as conn:
            ep, old = endpoints.create_endpoint(conn, new_account(conn), URL)
            secret_id = endpoints.current_secret_id(conn, ep.id)
        assert secret_id is not None
        outcome: list[object] = []

        def second() -> None:
            with write_transaction(engine) as conn:
                outcome.append(
                    endpoints.rotate_secret_from(conn, ep.id, secret_id, dt.timedelta(hours=1))
                )

        with write_transaction(engine) as conn:
            new = endpoints.rotate_secret_from(conn, ep.id, secret_id, dt.timedelta(hours=1))
            thread = threading.Thread(target=second)
            thread.start()
            eventually(lambda: bool(outcome) or waiting_on_a_lock(engine))
        thread.join()
        with engine.connect() as conn:
            assert endpoints.active_secrets(conn, [ep.id]) == {ep.id: [new, old]}
    assert outcome == [None]


# --- management rules ------------------------------------------------------------------


def test_check_event_types() -> None:
    assert management.check_event_types(None) is None
    assert management.check_event_types([" producersync ", EVENT_GROUP, NPN_ACTIVATED]) == [
        EVENT_GROUP,
        NPN_ACTIVATED,
    ]
    for bad in ([], [ENDPOINT_TEST], ["producersync.nope"], [NPN_ACTIVATED, "x"]):
        with pytest.raises(management.EndpointRuleError) as caught:
            management.check_event_types(bad)
        assert caught.value.field == "eventTypes"


def test_create_endpoint_queues_its_test_event_whatever_the_filter(engine: sa.Engine) -> None:
    settings = ServiceSettings(allow_private_endpoints=False)
    with write_transaction(engine) as conn:
        account = new_account(conn)
        endpoint, secret = management.create_endpoint(
            conn, settings, account, f"  {URL}  ", event_types=[NPN_ACTIVATED]
        )
        assert endpoint.url == URL
        assert secret
        (delivery,) = outbox.list_deliveries(conn)
        assert delivery.endpoint_id == endpoint.id
        test = outbox.get_message(conn, account, delivery.message_id)
        assert test is not None
        assert test.event_type == ENDPOINT_TEST
        for url in ("http://93.184.216.34/", "https://127.0.0.1/"):
            with pytest.raises(management.EndpointRuleError) as caught:
                management.create_endpoint(conn, settings, account, url)
            assert caught.value.field == "url"
        with pytest.raises(management.EndpointRuleError) as caught:
            management.create_endpoint(conn, settings, account, URL, rate_limit_per_second=0)
        assert caught.value.field == "rateLimitPerSecond"


def test_update_endpoint_stores_what_create_would(engine: sa.Engine) -> None:
    settings = ServiceSettings(allow_private_endpoints=False)
    with write_transaction(engine) as conn:
        account = new_account(conn)
        ep = new_endpoint(conn, account)
        changes = endpoints.EndpointChanges(
            url=f"  {URL}  ", event_types=[f" {NPN_ACTIVATED} ", NPN_ACTIVATED]
        )
        updated = management.update_endpoint(conn, settings, account, ep, changes)
        assert updated is not None
        assert (updated.url, updated.event_types) == (URL, [NPN_ACTIVATED])
        with pytest.raises(management.EndpointRuleError) as caught:
            management.update_endpoint(
                conn, settings, account, ep, endpoints.EndpointChanges(event_types=["nope"])
            )
        assert caught.value.field == "eventTypes"


def test_management_recover_refuses_the_future_and_more_than_14_days(engine: sa.Engine) -> None:
    now = dt.datetime.now(dt.UTC)
    with write_transaction(engine) as conn:
        account = new_account(conn)
        ep = new_endpoint(conn, account)
        endpoint = endpoints.get_endpoint(conn, account, ep)
        assert endpoint is not None
        for since in (now + dt.timedelta(minutes=5), now - dt.timedelta(days=14, minutes=6)):
            with pytest.raises(management.EndpointRuleError) as caught:
                management.recover(conn, endpoint, since)
            assert caught.value.field == "since"
        event = activated()
        outbox.publish(conn, [message(account, event)], now=now - dt.timedelta(days=13))
        (claimed,) = outbox.claim_due(conn, now, 10, LEASE)
        outbox.record(conn, [outcome(claimed, now, succeeded=False)])
        naive = (now - dt.timedelta(days=13, minutes=5)).replace(tzinfo=None)  # read as UTC
        assert management.recover(conn, endpoint, naive) == 1


def test_recover_since_14_days_back_taken_before_the_request_is_honoured(
    engine: sa.Engine,
) -> None:
    # 14 days back to the minute, as the portal's form offers it at the earliest, and as
    # `date -d '-14 days'` is by the time its request is judged: it was refused.
    now = dt.datetime.now(dt.UTC)
    since = (now - dt.timedelta(days=14)).replace(second=0, microsecond=0)
    with write_transaction(engine) as conn:
        account = new_account(conn)
        ep = new_endpoint(conn, account)
        endpoint = endpoints.get_endpoint(conn, account, ep)
        assert endpoint is not None
        outbox.publish(conn, [message(account, activated())], now=since)
        (claimed,) = outbox.claim_due(conn, now, 10, LEASE)
        outbox.record(conn, [outcome(claimed, now, succeeded=False)])
        assert management.recover(conn, endpoint, since) == 1


@pytest.mark.parametrize("kind", BACKENDS)
def test_recover_since_with_a_utc_offset_means_the_same_instant(kind: str, tmp_path: Path) -> None:
    now = dt.datetime.now(dt.UTC)
    with opened(kind, tmp_path) as engine, write_transaction(engine) as conn:
        account = new_account(conn)
        ep = new_endpoint(conn, account)
        endpoint = endpoints.get_endpoint(conn, account, ep)
        assert endpoint is not None
        outbox.publish(conn, [message(account, activated())], now=now - dt.timedelta(minutes=30))
        (claimed,) = outbox.claim_due(conn, now, 10, LEASE)
        outbox.record(conn, [outcome(claimed, now, succeeded=False)])
        # One hour ago, written as an API client in UTC+05:00 would send it.
        since = (now - dt.timedelta(hours=1)).astimezone(dt.timezone(dt.timedelta(hours=5)))
        assert management.recover(conn, endpoint, since) == 1


# --- the attempts log, in time order and paged -------------------------------------------


def event_of(event_type: str, endpoint_id: str) -> Event:
    if event_type == ENDPOINT_TEST:
        return EndpointTest.create(endpoint_id)
    return {UPDATES_AVAILABLE: updates, NPN_ACTIVATED: activated, NPN_DEACTIVATED: deactivated}[
        event_type
    ]()


def type_of_message(conn: sa.Connection, message_id: str) -> str:
    found = outbox.get_message(conn, None, message_id)
    assert found is not None
    return found.event_type


def attempts_at(
    conn: sa.Connection,
    minutes: list[int],
    account_name: str = "acme",
    *,
    types: Callable[[int], str] = lambda _n: NPN_ACTIVATED,
) -> str:
    """An endpoint with an attempt started at T0 + each of ``minutes``, recorded (and so
    numbered) in the order given, the nth of a message of ``types(n)``; its id."""
    account = new_account(conn, account_name)
    endpoint = new_endpoint(conn, account)
    events = [event_of(types(n), endpoint) for n in range(len(minutes))]
    outbox.publish(conn, [message(account, e) for e in events], endpoint_id=endpoint, now=T0)
    claimed = outbox.claim_due(conn, T0, len(minutes), LEASE)
    at = [T0 + dt.timedelta(minutes=n) for n in minutes]
    outbox.record(conn, [outcome(c, t, succeeded=True) for c, t in zip(claimed, at, strict=True)])
    return endpoint


def keyed(attempts: list[outbox.Attempt]) -> list[tuple[dt.datetime, int]]:
    return [(a.attempted_at, a.id) for a in attempts]


def test_attempts_are_newest_first_by_their_start_and_paged_at_the_windows_bounds(
    engine: sa.Engine,
) -> None:
    """Attempts are numbered as recorded, which is not the order they started in (a retry
    recorded after a later first attempt): the list went by id."""
    with write_transaction(engine) as conn:
        endpoint = attempts_at(conn, [30, 0, 20, 20, 10, 40, 10])
    with engine.connect() as conn:
        every = outbox.list_attempts(conn, endpoint_id=endpoint)
        assert keyed(every) == sorted(keyed(every), reverse=True)
        assert [a.id for a in every] != sorted((a.id for a in every), reverse=True)
        # From 10 min, included, up to 30, not: the two at 10 and the two at 20 (the same
        # start, both kept and told apart by id), a page of one at a time each way.
        window = outbox.LogFilter(since=T0 + seconds(600), until=T0 + seconds(1800))
        want = [a for a in every if 10 <= (a.attempted_at - T0) / seconds(60) < 30]
        assert len(want) == 4

        def pages(older: bool) -> list[outbox.Attempt]:
            read: list[outbox.Attempt] = []
            cursor = None
            while True:
                page = outbox.list_attempts(
                    conn,
                    endpoint_id=endpoint,
                    limit=1,
                    before=cursor if older else None,
                    after=None if older else (cursor or want[-1].id),
                    narrowed=window,
                )
                if not page:
                    return read
                read += page
                cursor = page[-1].id

        assert pages(older=True) == want
        assert pages(older=False) == list(reversed(want[:-1]))
        # A cursor at a bound: nothing older than the oldest in the window, nothing
        # newer than its newest.
        last, first = want[-1].id, want[0].id
        assert outbox.list_attempts(conn, endpoint_id=endpoint, before=last, narrowed=window) == []
        assert outbox.list_attempts(conn, endpoint_id=endpoint, after=first, narrowed=window) == []


def test_a_page_of_attempts_from_an_attempt_not_in_the_list_is_refused(engine: sa.Engine) -> None:
    with write_transaction(engine) as conn:
        mine = attempts_at(conn, [0, 1], "mine")
        theirs = logged_attempts(conn)
    with engine.connect() as conn:
        (other, *_) = outbox.list_attempts(conn, endpoint_id=theirs)
        for cursor in (other.id, 2**40):
            for paged in ({"before": cursor}, {"after": cursor}):
                with pytest.raises(outbox.UnknownCursor):
                    outbox.list_attempts(conn, endpoint_id=mine, **paged)
        (one, *_) = outbox.list_attempts(conn, endpoint_id=mine)
        with pytest.raises(outbox.UnknownCursor):
            outbox.list_attempts(conn, message_id=other.message_id, before=one.id)


def rows_read(
    conn: sa.Connection, read: Callable[[], object], table: str = "webhook_attempts"
) -> int:
    """What ``read`` cost the store in rows of ``table`` fetched (PostgreSQL) or in steps
    of SQLite's virtual machine, a hundred at a time: a measure of work that does not
    depend on the machine's speed."""
    if conn.dialect.name == "postgresql":
        fetched = sa.text(
            "SELECT coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0)"
            " FROM pg_stat_xact_user_tables WHERE relname = :table"
        )
        before = conn.execute(fetched, {"table": table}).scalar_one()
        read()
        return int(conn.execute(fetched, {"table": table}).scalar_one() - before)
    steps = 0

    def step() -> int:
        nonlocal steps
        steps += 1
        return 0

    sqlite = conn.connection.driver_connection
    sqlite.set_progress_handler(step, 100)
    try:
        read()
    finally:
        sqlite.set_progress_handler(None, 100)
    return steps


def _page_cost(conn: sa.Connection, endpoint: str) -> Callable[..., int]:
    """The rows a page of 10 of ``endpoint``'s attempts reads, given the list's options."""

    def cost(**given: Any) -> int:
        page = functools.partial(outbox.list_attempts, conn, endpoint_id=endpoint, limit=10)
        return rows_read(conn, lambda: page(**given))

    return cost


def test_a_window_far_back_costs_what_the_newest_page_does(engine: sa.Engine) -> None:
    """The list walked the endpoint's attempts back from the newest until enough were in
    the window: 367 ms for one a few weeks back among 600,000 attempts."""
    with write_transaction(engine) as conn:
        endpoint = attempts_at(conn, list(range(2000)))
        conn.execute(sa.text("ANALYZE"))
    with engine.connect() as conn:
        cost = _page_cost(conn, endpoint)
        newest = cost()
        start = outbox.LogFilter(since=T0, until=T0 + seconds(60 * 60))
        (_, *_, tenth) = outbox.list_attempts(conn, endpoint_id=endpoint, narrowed=start, limit=10)
        for given in (
            {"narrowed": start},
            {"narrowed": start, "before": tenth.id},
            {"narrowed": outbox.LogFilter(until=T0 + seconds(60 * 60))},
            {
                "narrowed": outbox.LogFilter(
                    since=T0 + seconds(60 * 900), until=T0 + seconds(60 * 1000)
                )
            },
        ):
            assert cost(**given) <= 2 * newest + 20, given


def test_a_rare_event_type_over_the_whole_log_costs_what_the_newest_page_does(
    engine: sa.Engine,
) -> None:
    """Filtered by an event type of one attempt in a hundred since the first, with no
    end, the list joined the endpoint's attempts to their messages from the newest back
    until enough were of the type: 1,385 ms among 600,000 attempts on SQLite. With a
    common type beside it, each type's page is read from its own stretch of the index."""

    def kind(n: int) -> str:
        return UPDATES_AVAILABLE if n % 100 == 0 else NPN_ACTIVATED

    with write_transaction(engine) as conn:
        endpoint = attempts_at(conn, list(range(2000)), types=kind)
        conn.execute(sa.text("ANALYZE"))
    with engine.connect() as conn:
        cost = _page_cost(conn, endpoint)
        newest = cost()
        rare = outbox.LogFilter(frozenset({UPDATES_AVAILABLE}), since=T0)
        both = outbox.LogFilter(frozenset({UPDATES_AVAILABLE, NPN_ACTIVATED}), since=T0)
        (_, *_, tenth) = outbox.list_attempts(conn, endpoint_id=endpoint, narrowed=rare, limit=10)
        for given, types in (
            ({"narrowed": rare}, 1),
            ({"narrowed": rare, "before": tenth.id}, 1),
            ({"narrowed": rare, "succeeded": True}, 1),
            ({"narrowed": both}, 2),
        ):
            assert cost(**given) <= types * (2 * newest + 20), given
