"""DBOS in the service process: configured from the settings, launched with the webhook
dispatcher registered (so recovery finds it) and the daily NIPR schedule applied, torn
down on shutdown; the workflows of a process that died and did not come back under its
executor id are taken back by another (``ExecutorWatch``)."""

from __future__ import annotations

import asyncio
import datetime as dt
import socket

import sqlalchemy as sa
from dbos import DBOS, DBOSConfig

from producersync.database_file import private_file
from producersync.database_url import (
    dbos_pool_size,
    dbos_system_url,
    sqlalchemy_url,
    with_connect_timeout,
)
from producersync.dbos_journal import journal_in_wal
from producersync.dbos_stop import LISTENER_POLL_SECONDS, destroy_dbos
from producersync.executors import ExecutorLock, ExecutorWatch, Role
from producersync.service.delivery.dispatcher import Dispatcher
from producersync.service.delivery.policy import RetryPolicy
from producersync.service.metrics import ServiceMetrics
from producersync.service.nipr import scheduled
from producersync.service.nipr.scheduled import (
    SCHEDULE_NAME,
    catch_up_before_first_firing,
    daily_run_schedule,
    log_schedule,
    set_by,
    unchanged,
)
from producersync.service.settings import ServiceSettings

__all__ = ["DurableRuntime", "executor_lock", "system_database_url"]

DISPATCHER = "webhook-dispatcher"  # as /healthz and the metrics name the task

SERVICE_PROCESSES = Role(
    "service",
    "producersync-service-executor:",
    "--executor-id or PRODUCERSYNC_EXECUTOR_ID",
    "a delivery batch's webhooks sent again, with the same webhook-id",
    "PRODUCERSYNC_EXECUTOR_LOCK_WAIT_SECONDS",
)
# Looks at the dead executors' locks a lease takes: a live process whose connection to
# the store was cut has that many chances to take its lock back.
_LOOKS_PER_LEASE = 6


def system_database_url(settings: ServiceSettings) -> str:
    """The DBOS system database: the setting, else a SQLite file beside a SQLite store, or
    the store's own Postgres database (DBOS keeps to its own schema there); PostgreSQL's
    with the connect timeout of the store's (``database_url``)."""
    if settings.dbos_system_database_url:
        return with_connect_timeout(settings.dbos_system_database_url)
    return dbos_system_url(settings.database_url, "producersync.db")


def executor_lock(settings: ServiceSettings) -> ExecutorLock:
    """The lock on this process's executor id (the setting, else <hostname>:<port>), not
    taken yet."""
    executor_id = settings.executor_id or f"{socket.gethostname()}:{settings.port}"
    return ExecutorLock(
        sa.make_url(sqlalchemy_url(settings.database_url)), SERVICE_PROCESSES, executor_id
    )


class DurableRuntime:
    """DBOS, the dispatcher loop and the daily schedule, for one service process."""

    def __init__(
        self,
        engine: sa.Engine,
        settings: ServiceSettings,
        metrics: ServiceMetrics,
        lock: ExecutorLock | None = None,
    ) -> None:
        """``lock``: the executor lock the command took before making the app (else it is
        taken as the app starts)."""
        self.dispatcher = Dispatcher(engine, settings, metrics)
        scheduled.serve(engine)
        self._settings = settings
        self._lock = lock or executor_lock(settings)
        self._executor_id = self._lock.executor_id
        # A dead process's workflows are taken back when its deliveries are: a batch
        # recovered then hands back unsent those its claim no longer covers.
        lease = RetryPolicy.from_settings(settings).lease.total_seconds()
        self.executors = ExecutorWatch(self._lock, lease / _LOOKS_PER_LEASE, lease)
        system_database = system_database_url(settings)
        private_file(system_database)  # a SQLite file DBOS makes: owner-only, made first
        config: DBOSConfig = {
            "name": "producersync",
            "system_database_url": system_database,
            "log_level": "WARNING",
            "scheduler_polling_interval_sec": 5.0,
            "notification_listener_polling_interval_sec": LISTENER_POLL_SECONDS,
            # Recovery on start resumes this executor's workflows only: one id per process
            # slot, so a restarted process takes back its own batches and not a sibling's;
            # another takes them back once this one is gone (``ExecutorWatch``).
            "executor_id": self._executor_id,
        }
        if (pool := dbos_pool_size(settings.database_pool_size)) is not None:
            config["sys_db_pool_size"] = pool
        DBOS(config=config)
        self._stop = asyncio.Event()
        self._dispatching = metrics.liveness.supervise(DISPATCHER, self.dispatcher.run, self._stop)

    def start(self) -> None:
        # Before DBOS launches: its recovery resumes the workflows of this executor id.
        self._lock.take(self._settings.executor_lock_wait_seconds)
        journal_in_wal(system_database_url(self._settings))
        DBOS.launch()
        settings = self._settings
        stored = DBOS.get_schedule(SCHEDULE_NAME)
        if settings.nipr_schedule:
            wanted = daily_run_schedule(
                settings.nipr_schedule,
                settings.nipr_churn_rate,
                self._executor_id,
                dt.datetime.now(dt.UTC),
            )
            if not unchanged(stored, wanted):
                DBOS.apply_schedules([wanted])
        elif set_by(stored, self._executor_id):
            # The schedule lives in the shared system database: a sibling started without
            # the setting (an API process, a second worker) deleted the one a worker
            # carried, and no day ran again. Only its own process slot, restarted without
            # it, takes it away.
            DBOS.delete_schedule(SCHEDULE_NAME)
        schedule = DBOS.get_schedule(SCHEDULE_NAME)
        catch_up_before_first_firing(schedule)
        log_schedule(schedule)
        self._dispatching.start()
        self.executors.launch()

    async def stop(self) -> None:
        self._stop.set()
        self.dispatcher.stop_sending()
        self.dispatcher.wake()
        await self._dispatching.finished()
        await self.dispatcher.close()
        destroy_dbos(5)
        # After DBOS: while its workflows may still run here, none is taken elsewhere.
        self.executors.stop()
