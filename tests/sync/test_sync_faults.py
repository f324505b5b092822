"""The sync service against an unreliable upstream, and deliveries out of order.

Real processes on loopback, as in ``test_sync_process``: the service runs with chaos on
(a share of API requests answered 500 or 429, or their connection dropped, every
response late), and the mirror must still end equal to what the API serves.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from producersync.client import Client, ProducerSyncError
from producersync.model.events import Event, NpnActivated, NpnDeactivated, UpdatesAvailable
from producersync.service.store import accounts
from producersync.service.store.engine import write_transaction
from producersync.sync.mirror.tables import population
from tests.support.sync_harness import (
    RATE,
    SERVICE_ENV,
    TODAY,
    Harness,
    first_npns,
    running_harness,
)
from tests.support.waiting import eventually

CHAOS = {
    **SERVICE_ENV,
    "PRODUCERSYNC_CHAOS_FAULT_RATE": "0.15",
    "PRODUCERSYNC_CHAOS_LATENCY_MS": "20",
    "PRODUCERSYNC_CHAOS_SEED": "11",
}


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    with running_harness("sqlite", tmp_path_factory.mktemp("faults"), CHAOS) as h:
        yield h


def _deliver(harness: Harness, event: Event) -> None:
    response = harness.deliver(event)
    assert response.status_code == 200, response.text


def _active(harness: Harness, npn: str) -> bool | None:
    with harness.mirror.connect() as conn:
        query = sa.select(population.c.active).where(population.c.npn == npn)
        return conn.execute(query).scalar_one_or_none()


def test_the_upstream_does_inject_faults(harness: Harness) -> None:
    """The premise of the others: without retries, some requests fail."""
    with write_transaction(harness.engine) as conn:
        account = accounts.create_account(conn, "probe", sandbox=False)
        probe = accounts.create_client(conn, account, "producersync.read producersync.write")
    failed = 0
    with Client(*probe, base_url=harness.service_url, max_retries=0, rate_limit=RATE) as client:
        for _ in range(40):
            try:
                client.request("GET", "/v2/entities", raw=True)
            except ProducerSyncError:
                failed += 1
    assert 0 < failed < 40


def test_the_mirror_ends_equal_despite_upstream_faults(harness: Harness) -> None:
    npns = first_npns(harness, 20)
    harness.client.subscriptions.wait(harness.client.subscriptions.add(npns))
    eventually(lambda: harness.status()["activeNpns"] == len(npns), what=harness.status)
    harness.wait_equal()
    day = TODAY - dt.timedelta(days=3)
    harness.nipr_run(day)
    eventually(
        lambda: harness.status()["lastSyncedRunDate"] == day.isoformat(),
        timeout=60,
        what=harness.status,
    )
    harness.wait_equal()


def test_a_deactivation_delivered_before_its_activation_leaves_the_npn_inactive(
    harness: Harness,
) -> None:
    npn = "99999990"  # outside the universe: its activation fetches nothing
    activated_at = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=2)
    deactivation = NpnDeactivated.create(npn, activated_at + dt.timedelta(minutes=1))
    _deliver(harness, deactivation)
    _deliver(harness, NpnActivated.create(npn, activated_at))
    eventually(lambda: harness.status()["receipts"]["unprocessed"] == 0, what=harness.status)
    assert _active(harness, npn) is False


def test_an_older_updates_available_after_a_newer_moves_nothing_back(harness: Harness) -> None:
    newer = TODAY - dt.timedelta(days=1)
    older = TODAY - dt.timedelta(days=2)
    harness.nipr_run(older)
    harness.nipr_run(newer)
    eventually(
        lambda: harness.status()["lastSyncedRunDate"] == newer.isoformat(),
        timeout=60,
        what=harness.status,
    )
    runs = harness.status()["lastRun"]["id"]
    _deliver(harness, UpdatesAvailable.create(older))  # a late redelivery of the older day
    eventually(lambda: harness.status()["lastRun"]["id"] > runs, what=harness.status)
    eventually(lambda: harness.status()["receipts"]["unprocessed"] == 0, what=harness.status)
    assert harness.status()["lastSyncedRunDate"] == newer.isoformat()
    harness.wait_equal()
