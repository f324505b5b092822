"""Several `sync run` processes over one mirror and DBOS system database: a process
killed mid-sync, and never started again under its executor id (a new host name or
port, a container recreated, a process scaled away), has its sync taken back by another.
Real processes on loopback, as in ``test_sync_interrupted``; on SQLite the processes
share one host, as its mirror's file."""

from __future__ import annotations

import datetime as dt
import signal
import socket
from pathlib import Path

import pytest
import sqlalchemy as sa

from producersync.sync.heartbeat import LEASE_BEATS
from producersync.sync.mirror.tables import sync_runs
from tests.conftest import BACKENDS
from tests.support import plain_http
from tests.support.processes import cli
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


def test_a_sync_run_under_a_live_ones_executor_id_exits_2_and_that_one_runs_on(
    kind: str, tmp_path: Path
) -> None:
    """Only the environment could give `sync run` its id, and one started under an id a
    live process held warned and ran the other's syncs again (DBOS's recovery at launch)."""
    with running_harness(kind, tmp_path) as harness:
        held = f"{socket.gethostname()}:{harness.sync.port}"  # the default: host and port
        second = cli(
            *("sync", "run", "--port", str(free_port()), "--executor-id", held),
            env={**harness.sync.env, "PRODUCERSYNC_SYNC_EXECUTOR_LOCK_WAIT_SECONDS": "1"},
            check=False,
            timeout=60,
        )
        assert second.returncode == 2, second.stderr
        assert (
            f"error: executor id {held!r} (--executor-id or PRODUCERSYNC_SYNC_EXECUTOR_ID) is "
            "held by another live sync process (producersync sync on "
        ) in second.stderr
        assert (
            "still after 1 s (PRODUCERSYNC_SYNC_EXECUTOR_LOCK_WAIT_SECONDS): started under "
            "it, this one would run again the workflows that one is running (a sync's pages "
            "fetched and written to the mirror again)"
        ) in second.stderr
        assert plain_http.get(f"{harness.sync.url}/healthz").status_code == 200
