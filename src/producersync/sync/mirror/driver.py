"""The mirror's bulk statements, handed to the database driver as they are.

A page is up to 1,000 records, their nested children and as many change rows. Through
SQLAlchemy's compiled statements, its per-row parameter processing was about 40% of a
page's upsert on SQLite; on PostgreSQL psycopg parsed every expanded ``IN (...)`` and
multi-row ``VALUES`` anew (a new text each time, too long for its cache): 165 us a
record. Here each statement is one fixed text per table and dialect, and the callers
build each row as a tuple already in the driver's types (the ``to_*`` converters).
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Sequence
from typing import Any

import orjson
import sqlalchemy as sa

from producersync.sync.mirror.tables import UtcDateTime

__all__ = [
    "Converters",
    "converters",
    "insert_sql",
    "select_documents",
    "upsert_sql",
]


class Converters:
    """Python values to what the connection's driver stores, exactly as SQLAlchemy's
    types would (the rest of the mirror reads these rows through them)."""

    def __init__(self, dialect: sa.Dialect) -> None:
        self.sqlite = dialect.name == "sqlite"
        self._timestamp: Callable[[Any], Any] | None = (
            UtcDateTime().dialect_impl(dialect).bind_processor(dialect)
        )

    def date(self, iso: str) -> Any:
        """A wire date (ISO text): SQLite keeps the text, psycopg wants a date."""
        day = dt.date.fromisoformat(iso)  # a malformed date fails here, as it did in SQLAlchemy
        return day.isoformat() if self.sqlite else day

    def timestamp(self, value: dt.datetime) -> Any:
        return self._timestamp(value) if self._timestamp else value

    @staticmethod
    def json(value: Any) -> str:
        return orjson.dumps(value).decode()


@functools.cache
def _converters(dialect: sa.Dialect) -> Converters:
    return Converters(dialect)


def converters(conn: sa.Connection) -> Converters:
    return _converters(conn.dialect)


def _placeholder(column: sa.Column[Any], dialect: str) -> str:
    if dialect == "sqlite":
        return "?"
    return "%s::jsonb" if isinstance(column.type, sa.JSON) else "%s"


@functools.cache
def insert_sql(table: sa.Table, columns: tuple[str, ...], dialect: str) -> str:
    """``INSERT`` of ``columns`` (in that order) as one row of positional parameters."""
    places = ", ".join(_placeholder(table.c[name], dialect) for name in columns)
    return f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({places})"


@functools.cache
def upsert_sql(table: sa.Table, dialect: str) -> str:
    """Every column of ``table`` in its order, a conflict on ``id`` overwriting the rest."""
    columns = tuple(column.name for column in table.c)
    updates = ", ".join(f"{name} = excluded.{name}" for name in columns if name != "id")
    return f"{insert_sql(table, columns, dialect)} ON CONFLICT (id) DO UPDATE SET {updates}"


def select_documents(
    conn: sa.Connection, table: sa.Table, ids: Sequence[int]
) -> dict[int, dict[str, Any]]:
    """The stored ``record`` of each of ``ids`` that ``table`` holds, in one statement
    whose text does not depend on how many ids there are."""
    if not ids:
        return {}
    if conn.dialect.name == "sqlite":
        sql = f"SELECT id, record FROM {table.name} WHERE id IN (SELECT value FROM json_each(?))"
        parameter: Any = orjson.dumps(list(ids)).decode()
    else:
        sql = f"SELECT id, record::text FROM {table.name} WHERE id = ANY(%s::bigint[])"
        parameter = list(ids)
    rows = conn.exec_driver_sql(sql, (parameter,))
    return {id_: orjson.loads(record) for id_, record in rows}
