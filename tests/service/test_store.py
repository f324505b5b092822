"""The store opens ready for use, whatever state a crash left it in."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from producersync.service.store.engine import make_engine
from producersync.service.store.indexes import drop_secondary_indexes
from producersync.service.store.migrate import upgrade
from producersync.service.store.open import open_store
from producersync.service.store.tables import RECORD_TABLES, licenses
from tests.support.databases import store_url


def test_open_store_restores_indexes_a_killed_bulk_load_dropped(tmp_path: Path) -> None:
    with store_url("sqlite", tmp_path) as url:
        engine = open_store(url)
        drop_secondary_indexes(engine)
        assert not sa.inspect(engine).has_index("licenses", "ix_licenses_npn_id_updated_at")
        engine.dispose()
        engine = open_store(url)
        names = {index["name"] for index in sa.inspect(engine).get_indexes("licenses")}
        assert {i.name for i in licenses.indexes} <= names
        engine.dispose()


def test_migrations_leave_the_indexes_the_tables_declare(tmp_path: Path) -> None:
    """Nothing missing that ``open_store`` would have to restore, nothing left over."""
    with store_url("sqlite", tmp_path) as url:
        engine = make_engine(url)
        upgrade(engine)
        for table in RECORD_TABLES:
            names = {index["name"] for index in sa.inspect(engine).get_indexes(table.name)}
            assert names == {str(index.name) for index in table.indexes}, table.name
        engine.dispose()


def test_open_store_twice_is_idempotent(tmp_path: Path) -> None:
    with store_url("sqlite", tmp_path) as url:
        for _ in range(2):
            open_store(url).dispose()
