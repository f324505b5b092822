"""Deliveries waiting on a disabled endpoint, on SQLite and PostgreSQL: parked out of the
claims' way (a claim reads no more for a backlog of them than for none), queued parked by
replay, recover and Send Example while the endpoint is disabled, and sent once each when
it is enabled again, however disabling and enabling race the claims."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from producersync.model.events import NPN_ACTIVATED, NpnActivated
from producersync.service.delivery import management
from producersync.service.store import accounts, endpoints, outbox
from producersync.service.store.engine import write_transaction
from producersync.service.store.tables import webhook_attempts, webhook_deliveries
from tests.conftest import BACKENDS
from tests.support.databases import work_done
from tests.support.delivery import opened_store
from tests.support.waiting import eventually

pytestmark = pytest.mark.slow(40)

T0 = dt.datetime(2025, 6, 1, 12, 0, tzinfo=dt.UTC)
LEASE = dt.timedelta(seconds=30)
URL = "https://93.184.216.34/hook"


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    with opened_store(request.param, tmp_path) as engine:
        yield engine


def _endpoint(conn: sa.Connection, account_id: int) -> str:
    return endpoints.create_endpoint(conn, account_id, URL)[0].id


def _publish(conn: sa.Connection, account_id: int, count: int, at: dt.datetime) -> list[str]:
    events = [NpnActivated.create("15645555") for _ in range(count)]
    messages = [outbox.Message(e.id, account_id, e.type, e.to_json()) for e in events]
    outbox.publish(conn, messages, now=at)
    return [e.id for e in events]


def _succeeded(claimed: list[outbox.Claimed], at: dt.datetime) -> list[outbox.Outcome]:
    return [outbox.Outcome(c, at, True, 200, 1, "ok", None, None) for c in claimed]


def _claim_work(engine: sa.Engine, now: dt.datetime) -> tuple[set[str], int]:
    """What a claim at ``now`` takes (message ids) and how much it reads, rolled back."""
    with engine.connect() as conn, conn.begin() as transaction:
        if conn.dialect.name == "postgresql":
            # Planned as for a large table: a few hundred rows are read whole, cheaper.
            conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
        with work_done(conn, "webhook_deliveries") as work:
            claimed = outbox.claim_due(conn, now, 10, LEASE)
            outbox.next_due(conn)
        transaction.rollback()
    return {c.message_id for c in claimed}, work()


def _parked(engine: sa.Engine, endpoint_id: str) -> list[bool]:
    d = webhook_deliveries
    query = sa.select(d.c.parked).where(d.c.endpoint_id == endpoint_id, d.c.state == "pending")
    with engine.connect() as conn:
        return list(conn.execute(query).scalars())


def test_a_claim_reads_no_more_for_a_disabled_endpoints_backlog_than_for_none(
    engine: sa.Engine,
) -> None:
    """300 deliveries due to a disabled endpoint, older than the 3 due to an enabled one:
    the claim read past every one of them, each claim (30-100 ms a claim for 50,000)."""
    with write_transaction(engine) as conn:
        account = accounts.create_account(conn, "acme", sandbox=False).id
        on = _endpoint(conn, account)
        fresh = _publish(conn, account, 3, T0 + dt.timedelta(seconds=5))
    now = T0 + dt.timedelta(minutes=1)
    taken, alone = _claim_work(engine, now)
    assert taken == set(fresh)

    with write_transaction(engine) as conn:
        endpoints.disable_endpoint(conn, account, on, "paused")
        off = _endpoint(conn, account)
        _publish(conn, account, 300, T0)  # due first
        endpoints.disable_endpoint(conn, account, off, "paused")
        endpoints.enable_endpoint(conn, account, on)
    assert _parked(engine, off) == [True] * 300
    assert _parked(engine, on) == [False] * 3
    taken, behind_a_backlog = _claim_work(engine, now)
    assert taken == set(fresh)
    # The same statements, the same plan, the same rows read, but for the planner's
    # statistics of a table ten times larger: within a half.
    assert behind_a_backlog < alone * 1.5


def test_enabling_sends_each_waiting_delivery_once_by_its_schedule(engine: sa.Engine) -> None:
    with write_transaction(engine) as conn:
        account = accounts.create_account(conn, "acme", sandbox=False).id
        off = _endpoint(conn, account)
        overdue = _publish(conn, account, 4, T0)
        endpoints.disable_endpoint(conn, account, off, "paused")
    with write_transaction(engine) as conn:
        # A retry scheduled for later keeps its time.
        d = webhook_deliveries
        later = T0 + dt.timedelta(hours=1)
        conn.execute(d.update().where(d.c.message_id == overdue[0]).values(next_attempt_at=later))
        assert outbox.claim_due(conn, later, 10, LEASE) == []
        assert outbox.next_due(conn) is None
        endpoints.enable_endpoint(conn, account, off)
        assert outbox.next_due(conn) == T0
        first = outbox.claim_due(conn, T0 + dt.timedelta(minutes=1), 10, LEASE)
        assert sorted(c.message_id for c in first) == sorted(overdue[1:])
        outbox.record(conn, _succeeded(first, T0 + dt.timedelta(minutes=1)))
        second = outbox.claim_due(conn, later, 10, LEASE)
        assert [c.message_id for c in second] == overdue[:1]


def test_replay_recover_and_examples_to_a_disabled_endpoint_wait_until_it_is_enabled(
    engine: sa.Engine,
) -> None:
    with write_transaction(engine) as conn:
        now = outbox.store_clock(conn)  # recover's window is judged by the store's clock
        account = accounts.create_account(conn, "acme", sandbox=False).id
        off = _endpoint(conn, account)
        sent, failed = _publish(conn, account, 2, now)
        claimed = {c.message_id: c for c in outbox.claim_due(conn, now, 10, LEASE)}
        gave_up = outbox.Outcome(claimed[failed], now, False, 500, 1, "boom", None, None)
        outbox.record(conn, [*_succeeded([claimed[sent]], now), gave_up])
        endpoint = endpoints.disable_endpoint(conn, account, off, "paused")
        assert endpoint is not None
        assert management.replay(conn, endpoint, sent) is not None
        assert management.recover(conn, endpoint, now) == 1
        management.send_example(conn, endpoint, NPN_ACTIVATED)
    assert _parked(engine, off) == [True] * 3
    with write_transaction(engine) as conn:
        assert outbox.claim_due(conn, outbox.store_clock(conn), 10, LEASE) == []
        endpoints.enable_endpoint(conn, account, off)
        assert len(outbox.claim_due(conn, outbox.store_clock(conn), 10, LEASE)) == 3


def test_disabling_and_enabling_racing_the_claims_lose_and_double_nothing(
    engine: sa.Engine,
) -> None:
    """Two claimers send and record what they take while the endpoint is flipped off and
    on: a claim begun after a disable committed and ended before the next enable began
    takes nothing, and once the endpoint is enabled for good every delivery has been sent
    exactly once."""
    with write_transaction(engine) as conn:
        account = accounts.create_account(conn, "acme", sandbox=False).id
        ep = _endpoint(conn, account)
        published = _publish(conn, account, 120, T0)
    stop = threading.Event()
    disabled: list[tuple[float, float]] = []  # from a disable's commit to the next enable
    claims: list[tuple[float, float, int]] = []  # began, ended, deliveries taken
    failures: list[BaseException] = []

    def claimer() -> None:
        try:
            while not stop.is_set():
                began = time.monotonic()
                with write_transaction(engine) as conn:
                    claimed = outbox.claim_due(conn, outbox.store_clock(conn), 3, LEASE)
                claims.append((began, time.monotonic(), len(claimed)))
                if claimed:
                    with write_transaction(engine) as conn:
                        endpoints.lock_endpoints(conn, [ep])  # as Batches.settle
                        outbox.record(conn, _succeeded(claimed, outbox.store_clock(conn)))
        except BaseException as exc:  # told by the test's thread
            failures.append(exc)

    threads = [threading.Thread(target=claimer) for _ in range(2)]
    for thread in threads:
        thread.start()
    try:
        for _ in range(15):
            with write_transaction(engine) as conn:
                endpoints.disable_endpoint(conn, account, ep, "paused")
            off_since = time.monotonic()
            time.sleep(0.01)
            enabling = time.monotonic()
            with write_transaction(engine) as conn:
                endpoints.enable_endpoint(conn, account, ep)
            disabled.append((off_since, enabling))
        eventually(lambda: _states(engine, ep) == {"succeeded": len(published)} or bool(failures))
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert failures == []
    assert [
        (began, ended, taken)
        for began, ended, taken in claims
        for off_since, enabling in disabled
        if taken and off_since < began and ended < enabling
    ] == []
    assert _states(engine, ep) == {"succeeded": len(published)}
    a = webhook_attempts
    with engine.connect() as conn:
        per_message = conn.execute(
            sa.select(a.c.message_id, sa.func.count()).group_by(a.c.message_id)
        ).all()
    assert sorted(per_message) == sorted((m, 1) for m in published)


def _states(engine: sa.Engine, endpoint_id: str) -> dict[str, int]:
    d = webhook_deliveries
    query = (
        sa.select(d.c.state, sa.func.count())
        .where(d.c.endpoint_id == endpoint_id)
        .group_by(d.c.state)
    )
    with engine.connect() as conn:
        return {str(state): int(count) for state, count in conn.execute(query)}
