"""DBOS in the service process: configured from the settings, launched with the webhook
dispatcher registered (so recovery finds it) and the daily NIPR schedule applied, torn
down on shutdown; the workflows of a process that died and did not come back under its
executor id are taken back by another (``ExecutorWatch``)."""

from __future__ import annotations

import asyncio
import datetime as dt

import sqlalchemy as sa
from dbos import DBOS

from producersync.database_url import dbos_system_url, with_connect_timeout
from producersync.dbos_process import DbosProcess, process_lock
from producersync.dbos_stop import destroy_dbos
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
    return process_lock(
        SERVICE_PROCESSES, settings.database_url, settings.executor_id, settings.port
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
        self._dbos = DbosProcess(
            "producersync",
            system_database_url(settings),
            lock or executor_lock(settings),
            settings.database_pool_size,
        )
        self._executor_id = self._dbos.lock.executor_id
        # A dead process's workflows are taken back when its deliveries are: a batch
        # recovered then hands back unsent those its claim no longer covers.
        lease = RetryPolicy.from_settings(settings).lease.total_seconds()
        self.executors = ExecutorWatch(self._dbos.lock, lease / _LOOKS_PER_LEASE, lease)
        self._stop = asyncio.Event()
        self._dispatching = metrics.liveness.supervise(DISPATCHER, self.dispatcher.run, self._stop)

    def start(self) -> None:
        settings = self._settings
        self._dbos.launch(settings.executor_lock_wait_seconds)
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
