"""The store opens ready for use, whatever state a crash left it in."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from producersync.service.store.engine import make_engine
from producersync.service.store.indexes import drop_secondary_indexes
from producersync.service.store.migrate import upgrade
from producersync.service.store.open import open_store
from producersync.service.store.tables import RECORD_TABLES, licenses
from tests.conftest import BACKENDS
from tests.support.databases import postgres_database, store_url


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


@pytest.mark.postgres
def test_a_pool_size_sizes_the_postgres_pools_and_sqlite_ignores_it(tmp_path: Path) -> None:
    """``PRODUCERSYNC_DATABASE_POOL_SIZE`` and ``_MIRROR_POOL_SIZE``: the store's and the
    mirror's PostgreSQL pools keep that many connections and open twice as many more."""
    from producersync.sync.mirror import open_mirror

    with postgres_database() as store, postgres_database() as mirror:
        for engine in (open_store(store, 3), open_mirror(mirror, 3)):
            pool = engine.pool
            assert isinstance(pool, sa.QueuePool)
            assert (pool.size(), pool._max_overflow) == (3, 6)
            engine.dispose()
    sqlite = open_store(f"sqlite:///{tmp_path / 'store.db'}", 3)
    with sqlite.connect() as conn:
        assert conn.execute(sa.text("SELECT 1")).scalar() == 1
    sqlite.dispose()


@pytest.mark.parametrize("kind", BACKENDS)
def test_a_failed_statement_shows_none_of_its_parameters(kind: str, tmp_path: Path) -> None:
    """The store binds webhook signing secrets; its errors are logged."""
    with store_url(kind, tmp_path) as url:
        engine = make_engine(url)
        try:
            with pytest.raises(sa.exc.DBAPIError) as caught, engine.connect() as conn:
                query = sa.text("SELECT secret FROM no_such_table WHERE secret = :secret")
                conn.execute(query, {"secret": "whsec_planted"})
        finally:
            engine.dispose()
    assert "no_such_table" in str(caught.value)
    assert "whsec_planted" not in str(caught.value)


@pytest.mark.parametrize("kind", BACKENDS)
def test_the_migrations_build_what_the_tables_declare(kind: str, tmp_path: Path) -> None:
    """Alembic finds nothing to add, drop or alter, in the store and in the mirror: a
    table declared without its migration fails here, not in a user's database."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from producersync.service.store.tables import metadata as store_metadata
    from producersync.sync.mirror import open_mirror
    from producersync.sync.mirror.migrate import VERSION_TABLE
    from producersync.sync.mirror.tables import metadata as mirror_metadata

    for opener, metadata, version_table in (
        (open_store, store_metadata, "alembic_version"),
        (open_mirror, mirror_metadata, VERSION_TABLE),
    ):
        (tmp_path / version_table).mkdir()
        with store_url(kind, tmp_path / version_table) as url:
            engine = opener(url)
            try:
                with engine.connect() as conn:
                    context = MigrationContext.configure(
                        conn, opts={"version_table": version_table}
                    )
                    diff = compare_metadata(context, metadata)
            finally:
                engine.dispose()
        assert diff == [], (opener.__name__, diff)
