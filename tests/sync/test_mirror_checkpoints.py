"""A SQLite mirror's WAL is checkpointed by a thread of its own, not in a writer's commit."""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

import sqlalchemy as sa

from producersync.sync.mirror.checkpoints import WAL_CHECKPOINT_BYTES
from producersync.sync.mirror.engine import make_engine, write_transaction

_CHUNK = 1024 * 1024


def _write(engine: sa.Engine, megabytes: int) -> None:
    with write_transaction(engine) as conn:
        conn.exec_driver_sql("CREATE TABLE IF NOT EXISTS filler (body BLOB)")
    for _ in range(megabytes):
        with write_transaction(engine) as conn:
            conn.execute(sa.text("INSERT INTO filler VALUES (:b)"), {"b": os.urandom(_CHUNK)})


def test_the_wal_is_checkpointed_in_the_background_past_its_mark(tmp_path: Path) -> None:
    """The checkpoint ran in the commit that crossed wal_autocheckpoint's 160 MiB, and
    the receipt making it waited for it, and the deliveries behind (p99 96 ms at 200/s):
    from 64 MiB a thread copies the WAL into the database, no commit waiting."""
    database = tmp_path / "mirror.db"
    engine = make_engine(f"sqlite:///{database}")
    try:
        _write(engine, WAL_CHECKPOINT_BYTES // _CHUNK + 4)
        # No commit checkpointed (the autocheckpoint's mark is past what was written):
        # the database file holds the pages once the thread has copied them.
        deadline = time.monotonic() + 60
        while database.stat().st_size < WAL_CHECKPOINT_BYTES:
            assert time.monotonic() < deadline, database.stat().st_size
            time.sleep(0.1)
        # And nothing was lost: a connection of its own reads every row.
        with sqlite3.connect(database) as check:
            rows = check.execute("SELECT count(*) FROM filler").fetchone()[0]
        assert rows == WAL_CHECKPOINT_BYTES // _CHUNK + 4
    finally:
        engine.dispose()


def test_a_small_wal_is_left_to_grow(tmp_path: Path) -> None:
    """Under the mark nothing is copied: a page written by many commits is copied once."""
    database = tmp_path / "mirror.db"
    engine = make_engine(f"sqlite:///{database}")
    try:
        _write(engine, 4)
        time.sleep(1.5)  # past the thread's pause: it has looked, and found nothing due
        assert database.stat().st_size < _CHUNK
    finally:
        engine.dispose()
