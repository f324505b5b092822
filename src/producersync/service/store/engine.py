"""Engines for the store: SQLite in WAL mode by default, PostgreSQL by URL."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from producersync.database_url import pool_options, sqlalchemy_url

__all__ = ["is_sqlite", "make_engine", "read_snapshot", "write_transaction"]

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
        engine = sa.create_engine(url, connect_args=connect_args, hide_parameters=True)
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        _sqlite_manual_transactions(engine)
        return engine
    pool = pool_options(pool_size or _POOL_SIZE)
    return sa.create_engine(url, pool_pre_ping=True, hide_parameters=True, **pool)


def write_transaction(engine: sa.Engine) -> Any:
    """A transaction that takes the write lock at BEGIN on SQLite (a no-op difference on
    Postgres, where row locks and advisory locks do the job)."""
    return engine.execution_options(sqlite_immediate=True).begin()


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
