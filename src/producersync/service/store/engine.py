"""Engines for the store: SQLite in WAL mode by default, PostgreSQL by URL."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import Any

import sqlalchemy as sa

from producersync.database_url import pool_options, sqlalchemy_url

__all__ = [
    "JoinedWrites",
    "after_commit",
    "is_sqlite",
    "joined_writes",
    "make_engine",
    "read_snapshot",
    "write_transaction",
]

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


def _own_transaction(engine: sa.Engine) -> Any:
    return engine.execution_options(sqlite_immediate=True).begin()


@contextlib.contextmanager
def write_transaction(engine: sa.Engine) -> Iterator[sa.Connection]:
    """A transaction that takes the write lock at BEGIN on SQLite (a no-op difference on
    Postgres, where row locks and advisory locks do the job). Inside ``joined_writes``,
    a savepoint of the one transaction the writes commit in, together."""
    joined = _joined.get()
    if joined is None or joined.engine is not engine:
        with _own_transaction(engine) as conn:
            yield conn
        return
    conn = joined.connection()
    with conn.begin_nested():  # an error undoes this block only, as its own transaction
        yield conn


class JoinedWrites:
    """The writes of a request, held uncommitted until ``commit_with`` adds what is kept
    with them (the idempotency middleware: the request's answer under its key), so that
    both are committed or neither. Opened at the first write."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self._conn: sa.Connection | None = None
        self._after: list[Callable[[], None]] = []

    def connection(self) -> sa.Connection:
        if self._conn is None:
            self._conn = self.engine.execution_options(sqlite_immediate=True).connect()
            self._conn.begin()
        return self._conn

    def commit_with(self, last: Callable[[sa.Connection], None]) -> None:
        """``last`` done in the writes' transaction (in one of its own if none was
        opened), then committed; nothing is if either fails."""
        if self._conn is None:
            with _own_transaction(self.engine) as conn:
                last(conn)
            return
        try:
            last(self._conn)
            self._conn.commit()
        finally:
            self._conn.close()
            self._conn = None
        for run in self._after:
            run()

    def after_commit(self, run: Callable[[], None]) -> None:
        if self._conn is None:
            run()
        else:
            self._after.append(run)

    def rollback(self) -> None:
        if self._conn is not None:
            self._conn.close()  # rolls back what it began
            self._conn = None


_joined: ContextVar[JoinedWrites | None] = ContextVar("joined_writes", default=None)


@contextlib.contextmanager
def joined_writes(engine: sa.Engine) -> Iterator[JoinedWrites]:
    """Every ``write_transaction`` on ``engine`` in this context (and the threads and tasks
    it starts) joins one transaction, which the caller commits."""
    joined = JoinedWrites(engine)
    token = _joined.set(joined)
    try:
        yield joined
    finally:
        _joined.reset(token)
        joined.rollback()


def after_commit(run: Callable[[], None]) -> None:
    """``run`` once this context's writes are committed: at once, unless they are held in
    ``joined_writes`` (a worker woken before then would find nothing to do)."""
    joined = _joined.get()
    if joined is None:
        run()
    else:
        joined.after_commit(run)


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
