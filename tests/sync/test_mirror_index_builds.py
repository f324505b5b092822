"""The mirror's migrations build their indexes on PostgreSQL concurrently, outside the
migration's transaction, as the store's do (``producersync.index_builds``): a customer's
mirror upgraded while an older transaction runs on its server (their backup's, a
report's, an idle session's) is read through its indexes after, and through the ones it
had meanwhile."""

from __future__ import annotations

import logging
import threading
from contextlib import AbstractContextManager

import pytest
import sqlalchemy as sa

from producersync.sync.mirror import migrate
from producersync.sync.mirror.engine import make_engine
from tests.support.databases import (
    plans_scanning_tables,
    set_back_before,
    stored_revisions,
    unusable_indexes,
)
from tests.support.filled import filled_postgres, upgraded_beside_an_older_transaction
from tests.support.waiting import eventually

pytestmark = [pytest.mark.postgres, pytest.mark.slow(30)]

# The reads each migration's index serves, as the mirror's queries spell them.
_READS = (
    # 0002: the events still owed, oldest first.
    "SELECT event_id FROM events WHERE processed_at IS NULL ORDER BY received_at, event_id"
    " LIMIT 10",
    # 0006: the run a workflow step started.
    "SELECT id FROM sync_runs WHERE started_by = 'step'",
    # 0013, 0014: a check's walk of the LOA words, a value at a time.
    *(
        f"SELECT min(substr(CAST({word} AS TEXT), 1, 200)) FROM license_loas"
        f" WHERE substr(CAST({word} AS TEXT), 1, 200) > 'a'"
        for word in ("loa", "loa_code", "categories")
    ),
    # 0013: `sync status`'s latest malformed fields.
    "SELECT field FROM malformed ORDER BY seen_at DESC, resource, record_id, field LIMIT 10",
    # 0016: the lag gauge's accepted updates of a day.
    "SELECT event_id FROM receipts WHERE verdict NOT LIKE 'rejected: %%'"  # the driver's escape
    " AND event_type = 'updates_available' AND received_at >= '2020-01-01'"
    " ORDER BY received_at",
)


def _mirror_at(revision: str) -> AbstractContextManager[sa.Engine]:
    return filled_postgres(make_engine, migrate.upgrade, migrate.VERSION_TABLE, revision)


def _revision(engine: sa.Engine) -> list[str]:
    return stored_revisions(engine.url.render_as_string(False), migrate.VERSION_TABLE)


# From the first: 0002, 0006, 0010, 0013 (the LOAs'), 0014, 0016 find rows; from 0012,
# 0013's index of the malformed fields too (their table is made in 0008).
@pytest.mark.parametrize("start", ["0001", "0012"])
def test_an_upgrade_while_an_older_transaction_runs_leaves_every_index_usable(
    start: str,
) -> None:
    """An idle session holding a transaction id from before the rows were updated in
    place: an index built in the migration's transaction was flagged
    ``pg_index.indcheckxmin`` (it may still see the rows' old versions), and no query
    could use it until that session ended."""
    with _mirror_at(start) as engine:
        found = upgraded_beside_an_older_transaction(
            engine, migrate.upgrade, migrate.VERSION_TABLE, _READS
        )
    assert found == ([], [])


def test_an_upgrade_that_waits_for_an_older_transaction_says_which(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A transaction holding a snapshot older than the build (a ``pg_dump``'s): the
    concurrent build waits for it to end and says so, naming the mirror."""
    caplog.set_level(logging.INFO, logger="producersync.index_builds")
    with _mirror_at("0001") as engine, engine.connect() as older:
        older.execution_options(isolation_level="REPEATABLE READ")
        older.exec_driver_sql("SELECT 1")  # its snapshot, held
        pid = older.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
        upgrading = threading.Thread(target=migrate.upgrade, args=(engine,))
        upgrading.start()
        eventually(lambda: any(f"pid {pid}" in r.getMessage() for r in caplog.records))
        older.rollback()
        upgrading.join()
        assert _revision(engine) == [migrate.HEAD]
        flagged = unusable_indexes(engine)
    told = [r.getMessage() for r in caplog.records if f"pid {pid}" in r.getMessage()]
    assert told[0].startswith("the mirror's upgrade: building index ix_events_unprocessed")
    assert flagged == []


_BUILDING = ["0002", "0006", "0010", "0013", "0014", "0016"]


@pytest.mark.parametrize("revision", _BUILDING)
def test_an_upgrade_cut_short_in_a_migration_s_builds_completes_on_the_next(
    revision: str,
) -> None:
    """A migration commits its other changes before building its indexes: the mirror
    stays at the revision before it until they are built, and the next upgrade runs
    the migration again over what it had committed."""
    with _mirror_at(revision) as engine:
        set_back_before(engine, migrate, migrate.VERSION_TABLE, revision)
        migrate.upgrade(engine)
        assert _revision(engine) == [migrate.HEAD]
        assert unusable_indexes(engine) == []
        assert plans_scanning_tables(engine, _READS) == []
