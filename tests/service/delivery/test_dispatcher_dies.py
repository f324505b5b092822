"""A delivering process whose dispatcher dies of an error it does not handle (not the
store's): restarted with a growing pause, the first death logged with its traceback,
``/healthz`` a 503 naming it and since when until it runs again, and its death and
restarts in ``/metrics``. It died unseen: ``/healthz`` answered 200 while nothing was sent.

The fault is a value in the store, as a bug or a hand-edited row leaves one: an endpoint
filter that is no list, which the claim's check of a retried delivery's type trips on."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import sqlalchemy as sa

from producersync.service.delivery import management
from producersync.service.settings import ServiceSettings
from producersync.service.store import accounts
from producersync.service.store.engine import write_transaction
from producersync.service.store.open import open_store
from producersync.service.store.tables import webhook_endpoints
from tests.support import plain_http
from tests.support.databases import migrated_store
from tests.support.delivery import delivery_states
from tests.support.metrics import scrape
from tests.support.processes import FAST, ServiceProcess, service_process
from tests.support.receiver import receiver
from tests.support.waiting import eventually

pytestmark = pytest.mark.slow(25)

_TASK = frozenset({("task", "webhook-dispatcher")})


def _health(service: ServiceProcess) -> tuple[int, dict[str, object]]:
    response = plain_http.get(f"{service.base_url}/healthz", timeout=10)
    return response.status_code, response.json()


def _task_metrics(service: ServiceProcess) -> tuple[float, float]:
    """The dispatcher's up gauge and restart count."""
    samples = scrape(service.base_url)
    return (
        samples[("producersync_background_task_up", _TASK)],
        samples[("producersync_background_task_restarts_total", _TASK)],
    )


@pytest.mark.parametrize("command", ["worker", "run"])
def test_a_dispatcher_that_dies_is_restarted_and_told_by_healthz_until_it_runs(
    tmp_path: Path, command: str
) -> None:
    with (
        migrated_store("sqlite", tmp_path) as url,
        receiver() as rx,
        service_process(url, tmp_path, env=FAST, command=command) as service,
    ):
        engine = open_store(url)
        # The worker says which process answers; service run's answer is the API's.
        role = {"role": "worker"} if command == "worker" else {}
        try:
            assert _task_metrics(service) == (1, 0)
            with write_transaction(engine) as conn:
                account_id = accounts.create_account(conn, "dies", sandbox=False).id
                endpoint, _ = management.create_endpoint(
                    conn,
                    ServiceSettings(database_url=url, allow_private_endpoints=True),
                    account_id,
                    rx.url,
                )
                # In the transaction that queued its test event: the endpoint changed
                # after it, so the claim checks the delivery against the filter.
                conn.execute(
                    sa.update(webhook_endpoints)
                    .where(webhook_endpoints.c.id == endpoint.id)
                    .values(
                        event_types=5,
                        updated_at=dt.datetime.now(dt.UTC) + dt.timedelta(hours=1),
                    )
                )

            # Restarted after 1 s, then 2 s: dead again each time, the same death.
            eventually(lambda: _task_metrics(service)[1] >= 2, timeout=30)
            status, body = _health(service)
            assert status == 503, body
            (failing,) = body.pop("failing")  # type: ignore[misc]
            assert body == {"status": "failing", **role}
            assert failing["component"] == "webhook-dispatcher"
            assert failing["error"] == "TypeError"
            assert failing["restarts"] >= 2
            since = dt.datetime.fromisoformat(failing["since"])
            assert dt.timedelta(0) < dt.datetime.now(dt.UTC) - since < dt.timedelta(minutes=1)
            assert _task_metrics(service)[0] == 0
            log = service.log.read_text()
            assert log.count("webhook-dispatcher stopped on an unexpected error") == 1, log
            assert log.count("Traceback (most recent call last)") == 1, log
            assert "webhook-dispatcher stopped again (TypeError" in log, log
            assert rx.received == []

            with write_transaction(engine) as conn:
                conn.execute(
                    sa.update(webhook_endpoints)
                    .where(webhook_endpoints.c.id == endpoint.id)
                    .values(event_types=None)
                )
            # The next restart's round succeeds: the test event goes out.
            rx.wait_for(lambda got: len(got) == 1, timeout=30)
            eventually(lambda: delivery_states(engine) == {"succeeded": 1})
            # At once after two deaths; after a third, once the run has lasted 30 s (a
            # crash loop's settle time).
            eventually(lambda: _health(service) == (200, {"status": "ok", **role}), timeout=60)
            assert _task_metrics(service)[0] == 1
            assert "webhook-dispatcher runs again" in service.log.read_text()
        finally:
            engine.dispose()
