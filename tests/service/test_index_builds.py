"""The store's migrations build their indexes on PostgreSQL concurrently, outside the
migration's transaction: a store upgraded while an older transaction runs (a backup's,
a report's, an idle session's) is read through its indexes throughout, and an upgrade
that must wait for such a transaction says which one it waits for."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager

import pytest
import sqlalchemy as sa

from producersync.service.store import migrate
from producersync.service.store.engine import make_engine
from tests.support.databases import plans_scanning_tables, set_back_before, unusable_indexes
from tests.support.filled import filled_postgres, upgraded_beside_an_older_transaction
from tests.support.waiting import eventually

pytestmark = [pytest.mark.postgres, pytest.mark.slow(30)]

# The API's keyset reads of a record table: a page by NPN, a day's changes.
_KEYSET_READS = (
    "SELECT id FROM entities WHERE (npn, id) > ('1', '1') ORDER BY npn, id LIMIT 10",
    "SELECT id FROM entities WHERE updated_at >= '2020-01-01' ORDER BY updated_at, npn, id"
    " LIMIT 10",
)


def _store_at(revision: str) -> AbstractContextManager[sa.Engine]:
    return filled_postgres(make_engine, migrate.upgrade, "alembic_version", revision)


def _told(caplog: pytest.LogCaptureFixture, words: str) -> list[str]:
    return [record.getMessage() for record in caplog.records if words in record.getMessage()]


def test_an_upgrade_while_an_older_transaction_runs_leaves_every_index_usable() -> None:
    """An idle session holding a transaction id from before the rows were updated in
    place: the indexes 0006 and 0007 built in the migration's transaction were flagged
    ``pg_index.indcheckxmin`` (it may still see the rows' old versions), no transaction
    could use them until it ended, and the keyset reads scanned whole tables (the old
    indexes dropped)."""
    with _store_at("0005") as engine:
        found = upgraded_beside_an_older_transaction(
            engine, migrate.upgrade, "alembic_version", _KEYSET_READS
        )
    assert found == ([], [])


def test_an_upgrade_that_waits_for_an_older_transaction_says_which_and_keeps_an_index(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A transaction holding a snapshot older than the build (a ``pg_dump``'s): the
    concurrent build waits for it to end, says so in the log with its pid, and the old
    index serves the reads meanwhile."""
    caplog.set_level(logging.INFO, logger="producersync.index_builds")
    with _store_at("0005") as engine, engine.connect() as older:
        older.execution_options(isolation_level="REPEATABLE READ")
        older.exec_driver_sql("SELECT 1")  # its snapshot, held
        pid = older.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
        upgrading = threading.Thread(target=migrate.upgrade, args=(engine,))
        upgrading.start()
        eventually(lambda: bool(_told(caplog, f"pid {pid}")))
        told = _told(caplog, f"pid {pid}")
        scanning = plans_scanning_tables(engine, _KEYSET_READS)
        older.rollback()
        upgrading.join()
        assert migrate.current_revision(engine) == migrate.HEAD
        flagged = unusable_indexes(engine)
    assert "ix_entities_npn_id_updated_at" in told[0]
    assert "idle in transaction" in told[0]
    assert scanning == []
    assert flagged == []
    assert _told(caplog, "ix_entities_npn_id_updated_at done, ")


def test_upgrades_started_together_on_a_store_in_use_complete() -> None:
    """Two processes upgrading one store at once: the second waits for the first's lock
    while the first's concurrent builds wait for every older snapshot of the database."""
    with _store_at("0005") as engine:
        with ThreadPoolExecutor(2) as pool:
            for upgraded in [pool.submit(migrate.upgrade, engine) for _ in range(2)]:
                upgraded.result()
        assert migrate.current_revision(engine) == migrate.HEAD
        assert unusable_indexes(engine) == []


def test_an_index_a_build_left_invalid_is_built_again() -> None:
    """A concurrent build interrupted (the process killed, the statement cancelled)
    leaves its index INVALID under its name: the next upgrade drops it and builds it."""
    with _store_at("0005") as engine:
        with engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT")
            with pytest.raises(sa.exc.IntegrityError):  # two rows, one value
                conn.exec_driver_sql(
                    "CREATE UNIQUE INDEX CONCURRENTLY ix_entities_npn_id_updated_at"
                    " ON entities ((1))"
                )
        assert unusable_indexes(engine) == ["ix_entities_npn_id_updated_at"]
        migrate.upgrade(engine)
        flagged = unusable_indexes(engine)
        with engine.connect() as conn:
            built = conn.exec_driver_sql(
                "SELECT pg_get_indexdef('ix_entities_npn_id_updated_at'::regclass)"
            ).scalar_one()
    assert flagged == []
    assert built.endswith("(npn, id, updated_at)")


_BUILDING = ["0006", "0007", "0009", "0010", "0011", "0012", "0014", "0016"]


@pytest.mark.parametrize("revision", _BUILDING)
def test_an_upgrade_cut_short_in_a_migration_s_builds_completes_on_the_next(
    revision: str,
) -> None:
    """A migration commits its other changes before building its indexes: the store
    stays at the revision before it until they are built, and the next upgrade runs
    the migration again over what it had committed."""
    with _store_at(revision) as engine:
        set_back_before(engine, migrate, "alembic_version", revision)
        migrate.upgrade(engine)
        assert migrate.current_revision(engine) == migrate.HEAD
        assert unusable_indexes(engine) == []
