"""Several `sync run` processes over one mirror and DBOS system database: a process
killed mid-sync, and never started again under its executor id (a new host name or
port, a container recreated, a process scaled away), has its sync taken back by another.
Real processes on loopback, as in ``test_sync_interrupted``; on SQLite the processes
share one host, as its mirror's file."""

from __future__ import annotations

import datetime as dt
import signal
from pathlib import Path

import pytest
import sqlalchemy as sa

from producersync.sync.heartbeat import LEASE_BEATS
from producersync.sync.mirror.tables import sync_runs
from tests.conftest import BACKENDS
from tests.support.service import free_port
from tests.support.sync_harness import SyncProcess, running_harness, subscribed_and_synced
from tests.support.waiting import eventually

pytestmark = pytest.mark.slow(80)
SQLITE, POSTGRES = BACKENDS  # pytest's parameters: PostgreSQL's carries its mark

HEARTBEAT = 0.5
LEASE = HEARTBEAT * LEASE_BEATS  # 3 s
BEATING = {"PRODUCERSYNC_RUN_HEARTBEAT_SECONDS": str(HEARTBEAT)}
# The first process syncs at a request a second: its sync lasts until it is killed.
SLOW = {"PRODUCERSYNC_API_RATE_LIMIT_PER_MINUTE": "60"}
FAST = {"PRODUCERSYNC_API_RATE_LIMIT_PER_MINUTE": "1200"}


@pytest.fixture(params=[SQLITE])
def kind(request: pytest.FixtureRequest) -> str:
    """The backend of the store, the mirror and the DBOS system database; PostgreSQL's in
    test_sync_executors_postgres.py, which another worker runs beside this file."""
    return str(request.param)


def test_a_sync_whose_process_died_is_taken_back_by_another_process(
    kind: str, tmp_path: Path
) -> None:
    with running_harness(kind, tmp_path, sync_env={**BEATING, **FAST}) as harness:
        subscribed_and_synced(harness, 30, timeout=120)
        harness.sync.stop()
        harness.sync.env.update(SLOW)
        harness.sync.start()
        before = harness.status()["lastRun"]["id"]
        day = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=2)
        harness.nipr_run(day, churn=0.9)

        def syncing() -> bool:
            last = harness.status()["lastRun"]
            return bool(
                last["id"] > before and last["kind"] == "updates" and not last["finishedAt"]
            )

        eventually(syncing, timeout=60, what=harness.report)
        run_id = harness.status()["lastRun"]["id"]
        # Another process over the same mirror and DBOS system database: its executor id
        # is its own (its port), so DBOS's recovery at its start does not cover the other.
        other = SyncProcess(free_port(), {**harness.sync.env, **FAST}, tmp_path)
        other.start()
        try:
            harness.sync.stop(signal.SIGKILL)
            # Its sync was left pending under its executor id, holding the sync queue's
            # one slot: no sync ran again, in any process, until one with that executor
            # id came back.
            query = sa.select(sync_runs).where(sync_runs.c.id == run_id)

            def finished() -> bool:
                with harness.mirror.connect() as conn:
                    return conn.execute(query).one().finished_at is not None

            eventually(finished, timeout=6 * LEASE + 90, what=other.log.read_text)
            with harness.mirror.connect() as conn:
                assert conn.execute(query).one().error is None
            eventually(lambda: harness.status()["lastSyncedRunDate"] >= day.isoformat())
            harness.wait_equal()
        finally:
            other.stop()
