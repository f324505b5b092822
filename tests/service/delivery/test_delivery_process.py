"""Webhook delivery end to end: a real service process (DBOS dispatcher on) sends to a real
receiver on loopback, on a retry schedule compressed to fractions of a second. A SIGKILL
mid fan-out: test_delivery_sigkill.py; the daily run's schedule: test_delivery_schedule.py
(files of their own, which other workers run beside this one)."""

from __future__ import annotations

import datetime as dt
import itertools
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
import sqlalchemy as sa
import standardwebhooks
from svix.webhooks import Webhook as SvixWebhook

from producersync.model.events import (
    NPN_ACTIVATED,
    UPDATES_AVAILABLE,
    NpnActivated,
    UpdatesAvailable,
)
from producersync.service.delivery import management
from producersync.service.delivery.publish import publish_events, publish_to_every_account
from producersync.service.settings import ServiceSettings
from producersync.service.store import accounts, outbox
from producersync.service.store import endpoints as store_endpoints
from producersync.service.store.engine import write_transaction
from producersync.service.store.tables import entities, webhook_deliveries
from producersync.webhooks import verify
from tests.conftest import BACKENDS
from tests.support import plain_http
from tests.support.delivery import loaded_store, utc_today
from tests.support.metrics import scrape
from tests.support.processes import FAST, SCHEDULE, ServiceProcess, service_process
from tests.support.receiver import Received, Receiver, Reply, receiver
from tests.support.service import wait_for_job
from tests.support.waiting import eventually

pytestmark = pytest.mark.slow(80)


@dataclass
class Harness:
    url: str
    engine: sa.Engine
    service: ServiceProcess
    settings: ServiceSettings

    def account(self) -> accounts.Account:
        with write_transaction(self.engine) as conn:
            return accounts.create_account(conn, f"acct-{time.time_ns()}", sandbox=False)

    def endpoint(self, account_id: int, url: str, **kw: object) -> tuple[str, str]:
        with write_transaction(self.engine) as conn:
            endpoint, secret = management.create_endpoint(
                conn,
                self.settings,
                account_id,
                url,
                **kw,  # type: ignore[arg-type]
            )
        return endpoint.id, secret

    def attempts(self, endpoint_id: str) -> list[outbox.Attempt]:
        with self.engine.connect() as conn:
            return list(reversed(outbox.list_attempts(conn, endpoint_id=endpoint_id, limit=1000)))

    def get_endpoint(self, endpoint_id: str) -> store_endpoints.Endpoint:
        with self.engine.connect() as conn:
            found = store_endpoints.get_endpoint(conn, None, endpoint_id)
        assert found is not None
        return found

    def deliveries(self, endpoint_id: str) -> list[outbox.Delivery]:
        with self.engine.connect() as conn:
            return outbox.list_deliveries(conn, endpoint_id=endpoint_id)


@pytest.fixture(scope="module", params=BACKENDS)
def harness(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Harness]:
    directory = tmp_path_factory.mktemp(f"delivery-{request.param}")
    with loaded_store(request.param, directory) as (url, engine):
        settings = ServiceSettings(database_url=url, allow_private_endpoints=True)
        with service_process(url, directory, env=FAST) as svc:
            yield Harness(url, engine, svc, settings)


def _events(rx: Receiver, kind: str) -> list[Received]:
    return [r for r in rx.received if r.event["type"] == kind]


def test_every_event_reaches_the_endpoint_and_verifies_with_two_libraries(
    harness: Harness,
) -> None:
    account = harness.account()
    account_id = account.id
    with write_transaction(harness.engine) as conn:
        client_id, client_secret = accounts.create_client(
            conn, account, "producersync.read producersync.write"
        )
    with receiver() as rx:
        _, secret = harness.endpoint(account_id, rx.url)
        rx.wait_for(lambda got: len(got) == 1)
        assert rx.received[0].event["type"] == "webhook.test"

        token = plain_http.post(
            f"{harness.service.base_url}/oauth2/token",
            data={
                "grant_type": "client_credentials",
                "client_id": client_id,
                "client_secret": client_secret,
            },
        ).json()["access_token"]
        with harness.engine.connect() as conn:
            npns = list(conn.execute(sa.select(entities.c.npn).limit(3)).scalars())
        with plain_http.client(
            base_url=harness.service.base_url, headers={"authorization": f"Bearer {token}"}
        ) as http:
            job = http.put("/v1/accounts/subscriptions", json=npns).json()["job_id"]
            wait_for_job(http, job)
            job = http.request("DELETE", "/v1/accounts/subscriptions", json=npns[:1]).json()
            wait_for_job(http, job["job_id"])
        with write_transaction(harness.engine) as conn:
            publish_to_every_account(conn, lambda: UpdatesAvailable.create(utc_today()))
        rx.wait_for(lambda got: len(got) == 1 + 3 + 1 + 1)

    activated = _events(rx, "producersync.npn.activated")
    assert sorted(r.event["data"]["npn"] for r in activated) == sorted(npns)  # type: ignore[index]
    assert all("activatedAt" in r.event["data"] for r in activated)  # type: ignore[operator]
    deactivated = _events(rx, "producersync.npn.deactivated")
    assert [r.event["data"]["npn"] for r in deactivated] == npns[:1]  # type: ignore[index]
    (updates,) = _events(rx, "producersync.updates_available")
    assert updates.event["data"] == {"runDate": utc_today().isoformat()}
    for got in rx.received:
        assert got.headers["webhook-id"] == got.event["id"]
        assert standardwebhooks.Webhook(secret).verify(got.body, got.headers) == got.event
        SvixWebhook(secret).verify(got.body, got.headers)
    metrics = scrape(harness.service.base_url)
    succeeded = ("producersync_webhook_attempts_total", frozenset({("outcome", "succeeded")}))
    assert metrics[succeeded] >= len(rx.received)


_DISPATCHER = "producersync.service.delivery.dispatcher"


def _logged(harness: Harness, text: str) -> list[str]:
    """The service's log lines holding ``text``."""
    return [line for line in harness.service.log.read_text().splitlines() if text in line]


def _failing(times: int, reply: Reply) -> Callable[[Received], Reply]:
    """Answer ``reply`` to the first ``times`` requests, then 200."""
    count = itertools.count()
    return lambda _got: reply if next(count) < times else Reply()


def test_a_receiver_that_is_down_gets_the_event_when_it_is_back(harness: Harness) -> None:
    account_id = harness.account().id
    with receiver(started=False) as rx:
        endpoint_id, _ = harness.endpoint(account_id, rx.url)
        eventually(lambda: len(harness.attempts(endpoint_id)) >= 2)
        rx.start()
        rx.wait_for(lambda got: len(got) == 1)
    eventually(lambda: harness.deliveries(endpoint_id)[0].state == "succeeded")
    attempts = harness.attempts(endpoint_id)
    assert [a.succeeded for a in attempts] == [False] * (len(attempts) - 1) + [True]
    assert all(a.status_code == 0 and a.error for a in attempts[:-1])
    assert {a.message_id for a in attempts} == {rx.received[0].headers["webhook-id"]}
    assert [a.attempt_number for a in attempts] == list(range(1, len(attempts) + 1))


@pytest.mark.parametrize(
    ("reply", "expect_status"),
    [
        (Reply(status=500, body=b"boom"), 500),
        (Reply(delay=1.5), 0),  # slower than the 1 s timeout
        (Reply(status=302, headers={"location": "http://127.0.0.1:1/"}), 302),  # not followed
    ],
    ids=["500", "slow", "redirect"],
)
def test_a_failed_attempt_is_recorded_and_retried(
    harness: Harness, reply: Reply, expect_status: int
) -> None:
    account_id = harness.account().id
    with receiver(_failing(1, reply)) as rx:
        endpoint_id, _ = harness.endpoint(account_id, rx.url)
        rx.wait_for(lambda got: len(got) == 2)
        eventually(lambda: len(harness.attempts(endpoint_id)) == 2)
    first, second = harness.attempts(endpoint_id)
    assert (first.succeeded, first.status_code) == (False, expect_status)
    assert second.succeeded and second.status_code == 200
    assert rx.received[0].headers["webhook-id"] == rx.received[1].headers["webhook-id"]
    assert first.next_attempt_at is not None
    if expect_status == 500:
        assert first.response == "boom"
    if expect_status == 0:
        assert first.error is not None and "no response within" in first.error
    if expect_status == 302:
        assert first.error == "redirects are not followed (location: http://127.0.0.1:1/)"
    timed = scrape(harness.service.base_url)
    failed = (
        "producersync_webhook_attempt_duration_seconds_count",
        frozenset({("outcome", "failed")}),
    )
    assert timed[failed] >= 1
    # The receiver's answer is its own business: no line in our log for it.
    assert _logged(harness, f"endpoint {endpoint_id}") == []


def test_retry_after_is_honoured(harness: Harness) -> None:
    account_id = harness.account().id
    with receiver(_failing(1, Reply(status=429, headers={"retry-after": "2"}))) as rx:
        harness.endpoint(account_id, rx.url)
        rx.wait_for(lambda got: len(got) == 2)
    waited = rx.received[1].at - rx.received[0].at
    assert waited >= 1.9  # not the 0.3 s of the schedule


def test_410_gone_disables_the_endpoint(harness: Harness) -> None:
    account_id = harness.account().id
    with receiver(lambda _got: Reply(status=410)) as rx:
        endpoint_id, _ = harness.endpoint(account_id, rx.url)
        eventually(lambda: not harness.get_endpoint(endpoint_id).enabled)
        with write_transaction(harness.engine) as conn:
            publish_events(conn, account_id, [NpnActivated.create("15645555")])
        time.sleep(1.0)
    assert len(rx.received) == 1
    assert harness.get_endpoint(endpoint_id).disabled_reason == "the endpoint answered 410 Gone"
    # The operator is told once, at WARNING, what happened and how to undo it.
    told = _logged(harness, f"endpoint {endpoint_id}")
    assert len(told) == 1, told
    assert f"WARNING {_DISPATCHER}: endpoint {endpoint_id} disabled: the endpoint" in told[0]
    assert f"producersync admin endpoint enable {endpoint_id}" in told[0]
    # Not retried, and a disabled endpoint is not sent what is published after.
    assert [d.state for d in harness.deliveries(endpoint_id)] == ["failed"]


def test_a_retry_of_a_type_the_endpoint_unsubscribed_from_is_not_sent(
    harness: Harness,
) -> None:
    account_id = harness.account().id
    # The activation's first attempt is told to wait an hour (the Retry-After cap).
    later = Reply(status=429, headers={"retry-after": "3600"})
    with receiver(lambda got: later if got.event["type"] == NPN_ACTIVATED else Reply()) as rx:
        endpoint_id, _ = harness.endpoint(account_id, rx.url)
        with write_transaction(harness.engine) as conn:
            publish_events(conn, account_id, [NpnActivated.create("15645555")])
        eventually(lambda: len(harness.attempts(endpoint_id)) == 2)
        with write_transaction(harness.engine) as conn:
            _unsubscribe_from_activations(harness, conn, endpoint_id)
            # The retry falls due now rather than in an hour.
            d = webhook_deliveries
            conn.execute(
                d.update()
                .where(d.c.endpoint_id == endpoint_id, d.c.state == "pending")
                .values(next_attempt_at=dt.datetime.now(dt.UTC))
            )
        eventually(lambda: "pending" not in {d.state for d in harness.deliveries(endpoint_id)})
        assert len(_events(rx, NPN_ACTIVATED)) == 1
    assert sorted(d.state for d in harness.deliveries(endpoint_id)) == ["failed", "succeeded"]
    ended = harness.attempts(endpoint_id)[-1]
    assert (ended.event_type, ended.attempt_number) == (NPN_ACTIVATED, 2)
    assert (ended.succeeded, ended.status_code, ended.next_attempt_at) == (False, 0, None)
    assert ended.error == f"{outbox.UNSUBSCRIBED} {NPN_ACTIVATED}"
    # Not made, it is no failure of the receiver's: of the two attempts made (the test
    # event's and the activation's first), one succeeded, as the portal's rate says.
    with harness.engine.connect() as conn:
        since = ended.attempted_at - dt.timedelta(days=1)
        assert outbox.attempt_stats(conn, [endpoint_id], since) == {endpoint_id: (2, 1)}
    assert not ended.sent


def _unsubscribe_from_activations(harness: Harness, conn: sa.Connection, endpoint_id: str) -> None:
    narrowed = store_endpoints.EndpointChanges(event_types=[UPDATES_AVAILABLE])
    management.update_endpoint(conn, harness.settings, None, endpoint_id, narrowed)


def test_a_resend_on_the_retry_schedule_is_sent_whatever_the_filter(harness: Harness) -> None:
    account_id = harness.account().id
    # The activation's first attempt is told to wait an hour; the Resend is answered 200.
    later = _failing(1, Reply(status=429, headers={"retry-after": "3600"}))
    with receiver(lambda got: later(got) if got.event["type"] == NPN_ACTIVATED else Reply()) as rx:
        endpoint_id, _ = harness.endpoint(account_id, rx.url)
        with write_transaction(harness.engine) as conn:
            publish_events(conn, account_id, [NpnActivated.create("15645556")])
        eventually(lambda: len(harness.attempts(endpoint_id)) == 2)
        message_id = _events(rx, NPN_ACTIVATED)[0].headers["webhook-id"]
        with write_transaction(harness.engine) as conn:
            _unsubscribe_from_activations(harness, conn, endpoint_id)
            endpoint = store_endpoints.get_endpoint(conn, account_id, endpoint_id)
            assert endpoint is not None
            assert management.replay(conn, endpoint, message_id) is not None
        rx.wait_for(lambda got: len(_events(rx, NPN_ACTIVATED)) == 2)
    eventually(lambda: [d.state for d in harness.deliveries(endpoint_id)] == ["succeeded"] * 2)
    resent = harness.attempts(endpoint_id)[-1]
    assert (resent.event_type, resent.attempt_number) == (NPN_ACTIVATED, 2)
    assert (resent.trigger, resent.sent, resent.succeeded) == ("manual", True, True)


def test_an_example_of_a_type_outside_the_filter_is_retried(harness: Harness) -> None:
    account_id = harness.account().id
    first = _failing(1, Reply(status=500))
    with receiver(lambda got: first(got) if got.event["type"] == NPN_ACTIVATED else Reply()) as rx:
        endpoint_id, _ = harness.endpoint(account_id, rx.url, event_types=[UPDATES_AVAILABLE])
        with write_transaction(harness.engine) as conn:
            management.send_example(conn, harness.get_endpoint(endpoint_id), NPN_ACTIVATED)
        rx.wait_for(lambda got: len(_events(rx, NPN_ACTIVATED)) == 2)
    eventually(lambda: [d.state for d in harness.deliveries(endpoint_id)] == ["succeeded"] * 2)


def test_exhausted_deliveries_fail_and_can_be_recovered(harness: Harness) -> None:
    account_id = harness.account().id
    healthy = False
    with receiver(lambda _got: Reply() if healthy else Reply(status=503)) as rx:
        endpoint_id, _ = harness.endpoint(account_id, rx.url)
        eventually(lambda: harness.deliveries(endpoint_id)[0].state == "failed")
        assert len(rx.received) == 1 + len(SCHEDULE)
        # The dispatcher tells it once the failure is committed, which the test may see first.
        eventually(lambda: bool(_logged(harness, f"endpoint {endpoint_id}")))
        told = _logged(harness, f"endpoint {endpoint_id}")
        message_id = rx.received[0].headers["webhook-id"]
        assert told == [
            told[0].split(" WARNING ")[0] + f" WARNING {_DISPATCHER}: endpoint {endpoint_id}: 1 "
            f"deliveries given up after their last retry (events {message_id}); to send them "
            f"again: producersync admin endpoint recover {endpoint_id} --since TIME"
        ]
        healthy = True
        with write_transaction(harness.engine) as conn:
            endpoint = store_endpoints.get_endpoint(conn, account_id, endpoint_id)
            assert endpoint is not None
            since = endpoint.created_at - dt.timedelta(minutes=1)
            assert management.recover(conn, endpoint, since) == 1
        rx.wait_for(lambda got: len(got) == 2 + len(SCHEDULE))
    eventually(lambda: harness.deliveries(endpoint_id)[0].state == "succeeded")
    last = harness.attempts(endpoint_id)[-1]
    assert (last.trigger, last.succeeded) == ("manual", True)


def test_a_rotated_secret_signs_beside_the_new_one(harness: Harness) -> None:
    account_id = harness.account().id
    with receiver() as rx:
        endpoint_id, old = harness.endpoint(account_id, rx.url)
        rx.wait_for(lambda got: len(got) == 1)
        with write_transaction(harness.engine) as conn:
            new = management.rotate_secret(conn, harness.settings, endpoint_id)
            publish_events(conn, account_id, [NpnActivated.create("15645555")])
        rx.wait_for(lambda got: len(got) == 2)
    after = rx.received[1]
    assert len(after.headers["webhook-signature"].split()) == 2
    for secret in (old, new):
        standardwebhooks.Webhook(secret).verify(after.body, after.headers)
        SvixWebhook(secret).verify(after.body, after.headers)
        assert verify(after.body, after.headers, secret).id == after.headers["webhook-id"]


def test_the_endpoint_filter_chooses_what_it_gets(harness: Harness) -> None:
    account_id = harness.account().id
    with receiver() as only_updates, receiver() as everything:
        harness.endpoint(
            account_id, only_updates.url, event_types=["producersync.updates_available"]
        )
        harness.endpoint(account_id, everything.url)
        with write_transaction(harness.engine) as conn:
            publish_events(
                conn,
                account_id,
                [NpnActivated.create("15645555"), UpdatesAvailable.create(utc_today())],
            )
        everything.wait_for(lambda got: len(got) == 3)
        only_updates.wait_for(lambda got: len(got) == 2)
        time.sleep(0.3)
    # Concurrent attempts: arrival order is not guaranteed.
    assert sorted(str(r.event["type"]) for r in only_updates.received) == [
        "producersync.updates_available",
        "webhook.test",
    ]
    # One event is one webhook-id, whichever endpoint it reaches.
    (narrow,) = _events(only_updates, "producersync.updates_available")
    (wide,) = _events(everything, "producersync.updates_available")
    assert narrow.headers["webhook-id"] == wide.headers["webhook-id"] == wide.event["id"]


def test_an_endpoint_rate_limit_paces_attempts_without_spending_them(harness: Harness) -> None:
    account_id = harness.account().id
    events = [NpnActivated.create(str(20_000_000 + i)) for i in range(14)]
    with receiver() as rx:
        endpoint_id, _ = harness.endpoint(account_id, rx.url, rate_limit_per_second=5)
        with write_transaction(harness.engine) as conn:
            publish_events(conn, account_id, events)
        rx.wait_for(lambda got: len(got) == 15)
        # An attempt is recorded once its answer is back: the receiver may have the 15th
        # before the worker has written the last few (a run saw 10 of 15).
        eventually(lambda: len(harness.attempts(endpoint_id)) >= 15)
    attempts = harness.attempts(endpoint_id)
    assert len(attempts) == 15
    assert all(a.succeeded and a.attempt_number == 1 for a in attempts)
    # About when the limiter let each attempt go (arrival times at the receiver are less
    # so: the network and a loaded machine can bunch them). An attempt's time is read
    # after the limiter counted it, and a busy event loop can put a few hundred ms between
    # the two (a CI run saw six in one second). Unpaced, the 15 would go out within a
    # fraction of a second: half-second windows of at most 5 and a 1.5-s span tell them
    # apart from a pace of 5 per second, whatever the machine's load.
    times = sorted(a.attempted_at.timestamp() for a in attempts)
    assert all(sum(t <= u < t + 0.5 for u in times) <= 5 for t in times)
    assert times[-1] - times[0] >= 1.5  # 15 sends at 5 per second take at least 2 s


def test_one_endpoints_backlog_to_a_hung_receiver_does_not_hold_up_another_s_event(
    harness: Harness,
) -> None:
    """Claimed oldest due first and whole, a backlog of 400 to a receiver that never
    answers in time filled each claim of 200, and a fresh event to another account's
    endpoint was claimed only once a whole claim of them had timed out (the hung
    receiver had 257 of them by then, SQLite and PostgreSQL alike, and never fewer than
    the 200 of the first claim); a claim takes half a batch at most to one endpoint, and
    reads on past it (8 and 54 by then)."""
    backlog = 400
    hung, healthy = harness.account().id, harness.account().id
    with receiver(lambda _got: Reply(delay=3)) as slow, receiver() as fast:
        slow_id, _ = harness.endpoint(hung, slow.url)
        slow.wait_for(lambda got: len(got) == 1)  # its test event, before the backlog
        events = [NpnActivated.create(str(30_000_000 + i)) for i in range(backlog)]
        with write_transaction(harness.engine) as conn:
            publish_events(conn, hung, events)
        # Created after the backlog was queued: its test event is due after all of it.
        harness.endpoint(healthy, fast.url)
        fast.wait_for(lambda got: len(got) == 1, timeout=60)
        reached_by_then = len(slow.received) - 1
        with write_transaction(harness.engine) as conn:
            store_endpoints.delete_endpoint(conn, None, slow_id)  # its retries end here
    # Before a first claim's whole share had been sent: the event went in that claim.
    assert reached_by_then < backlog // 2, reached_by_then
