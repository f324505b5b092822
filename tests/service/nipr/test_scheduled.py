"""The daily NIPR run on a schedule (PRODUCERSYNC_NIPR_SCHEDULE), in real service processes."""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

import pytest
import sqlalchemy as sa
from croniter import croniter
from dbos import DBOSClient, WorkflowSchedule
from tests.conftest import BACKENDS
from tests.support.databases import universe_store
from tests.support.processes import FAST, service_process
from tests.support.waiting import eventually

from producersync.service.durable import system_database_url
from producersync.service.nipr.daily import run_day
from producersync.service.nipr.scheduled import SCHEDULE_NAME, log_schedule
from producersync.service.settings import ServiceSettings
from producersync.service.store import accounts
from producersync.service.store.churn import RUNS_LOCK
from producersync.service.store.engine import write_transaction
from producersync.service.store.open import open_store
from producersync.service.store.tables import nipr_runs, webhook_messages

DAILY = "0 6 * * *"
ENV = {**FAST, "PRODUCERSYNC_NIPR_SCHEDULE": DAILY}


def _set_last_fired(store: str, at: dt.datetime) -> None:
    """Say the schedule last fired at ``at``: a service that was down since then."""
    url = sa.make_url(system_database_url(ServiceSettings(database_url=store)))
    schema = ""
    if url.get_backend_name() == "postgresql":
        url, schema = url.set(drivername="postgresql+psycopg"), "dbos."
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            changed = conn.execute(
                sa.text(
                    f"UPDATE {schema}workflow_schedules SET last_fired_at = :at "
                    "WHERE schedule_name = :name"
                ),
                {"at": at.isoformat(), "name": SCHEDULE_NAME},
            ).rowcount
    finally:
        engine.dispose()
    assert changed == 1


def _firings(after: dt.datetime, until: dt.datetime) -> list[dt.date]:
    """The days of the schedule's firings after ``after``, up to ``until``."""
    times = croniter(DAILY, after)
    days = []
    while (at := times.get_next(dt.datetime)) <= until:
        days.append(at.date())
    return days


def _run_dates(engine: sa.Engine) -> list[dt.date]:
    with engine.connect() as conn:
        query = sa.select(nipr_runs.c.run_date).order_by(nipr_runs.c.run_date)
        return list(conn.execute(query).scalars())


@contextmanager
def _down_for(
    kind: str, tmp_path: Path, days: int
) -> Iterator[tuple[str, sa.Engine, list[dt.date]]]:
    """A store whose service registered the schedule and was then down for ``days``
    days: its URL, an engine on it, and the days of the firings it missed."""
    with universe_store(kind, tmp_path, 40, 11) as url:
        engine = open_store(url)
        try:
            with service_process(url, tmp_path, env=ENV):
                pass  # the schedule is registered
            now = dt.datetime.now(dt.UTC)
            last_fired = croniter(DAILY, now - dt.timedelta(days=days)).get_prev(dt.datetime)
            _set_last_fired(url, last_fired)
            yield url, engine, _firings(last_fired, now)
        finally:
            engine.dispose()


@pytest.mark.parametrize("kind", BACKENDS)
def test_days_missed_while_the_service_was_down_run_when_it_is_back(
    kind: str, tmp_path: Path
) -> None:
    """The service was down at the scheduled time (a deploy, a crash, a weekend): once
    it is back it runs each day it missed, in turn. DBOS fires a schedule only while a
    process runs; the days missed were never run, and never announced."""
    with _down_for(kind, tmp_path, days=3) as (url, engine, missed):
        assert len(missed) >= 3
        with service_process(url, tmp_path, env=ENV):
            eventually(
                lambda: _run_dates(engine) == missed, timeout=90, what=lambda: _run_dates(engine)
            )


def test_a_day_run_by_hand_is_not_run_again_by_the_schedule(tmp_path: Path) -> None:
    """The operator ran the missed day by hand (`nipr run --date`) before the service came
    back: its catch-up changes nothing and publishes nothing, and says so (it said
    nothing, as for a day not run)."""
    with _down_for("sqlite", tmp_path, days=1) as (url, engine, missed):
        (day,) = missed
        with write_transaction(engine) as conn:
            accounts.create_account(conn, "carrier", sandbox=False)
        assert run_day(engine, day).events_published == 1
        announced = _announced(engine)
        told = f"NIPR run {day}: applied already (synthetic, at "
        with service_process(url, tmp_path, env=ENV) as service:
            eventually(lambda: told in service.log.read_text(), timeout=60)
        assert _run_dates(engine) == [day]
        assert _announced(engine) == announced


def _announced(engine: sa.Engine) -> int:
    """The updates_available events published."""
    messages = webhook_messages.c
    query = sa.select(sa.func.count()).where(messages.event_type.like("%updates_available"))
    with engine.connect() as conn:
        return conn.execute(query).scalar_one()


@pytest.mark.parametrize("kind", BACKENDS)
def test_days_missed_before_the_first_firing_run_when_the_service_is_back(
    kind: str, tmp_path: Path
) -> None:
    """The schedule was set, then every process was down at its first time (stopped for
    the weekend the day it was set): DBOS catches up from the last firing only, and
    there was none, so those days never ran."""
    with universe_store(kind, tmp_path, 40, 11) as url, _dbos(url) as dbos:
        engine = open_store(url)
        try:
            with service_process(url, tmp_path, env=ENV):
                pass  # the schedule is set, and has not fired
            schedule = dbos.get_schedule(SCHEDULE_NAME)
            assert schedule is not None
            assert schedule["last_fired_at"] is None
            now = dt.datetime.now(dt.UTC)
            since = now - dt.timedelta(days=2)
            # As set two days ago.
            dbos.apply_schedules(
                [
                    {
                        "schedule_name": SCHEDULE_NAME,
                        "workflow_name": schedule["workflow_name"],
                        "schedule": schedule["schedule"],
                        "context": {**schedule["context"], "since": since.isoformat()},
                        "automatic_backfill": True,
                    }
                ]
            )
            missed = _firings(since, now)
            assert len(missed) == 2
            with service_process(url, tmp_path, env=ENV):
                eventually(
                    lambda: _run_dates(engine) == missed,
                    timeout=90,
                    what=lambda: _run_dates(engine),
                )
        finally:
            engine.dispose()


@pytest.mark.postgres
def test_a_scheduled_run_that_loses_the_store_runs_again_once_it_is_back(
    tmp_path: Path,
) -> None:
    """The store goes away under the scheduled run (its connection is cut): the run
    waits for it and is applied. It failed for good, and its day was never run."""
    with (
        _down_for("postgres", tmp_path, days=1) as (url, engine, missed),
        engine.connect() as holder,
    ):
        # Hold the runs' lock, so that the run caught up at start waits on it,
        # and cut the connection it waits on.
        holder.execute(sa.text("SELECT pg_advisory_lock(:key)"), {"key": RUNS_LOCK})
        waiting = sa.text(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND "
            "database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        )
        with service_process(url, tmp_path, env=ENV):
            eventually(lambda: bool(holder.execute(waiting).first()), timeout=90)
            pid = holder.execute(waiting).scalar_one()
            holder.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            holder.execute(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": RUNS_LOCK})
            holder.commit()
            eventually(
                lambda: _run_dates(engine) == missed,
                timeout=60,
                what=lambda: _run_dates(engine),
            )


@pytest.mark.postgres
def test_days_caught_up_wait_their_turn_without_holding_connections(tmp_path: Path) -> None:
    """Each day caught up at start is a workflow, all started at once: each held a store
    connection while it waited for the runs' lock (a month missed took the process's 30,
    and its requests waited for one). One at a time, only the day being run waits on the
    lock."""
    days = 6
    with (
        _down_for("postgres", tmp_path, days=days) as (url, engine, missed),
        engine.connect() as holder,
        _dbos(url) as dbos,
    ):
        holder.execute(sa.text("SELECT pg_advisory_lock(:key)"), {"key": RUNS_LOCK})
        holder.commit()

        def waiting() -> int:
            query = sa.text(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
                "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            )
            count: int = holder.execute(query).scalar_one()
            holder.commit()
            return count

        def pending() -> int:
            return len(dbos.list_workflows(status="PENDING", schedule_name=SCHEDULE_NAME))

        with service_process(url, tmp_path, env=ENV):
            eventually(lambda: pending() == len(missed), timeout=90, what=pending)
            eventually(lambda: waiting() >= 1, timeout=30)
            # Every day has started: one waits on the lock, the others for their turn.
            seen = set()
            for _ in range(15):  # looked at for a while: any more waiting would show
                seen.add(waiting())
                time.sleep(0.2)
            holder.execute(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": RUNS_LOCK})
            holder.commit()
            eventually(
                lambda: _run_dates(engine) == missed, timeout=90, what=lambda: _run_dates(engine)
            )
        assert len(missed) >= days
        assert seen == {1}


@contextmanager
def _dbos(store: str) -> Iterator[DBOSClient]:
    """A client of the DBOS system database of ``store``."""
    client = DBOSClient(
        system_database_url=system_database_url(ServiceSettings(database_url=store))
    )
    try:
        yield client
    finally:
        client.destroy()


@contextmanager
def _runs_held(engine: sa.Engine) -> Iterator[None]:
    """The daily runs kept waiting, as by a run in progress (``churn.claim_run``): on
    PostgreSQL on their lock, on SQLite on the store's write lock (through busy timeouts
    and the step's retries)."""
    with write_transaction(engine) as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": RUNS_LOCK})
        yield


@pytest.mark.slow(60)
@pytest.mark.parametrize("kind", BACKENDS)
def test_a_scheduled_run_whose_process_died_is_run_by_another_process(
    kind: str, tmp_path: Path
) -> None:
    """The process running a day is SIGKILLed and never comes back under its executor id
    (a container recreated under a new host name): another process runs the day once a
    lease has passed. The run was left pending under the dead executor, and no other
    process ever ran it (the scheduled time's workflow id existed): the day was never
    applied, nor announced."""
    # Without the schedule's setting the processes leave it as it is: paused until the
    # first has started, whose start writes to the store the runs are then kept from.
    # The lease is waited out; it is at least 3 attempt timeouts, and nothing is
    # delivered here.
    env = {
        **FAST,
        "PRODUCERSYNC_WEBHOOK_CLAIM_LEASE_SECONDS": "1",
        "PRODUCERSYNC_WEBHOOK_TIMEOUT_SECONDS": "0.3",
    }
    with _down_for(kind, tmp_path, days=1) as (url, engine, missed), _dbos(url) as dbos:
        dbos.pause_schedule(SCHEDULE_NAME)
        with service_process(url, tmp_path, env=env) as first, _runs_held(engine):
            dbos.resume_schedule(SCHEDULE_NAME)  # the day missed is caught up, and waits

            def running() -> bool:
                return bool(dbos.list_workflows(status="PENDING", schedule_name=SCHEDULE_NAME))

            eventually(running, timeout=90)
            first.kill()
        with service_process(url, tmp_path, env=env) as second:
            eventually(
                lambda: _run_dates(engine) == missed,
                timeout=60,
                what=lambda: (_run_dates(engine), second.log.read_text()),
            )


def test_a_scheduled_run_that_fails_names_the_day_and_how_to_apply_it(tmp_path: Path) -> None:
    """A run that fails for good (here the store's ledger is missing: a fault that no retry
    mends) leaves its day unrun, and no firing runs it again: the log held DBOS's
    traceback only, which named neither the day nor what to do."""
    with _down_for("sqlite", tmp_path, days=1) as (url, engine, missed):
        with engine.begin() as conn:
            conn.execute(sa.text("ALTER TABLE nipr_runs RENAME TO nipr_runs_gone"))
        day = missed[0].isoformat()
        told = f"NIPR run {day} failed: no such table: nipr_runs; the day is not applied"
        with service_process(url, tmp_path, env=ENV) as service:
            eventually(lambda: told in service.log.read_text(), timeout=60)
        assert f"`producersync nipr run --date {day}` applies it" in service.log.read_text()


@pytest.mark.parametrize(
    ("cron", "twice"),
    [
        ("0 6 * * *", False),
        ("0 0 6 * * *", False),
        ("0 6 * * 1-5", False),
        ("0 6 * * * *", True),  # six fields: seconds first, so 6 past every hour
        ("0 6,18 * * *", True),
    ],
)
def test_a_schedule_that_fires_more_than_once_a_day_is_told(
    cron: str, twice: bool, caplog: pytest.LogCaptureFixture
) -> None:
    """'0 6 * * * *' (five fields and a star) ran the day at 00:06, not 06:00: a day runs
    at its first firing, and nothing said the schedule was not a daily one."""
    stored: dict[str, Any] = {
        "schedule": cron,
        "context": {"churn_rate": 0.01, "set_by": "w1"},
        "status": "ACTIVE",
        "last_fired_at": None,
    }
    with caplog.at_level(logging.INFO, logger="producersync.service.nipr.scheduled"):
        log_schedule(cast(WorkflowSchedule, stored))
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert [f"schedule '{cron}' fires more than once a day" in w for w in warnings] == (
        [True] if twice else []
    )
