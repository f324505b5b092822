"""Engines for the store: SQLite in WAL mode by default, PostgreSQL by URL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import sqlalchemy as sa

from producersync.database_file import private_files
from producersync.database_url import pool_options, sqlalchemy_url
from producersync.db_outage import files_told

__all__ = ["is_sqlite", "make_engine", "marking_writes", "read_snapshot", "write_transaction"]

_POOL_SIZE = 10  # connections kept open, 20 more under load


def is_sqlite(engine: sa.Engine) -> bool:
    return engine.dialect.name == "sqlite"


def make_engine(url: str, pool_size: int | None = None) -> sa.Engine:
    """Build an engine tuned for the store's dialect; ``pool_size`` sizes a PostgreSQL
    engine's pool (``database_url.pool_options``; default 10)."""
    url = sqlalchemy_url(url)
    # A failed statement's error names its parameters, and the store binds webhook
    # signing secrets: no parameter may reach a log line.
    if url.startswith("sqlite"):
        connect_args = {"check_same_thread": False, "timeout": 30}
        engine = files_told(
            private_files(sa.create_engine(url, connect_args=connect_args, hide_parameters=True))
        )
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        _sqlite_manual_transactions(engine)
        return engine
    pool = pool_options(pool_size or _POOL_SIZE)
    return sa.create_engine(url, pool_pre_ping=True, hide_parameters=True, **pool)


_mark: ContextVar[Callable[[sa.Connection], None] | None] = ContextVar("mark", default=None)


@contextmanager
def write_transaction(engine: sa.Engine) -> Iterator[sa.Connection]:
    """A transaction that takes the write lock at BEGIN on SQLite (a no-op difference on
    Postgres, where row locks and advisory locks do the job). Inside ``marking_writes``,
    its mark is written last, before the commit: it commits with the write or not at
    all."""
    with engine.execution_options(sqlite_immediate=True).begin() as conn:
        yield conn
        if (mark := _mark.get()) is not None:
            mark(conn)


@contextmanager
def marking_writes(mark: Callable[[sa.Connection], None]) -> Iterator[None]:
    """Every ``write_transaction`` begun inside the block, in its task or a thread it
    hands work to (``anyio.to_thread`` and Starlette's thread pool run it in a copy of
    the task's context), ends by writing ``mark``: an ``Idempotency-Key`` request's
    "carried out" on its claim (``service/idempotency.py``). A task or thread started
    outside the block (a job worker, the dispatcher) writes none."""
    token = _mark.set(mark)
    try:
        yield
    finally:
        _mark.reset(token)


def read_snapshot(engine: sa.Engine) -> sa.Connection:
    """A connection whose reads all see one snapshot of the store, until it closes: a v1
    page's count and its rows agree however a writer commits between them. On
    PostgreSQL, at READ COMMITTED, each statement had its own: a daily run committing
    between the two answered 129 licenses with a totalElements of 128. SQLite's
    transaction (BEGIN at the first read, WAL) holds one snapshot already."""
    conn = engine.connect()
    if not is_sqlite(engine):
        conn.execution_options(isolation_level="REPEATABLE READ")
    return conn


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA cache_size=-65536")
    cursor.close()


def _sqlite_manual_transactions(engine: sa.Engine) -> None:
    """pysqlite defers BEGIN until the first write, so a read-then-write transaction can
    lose a race to another writer. Emit BEGIN ourselves, IMMEDIATE when asked
    (``execution_options(sqlite_immediate=True)``), so writers serialise up front."""

    @sa.event.listens_for(engine, "connect")
    def _autocommit_driver(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None

    @sa.event.listens_for(engine, "begin")
    def _begin(conn: sa.Connection) -> None:
        immediate = conn.get_execution_options().get("sqlite_immediate", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
