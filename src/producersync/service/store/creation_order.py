"""The order a table's rows were made in, by a number each row gets as it is inserted.

Ordered by their times instead, rows made in one transaction tied (PostgreSQL's ``now()``
is the transaction's start) and fell in whatever order the rest of the key gave, and rows
stamped by two hosts fell in the order of their clocks. The number is PostgreSQL's
sequence ``<table>_seq_seq``, and on SQLite, whose writers take turns, one more than the
table's largest: greater, either way, than every row's already made.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.visitors import InternalTraversal

from producersync.index_builds import build_indexes, committed_column

__all__ = ["SEQ", "add_creation_order", "creation_order", "next_in_order"]

SEQ = "seq"  # the column's name
_TYPE = sa.BigInteger().with_variant(sa.Integer, "sqlite")


class _NextInOrder(sa.ColumnElement[int]):
    """The number of the row an INSERT into ``table`` makes (the column's default, so
    that every insert through SQLAlchemy numbers its row)."""

    inherit_cache = True
    # What tells one from another in SQLAlchemy's statement cache (a list, as declared).
    _traverse_internals = [("table", InternalTraversal.dp_string)]  # noqa: RUF012

    def __init__(self, table: str) -> None:
        self.table = table
        self.type = sa.BigInteger()


@compiles(_NextInOrder, "postgresql")
def _next_in_sequence(element: _NextInOrder, compiler: SQLCompiler, **kw: Any) -> str:
    return f"nextval('{element.table}_{SEQ}_seq')"


@compiles(_NextInOrder, "sqlite")
def _next_after_largest(element: _NextInOrder, compiler: SQLCompiler, **kw: Any) -> str:
    return f"(SELECT coalesce(max({SEQ}), 0) + 1 FROM {element.table})"


def creation_order(table: str) -> sa.Column[int]:
    """``table``'s column of its creation order (unique: index it so)."""
    return sa.Column(
        SEQ,
        _TYPE,
        nullable=False,
        default=_NextInOrder(table),
        # The migrations' (SQLite adds a required column only with a constant default):
        # every insert through SQLAlchemy gives its own number. One that gives none (a
        # process of the version before 0014, still running in a rolling upgrade) is
        # numbered by the database: PostgreSQL's default is then the sequence, and a
        # trigger renumbers SQLite's 0 (migration 0017).
        server_default="0",
    )


def next_in_order(conn: sa.Connection, table: str, count: int) -> list[int]:
    """The numbers of ``count`` rows about to be inserted into ``table``, in order, for an
    insert that names its columns (``bulk.insert_rows``), which the column's default is
    not given to."""
    if conn.dialect.name == "postgresql":
        taken = sa.text(f"SELECT nextval('{table}_{SEQ}_seq') FROM generate_series(1, :count)")
        return sorted(conn.execute(taken, {"count": count}).scalars())
    largest = conn.execute(sa.text(f"SELECT coalesce(max({SEQ}), 0) FROM {table}")).scalar_one()
    return list(range(largest + 1, largest + 1 + count))


def add_creation_order(table: str, key: str, order: str) -> None:
    """In a migration: ``table``'s column of its creation order added (migrations 0014 and
    0016), its rows already made numbered by ``order`` (SQL, ending in the key ``key``,
    as they ran or listed until then), PostgreSQL's sequence set past them, a unique index
    (``build_indexes``: on PostgreSQL, the column committed before it is built).
    """
    if not committed_column(table, SEQ):
        _number_rows(table, key, order)
    build_indexes(table, [[SEQ]], unique=True)


def _number_rows(table: str, key: str, order: str) -> None:
    from alembic import op  # a migration's: opening the store imports no Alembic

    # Required from the start, which SQLite allows only with a constant default: made
    # required later, the table is copied and the old one dropped, which the foreign
    # keys naming it refuse (checked at once: the pragma that turns them off is a no-op
    # in a transaction).
    op.add_column(
        table,
        sa.Column(
            SEQ,
            _TYPE,
            server_default="0",
            nullable=False,
        ),
    )
    # Through a table keyed as theirs, not UPDATE ... FROM, which SQLite has only since 3.33.
    op.execute("CREATE TEMPORARY TABLE made_order (made_key VARCHAR(64) PRIMARY KEY, n BIGINT)")
    op.execute(
        f"INSERT INTO made_order (made_key, n)"
        f" SELECT {key}, row_number() OVER (ORDER BY {order}) FROM {table}"
    )
    op.execute(
        f"UPDATE {table} SET {SEQ}"
        f" = (SELECT n FROM made_order WHERE made_order.made_key = {table}.{key})"
    )
    op.execute("DROP TABLE made_order")
    if op.get_bind().dialect.name == "postgresql":  # the numbers of the rows made from now on
        op.execute(f"CREATE SEQUENCE {table}_{SEQ}_seq OWNED BY {table}.{SEQ}")
        op.execute(
            f"SELECT setval('{table}_{SEQ}_seq', coalesce(max({SEQ}), 0) + 1, false) FROM {table}"
        )
        # What 0017 gives it, from the start: the column is committed before its unique
        # index is built, and a process of the version before 0014, still running, would
        # meanwhile give its rows 0, the index's build then failing on them.
        op.execute(
            f"ALTER TABLE {table} ALTER COLUMN {SEQ} SET DEFAULT nextval('{table}_{SEQ}_seq')"
        )
