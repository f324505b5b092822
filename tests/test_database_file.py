"""SQLite files the processes make are readable by their owner alone: the store holds the
token-signing key and the webhook signing secrets, the mirror the producers' records, a
DBOS system database its workflows' inputs. SQLite made them 0644 (less the umask)."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from producersync.service.store.engine import make_engine as store_engine
from producersync.sync.mirror.engine import make_engine as mirror_engine
from producersync.webhooks import generate_secret
from tests.support.processes import service_process
from tests.support.service import free_port
from tests.support.sync_harness import SyncProcess, offline_env


@pytest.fixture(autouse=True)
def _usual_umask() -> Iterator[None]:
    """The umask most hosts give (022), under which SQLite's new files are world-readable;
    the processes forked by the tests inherit it."""
    before = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(before)


def _modes(directory: Path) -> dict[str, str]:
    """Each file's permission bits, as ``ls`` shows them."""
    return {p.name: stat.filemode(p.stat().st_mode) for p in sorted(directory.iterdir())}


def _owner_only(directory: Path, *names: str) -> None:
    modes = _modes(directory)
    assert set(names) <= set(modes), modes
    assert {name: modes[name] for name in names} == dict.fromkeys(names, "-rw-------")


@pytest.mark.parametrize("make_engine", [store_engine, mirror_engine], ids=["store", "mirror"])
def test_a_new_sqlite_database_is_readable_by_its_owner_alone(
    tmp_path: Path, make_engine: Callable[[str], sa.Engine]
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE secrets (value TEXT)")
            conn.exec_driver_sql("INSERT INTO secrets VALUES ('whsec_x')")
        # The write-ahead log and its index hold the same rows, and get the file's mode.
        _owner_only(tmp_path, "db.sqlite", "db.sqlite-wal", "db.sqlite-shm")
    finally:
        engine.dispose()


def test_the_service_makes_its_store_and_dbos_files_owner_only(tmp_path: Path) -> None:
    store = tmp_path / "store.db"
    with service_process(f"sqlite:///{store}", tmp_path):
        _owner_only(tmp_path, "store.db", "store.db-wal", "store.db.dbos.sqlite")


def test_sync_run_makes_its_mirror_and_dbos_files_owner_only(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    env = offline_env(f"sqlite:///{data / 'mirror.db'}", generate_secret(), "private")
    sync = SyncProcess(free_port(), env, tmp_path)
    sync.start()
    try:
        _owner_only(data, "mirror.db", "mirror.db-wal", "mirror.db.dbos.sqlite")
    finally:
        sync.stop()
