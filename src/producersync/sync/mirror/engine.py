"""Engines for the mirror: SQLite in WAL mode by default, PostgreSQL by URL."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

__all__ = ["dialect_insert", "make_engine", "write_transaction"]

_SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA busy_timeout=30000",
    "PRAGMA cache_size=-65536",
)


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def make_engine(url: str) -> sa.Engine:
    """An engine for ``url``; ``postgresql://`` (and ``postgres://``) mean psycopg 3."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            url = "postgresql+psycopg://" + url.removeprefix(prefix)
    # orjson: the record documents are the mirror's bulk, and the stdlib is 5x slower.
    json_options: dict[str, Any] = {
        "json_serializer": _json_dumps,
        "json_deserializer": orjson.loads,
    }
    if not url.startswith("sqlite"):
        return sa.create_engine(url, pool_pre_ping=True, **json_options)
    engine = sa.create_engine(
        url, connect_args={"check_same_thread": False, "timeout": 30}, **json_options
    )
    sa.event.listen(engine, "connect", _on_sqlite_connect)
    sa.event.listen(engine, "begin", _on_sqlite_begin)
    return engine


def write_transaction(engine: sa.Engine) -> AbstractContextManager[sa.Connection]:
    """A transaction that takes SQLite's write lock at BEGIN, so that the read-compare-write
    of an upsert cannot interleave with another writer (Postgres needs no such help: the
    upserts are ``ON CONFLICT`` statements)."""
    return engine.execution_options(mirror_write=True).begin()


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
