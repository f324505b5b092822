"""The heartbeat of a process's sync runs: a run it attends is shown running past its
first lease, one it no longer attends is shown interrupted once the lease runs out, and
a run finished elsewhere is let go. SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from producersync.sync import mirror
from producersync.sync.heartbeat import LEASE_BEATS, Heartbeat
from producersync.sync.mirror import write_transaction
from producersync.sync.mirror.tables import sync_runs
from tests.support.waiting import eventually
from tests.sync.mirror_data import BACKENDS, fresh_mirror

INTERVAL = 0.1  # a lease of 0.6 s


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    with fresh_mirror(request.param, tmp_path) as engine:
        yield engine


def _status(engine: sa.Engine) -> str:
    with engine.connect() as conn:
        last = mirror.sync_status(conn)["lastRun"]
    assert last is not None
    return str(last["status"])


def _beating() -> set[threading.Thread]:
    """The heartbeat threads alive in this process (other test files' included: a run
    left unfinished on purpose keeps its heartbeat's thread going)."""
    return {t for t in threading.enumerate() if t.name == "run-heartbeat"}


def test_an_attended_run_stays_running_and_is_interrupted_once_let_go(engine: sa.Engine) -> None:
    # Beats 0.5 s apart, a lease of 3 s: a loaded machine (the suite runs four workers on
    # two cores) once delayed a beat past a lease of 0.6 s.
    interval = 5 * INTERVAL
    heartbeat = Heartbeat(engine, interval)
    with write_transaction(engine) as conn:
        run = mirror.start_run(conn, "backfill", lease=heartbeat.lease)
    others = _beating()
    heartbeat.attend(run)
    assert len(_beating() - others) == 1
    # Two leases long: without the beats it would have been shown interrupted.
    deadline = time.monotonic() + 2 * interval * LEASE_BEATS
    while time.monotonic() < deadline:
        assert _status(engine) == "running"
        time.sleep(interval / 2)
    heartbeat.release(run)  # as a process that dies stops beating
    eventually(lambda: _status(engine) == "interrupted")
    eventually(lambda: not _beating() - others)  # nothing attended: its thread ended


@pytest.mark.postgres
def test_beats_go_on_after_one_found_no_pooled_connection_free(tmp_path: Path) -> None:
    """The mirror's pool full past its timeout (a backfill's pulls holding every
    connection) is ``sa.exc.TimeoutError``, no DBAPIError: it ended the heartbeat's
    thread, and every run of the process was shown interrupted from then on."""
    with fresh_mirror("postgres", tmp_path) as engine:
        one = sa.create_engine(engine.url, pool_size=1, max_overflow=0, pool_timeout=0.05)
        heartbeat = Heartbeat(one, INTERVAL)
        with write_transaction(engine) as conn:
            run = mirror.start_run(conn, "backfill", lease=heartbeat.lease)
        try:
            with one.connect():  # the pool's one connection, held past a lease
                heartbeat.attend(run)
                eventually(lambda: _status(engine) == "interrupted")
            eventually(lambda: _status(engine) == "running", timeout=10)
        finally:
            heartbeat.release(run)
            one.dispose()


def test_a_run_taken_back_after_its_lease_ran_out_is_shown_running_at_once(
    engine: sa.Engine,
) -> None:
    """A workflow resumed after its process was killed: its run was interrupted, and is
    going again as soon as the new process attends it."""
    heartbeat = Heartbeat(engine, 60)  # its beats are an hour apart: only the first counts
    with write_transaction(engine) as conn:
        run = mirror.start_run(conn, "updates", lease=Heartbeat(engine, INTERVAL).lease)
    eventually(lambda: _status(engine) == "interrupted")
    heartbeat.attend(run)
    eventually(lambda: _status(engine) == "running", timeout=5)
    heartbeat.release(run)


def test_a_run_finished_by_another_is_let_go(engine: sa.Engine) -> None:
    heartbeat = Heartbeat(engine, INTERVAL)
    with write_transaction(engine) as conn:
        run = mirror.start_run(conn, "updates", lease=heartbeat.lease)
    heartbeat.attend(run)
    with write_transaction(engine) as conn:
        mirror.finish_run(conn, run, {})
    eventually(lambda: heartbeat.attended() == set())
    assert _status(engine) == "succeeded"


def test_a_run_attended_with_the_lease_it_started_with_is_beaten_an_interval_later(
    engine: sa.Engine,
) -> None:
    """A run this process has just started holds a fresh lease: no beat at once (a day's
    sync is over before the first one is due), but it is beaten once one is."""
    heartbeat = Heartbeat(engine, 60)
    with write_transaction(engine) as conn:
        run = mirror.start_run(conn, "updates", lease=heartbeat.lease)
    started = _seen_alive(engine, run)
    others = _beating()
    heartbeat.attend(run, leased=True)
    time.sleep(1)  # ample for a beat at once to land, as every attended run had
    assert _seen_alive(engine, run) == started
    heartbeat.release(run)
    eventually(lambda: not _beating() - others)  # released: it ends without a beat
    assert _seen_alive(engine, run) == started
    soon = Heartbeat(engine, INTERVAL)
    soon.attend(run, leased=True)
    eventually(lambda: _seen_alive(engine, run) != started)  # an interval later
    soon.release(run)


def _seen_alive(engine: sa.Engine, run: int) -> object:
    with engine.connect() as conn:
        return conn.execute(
            sa.select(sync_runs.c.heartbeat_at).where(sync_runs.c.id == run)
        ).scalar_one()


def test_a_heartbeat_needs_an_interval_above_zero(engine: sa.Engine) -> None:
    with pytest.raises(ValueError, match="a heartbeat interval of 0 s: give more than 0"):
        Heartbeat(engine, 0)
