"""Batches held up by hung receivers: each ends with its slowest attempt, and the
dispatcher runs a few at once. While they wait, and sending slots are free, it claims
beside them: another endpoint's fresh event goes out then, not once they have ended. A
receiver that has just hung holds its share of the slots, not all of them."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa

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
from tests.support.receiver import Received, Receiver, Reply, receiver
from tests.support.waiting import eventually

pytestmark = pytest.mark.slow(25)

PAIRS = 5  # batches of 2 (one hung, one fast), 8 slots: the most batches run at once
TIMEOUT = 15.0  # generous: a hung attempt still waits when the fresh event is claimed


@contextmanager
def _hung_and_fast(
    tmp_path: Path, env: dict[str, str], hangs: Callable[[Received], bool] = lambda _got: True
) -> Iterator[tuple[sa.Engine, ServiceSettings, Receiver, Receiver]]:
    """A service process with ``env`` (and a generous timeout) and two receivers: the
    first hangs on each event ``hangs`` picks, until the second has an npn.activated."""
    fresh_arrived = threading.Event()

    def hung(got: Received) -> Reply:
        if hangs(got):
            fresh_arrived.wait(3 * TIMEOUT)
        return Reply()

    def fast(got: Received) -> Reply:
        if got.event["type"] == NPN_ACTIVATED:
            fresh_arrived.set()
        return Reply()

    generous = {
        **FAST,
        "PRODUCERSYNC_WEBHOOK_TIMEOUT_SECONDS": str(TIMEOUT),
        "PRODUCERSYNC_WEBHOOK_CLAIM_LEASE_SECONDS": str(4 * TIMEOUT),
    }
    with (
        migrated_store("sqlite", tmp_path) as url,
        receiver(hung) as slow,
        receiver(fast) as quick,
        service_process(url, tmp_path, env={**generous, **env}),
    ):
        engine = open_store(url)
        settings = ServiceSettings(database_url=url, allow_private_endpoints=True)
        try:
            yield engine, settings, slow, quick
        finally:
            engine.dispose()


def test_batches_held_up_by_hung_receivers_leave_a_fresh_event_unclaimed_no_longer(
    tmp_path: Path,
) -> None:
    # Two deliveries a claim, at most one to an endpoint: made in one transaction,
    # hung, fast, hung, fast..., the test events are claimed as five (hung, fast)
    # batches, the dispatcher's most (8 slots / 2 + 1). Each waited for its hung attempt,
    # with five slots of eight taken, and the fresh event was claimed only once one of
    # them had timed out.
    env = {"PRODUCERSYNC_WEBHOOK_BATCH_SIZE": "2", "PRODUCERSYNC_WEBHOOK_CONCURRENCY": "8"}
    with _hung_and_fast(tmp_path, env) as (engine, settings, slow, quick):
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


def test_a_receiver_that_has_just_hung_leaves_the_others_slots_before_its_first_timeout(
    tmp_path: Path,
) -> None:
    # Not yet known to be slow, its backlog took every slot (4 here) until the first of
    # its attempts timed out, and another endpoint's fresh event waited that long; it
    # holds 2 now (half the process's). Its deliveries waiting for their endpoint's
    # slots left the shared ones free, yet the dispatcher, waiting for a slot to be freed
    # or a batch to end, did not look again until its attempts timed out.
    backlog = 12
    env = {"PRODUCERSYNC_WEBHOOK_CONCURRENCY": "4"}
    activations = _hung_and_fast(tmp_path, env, lambda got: got.event["type"] == NPN_ACTIVATED)
    with activations as (engine, settings, slow, quick):
        with write_transaction(engine) as conn:
            hung_account, fresh_account = (
                accounts.create_account(conn, str(rx.port), sandbox=False).id
                for rx in (slow, quick)
            )
            for account_id, rx in ((hung_account, slow), (fresh_account, quick)):
                management.create_endpoint(conn, settings, account_id, rx.url)
        quick.wait_for(lambda got: len(got) == 1)
        slow.wait_for(lambda got: len(got) == 1)  # its test event, answered
        events = [NpnActivated.create(str(30_000_000 + i)) for i in range(backlog)]
        with write_transaction(engine) as conn:
            publish_events(conn, hung_account, events)
        slow.wait_for(lambda got: len(got) >= 3)  # its first two, hanging
        with write_transaction(engine) as conn:
            publish_events(conn, fresh_account, [NpnActivated.create("12345")])
        quick.wait_for(lambda got: len(got) == 2, timeout=3 * TIMEOUT)
        # It arrived while the hung attempts still waited: each of the backlog answered
        # once, none timed out and sent again.
        eventually(
            lambda: delivery_states(engine) == {"succeeded": backlog + 3},
            timeout=30,
            what=lambda: (delivery_states(engine), len(slow.received)),
        )
        assert len(slow.received) == backlog + 1
