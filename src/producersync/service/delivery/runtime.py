"""DBOS for the service process: configured from the settings, launched with the
dispatcher registered (so recovery finds it), torn down on shutdown."""

from __future__ import annotations

import asyncio
from pathlib import Path

import sqlalchemy as sa
from dbos import DBOS, DBOSConfig

from producersync.service.delivery.dispatcher import Dispatcher
from producersync.service.settings import ServiceSettings

__all__ = ["DeliveryRuntime", "system_database_url"]


def system_database_url(settings: ServiceSettings) -> str:
    """The DBOS system database: the setting, else a SQLite file beside a SQLite store, or
    the store's own Postgres database (DBOS keeps to its own schema there)."""
    if settings.dbos_system_database_url:
        return settings.dbos_system_database_url
    url = sa.make_url(settings.database_url)
    if url.get_backend_name() == "sqlite":
        store = Path(url.database or "producersync.db")
        return f"sqlite:///{store.with_name(store.name + '.dbos.sqlite')}"
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


class DeliveryRuntime:
    """DBOS and the dispatcher loop, for the lifetime of one service process."""

    def __init__(self, engine: sa.Engine, settings: ServiceSettings) -> None:
        self.dispatcher = Dispatcher(engine, settings)
        config: DBOSConfig = {
            "name": "producersync",
            "system_database_url": system_database_url(settings),
            "log_level": "WARNING",
        }
        DBOS(config=config)
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        DBOS.launch()
        self._task = asyncio.create_task(self.dispatcher.run(self._stop))

    async def stop(self) -> None:
        self._stop.set()
        self.dispatcher.wake()
        if self._task is not None:
            await self._task
        DBOS.destroy(workflow_completion_timeout_sec=5)
