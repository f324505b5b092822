"""Twenty SIGKILLs of the sync process, each at a random moment of a sync in progress,
each restart on the same port (the same DBOS executor id, so the killed sync resumes from
its checkpoint): the mirror ends equal to the source, with no row twice and no change
recorded twice, and every run finished. Real processes, as in ``test_sync_process``."""

from __future__ import annotations

import datetime as dt
import random
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa

from producersync.sync import mirror
from producersync.sync.mirror.tables import MIRRORED, changes, population, sync_runs
from tests.support.forked import Started
from tests.support.processes import ServiceProcess, go, started_ahead, wait_healthy
from tests.support.sync_harness import SERVICE_ENV, TODAY, Harness, first_npns, running_harness
from tests.support.waiting import eventually

KILLS = 20
SEED = 21
# Deliveries to a sync process that is down are retried for half a minute, not 2 s.
SERVICE = {**SERVICE_ENV, "PRODUCERSYNC_WEBHOOK_RETRY_SCHEDULE": "[0.5, 1, 2, 4, 8, 8, 8]"}


def _syncing(harness: Harness) -> bool:
    last = harness.status()["lastRun"]
    return last is not None and last["status"] == "running"


def _settled(harness: Harness, npns: int) -> bool:
    """The activations are all fetched: every NPN's entity is mirrored and no run is open."""
    status = harness.status()
    last = status["lastRun"]
    return (
        status["counts"]["entities"] == npns
        and status["receipts"]["unprocessed"] == 0
        and last is not None
        and last["status"] == "succeeded"
    )


@contextmanager
def _kills(harness: Harness) -> Iterator[Callable[[], None]]:
    """A SIGKILL of the sync process and its restart on the same port. The next process
    is ``started_ahead`` while the one before runs: a restart costs its start-up, not
    its imports too."""
    sync, processes = harness.sync, list[Started]()

    def ahead() -> None:
        processes.append(
            started_ahead(["sync", "run", "--port", str(sync.port)], sync.env, sync.log)
        )

    def kill() -> None:
        sync.stop(signal.SIGKILL)
        sync.process = go(processes.pop())
        ahead()
        wait_healthy(ServiceProcess(sync.process, sync.url, sync.log))

    ahead()
    try:
        yield kill
    finally:
        for process in processes:
            process.kill()
            process.wait()


def _duplicates(harness: Harness) -> list[str]:
    """Rows the mirror holds twice: a record, an NPN, or one change in one run."""
    found = []
    with harness.mirror.connect() as conn:
        for resource in mirror.RESOURCES:
            table = MIRRORED[resource].table
            count = sa.select(sa.func.count(), sa.func.count(sa.distinct(table.c.id)))
            total, distinct = conn.execute(count).one()
            if total != distinct:
                found.append(f"{resource}: {total} rows, {distinct} ids")
        total, distinct = conn.execute(
            sa.select(sa.func.count(), sa.func.count(sa.distinct(population.c.npn)))
        ).one()
        if total != distinct:
            found.append(f"population: {total} rows, {distinct} NPNs")
        key = (changes.c.run_id, changes.c.resource, changes.c.record_id, changes.c.action)
        twice = conn.execute(
            sa.select(*key).group_by(*key).having(sa.func.count() > 1).limit(5)
        ).all()
        found += [f"change recorded twice: {tuple(row)}" for row in twice]
    return found


@pytest.mark.slow(90)
@pytest.mark.timeout(900)  # twenty restarts: minutes on a loaded 2-core machine
def test_twenty_sigkills_mid_sync_leave_the_mirror_equal_without_duplicates(
    tmp_path: Path,
) -> None:
    rng = random.Random(SEED)
    with running_harness("sqlite", tmp_path, SERVICE) as harness:
        npns = first_npns(harness, 40)
        harness.subscribe(npns)
        # The activation's fetch takes minutes on a loaded 2-core machine; the kills are
        # meant for the daily syncs.
        eventually(lambda: _settled(harness, len(npns)), timeout=300, what=harness.status)
        # From yesterday on, so that a restart's catch-up finds nothing to do: no sync
        # but the day's, and no NIPR change while a sync runs (a change would be a second
        # change row for a record in one run, which is what a replayed page must not be).
        day, kills = TODAY - dt.timedelta(days=1), 0
        harness.nipr_run(day, churn=0.9)

        def day_synced() -> bool:
            with harness.mirror.connect() as conn:
                done = sa.select(sync_runs.c.id).where(
                    sync_runs.c.kind == "updates",
                    sync_runs.c.run_date == day,
                    sync_runs.c.finished_at.is_not(None),
                )
                return conn.execute(done).first() is not None

        with _kills(harness) as kill:
            while kills < KILLS:
                if day_synced() and not _syncing(harness):
                    day += dt.timedelta(days=1)
                    harness.nipr_run(day, churn=0.9)
                eventually(
                    lambda: _syncing(harness) or day_synced(), timeout=180, what=harness.status
                )
                time.sleep(rng.uniform(0, 1.5))
                if _syncing(harness):
                    kill()
                    kills += 1
        eventually(day_synced, timeout=120, what=harness.status)
        syncs = (day - TODAY).days + 2
        print(f"{kills} SIGKILLs mid-sync over {syncs} daily syncs: {harness.status()['counts']}")
        harness.wait_equal()
        served = {r: len(harness.served(r, harness.population())) for r in mirror.RESOURCES}
        assert {r: len(harness.mirrored(r)) for r in mirror.RESOURCES} == served
        assert not _duplicates(harness)
        assert harness.status()["failedRunsTotal"] == 0
        # Every killed run was taken back and finished by its restart, none started twice.
        with harness.mirror.connect() as conn:
            unfinished = sa.select(sync_runs).where(sync_runs.c.finished_at.is_(None))
            assert conn.execute(unfinished).all() == []
