"""Engines for the store: SQLite in WAL mode by default, PostgreSQL by URL."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from producersync.database_url import sqlalchemy_url

__all__ = ["is_sqlite", "make_engine", "write_transaction"]


def is_sqlite(engine: sa.Engine) -> bool:
    return engine.dialect.name == "sqlite"


def make_engine(url: str, **kwargs: Any) -> sa.Engine:
    """Build an engine tuned for the store's dialect."""
    url = sqlalchemy_url(url)
    if url.startswith("sqlite"):
        # SQLite's files take no pool sizing: a process's writers queue on the file lock.
        for option in ("pool_size", "max_overflow"):
            kwargs.pop(option, None)
        engine = sa.create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs
        )
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        _sqlite_manual_transactions(engine)
        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    return sa.create_engine(url, pool_pre_ping=True, **kwargs)


def write_transaction(engine: sa.Engine) -> Any:
    """A transaction that takes the write lock at BEGIN on SQLite (a no-op difference on
    Postgres, where row locks and advisory locks do the job)."""
    return engine.execution_options(sqlite_immediate=True).begin()


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
