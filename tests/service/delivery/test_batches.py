"""The dispatcher's side of the store: claiming due deliveries and settling a batch, as
several workers sharing one store do it."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import pytest
import sqlalchemy as sa

from producersync.model.events import NPN_ACTIVATED, NPN_DEACTIVATED, NpnActivated
from producersync.service.delivery import batches as batches_module
from producersync.service.delivery import dispatcher, management
from producersync.service.delivery.batches import Batches
from producersync.service.delivery.policy import RetryPolicy
from producersync.service.delivery.sender import Sender
from producersync.service.delivery.throttle import EndpointThrottle
from producersync.service.delivery.urls import AddressGuard
from producersync.service.metrics import ServiceMetrics
from producersync.service.settings import ServiceSettings
from producersync.service.store import endpoints, outbox
from producersync.service.store.engine import write_transaction
from producersync.service.store.outbox import Deferred, Outcome
from tests.conftest import BACKENDS
from tests.support.delivery import opened_store, publish_to_one_endpoint, skew_clock
from tests.support.receiver import receiver

URL = "https://93.184.216.34/hook"
POLICY = RetryPolicy(
    schedule=(5.0,),
    jitter=0.0,
    retry_after_cap=3600.0,
    overload_step=60.0,
    timeout=5.0,
    disable_after=dt.timedelta(days=5),
    claim_lease=30.0,
)


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    with opened_store(request.param, tmp_path) as engine:
        yield engine


def published(engine: sa.Engine, events: int, endpoint_url: str = URL) -> None:
    """An endpoint with its test event and ``events`` more due to it."""
    url = engine.url.render_as_string(hide_password=False)
    publish_to_one_endpoint(
        engine, url, endpoint_url, [NpnActivated.create("15645555") for _ in range(events)]
    )


def skewed(by: dt.timedelta) -> Callable[[], dt.datetime]:
    """The clock of a process on a host whose clock is ``by`` off the store's."""
    return lambda: dt.datetime.now(dt.UTC) + by


def attempts_counted(metrics: ServiceMetrics) -> dict[str, float]:
    return {
        outcome: metrics.registry.get_sample_value(
            "producersync_webhook_attempts_total", {"outcome": outcome}
        )
        or 0.0
        for outcome in ("succeeded", "failed", "deferred")
    }


def test_a_settle_retried_after_its_transaction_failed_counts_the_batch_once(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Counted before the transaction committed, a batch's attempts were counted again by
    # each retry of the DBOS step (a deadlock, the store out of reach a moment).
    published(engine, 2)
    metrics = ServiceMetrics()
    store = Batches(engine, POLICY, 10, metrics)
    ok, failing, held = store.claim()
    now = dt.datetime.now(dt.UTC)
    results = [
        Outcome(ok, now, True, 200, 12, "ok", None, None),
        Outcome(failing, now, False, 500, 12, "boom", None, now + dt.timedelta(seconds=5)),
        outbox.Deferred(held, now),
    ]
    record = batches_module.record

    def deadlocked_once(conn: sa.Connection, outcomes: Sequence[Outcome]) -> int:
        moved = record(conn, outcomes)
        if not calls:
            calls.append(moved)
            raise sa.exc.OperationalError("UPDATE webhook_deliveries", {}, Exception("deadlock"))
        return moved

    calls: list[int] = []
    monkeypatch.setattr(batches_module, "record", deadlocked_once)
    with pytest.raises(sa.exc.OperationalError):
        store.settle(results)
    store.settle(results)
    assert attempts_counted(metrics) == {"succeeded": 1, "failed": 1, "deferred": 1}
    with engine.connect() as conn:
        assert len(outbox.list_attempts(conn)) == 2


@pytest.mark.postgres
def test_a_worker_whose_clock_runs_ahead_takes_nothing_another_holds(tmp_path: Path) -> None:
    # Its claims were judged by its own clock: every delivery another worker was still
    # sending looked lapsed to it, and it took them and sent them again.
    with opened_store("postgres", tmp_path) as engine:
        published(engine, 2)
        on_time = Batches(engine, POLICY, 10, ServiceMetrics())
        ahead = Batches(engine, POLICY, 10, ServiceMetrics(), skewed(2 * POLICY.lease))
        assert len(on_time.claim()) == 3
        assert ahead.claim() == []


@pytest.mark.postgres
def test_a_worker_whose_clock_lags_sends_nothing_under_a_claim_that_lapsed(
    tmp_path: Path,
) -> None:
    # It judged a claim's lease by its own clock: to a worker an hour behind, a claim that
    # had lapsed held for another hour, and it sent what another worker had taken since.
    with opened_store("postgres", tmp_path) as engine, receiver() as rx:
        published(engine, 0, rx.url)
        with write_transaction(engine) as conn:
            short = dt.timedelta(seconds=1)  # lapses before an attempt could end
            (claimed,) = outbox.claim_due(conn, outbox.store_clock(conn), 10, short)
        lagging = Batches(engine, POLICY, 10, ServiceMetrics(), skewed(-dt.timedelta(hours=1)))
        secrets, clock = lagging.secrets([claimed.endpoint_id])

        async def send() -> Outcome | Deferred:
            guard, throttle = AddressGuard(allow_private=True), EndpointThrottle("memory://")
            sender = Sender(POLICY, guard, throttle, 2)
            try:
                return await sender.send(claimed, secrets[claimed.endpoint_id], clock)
            finally:
                await sender.aclose()

        assert isinstance(asyncio.run(send()), Deferred)
        assert rx.received == []


@pytest.mark.postgres
def test_a_replay_by_a_process_whose_clock_runs_ahead_leaves_a_claim_to_its_worker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Judged by the API process's clock, a claim looked lapsed: Resend made the delivery
    # due again under its worker, whose outcome then moved nothing, and it went out twice.
    with opened_store("postgres", tmp_path) as engine:
        published(engine, 0)
        worker = Batches(engine, POLICY, 10, ServiceMetrics())
        (claimed,) = worker.claim()
        skew_clock(monkeypatch, management, 2 * POLICY.lease)
        with write_transaction(engine) as conn:
            endpoint = endpoints.get_endpoint(conn, None, claimed.endpoint_id)
            assert endpoint is not None
            assert management.replay(conn, endpoint, claimed.message_id) == claimed.delivery_id
        now = dt.datetime.now(dt.UTC)
        with write_transaction(engine) as conn:
            done = Outcome(claimed, now, True, 200, 12, "ok", None, None)
            assert outbox.record(conn, [done]) == 1


@pytest.mark.postgres
@pytest.mark.parametrize("by", [dt.timedelta(hours=1), -dt.timedelta(hours=1)])
def test_an_event_published_by_a_process_whose_clock_is_off_is_stamped_by_the_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, by: dt.timedelta
) -> None:
    # Stamped due by the publishing process's own clock, an event from a host an hour
    # ahead waited that hour for a claim (judged by the store's), and its message's time,
    # which recover and the lists go by, was an hour off beside the others'.
    with opened_store("postgres", tmp_path) as engine:
        skew_clock(monkeypatch, outbox, by)
        with engine.connect() as conn:
            before = outbox.store_clock(conn)
        published(engine, 1)
        with engine.connect() as conn:
            after = outbox.store_clock(conn)
            (endpoint,) = endpoints.list_endpoints(conn)
            stamped = [
                m.created_at for m in outbox.list_messages(conn, endpoint.account_id, limit=9)
            ]
        assert len(stamped) == 2
        assert all(at is not None and before <= at <= after for at in stamped)
        assert len(Batches(engine, POLICY, 10, ServiceMetrics()).claim()) == 2


@pytest.mark.postgres
def test_an_example_sent_after_a_filter_change_on_a_host_ahead_is_sent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The endpoint's change was stamped by its process's clock, the example's queuing by
    # the store's: changed on a host an hour ahead, the endpoint looked changed after the
    # example was queued to it, and the example, of a type its filter does not take, was
    # ended unsent ("no longer subscribes to") instead of sent.
    with opened_store("postgres", tmp_path) as engine:
        published(engine, 0)
        worker = Batches(engine, POLICY, 10, ServiceMetrics())
        assert len(worker.claim()) == 1  # the test event, out of the way
        skew_clock(monkeypatch, endpoints, dt.timedelta(hours=1))
        url = engine.url.render_as_string(hide_password=False)
        settings = ServiceSettings(database_url=url, allow_private_endpoints=True)
        with write_transaction(engine) as conn:
            (endpoint,) = endpoints.list_endpoints(conn)
            only = endpoints.EndpointChanges(event_types=[NPN_DEACTIVATED])
            changed = management.update_endpoint(conn, settings, None, endpoint.id, only)
            assert changed is not None
        with write_transaction(engine) as conn:
            example = management.send_example(conn, changed, NPN_ACTIVATED)
        assert [c.message_id for c in worker.claim()] == [example]


@pytest.mark.postgres
def test_a_dispatcher_whose_clock_runs_ahead_waits_for_what_is_not_yet_due(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Its wait was the earliest due time (the store's) less its own clock: an hour ahead,
    # a delivery due in a minute looked an hour late, and the dispatcher claimed nothing
    # and looked again at once, two store transactions after another without a pause,
    # until it fell due.
    with opened_store("postgres", tmp_path) as engine:
        published(engine, 0)
        worker = Batches(engine, POLICY, 10, ServiceMetrics())
        assert len(worker.claim()) == 1  # due again when its lease ends, 30 s on
        skew_clock(monkeypatch, dispatcher, dt.timedelta(hours=1))
        idle = cast(dispatcher.Dispatcher, SimpleNamespace(_poll=0.5, _wake=asyncio.Event()))
        started = time.monotonic()
        asyncio.run(dispatcher.Dispatcher._idle(idle, worker.next_due()))
        assert time.monotonic() - started >= 0.4  # the poll, 0.5 s
