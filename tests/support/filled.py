"""A schema's every table with rows in it, whatever revision it is at: what the
migrations' tests upgrade."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any

import sqlalchemy as sa

from tests.support.databases import plans_scanning_tables, postgres_database, unusable_indexes

__all__ = [
    "fill_every_table",
    "filled_postgres",
    "upgraded_beside_an_older_transaction",
    "value",
]


def value(column: sa.Column[Any], n: int) -> Any:
    """A value of ``column``'s type for row ``n``; in the past, so that no migration has
    a reason to correct it."""
    python_type = None
    with suppress(NotImplementedError):  # a type of no one Python type
        python_type = column.type.python_type
    if python_type is bool:
        return n % 2 == 0
    if python_type is int:
        return n
    if python_type is dt.datetime:
        return dt.datetime(2020, 1, 2, 3, 4, 5, tzinfo=dt.UTC) + dt.timedelta(days=n)
    if python_type is dt.date:
        return dt.date(2019, 1, 1) + dt.timedelta(days=n)
    if python_type is bytes:
        return b"body %d" % n
    if python_type in (dict, list):
        return {"n": n}
    return str(n)


def fill_every_table(
    engine: sa.Engine, version_table: str, first: int = 1
) -> dict[str, list[dict[str, Any]]]:
    """Two rows in every table as the schema stands, numbered ``first`` and the next (a
    parent's before its children's, a foreign key naming its parent's row of the same
    number); the rows, as written. No migration seeds a table, so none is in the way."""
    reflected = sa.MetaData()
    reflected.reflect(engine)
    written: dict[str, list[dict[str, Any]]] = {}
    with engine.begin() as conn:
        for table in reflected.sorted_tables:
            if table.name == version_table:
                continue
            rows = []
            for i, n in enumerate((first, first + 1)):
                row = {column.name: value(column, n) for column in table.columns}
                for fk in table.foreign_keys:
                    row[fk.parent.name] = written[fk.column.table.name][i][fk.column.name]
                rows.append(row)
            conn.execute(table.insert(), rows)
            written[table.name] = rows
    return written


@contextmanager
def filled_postgres(
    make_engine: Callable[[str], sa.Engine],
    upgrade: Callable[[sa.Engine, str], None],
    version_table: str,
    revision: str,
) -> Iterator[sa.Engine]:
    """A new PostgreSQL database of a schema (``make_engine``, ``upgrade``: its store's or
    mirror's) at ``revision``, with rows in every table."""
    with postgres_database() as url:
        engine = make_engine(url)
        try:
            upgrade(engine, revision)
            fill_every_table(engine, version_table)
            yield engine
        finally:
            engine.dispose()


def upgraded_beside_an_older_transaction(
    engine: sa.Engine,
    upgrade: Callable[[sa.Engine], None],
    version_table: str,
    reads: Sequence[str],
) -> tuple[list[str], list[str]]:
    """``engine``'s database upgraded while an idle session holds a transaction id from
    before every row was updated in place (a heap-only update: no indexed column
    changed, as a database in use has them): the indexes left unusable, and the plans of
    ``reads`` that scan a whole table."""
    reflected = sa.MetaData()
    reflected.reflect(engine)
    with engine.connect() as older:
        older.exec_driver_sql("SELECT txid_current()")  # a transaction id, held
        with engine.begin() as conn:
            for table in reflected.sorted_tables:
                if table.name != version_table:
                    first = next(iter(table.columns)).name
                    conn.exec_driver_sql(f"UPDATE {table.name} SET {first} = {first}")
        upgrade(engine)
        found = unusable_indexes(engine), plans_scanning_tables(engine, reads)
        older.rollback()
    return found
