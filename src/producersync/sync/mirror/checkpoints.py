"""A SQLite mirror's WAL checkpoints, run in a thread of their own rather than in a commit.

SQLite checkpoints in the commit of the writer whose frames cross
``wal_autocheckpoint``: it copies the WAL's pages into the database and syncs both files
before its commit returns. With the mark at 10,000 pages (160 MiB, for the backfill's
sake: a page written by many commits is copied once), the receipt that crossed it waited
for the copy, and every delivery queued behind it: ``bench.receiver``'s p99 at 200/s
went from 20 ms to 96 ms. Here a writer's commit only wakes a thread, which runs a
PASSIVE checkpoint (it takes no write lock: writers go on) once the WAL holds
``WAL_CHECKPOINT_BYTES``. The autocheckpoint stays as the backstop for a WAL this thread
cannot keep down (a reader holding an old snapshot stops a checkpoint short).
"""

from __future__ import annotations

import logging
import os
import threading
import weakref

import sqlalchemy as sa

from producersync.database_url import sqlite_file

__all__ = ["WAL_CHECKPOINT_BYTES", "wrote"]

WAL_CHECKPOINT_BYTES = 64 * 1024 * 1024
"""The WAL size from which the thread checkpoints: ``journal_size_limit``, what a reset
WAL is cut back to."""

_PAUSE_SECONDS = 0.5
"""Least time between two looks: a commit's wake-up costs an Event.set, not a stat."""

_log = logging.getLogger(__name__)
_CHECKPOINTERS: weakref.WeakKeyDictionary[sa.Engine, _Checkpointer] = weakref.WeakKeyDictionary()
_GUARD = threading.Lock()


def wrote(engine: sa.Engine) -> None:
    """Tell ``engine``'s checkpointer (started at the first call) that a write committed."""
    with _GUARD:
        checkpointer = _CHECKPOINTERS.get(engine)
        if checkpointer is None:
            checkpointer = _CHECKPOINTERS[engine] = _Checkpointer(engine)
    checkpointer.woken.set()


class _Checkpointer:
    def __init__(self, engine: sa.Engine) -> None:
        self.woken = threading.Event()
        self.ended = threading.Event()
        database = sqlite_file(engine.url)
        self._wal = f"{database}-wal" if database is not None else None
        # A weak reference, and an end with the engine: a thread per engine a process
        # (a test run) ever made would wait for good otherwise.
        weakref.finalize(engine, self.end)
        thread = threading.Thread(
            target=_run, args=(weakref.ref(engine), self), name="mirror-checkpoints", daemon=True
        )
        thread.start()

    def end(self) -> None:
        self.ended.set()
        self.woken.set()

    def due(self) -> bool:
        try:
            return self._wal is not None and os.path.getsize(self._wal) >= WAL_CHECKPOINT_BYTES
        except OSError:  # no WAL (yet, or any more)
            return False


def _run(engine_ref: weakref.ref[sa.Engine], checkpointer: _Checkpointer) -> None:
    while True:
        checkpointer.woken.wait()
        checkpointer.woken.clear()
        engine = engine_ref()
        if engine is None or checkpointer.ended.is_set():
            return
        if checkpointer.due():
            _checkpoint(engine)
        del engine
        # Not time.sleep: an end cuts the pause short.
        if checkpointer.ended.wait(_PAUSE_SECONDS):
            return


def _checkpoint(engine: sa.Engine) -> None:
    # The DB-API connection, in autocommit (the mirror's connect hook): a checkpoint in a
    # transaction of its own connection could not pass that transaction's snapshot.
    try:
        connection = engine.raw_connection()
    except sa.exc.SQLAlchemyError as exc:
        _log.warning("mirror: no connection for a WAL checkpoint: %s", exc)
        return
    try:
        connection.cursor().execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
    except Exception as exc:  # sqlite3.Error or any: the next commit wakes it again
        _log.warning("mirror: a WAL checkpoint failed: %s", exc)
    finally:
        connection.close()
