"""The sandbox producers: present in every store, fixed, inserted once."""

from __future__ import annotations

import datetime as dt
import threading

import sqlalchemy as sa

from producersync.model.npn import is_npn
from producersync.service.nipr.sandbox import SANDBOX_NPNS, ensure_sandbox, sandbox_rows
from producersync.service.nipr.universe import FIRST_ID
from producersync.service.store import tables
from producersync.service.store.engine import make_engine
from producersync.service.store.migrate import upgrade
from producersync.service.store.open import open_store


def snapshot(engine: sa.Engine) -> dict[str, list[tuple[object, ...]]]:
    with engine.connect() as connection:
        return {
            table.name: [
                tuple(row) for row in connection.execute(sa.select(table).order_by(table.c.id))
            ]
            for table in tables.RECORD_TABLES
        }


def test_rows_fit_the_tables() -> None:
    rows = sandbox_rows()
    assert set(rows) == {table.name for table in tables.RECORD_TABLES}
    for table in tables.RECORD_TABLES:
        assert rows[table.name], table.name
        for row in rows[table.name]:
            assert set(row) == {c.name for c in tables.data_columns(table)}, table.name
            assert row["id"] < FIRST_ID
            assert row["npn"] in SANDBOX_NPNS
    assert all(is_npn(npn) for npn in SANDBOX_NPNS)
    assert {e["npn"] for e in rows["entities"]} == set(SANDBOX_NPNS)
    assert sandbox_rows() == rows


def test_joe_a_producer_as_documented(empty_store_url: str) -> None:
    engine = open_store(empty_store_url)
    with engine.connect() as connection:
        joe = (
            connection.execute(
                sa.select(tables.entities).where(tables.entities.c.npn == "15645555")
            )
            .one()
            ._mapping
        )
        licenses = connection.execute(
            sa.select(tables.licenses).where(tables.licenses.c.npn == "15645555")
        ).all()
    assert joe["id"] == 158583
    assert joe["type"] == "INDIVIDUAL"
    assert (joe["first_name"], joe["middle_name"], joe["last_name"]) == ("Joe", "A", "Producer")
    assert joe["updated_at"] == dt.date(2025, 6, 13)
    assert joe["no_licenses"] is False
    assert joe["nipr_deleted"] is False
    assert [lic.residency_status for lic in licenses].count("R") == 1
    assert len(licenses) >= 3
    engine.dispose()


def test_ensure_is_idempotent(empty_store_url: str) -> None:
    engine = open_store(empty_store_url)  # the first call
    before = snapshot(engine)
    ensure_sandbox(engine)
    ensure_sandbox(engine)
    assert snapshot(engine) == before
    assert {table: len(rows) for table, rows in before.items()} == {
        table: len(rows) for table, rows in sandbox_rows().items()
    }
    engine.dispose()


def test_racing_callers_insert_once(empty_store_url: str) -> None:
    # Six, fifteen times over: on PostgreSQL, the callers after the first updated the
    # same documents in another order, and one in five rounds failed "deadlock detected".
    engine = make_engine(empty_store_url)
    upgrade(engine)
    errors: list[BaseException] = []
    barrier = threading.Barrier(6)

    def racer() -> None:
        other = make_engine(empty_store_url)
        try:
            barrier.wait()
            ensure_sandbox(other)
        except BaseException as error:  # reported below, on the test's thread
            errors.append(error)
        finally:
            other.dispose()

    for _ in range(15):
        with engine.begin() as conn:
            for table in reversed(tables.RECORD_TABLES):
                conn.execute(table.delete())
        threads = [threading.Thread(target=racer) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert {table: len(rows) for table, rows in snapshot(engine).items()} == {
            table: len(rows) for table, rows in sandbox_rows().items()
        }
    engine.dispose()
