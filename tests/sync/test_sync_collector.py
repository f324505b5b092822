"""When the collector of activations waits, end to end: not at all for an activation
while the mirror has no active NPN (it is fetched by a pass over the whole population,
from the subscriptions list), ``coalesce_seconds`` once it has one, and for
deactivations alone."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from producersync.model.events import NpnDeactivated
from tests.support.sync_harness import Harness, first_npns, running_harness
from tests.support.waiting import eventually

# Far longer than any wait below: a collector that waited it out would fail the test.
COALESCE_SECONDS = "600"


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    sync_env = {"PRODUCERSYNC_COALESCE_SECONDS": COALESCE_SECONDS}
    with running_harness("sqlite", tmp_path, sync_env=sync_env) as h:
        yield h


def test_a_first_subscription_is_fetched_without_waiting_to_coalesce(harness: Harness) -> None:
    # One NPN, so one event: a collector that several of the first events nudged could
    # still be waiting in the queue, started at once, when the later ones come.
    npns = first_npns(harness, 5)
    harness.client.subscriptions.wait(harness.client.subscriptions.add(npns[:1]))
    eventually(lambda: harness.status()["activeNpns"] == 1, what=harness.status)
    harness.wait_equal()
    assert harness.status()["lastRun"]["kind"] == "population"
    eventually(lambda: harness.status()["receipts"]["unprocessed"] == 0, what=harness.status)
    received = harness.status()["receipts"]["total"]

    # Now the mirror has a population: the next activations wait to be coalesced.
    harness.client.subscriptions.wait(harness.client.subscriptions.add(npns[1:]))
    eventually(lambda: harness.status()["receipts"]["total"] >= received + 4, what=harness.status)
    time.sleep(2)  # a collector started at once would have made them active by now
    status = harness.status()
    assert status["activeNpns"] == 1
    assert status["receipts"]["unprocessed"] == 4


def test_deactivations_wait_to_be_coalesced_even_on_an_empty_mirror(harness: Harness) -> None:
    # A collector started at once for each would keep the process busy for nothing.
    unprocessed = harness.status()["receipts"]["unprocessed"]
    response = harness.deliver(NpnDeactivated.create("99999999"))
    assert response.status_code == 200
    time.sleep(2)  # a collector started at once would have processed it by now
    assert harness.status()["receipts"]["unprocessed"] == unprocessed + 1
