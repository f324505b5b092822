"""The bulk loader: what goes in comes back out, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import sqlalchemy as sa
from tests.support.databases import ADMIN_URL, postgres_database
from tests.support.documents import stale_documents
from tests.support.loads import BEFORE_THE_CUT, load_cut_short

from producersync.service.nipr.loader import (
    LoadStats,
    UniverseExistsError,
    interrupted_load,
    load,
    next_ids,
)
from producersync.service.nipr.sandbox import SANDBOX_NPNS, sandbox_rows
from producersync.service.nipr.universe import FIRST_ID, TABLES, generate
from producersync.service.store import tables
from producersync.service.store.open import open_store

PRODUCERS = 300


def counts(engine: sa.Engine) -> dict[str, int]:
    with engine.connect() as connection:
        return {
            table.name: connection.execute(
                sa.select(sa.func.count()).select_from(table)
            ).scalar_one()
            for table in tables.RECORD_TABLES
        }


def generated_rows(**kwargs: Any) -> dict[str, list[dict[str, Any]]]:
    merged: dict[str, list[dict[str, Any]]] = {table: [] for table in TABLES}
    for batch in generate(PRODUCERS, **kwargs):
        for table, rows in batch.items():
            merged[table].extend(rows)
    return merged


def test_round_trip(new_store_url: str) -> None:
    engine = open_store(new_store_url)
    sandbox = {table: len(rows) for table, rows in sandbox_rows().items()}
    seen: list[int] = []
    stats = load(
        engine, generate(PRODUCERS, seed=3, batch_size=100), lambda s: seen.append(s.producers)
    )
    expected = generated_rows(seed=3)

    assert seen == [100, 200, 300]
    assert stats.producers == PRODUCERS
    assert stats.rows == {table: len(rows) for table, rows in expected.items()}
    assert stats.total_rows == sum(stats.rows.values())
    assert counts(engine) == {table: sandbox[table] + n for table, n in stats.rows.items()}
    assert next_ids(engine) == {table: FIRST_ID + n for table, n in stats.rows.items()}

    # Read back through SQLAlchemy: dates, booleans, JSON and aware datetimes survive.
    with engine.connect() as connection:
        for table in tables.RECORD_TABLES:
            stored = {
                row["id"]: row
                for row in connection.execute(
                    sa.select(*tables.data_columns(table))
                    .where(table.c.id >= FIRST_ID)
                    .order_by(table.c.id)
                ).mappings()
            }
            for row in expected[table.name]:
                assert dict(stored[row["id"]]) == row, table.name
        # Every stored document is there and is what the columns build.
        assert stale_documents(connection) == {}
    engine.dispose()


def test_refuses_a_store_holding_a_universe_unless_replacing(new_store_url: str) -> None:
    engine = open_store(new_store_url)
    load(engine, generate(50, seed=1))
    with pytest.raises(UniverseExistsError, match="replace"):
        load(engine, generate(50, seed=2))

    stats = load(engine, generate(40, seed=2), replace=True)
    assert stats.producers == 40
    with engine.connect() as connection:
        npns = set(connection.execute(sa.select(tables.entities.c.npn)).scalars())
    assert set(SANDBOX_NPNS) <= npns
    assert len(npns) == 40 + len(SANDBOX_NPNS)
    sandbox = {table: len(rows) for table, rows in sandbox_rows().items()}
    assert counts(engine) == {table: sandbox[table] + n for table, n in stats.rows.items()}
    engine.dispose()


def test_an_empty_load(new_store_url: str) -> None:
    engine = open_store(new_store_url)
    stats = load(engine, [])
    assert stats == LoadStats(elapsed=stats.elapsed)
    assert next_ids(engine)["entities"] == 158583 + 2  # the sandbox firm's id + 1
    engine.dispose()


def test_a_load_that_stops_midway_leaves_the_store_marked_partial(new_store_url: str) -> None:
    engine = open_store(new_store_url)
    assert interrupted_load(engine) is None

    load_cut_short(engine)
    assert counts(engine)["entities"] == len(SANDBOX_NPNS) + BEFORE_THE_CUT
    started = interrupted_load(engine)
    assert started is not None
    assert abs(started - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=1)

    load(engine, generate(50, seed=1), replace=True)
    assert interrupted_load(engine) is None
    engine.dispose()


@contextmanager
def fill_plans(engine: sa.Engine, table: str) -> Iterator[list[str]]:
    """The plans of the statements building ``table``'s documents meanwhile, as each
    is sent."""
    plans: list[str] = []

    def explain(_conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.startswith(f"UPDATE {table} SET document"):
            found = cursor.connection.execute(f"EXPLAIN {statement}", parameters)
            plans.append("\n".join(line for (line,) in found))

    sa.event.listen(engine, "before_cursor_execute", explain)
    try:
        yield plans
    finally:
        sa.event.remove(engine, "before_cursor_execute", explain)


@pytest.mark.postgres
def test_a_transaction_older_than_the_store_leaves_every_index_usable() -> None:
    """A transaction that began before the store was made, in any database of the server
    (a backup's, a report's, a test's), and runs still: it may see the old versions of
    the rows updated in place (the sandbox's; the copied ones as their documents were
    built), so an index built after the copy was one no transaction could use until it
    ended (``pg_index.indcheckxmin``): the licenses' documents were built with a whole
    scan of the LOAs for each, and the API's reads by NPN or by update time scanned
    whole tables."""
    older = sa.create_engine(ADMIN_URL, poolclass=sa.pool.NullPool)
    with older.connect() as running, postgres_database() as url:
        running.execute(sa.text("SELECT txid_current()"))  # a transaction id, held
        engine = open_store(url)
        with fill_plans(engine, "licenses") as plans:
            load(engine, generate(PRODUCERS, seed=1))
        with engine.connect() as connection:
            flagged = connection.exec_driver_sql(
                "SELECT indexrelid::regclass::text FROM pg_index WHERE indcheckxmin"
            ).all()
        engine.dispose()
        running.rollback()
    older.dispose()
    assert plans
    assert not [plan for plan in plans if "Seq Scan on license_loas" in plan], plans
    assert not flagged
