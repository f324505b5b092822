"""What a service process runs besides answering requests: the subscription-job worker,
the retention pruner and, when delivery is on, DBOS with the webhook dispatcher and the
daily NIPR schedule.

An API process (``service run``) and a worker process (``service worker``) run the same
thing; several of either share the work through the store and the DBOS system database.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import anyio.to_thread
import sqlalchemy as sa

from producersync.executors import ExecutorLock
from producersync.service.durable import DurableRuntime
from producersync.service.metrics import ServiceMetrics
from producersync.service.population.jobs import JobWorker
from producersync.service.retention import Pruner, Retention
from producersync.service.settings import ServiceSettings
from producersync.settings_variables import variable

__all__ = ["Background"]

log = logging.getLogger(__name__)


class Background:
    def __init__(
        self,
        engine: sa.Engine,
        settings: ServiceSettings,
        metrics: ServiceMetrics,
        lock: ExecutorLock | None = None,
    ) -> None:
        """``lock``: the executor lock the command took (``DurableRuntime``)."""
        metrics.watch(engine)
        self._delivery = (
            DurableRuntime(engine, settings, metrics, lock) if settings.delivery_enabled else None
        )
        self._schedule = settings.nipr_schedule
        self.jobs = JobWorker(engine, settings.job_poll_seconds, on_publish=self.published)
        self._pruner = (
            Pruner(
                engine,
                Retention.from_settings(settings),
                settings.prune_interval_seconds,
                metrics.pruned,
            )
            if settings.prune_enabled
            else None
        )

    @property
    def published(self) -> Callable[[], None]:
        """Tells this process's dispatcher that deliveries were just queued (a no-op
        without one: the workers that deliver find them when they next look)."""
        return self._delivery.dispatcher.wake if self._delivery is not None else lambda: None

    def start(self) -> None:
        """From inside the event loop the dispatcher will run on."""
        if self._delivery is not None:
            self._delivery.start()
        elif self._schedule:
            # The schedule is DBOS's, which runs with delivery only: else an API process
            # given the setting (the workers without it) says nothing, and no day runs.
            log.warning(
                "%s is ignored: this process does not deliver (--no-delivery) and runs no "
                "schedule; give it to the processes that deliver (service worker)",
                variable(ServiceSettings, "nipr_schedule"),
            )
        self.jobs.start()
        if self._pruner is not None:
            self._pruner.start()

    async def stop(self) -> None:
        await anyio.to_thread.run_sync(self.jobs.stop)
        if self._pruner is not None:
            await anyio.to_thread.run_sync(self._pruner.stop)
        if self._delivery is not None:
            await self._delivery.stop()
