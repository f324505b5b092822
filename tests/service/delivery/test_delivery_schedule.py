"""The daily NIPR run's schedule, set by a real service process in the DBOS system database
the processes share: it fires and announces the day once, only the process that set it
takes it away, and it holds no database password. A file of its own, beside
test_delivery_process.py."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import sqlalchemy as sa
from dbos import DBOSClient, WorkflowSchedule

from producersync.service.delivery import management
from producersync.service.durable import system_database_url
from producersync.service.nipr.scheduled import SCHEDULE_NAME
from producersync.service.settings import ServiceSettings
from producersync.service.store import accounts
from producersync.service.store.engine import write_transaction
from producersync.service.store.tables import nipr_runs
from tests.conftest import BACKENDS
from tests.support.delivery import loaded_store, utc_today
from tests.support.processes import FAST, ServiceProcess, service_process
from tests.support.receiver import Received, receiver
from tests.support.waiting import eventually

pytestmark = pytest.mark.slow(70)


@pytest.mark.parametrize("kind", BACKENDS)
def test_the_scheduled_daily_run_applies_today_once_and_announces_it(
    kind: str, tmp_path: Path
) -> None:
    with receiver() as rx, loaded_store(kind, tmp_path) as (url, stored):
        settings = ServiceSettings(database_url=url, allow_private_endpoints=True)
        with write_transaction(stored) as conn:
            account_id = accounts.create_account(conn, "daily", sandbox=False).id
            management.create_endpoint(
                conn, settings, account_id, rx.url, event_types=["producersync"]
            )
        every_second = {**FAST, "PRODUCERSYNC_NIPR_SCHEDULE": "* * * * * *"}
        with service_process(url, tmp_path, env=every_second) as service:
            rx.wait_for(lambda got: any(_is_update(r) for r in got), timeout=30)
            # Until a later firing has found the date applied: a fixed 2 s may see none.
            eventually(lambda: "applied already" in _log(service), timeout=30)
        with stored.connect() as conn:
            runs = conn.execute(sa.select(nipr_runs.c.run_date)).scalars().all()
    assert runs == [utc_today()]
    (update,) = [r for r in rx.received if _is_update(r)]
    assert update.event["data"] == {"runDate": utc_today().isoformat()}


@pytest.mark.parametrize("kind", BACKENDS)
def test_only_the_process_that_set_the_schedule_takes_it_away(kind: str, tmp_path: Path) -> None:
    with loaded_store(kind, tmp_path) as (url, _):
        daily = {**FAST, "PRODUCERSYNC_NIPR_SCHEDULE": "0 6 * * *"}
        carrier = ("--executor-id", "carrier")
        # A sibling started without the setting (the schedule is in the shared DBOS system
        # database) deleted the carrier's, and no day ran again.
        with (
            service_process(url, tmp_path, *carrier, env=daily, command="worker"),
            service_process(url, tmp_path, env=FAST, command="worker"),
        ):
            pass
        assert _cron(url) == "0 6 * * *"
        # The carrier's slot restarted without it: the operator took the schedule away.
        with service_process(url, tmp_path, *carrier, env=FAST, command="worker"):
            pass
        assert _cron(url) is None


@pytest.mark.parametrize("kind", BACKENDS)
def test_a_sibling_carrying_the_same_schedule_leaves_it_as_it_is(kind: str, tmp_path: Path) -> None:
    """Scale-out: every process carries the schedule. Each one started wrote its own
    executor id into the shared schedule, and DBOS restarts every process's timer on a
    changed schedule, counting from then: a process started in the seconds around the
    scheduled time (a rolling deploy, a crash restarted) made every process skip the
    day's firing, the day unrun until some process started again."""
    with loaded_store(kind, tmp_path) as (url, _):
        daily = {**FAST, "PRODUCERSYNC_NIPR_SCHEDULE": "0 6 * * *"}
        with service_process(url, tmp_path, "--executor-id", "first", env=daily, command="worker"):
            pass
        first = _schedule(url)
        with service_process(url, tmp_path, "--executor-id", "second", env=daily, command="worker"):
            pass
        assert _schedule(url) == first
        # A changed setting is a changed schedule.
        hourly = {**daily, "PRODUCERSYNC_NIPR_SCHEDULE": "0 * * * *"}
        with service_process(
            url, tmp_path, "--executor-id", "second", env=hourly, command="worker"
        ):
            pass
        assert _cron(url) == "0 * * * *"


def test_each_process_says_at_start_whether_and_when_the_daily_run_fires(
    tmp_path: Path,
) -> None:
    """The schedule is shared: a process's own setting does not tell whether the day
    runs, and no process said; an API process (no delivery, no DBOS) ignored the setting
    silently."""
    with loaded_store("sqlite", tmp_path) as (url, _):
        daily = {**FAST, "PRODUCERSYNC_NIPR_SCHEDULE": "0 6 * * *"}
        with service_process(url, tmp_path, env=FAST, command="worker") as alone:
            pass
        # An API process runs no DBOS: given the setting, it ran no day and said nothing.
        with service_process(url, tmp_path, "--no-delivery", env=daily) as api:
            pass
        assert _schedule(url) is None
        with service_process(
            url, tmp_path, "--executor-id", "carrier", env=daily, command="worker"
        ) as carrier:
            pass
        with service_process(url, tmp_path, env=FAST, command="worker") as sibling:
            pass
    assert "The daily NIPR run is not scheduled (PRODUCERSYNC_NIPR_SCHEDULE)" in _log(alone)
    assert "PRODUCERSYNC_NIPR_SCHEDULE is ignored: this process does not deliver" in _log(api)
    scheduled = re.compile(
        r"The daily NIPR run is scheduled '0 6 \* \* \*' \(UTC, set by carrier\): "
        r"next at \d{4}-\d\d-\d\d 06:00:00 UTC, last fired never"
    )
    assert scheduled.search(_log(carrier))
    assert scheduled.search(_log(sibling))


@pytest.mark.postgres
def test_the_shared_schedule_holds_no_database_password(tmp_path: Path) -> None:
    # It held the setter's store URL, password and all, in the system database every
    # process shares (trust authentication here takes any password).
    with loaded_store("postgres", tmp_path) as (url, _):
        secret = "pw-" + "x" * 20
        with_password = sa.make_url(url).set(password=secret).render_as_string(False)
        daily = {**FAST, "PRODUCERSYNC_NIPR_SCHEDULE": "0 6 * * *"}
        with service_process(with_password, tmp_path, env=daily, command="worker"):
            pass
        schedule = _schedule(url)
    assert schedule is not None
    assert secret not in repr(schedule)


def _schedule(url: str) -> WorkflowSchedule | None:
    """The daily run's schedule in the DBOS system database the service processes share."""
    client = DBOSClient(system_database_url=system_database_url(ServiceSettings(database_url=url)))
    try:
        return client.get_schedule(SCHEDULE_NAME)
    finally:
        client.destroy()


def _log(process: ServiceProcess) -> str:
    return process.log.read_text()


def _cron(url: str) -> str | None:
    schedule = _schedule(url)
    return None if schedule is None else schedule["schedule"]


def _is_update(got: Received) -> bool:
    return got.event["type"] == "producersync.updates_available"
