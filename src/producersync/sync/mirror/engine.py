"""Engines for the mirror: SQLite in WAL mode by default, PostgreSQL by URL."""

from __future__ import annotations

import math
import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from producersync.database_file import private_files
from producersync.database_url import pool_options, sqlalchemy_url
from producersync.db_outage import files_told
from producersync.sync.mirror import checkpoints
from producersync.sync.mirror.priority_gate import PriorityGate

__all__ = ["delete_in_batches", "dialect_insert", "make_engine", "write_transaction"]

_SQLITE_PRAGMAS = (
    # Before WAL, which fixes it: only a new, empty file takes it. A backfill's pages
    # (1,000 records of ~1 KB, their index entries and change rows) were written 15-20 %
    # faster than with 4 KiB pages.
    "PRAGMA page_size=16384",
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA busy_timeout=30000",
    "PRAGMA cache_size=-65536",
    # A checkpoint every 10,000 WAL pages (160 MiB), not SQLite's 1,000: each copies the
    # WAL's pages into the database and syncs both files, in the commit of the writer
    # that crossed the mark, and a backfill (~300 MB of WAL for 10,000 NPNs) met one
    # every few pages. Fewer, a page written by many commits is copied once; each commit
    # stays as durable (synchronous=NORMAL). The WAL is cut back to 64 MiB once reset.
    # A backstop: `checkpoints` runs them from 64 MiB in a thread, outside any commit.
    "PRAGMA wal_autocheckpoint=10000",
    "PRAGMA journal_size_limit=67108864",
)


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def make_engine(url: str, pool_size: int | None = None) -> sa.Engine:
    """An engine for ``url``; ``postgresql://`` (and ``postgres://``) mean psycopg 3.
    ``pool_size`` sizes a PostgreSQL engine's pool (``database_url.pool_options``)."""
    url = sqlalchemy_url(url)
    # orjson: the record documents are the mirror's bulk, and the stdlib is 5x slower.
    json_options: dict[str, Any] = {
        "json_serializer": _json_dumps,
        "json_deserializer": orjson.loads,
    }
    if not url.startswith("sqlite"):
        return sa.create_engine(url, pool_pre_ping=True, **json_options, **pool_options(pool_size))
    engine = files_told(
        private_files(
            sa.create_engine(
                url, connect_args={"check_same_thread": False, "timeout": 30}, **json_options
            )
        )
    )
    sa.event.listen(engine, "connect", _on_sqlite_connect)
    sa.event.listen(engine, "begin", _on_sqlite_begin)
    return engine


@contextmanager
def write_transaction(engine: sa.Engine, priority: float = math.inf) -> Iterator[sa.Connection]:
    """A transaction that takes SQLite's write lock at BEGIN, so that the read-compare-write
    of an upsert cannot interleave with another writer (Postgres needs no such help: the
    upserts are ``ON CONFLICT`` statements).

    On SQLite this process's writers also queue at a gate of their own first, the waiter
    of highest ``priority`` next: SQLite's busy handler sleeps in steps of up to 100 ms,
    so a writer that found the database locked slept long after the lock was free, and
    the receiver's acknowledgements wore those sleeps in their tail. A pull's pages give
    the pages their stream has left; every other writer goes first (a receipt, which a
    delivery waits for; a heartbeat, whose lease would run out behind a backfill's queue;
    a run's start or end: small writes each). On PostgreSQL the writers go side by side,
    and ``priority`` means nothing."""
    begin = engine.execution_options(mirror_write=True).begin
    if engine.dialect.name != "sqlite":
        with begin() as conn:
            yield conn
        return
    with _writer_gate(engine).held(priority), begin() as conn:
        yield conn
    checkpoints.wrote(engine)


def delete_in_batches(
    engine: sa.Engine, delete: Callable[[sa.Connection, int], int], *, most: int
) -> int:
    """``delete(conn, most)``, which deletes at most ``most`` rows and says how many, a
    write transaction each, until it deletes fewer; how many in all. One statement
    deleting them all (a million forged deliveries' receipts) would hold SQLite's one
    write lock for seconds, and every writer behind it, the receiver recording a delivery
    among them; on PostgreSQL it would be one huge transaction. Between two, the writers
    waiting go first (``write_transaction``'s gate is first come first served)."""
    total = 0
    while True:
        with write_transaction(engine) as conn:
            deleted = delete(conn, most)
        total += deleted
        if deleted < most:
            return total


_WRITER_GATES: weakref.WeakKeyDictionary[sa.Engine, PriorityGate] = weakref.WeakKeyDictionary()
_WRITER_GATES_GUARD = threading.Lock()


def _writer_gate(engine: sa.Engine) -> PriorityGate:
    with _WRITER_GATES_GUARD:
        return _WRITER_GATES.setdefault(engine, PriorityGate())


def dialect_insert(conn: sa.Connection, table: sa.Table) -> Any:
    """INSERT with ``on_conflict_do_*`` for the connection's dialect."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(table)


def _on_sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # pysqlite would BEGIN lazily at the first write; we BEGIN ourselves in `_on_sqlite_begin`.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    for pragma in _SQLITE_PRAGMAS:
        cursor.execute(pragma)
    cursor.close()


def _on_sqlite_begin(conn: sa.Connection) -> None:
    immediate = conn.get_execution_options().get("mirror_write", False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
