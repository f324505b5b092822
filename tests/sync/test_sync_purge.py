"""Purging deactivated NPNs end to end: a real `producersync sync run` with
PURGE_DEACTIVATED, a day's sync going on while NPNs are removed and one is subscribed
again at once. The mirror ends equal to the API with no record of a removed NPN (`sync
verify` with purging), and each record's change feed is a delete before every insert
but the first. SQLite and PostgreSQL. Whether a page of the day's sync lands between a
purge and its re-subscription here is up to timing: that race is shown deterministically
in ``test_population_writes``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from producersync.sync import mirror
from tests.conftest import BACKENDS
from tests.support.service import removed
from tests.support.sync_harness import TODAY, Harness, first_npns, running_harness
from tests.support.waiting import eventually
from tests.sync.test_mirror import T0


@pytest.fixture(params=BACKENDS)
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    purge = {"PRODUCERSYNC_PURGE_DEACTIVATED": "true"}
    with running_harness(request.param, tmp_path, sync_env=purge) as h:
        yield h


def _settled(harness: Harness, active: int) -> None:
    eventually(lambda: harness.status()["activeNpns"] == active, what=harness.report)
    eventually(lambda: harness.status()["receipts"]["unprocessed"] == 0, what=harness.report)


def test_removed_npns_stay_purged_and_one_subscribed_again_comes_back(harness: Harness) -> None:
    npns = first_npns(harness, 8)
    subscriptions = harness.client.subscriptions
    subscriptions.wait(subscriptions.add(npns))
    _settled(harness, len(npns))
    harness.wait_equal()
    gone, back = npns[:2], npns[2]
    # The day's sync reads pages of every NPN while they are removed and one comes back.
    day = TODAY - dt.timedelta(days=1)
    harness.nipr_run(day, churn=0.9)
    removed(subscriptions, [*gone, back])
    subscriptions.wait(subscriptions.add([back]))
    _settled(harness, len(npns) - len(gone))
    eventually(
        lambda: harness.status()["lastSyncedRunDate"] == day.isoformat(), what=harness.report
    )
    harness.wait_equal()  # with purging: no record of an NPN not subscribed, in any table
    feed: dict[tuple[str, int], list[str]] = {}
    with harness.mirror.connect() as conn:
        for change in mirror.changes_since(conn, T0):
            feed.setdefault((change.resource, change.record_id), []).append(change.action)
    for record, actions in feed.items():
        present = False  # an insert only of what is absent; an update, a delete of what is not
        for action in actions:
            assert present != (action == "insert"), (record, actions)
            present = action != "delete"
    assert any("delete" in actions for actions in feed.values())
