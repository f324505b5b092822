"""Bulk-load batches of record rows into the store, fast, on SQLite and PostgreSQL.

SQLAlchemy's per-row machinery would dominate a load of tens of millions of rows, so
this goes to the driver: ``executemany`` on one sqlite3 connection, ``COPY FROM STDIN``
through psycopg on PostgreSQL. Values are converted column by column the way SQLAlchemy
would store them, so the service reads loaded rows exactly as rows it wrote itself.
"""

from __future__ import annotations

import datetime as dt
import gc
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

import orjson
import sqlalchemy as sa

from producersync.service.nipr.sandbox import SANDBOX_NPNS
from producersync.service.nipr.universe import Batch
from producersync.service.store import documents
from producersync.service.store import tables as t
from producersync.service.store.indexes import drop_secondary_indexes, ensure_secondary_indexes
from producersync.service.store.maintenance import after_bulk_write
from producersync.timestamps import UtcDateTime

__all__ = [
    "LoadStats",
    "UniverseExistsError",
    "holds_universe",
    "interrupted_load",
    "load",
    "next_ids",
]


class UniverseExistsError(RuntimeError):
    """The store already holds producers besides the sandbox ones."""


@dataclass
class LoadStats:
    """Running totals of a load: producers (entity rows), rows per table, seconds."""

    producers: int = 0
    rows: dict[str, int] = field(default_factory=lambda: {tb.name: 0 for tb in t.RECORD_TABLES})
    elapsed: float = 0.0

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())


def next_ids(engine: sa.Engine) -> dict[str, int]:
    """The first free id of every record table (ids are explicit, never autoincremented)."""
    with engine.connect() as connection:
        return {
            table.name: (connection.execute(sa.select(sa.func.max(table.c.id))).scalar_one() or 0)
            + 1
            for table in t.RECORD_TABLES
        }


def load(
    engine: sa.Engine,
    batches: Iterable[Batch],
    on_batch: Callable[[LoadStats], None] | None = None,
    *,
    replace: bool = False,
) -> LoadStats:
    """Load ``batches`` (table name -> rows), committing after each batch.

    Refuses a store that already holds producers other than the sandbox's, unless
    ``replace`` is set: then every record row not belonging to a sandbox NPN goes first.
    ``on_batch`` receives the running totals after each commit. Until it returns, the
    store tells it holds part of a universe (``interrupted_load``).
    """
    _clear_or_refuse(engine, replace)
    load_id = _record_start(engine)
    stats = LoadStats()
    started = time.perf_counter()
    # On SQLite, building each secondary index once at the end is cheaper than
    # maintaining it row by row; the tables hold only the sandbox (or nothing) at this
    # point. Those the documents are built by stay, and on PostgreSQL all do (see
    # drop_secondary_indexes), or are built now, on these few rows, where a killed load
    # of an earlier version left them dropped.
    sqlite = engine.dialect.name == "sqlite"
    if sqlite:
        drop_secondary_indexes(engine)
    ensure_secondary_indexes(engine, parents_only=sqlite)
    try:
        _copy(engine, batches, stats, started, on_batch)
        # On SQLite, the stored documents before the other indexes, which they would
        # only slow down.
        documents.fill_all(engine)
    finally:
        ensure_secondary_indexes(engine)
    _analyze(engine)
    _record_finish(engine, load_id)
    stats.elapsed = time.perf_counter() - started
    return stats


def _copy(
    engine: sa.Engine,
    batches: Iterable[Batch],
    stats: LoadStats,
    started: float,
    on_batch: Callable[[LoadStats], None] | None,
) -> None:
    loader = _SqliteLoader if engine.dialect.name == "sqlite" else _PostgresLoader
    raw = engine.raw_connection()
    # Every batch is a few hundred thousand fresh, acyclic dicts: the cycle collector
    # would rescan them all many times per batch for nothing.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        with loader(raw, engine.dialect) as write:
            for batch in batches:
                for table in t.RECORD_TABLES:
                    rows = batch.get(table.name)
                    if rows:
                        write(table, rows)
                        stats.rows[table.name] += len(rows)
                raw.commit()
                stats.producers = stats.rows[t.entities.name]
                stats.elapsed = time.perf_counter() - started
                if on_batch is not None:
                    on_batch(stats)
    finally:
        if gc_was_enabled:
            gc.enable()
        raw.close()


def holds_universe(engine: sa.Engine) -> bool:
    """Whether the store holds producers besides the sandbox's: a generated universe, or
    what an interrupted load left of one."""
    generated = t.entities.c.npn.not_in(SANDBOX_NPNS)
    with engine.connect() as connection:
        found = connection.execute(sa.select(t.entities.c.npn).where(generated).limit(1))
        return found.first() is not None


def interrupted_load(engine: sa.Engine) -> dt.datetime | None:
    """When the last load started, if it never finished (killed, or it failed): the store
    then holds part of a universe, which would be served as if whole."""
    latest = sa.select(t.nipr_loads.c.started_at, t.nipr_loads.c.finished_at)
    with engine.connect() as connection:
        row = connection.execute(latest.order_by(t.nipr_loads.c.id.desc()).limit(1)).first()
    return row.started_at if row is not None and row.finished_at is None else None


def _record_start(engine: sa.Engine) -> int:
    with engine.begin() as connection:
        started = t.nipr_loads.insert().values(started_at=dt.datetime.now(dt.UTC))
        key = connection.execute(started).inserted_primary_key
    assert key is not None
    return int(key[0])


def _record_finish(engine: sa.Engine, load_id: int) -> None:
    finished = t.nipr_loads.update().where(t.nipr_loads.c.id == load_id)
    with engine.begin() as connection:
        connection.execute(finished.values(finished_at=dt.datetime.now(dt.UTC)))


def _clear_or_refuse(engine: sa.Engine, replace: bool) -> None:
    if not replace:
        if holds_universe(engine):
            raise UniverseExistsError(
                "the store already holds a generated universe (producers besides the "
                "sandbox); pass replace=True to delete it first"
            )
        return
    with engine.begin() as connection:
        for table in reversed(t.RECORD_TABLES):
            connection.execute(table.delete().where(table.c.npn.not_in(SANDBOX_NPNS)))


def _analyze(engine: sa.Engine) -> None:
    """Refresh planner statistics (the tables just grew by orders of magnitude) and vacuum
    on PostgreSQL: building the documents left a dead version of every row."""
    after_bulk_write(engine, t.RECORD_TABLES)
    if engine.dialect.name == "sqlite":
        # Fold the write-ahead log into the database so the file holds the data.
        with engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


Converter = Callable[[Sequence[Any]], list[Any]]


class _Memo(dict[Any, Any]):
    """Converts through ``process`` once per distinct value: dates repeat a great deal."""

    def __init__(self, process: Callable[[Any], Any]) -> None:
        super().__init__({None: None})
        self.process = process

    def __missing__(self, key: Any) -> Any:
        value = self[key] = self.process(key)
        return value


def _json_text(values: Sequence[Any]) -> list[Any]:
    return [None if v is None else orjson.dumps(v).decode() for v in values]


class _Loader:
    """Writes rows of one table; a context manager around the whole load."""

    def __init__(self, raw: Any, dialect: sa.Dialect) -> None:
        self.raw = raw
        self.dialect = dialect
        self.columns = {table.name: t.data_columns(table) for table in t.RECORD_TABLES}
        self.names = {name: ", ".join(c.name for c in cols) for name, cols in self.columns.items()}
        self.getters = {
            name: itemgetter(*(c.name for c in cols)) for name, cols in self.columns.items()
        }
        self.converters: dict[str, list[tuple[int, Converter]]] = {}
        for table in t.RECORD_TABLES:
            converters = [(i, self.converter(c)) for i, c in enumerate(self.columns[table.name])]
            self.converters[table.name] = [(i, c) for i, c in converters if c is not None]

    def converter(self, column: sa.Column[Any]) -> Converter | None:
        if isinstance(column.type, sa.JSON):
            return _json_text
        return None

    def values(self, table: sa.Table, rows: list[dict[str, Any]]) -> Iterable[tuple[Any, ...]]:
        """The rows as tuples in the table's column order, converted for the driver."""
        # Read each row dict once (row-major: dicts are scattered in memory), then convert
        # whole columns at C speed.
        tuples = list(map(self.getters[table.name], rows))
        converters = self.converters[table.name]
        if not converters:
            return tuples
        columns: list[Sequence[Any]] = list(zip(*tuples, strict=True))
        for index, convert in converters:
            columns[index] = convert(columns[index])
        return zip(*columns, strict=True)

    def __enter__(self) -> Callable[[sa.Table, list[dict[str, Any]]], None]:
        return self.write

    def __exit__(self, *exc: object) -> None:
        return None

    def write(self, table: sa.Table, rows: list[dict[str, Any]]) -> None:
        raise NotImplementedError


class _SqliteLoader(_Loader):
    def __init__(self, raw: Any, dialect: sa.Dialect) -> None:
        super().__init__(raw, dialect)
        self.statements = {
            table.name: f"INSERT INTO {table.name} ({self.names[table.name]}) "
            f"VALUES ({', '.join('?' * len(self.columns[table.name]))})"
            for table in t.RECORD_TABLES
        }

    def converter(self, column: sa.Column[Any]) -> Converter | None:
        kind = column.type
        if isinstance(kind, sa.JSON):
            return _json_text
        if isinstance(kind, sa.Date | UtcDateTime):
            # SQLite has no date type: store exactly the text SQLAlchemy would.
            process = kind.dialect_impl(self.dialect).bind_processor(self.dialect)
            assert process is not None
            memo = _Memo(process)
            return lambda values: list(map(memo.__getitem__, values))
        return None

    def __enter__(self) -> Callable[[sa.Table, list[dict[str, Any]]], None]:
        cursor = self.raw.cursor()
        # No fsyncs while loading: a crashed process still leaves a consistent file (the
        # WAL sees to that); only a power cut mid-load could not, and generated data can
        # be generated again.
        cursor.execute("PRAGMA synchronous=OFF")
        cursor.close()
        return self.write

    def __exit__(self, *exc: object) -> None:
        self.raw.rollback()
        cursor = self.raw.cursor()
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    def write(self, table: sa.Table, rows: list[dict[str, Any]]) -> None:
        cursor = self.raw.cursor()
        if not self.raw.driver_connection.in_transaction:
            # SQLAlchemy runs pysqlite in autocommit mode and issues BEGIN itself; without
            # one here every row would be its own transaction.
            cursor.execute("BEGIN")
        cursor.executemany(self.statements[table.name], self.values(table, rows))
        cursor.close()


class _PostgresLoader(_Loader):
    def write(self, table: sa.Table, rows: list[dict[str, Any]]) -> None:
        statement = f"COPY {table.name} ({self.names[table.name]}) FROM STDIN"
        with self.raw.cursor() as cursor, cursor.copy(statement) as copy:
            for values in self.values(table, rows):
                copy.write_row(values)
