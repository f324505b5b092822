"""DBOS in a process of ours that runs workflows (the service's that deliver, ``sync run``),
set up the same way in each: its executor lock, its configuration, its system database
(a SQLite file made owner-only first and journalled in WAL mode, its outages waited out)
and its launch."""

from __future__ import annotations

import socket

import sqlalchemy as sa
from dbos import DBOS, DBOSConfig
from dbos import _sys_db as dbos_system_database
from dbos._utils import retriable_sqlite_exception

from producersync.database_file import private_file
from producersync.database_url import dbos_pool_size, sqlalchemy_url
from producersync.db_outage import unavailable
from producersync.dbos_journal import journal_in_wal
from producersync.dbos_stop import LISTENER_POLL_SECONDS
from producersync.executors import ExecutorLock, Role

__all__ = ["DbosProcess", "process_lock", "wait_out_sqlite_outages"]


def _sqlite_outage(e: Exception) -> bool:  # DBOS's own's signature, its name too
    return retriable_sqlite_exception(e) or unavailable(e)


def wait_out_sqlite_outages() -> None:
    """DBOS's own writes to a SQLite system database (a step's result, a workflow's
    outcome) wait out every outage ``db_outage`` knows, a full disk's and a read-only
    file's included, as they wait out PostgreSQL's: DBOS retries only "database is
    locked" on SQLite, and a step's result it could not record ended its workflow's
    thread with a traceback, the workflow left PENDING, so a sync stayed "running" and
    its parent waited on it until the process was restarted, however soon the disk had
    room again."""
    # DBOS's retry loop (``db_retry``) reads the name from its module at every failure.
    dbos_system_database.retriable_sqlite_exception = _sqlite_outage  # type: ignore[attr-defined]


def process_lock(role: Role, database_url: str, executor_id: str | None, port: int) -> ExecutorLock:
    """The lock, on the database at ``database_url``, on this process's executor id
    (``executor_id``, else <hostname>:<port>), not taken yet."""
    executor_id = executor_id or f"{socket.gethostname()}:{port}"
    return ExecutorLock(sa.make_url(sqlalchemy_url(database_url)), role, executor_id)


class DbosProcess:
    """DBOS configured for this process as it is made, launched by ``launch``."""

    def __init__(
        self, name: str, system_database: str, lock: ExecutorLock, pool_size: int | None
    ) -> None:
        """``pool_size``: that of the process's own database pool, DBOS's is sized from it
        (``dbos_pool_size``)."""
        self.lock, self._system_database = lock, system_database
        private_file(system_database)  # a SQLite file DBOS makes: owner-only, made first
        wait_out_sqlite_outages()
        config: DBOSConfig = {
            "name": name,
            "system_database_url": system_database,
            "log_level": "WARNING",
            "scheduler_polling_interval_sec": 5.0,
            "notification_listener_polling_interval_sec": LISTENER_POLL_SECONDS,
            # Recovery resumes this executor's workflows only: one id per process slot, so
            # a restarted process (the same id) takes back its own (a sync from its last
            # checkpoint, a delivery batch) and not a sibling's; another process takes
            # them back once this one is gone (``ExecutorWatch``).
            "executor_id": lock.executor_id,
        }
        if (pool := dbos_pool_size(pool_size)) is not None:
            config["sys_db_pool_size"] = pool
        DBOS(config=config)

    def launch(self, lock_wait_seconds: float) -> None:
        """Take the executor lock (waiting up to ``lock_wait_seconds`` for a process that
        holds it), then launch DBOS."""
        # Before DBOS launches: its recovery resumes the workflows of this executor id.
        self.lock.take(lock_wait_seconds)
        journal_in_wal(self._system_database)
        DBOS.launch()
