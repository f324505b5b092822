"""The mirror's bulk statements, handed to the database driver as they are.

A page is up to 1,000 records, their nested children and as many change rows. Through
SQLAlchemy's compiled statements, its per-row parameter processing was about 40% of a
page's upsert on SQLite; on PostgreSQL psycopg parsed every expanded ``IN (...)`` and
multi-row ``VALUES`` anew (a new text each time, too long for its cache): 165 us a
record. Here each statement is one fixed text per table and dialect, and the callers
build each row as a tuple already in the driver's types (``Converters``).
"""

from __future__ import annotations

import datetime as dt
import decimal
import functools
import math
import zlib
from collections.abc import Callable, Sequence
from typing import Any

import orjson
import sqlalchemy as sa

from producersync.model.dates import iso_date
from producersync.sync.mirror.tables import malformed, population
from producersync.timestamps import UtcDateTime

__all__ = [
    "Converters",
    "NulInRows",
    "converters",
    "delete_malformed",
    "lock_for_writing",
    "one_of",
    "select_documents",
    "select_inactive",
    "write_rows",
]

_DATES = 100_000  # dates a ``Converters`` keeps converted
_PG_TABLE_LOCKS = 0x4D495252  # "MIRR": the first key of every table's advisory lock
_EXPONENT_FROM = 1e16  # orjson (and repr) write a float this large with an exponent
_NUL = b"\\u0000"  # U+0000 as JSON writes it (orjson escapes every control character)


class NulInRows(ValueError):
    """Rows that hold a NUL character (or, in a string, the text ``\\u0000``), refused
    by ``write_rows`` before PostgreSQL would refuse them: its text and jsonb cannot
    hold one."""


class Converters:
    """Python values to what the connection's driver stores, exactly as SQLAlchemy's
    types would (the rest of the mirror reads these rows through them)."""

    def __init__(self, dialect: sa.Dialect) -> None:
        self.sqlite = dialect.name == "sqlite"
        self._timestamp: Callable[[Any], Any] | None = (
            UtcDateTime().dialect_impl(dialect).bind_processor(dialect)
        )
        # Dates converted: a backfill's records name a few thousand days, each thousands
        # of times. Kept to ``_DATES`` (emptied when full: a cache, not a record).
        self._dates: dict[str, Any] = {}

    def date(self, iso: str) -> Any:
        """A wire date (ISO text): SQLite keeps the text, psycopg wants a date."""
        try:
            return self._dates[iso]
        except KeyError:
            pass
        # Not date.fromisoformat, which takes 20261231 and 2026-W53-1 too: the API serves
        # yyyy-MM-dd only, and a date it writes otherwise is malformed like "31/12/2026".
        day = iso_date(iso)
        if len(self._dates) >= _DATES:
            self._dates.clear()
        converted = self._dates[iso] = day.isoformat() if self.sqlite else day
        return converted

    def timestamp(self, value: dt.datetime) -> Any:
        return self._timestamp(value) if self._timestamp else value

    def json(self, value: Any) -> Any:
        """A JSON column's value: text for SQLite; for PostgreSQL the value itself, as
        its rows go inside one JSON array (``write_rows``), not as text within it."""
        return orjson.dumps(value).decode() if self.sqlite else value


@functools.cache
def _converters(dialect: sa.Dialect) -> Converters:
    return Converters(dialect)


def converters(conn: sa.Connection) -> Converters:
    return _converters(conn.dialect)


def write_rows(
    conn: sa.Connection,
    table: sa.Table,
    columns: tuple[str, ...],
    rows: Sequence[tuple[Any, ...]],
    *,
    upsert: bool = False,
    returning: tuple[str, ...] = (),
    refuse_nul: bool = False,
) -> list[Any]:
    """Insert ``rows`` (values of ``columns``, in that order; ``upsert``: a conflict on
    the primary key overwrites the other columns given). SQLite takes them as one
    executemany. PostgreSQL takes them as one statement over a JSON array of the rows:
    an executemany there is a round of the protocol per row (a page of 2,000 NPNs'
    records took 54 us a record that way, 45 this way), and psycopg escapes the strings
    of a text array in Python (130 us a record over ``unnest``). ``returning``: columns
    of the rows written to answer with, in no promised order (PostgreSQL only).
    ``refuse_nul``: on PostgreSQL, ``NulInRows`` for rows whose JSON holds a NUL, the
    statement not sent (nor failed: the transaction goes on)."""
    if not rows:
        return []
    statement = _statement(table, columns, conn.dialect, upsert, returning)
    if conn.dialect.name == "sqlite":
        if returning:
            raise ValueError("returning: PostgreSQL only (an executemany answers nothing)")
        conn.exec_driver_sql(statement, list(rows))
        return []
    text = orjson.dumps(rows)
    # A float of 1e16 or more, maybe (or text holding "e+"). A "+" first: searched for
    # alone, 0.03 us a license's 2.2 KB; "e+" took 2 us, and the walk 28.
    if b"+" in text and b"e+" in text:
        text = orjson.dumps(_exact(rows))
    if refuse_nul and _NUL in text:
        raise NulInRows(f"{table.name}: a NUL character in the rows")
    result = conn.exec_driver_sql(statement, (text.decode(),))
    return [tuple(row) for row in result] if returning else []


def _exact(value: Any) -> Any:
    """``value`` with each float of 1e16 or more written out whole, with a fraction of
    .0. PostgreSQL's jsonb keeps a number as a decimal, and orjson writes such a float
    as 1e+16, which jsonb gives back as 10000000000000000: an integer, read back as
    one. Stored so, the record changed type, and was found changed on every sync it came
    in (``same_json``), and different by ``sync verify``. A decimal keeps its digits
    after the point, 10000000000000000.0, and reads back as the float it was. Smaller
    floats are written with their point already (1e-7 is 0.0000001 in jsonb)."""
    if type(value) is float and math.isfinite(value) and abs(value) >= _EXPONENT_FROM:
        return orjson.Fragment(f"{decimal.Decimal(repr(value)):f}.0")
    if type(value) is list or type(value) is tuple:
        return [_exact(item) for item in value]
    if type(value) is dict:
        return {key: _exact(item) for key, item in value.items()}
    return value


@functools.cache
def _statement(
    table: sa.Table,
    columns: tuple[str, ...],
    dialect: sa.Dialect,
    upsert: bool,
    returning: tuple[str, ...],
) -> str:
    names = ", ".join(columns)
    if dialect.name == "sqlite":
        source = f"VALUES ({', '.join('?' for _ in columns)})"
    else:
        values = ", ".join(
            f"row -> {i}"
            if isinstance(table.c[name].type, sa.JSON)
            else f"(row ->> {i})::{table.c[name].type.compile(dialect=dialect)}"
            for i, name in enumerate(columns)
        )
        source = f"SELECT {values} FROM jsonb_array_elements(%s::jsonb) AS row"
    statement = f"INSERT INTO {table.name} ({names}) {source}"
    if upsert:
        (key,) = table.primary_key.columns.keys()
        updates = ", ".join(f"{name} = excluded.{name}" for name in columns if name != key)
        statement += f" ON CONFLICT ({key}) DO UPDATE SET {updates}"
    if returning:
        statement += f" RETURNING {', '.join(returning)}"
    return statement


def lock_for_writing(conn: sa.Connection, table: sa.Table) -> None:
    """On PostgreSQL, ``table``'s advisory lock, held to the commit: its writers take
    turns, as SQLite's all do. Two side by side (an activation's pull and a day's sync of
    one NPN) each read a record as absent, and the older one, written last, met the
    newer's row: its ``ON CONFLICT DO UPDATE`` put the older record back. A purge takes
    them too, so that a page is written wholly before it or after it (``records``). Take
    the locks of one transaction in one order: ``MIRRORED``'s (a parent's table before
    its children's)."""
    if conn.dialect.name != "sqlite":
        key = zlib.crc32(table.name.encode()) & 0x7FFFFFFF
        conn.exec_driver_sql("SELECT pg_advisory_xact_lock(%s, %s)", (_PG_TABLE_LOCKS, key))


def one_of(
    conn: sa.Connection, column: str, values: Sequence[Any], pg_type: str
) -> tuple[str, Any]:
    """A condition that ``column`` is one of ``values`` (of PostgreSQL type ``pg_type``),
    and its one parameter: a statement whose text does not depend on how many values
    there are, prepared and planned once whatever their number."""
    if conn.dialect.name == "sqlite":
        return f"{column} IN (SELECT value FROM json_each(?))", orjson.dumps(list(values)).decode()
    return f"{column} = ANY(%s::{pg_type}[])", list(values)


def select_documents(
    conn: sa.Connection, table: sa.Table, ids: Sequence[int]
) -> dict[int, dict[str, Any]]:
    """The stored ``record`` of each of ``ids`` that ``table`` holds, in one statement
    whose text does not depend on how many ids there are."""
    if not ids:
        return {}
    where, parameter = one_of(conn, "id", ids, "bigint")
    text = "record" if conn.dialect.name == "sqlite" else "record::text"
    sql = f"SELECT id, {text} FROM {table.name} WHERE {where}"
    rows = conn.exec_driver_sql(sql, (parameter,))
    return {id_: orjson.loads(record) for id_, record in rows}


def delete_malformed(conn: sa.Connection, resource: str, ids: Sequence[int]) -> None:
    """Forget what ``malformed`` lists of the records ``ids`` of ``resource``, in one
    statement whose text does not depend on how many ids there are (a day's sync
    rewrites a page of records at a time, nearly always clean)."""
    where, parameter = one_of(conn, "record_id", ids, "bigint")
    mark = "?" if conn.dialect.name == "sqlite" else "%s"
    sql = f"DELETE FROM {malformed.name} WHERE resource = {mark} AND {where}"
    conn.exec_driver_sql(sql, (resource, parameter))


def select_inactive(conn: sa.Connection, npns: Sequence[str]) -> set[str]:
    """Those of ``npns`` the population records inactive, in one statement whose text
    does not depend on how many there are."""
    if not npns:
        return set()
    where, parameter = one_of(conn, "npn", npns, "text")
    sql = f"SELECT npn FROM {population.name} WHERE {where} AND NOT active"
    return set(conn.exec_driver_sql(sql, (parameter,)).scalars())
