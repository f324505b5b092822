"""Batches held up by hung receivers: each ends with its slowest attempt, and the
dispatcher runs a few at once. While they wait, and sending slots are free, it claims
beside them: another endpoint's fresh event goes out then, not once they have ended."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from producersync.model.events import NPN_ACTIVATED, NpnActivated
from producersync.service.delivery import management
from producersync.service.delivery.publish import publish_events
from producersync.service.settings import ServiceSettings
from producersync.service.store import accounts
from producersync.service.store.engine import write_transaction
from producersync.service.store.open import open_store
from tests.support.databases import migrated_store
from tests.support.delivery import delivery_states
from tests.support.processes import FAST, service_process
from tests.support.receiver import Received, Reply, receiver
from tests.support.waiting import eventually

pytestmark = pytest.mark.slow(25)

PAIRS = 5  # batches of 2 (one hung, one fast), 8 slots: the most batches run at once
TIMEOUT = 15.0  # generous: a hung attempt still waits when the fresh event is claimed


def test_batches_held_up_by_hung_receivers_leave_a_fresh_event_unclaimed_no_longer(
    tmp_path: Path,
) -> None:
    # Two deliveries a claim, at most one to an endpoint: made in one transaction,
    # hung, fast, hung, fast..., the test events are claimed as five (hung, fast)
    # batches, the dispatcher's most (8 slots / 2 + 1). Each waited for its hung attempt,
    # with five slots of eight taken, and the fresh event was claimed only once one of
    # them had timed out.
    env = {
        **FAST,
        "PRODUCERSYNC_WEBHOOK_BATCH_SIZE": "2",
        "PRODUCERSYNC_WEBHOOK_CONCURRENCY": "8",
        "PRODUCERSYNC_WEBHOOK_TIMEOUT_SECONDS": str(TIMEOUT),
        "PRODUCERSYNC_WEBHOOK_CLAIM_LEASE_SECONDS": str(4 * TIMEOUT),
    }
    fresh_arrived = threading.Event()

    def hung(_got: Received) -> Reply:
        fresh_arrived.wait(3 * TIMEOUT)
        return Reply()

    def fast(got: Received) -> Reply:
        if got.event["type"] == NPN_ACTIVATED:
            fresh_arrived.set()
        return Reply()

    with (
        migrated_store("sqlite", tmp_path) as url,
        receiver(hung) as slow,
        receiver(fast) as quick,
        service_process(url, tmp_path, env=env),
    ):
        engine = open_store(url)
        settings = ServiceSettings(database_url=url, allow_private_endpoints=True)
        with write_transaction(engine) as conn:
            fresh_account = 0
            for n in range(PAIRS):
                for rx in (slow, quick):
                    account_id = accounts.create_account(conn, f"{rx.port}-{n}", sandbox=False).id
                    management.create_endpoint(conn, settings, account_id, rx.url)
                    fresh_account = account_id
        slow.wait_for(lambda got: len(got) == PAIRS)
        quick.wait_for(lambda got: len(got) == PAIRS)
        with write_transaction(engine) as conn:
            publish_events(conn, fresh_account, [NpnActivated.create("12345")])
        quick.wait_for(lambda got: len(got) == PAIRS + 1, timeout=3 * TIMEOUT)
        # It arrived while the hung attempts still waited: answered then, not timed out
        # and sent again.
        eventually(lambda: delivery_states(engine) == {"succeeded": 2 * PAIRS + 1}, timeout=30)
        assert len(slow.received) == PAIRS
        engine.dispose()
