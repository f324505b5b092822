"""Service processes started together, as a supervisor does it (replicas started at
once, a rolling start behind a process migrating): each new database is migrated once
and cleanly, and every process serves. Real processes on SQLite and PostgreSQL. Commands
started together: test_migrate_once.py; stops: test_stopping.py."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa

from producersync.service.nipr.sandbox import SANDBOX_NPNS
from producersync.service.store import migrate as store_migrate
from producersync.service.store.indexes import drop_secondary_indexes
from producersync.service.store.migrate import PG_LOCK_ID
from producersync.service.store.open import open_store
from producersync.service.store.tables import entities, licenses, service_keys
from tests.support.databases import revisions, stored_revisions
from tests.support.processes import FAST, services_together

pytestmark = [pytest.mark.slow(110), pytest.mark.exec]


def test_replicas_started_together_on_a_new_store_all_start(database: str, tmp_path: Path) -> None:
    """API processes and workers started at once on a new store: all serve, and the
    sandbox producers are there once."""
    commands = ["run", "run", "run", "worker", "worker"]
    with services_together(database, tmp_path, commands, env=FAST):
        pass
    assert stored_revisions(database) == revisions(store_migrate)[-1:]
    engine = sa.create_engine(database)
    with engine.connect() as conn:
        npns = list(conn.execute(sa.select(entities.c.npn).order_by(entities.c.npn)).scalars())
    engine.dispose()
    assert npns == sorted(SANDBOX_NPNS)


@contextmanager
def _migrating(url: str, seconds: float) -> Iterator[None]:
    """The store held as a process migrating it holds it (PostgreSQL's advisory lock,
    SQLite's write lock) for ``seconds``: the processes started meanwhile queue behind
    it, then go on together."""
    sqlite = url.startswith("sqlite")
    # Released from the timer's thread.
    threads = {"check_same_thread": False} if sqlite else {}
    engine = sa.create_engine(url, poolclass=sa.NullPool, connect_args=threads)
    conn = engine.connect()
    if sqlite:
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        conn.execute(sa.text("SELECT pg_advisory_lock(:id)"), {"id": PG_LOCK_ID})
    # Closed, the connection ends its transaction (SQLite) or its session's lock.
    release = threading.Timer(seconds, conn.close)
    release.start()
    try:
        yield
    finally:
        release.join()
        engine.dispose()


def test_replicas_queued_behind_a_migration_all_start(database: str, tmp_path: Path) -> None:
    """A rolling start behind a process migrating: API processes and workers go on
    together once it is done, each building what is missing once (a bulk load killed
    half-way left the secondary indexes dropped) and sharing one token signing key."""
    engine = open_store(database)
    drop_secondary_indexes(engine)
    engine.dispose()
    commands = ["run", "run", "run", "worker", "worker"]
    with _migrating(database, 5), services_together(database, tmp_path, commands, env=FAST):
        pass
    engine = sa.create_engine(database)
    with engine.connect() as conn:
        keys = conn.execute(sa.select(sa.func.count()).select_from(service_keys)).scalar_one()
        indexes = {i["name"] for i in sa.inspect(conn).get_indexes("licenses")}
    engine.dispose()
    assert keys == 1
    assert {str(i.name) for i in licenses.indexes} <= indexes
