"""DBOS's SQLite system database journals in WAL mode, as `service run` and `sync run`
leave it, and its records are kept as it is switched."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from producersync.dbos_journal import journal_in_wal
from producersync.webhooks import generate_secret
from tests.support.databases import migrated_mirror
from tests.support.processes import service_process
from tests.support.service import free_port
from tests.support.sync_harness import SyncProcess, offline_env

pytestmark = pytest.mark.slow(10)


def _journal(path: Path) -> str:
    with closing(sqlite3.connect(path)) as conn:
        mode: str = conn.execute("PRAGMA journal_mode").fetchone()[0]
        return mode


def test_a_system_database_in_a_rollback_journal_journals_in_wal_with_its_rows(
    tmp_path: Path,
) -> None:
    path = tmp_path / "store.db.dbos.sqlite"
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("CREATE TABLE workflow_status (workflow_uuid TEXT PRIMARY KEY)")
        conn.execute("INSERT INTO workflow_status VALUES ('w1')")
        conn.commit()
    assert _journal(path) == "delete"
    journal_in_wal(f"sqlite:///{path}")
    assert _journal(path) == "wal"
    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute("SELECT workflow_uuid FROM workflow_status").fetchall() == [("w1",)]


def test_a_missing_system_database_is_made_in_wal_and_a_postgres_one_is_not_opened(
    tmp_path: Path,
) -> None:
    path = tmp_path / "new.dbos.sqlite"
    journal_in_wal(f"sqlite:///{path}")
    assert _journal(path) == "wal"
    # Port 9 (discard) has nothing listening: a connection attempt would raise.
    journal_in_wal("postgresql://ps@127.0.0.1:9/ps?connect_timeout=1")


def test_service_run_and_sync_run_leave_their_system_databases_in_wal(tmp_path: Path) -> None:
    store = tmp_path / "store.db"
    with service_process(f"sqlite:///{store}", tmp_path):
        assert _journal(tmp_path / "store.db.dbos.sqlite") == "wal"
    with migrated_mirror("sqlite", tmp_path) as url:
        sync = SyncProcess(free_port(), offline_env(url, generate_secret(), "wal"), tmp_path)
        sync.start()
        try:
            assert _journal(tmp_path / "mirror.db.dbos.sqlite") == "wal"
        finally:
            sync.stop()
