"""Taking back, from another `sync run` process, the workflows of one that died.

DBOS recovers a process's unfinished workflows when a process of the same executor id
starts again. One that never does (a new host name or port, a process scaled away) left
them pending for good, and a pending workflow holds its queue's slot in every process
(the sync and activation queues have a global concurrency of 1): no sync, and no
activation, ran again anywhere.

So, on PostgreSQL, each process holds a session advisory lock named after its executor
id for as long as it lives (the end of its connection, a SIGKILL's included, lets it
go), and looks at the executors that own pending workflows every ``interval``: one whose
lock it can take, and again a lease later, is dead, and its workflows are re-enqueued
(DBOS's recovery for that executor id: idempotent, one live process runs each). Again a
lease later: a live process whose connection was cut (a database restart) takes its
lock back within an interval, and a workflow taken from a live process would run twice.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Final

import sqlalchemy as sa
from dbos import DBOS

from producersync.db_outage import unavailable

__all__ = ["ExecutorWatch"]

log = logging.getLogger(__name__)

_LOCK_NAME: Final = "producersync-sync-executor:"
_TRY_LOCK: Final = sa.text("SELECT pg_try_advisory_lock(hashtextextended(:name, 0))")
_UNLOCK: Final = sa.text("SELECT pg_advisory_unlock(hashtextextended(:name, 0))")


class ExecutorWatch:
    """This process's executor lock, and a thread that recovers dead executors'
    workflows; does nothing on a database other than PostgreSQL (one process)."""

    def __init__(self, url: sa.URL, executor_id: str, interval: float, lease: float) -> None:
        self._enabled = url.get_backend_name() == "postgresql"
        # A connection of its own, outside the mirror's pool: held for the process's life.
        self._engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
        self._executor_id, self._interval, self._lease = executor_id, interval, lease
        self._own: sa.Connection | None = None
        self._suspects: dict[str, float] = {}  # executor id: when its lock was first free
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="executor-watch", daemon=True)

    def hold(self) -> None:
        """Take this executor's lock (before DBOS recovers its workflows), or warn that
        another process holds it (the same executor id twice): tried again every
        interval."""
        if self._enabled and not self._hold():
            log.warning(
                "another process holds executor id %r: give each sync process its own "
                "(PRODUCERSYNC_SYNC_EXECUTOR_ID)",
                self._executor_id,
            )

    def launch(self) -> None:
        if self._enabled:
            self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)
        if self._own is not None:
            self._own.close()
        self._engine.dispose()

    def _run(self) -> None:
        while not self._stopping.wait(self._interval):
            try:
                if self._holding() or self._hold():
                    self._recover_dead()
            except Exception as exc:
                # DBOS destroyed under it is a process stopping, not worth a traceback.
                if not unavailable(exc) and not self._stopping.is_set():
                    log.exception("looking for the workflows of dead sync processes failed")

    def _holding(self) -> bool:
        if self._own is None:
            return False
        try:
            self._own.execute(sa.text("SELECT 1"))
            return True
        except sa.exc.DBAPIError:
            self._own.close()  # the lock went with the connection: taken again below
            self._own = None
            return False

    def _hold(self) -> bool:
        conn = self._engine.connect()
        try:
            taken = bool(conn.execute(_TRY_LOCK, {"name": _LOCK_NAME + self._executor_id}).scalar())
            conn.commit()  # a session lock: it outlives the transaction
        except BaseException:
            conn.close()
            raise
        if not taken:
            conn.close()
            return False
        self._own = conn
        return True

    def _recover_dead(self) -> None:
        pending = DBOS.list_workflows(status="PENDING", load_input=False, load_output=False)
        others = {w.executor_id for w in pending if w.executor_id} - {self._executor_id}
        now = time.monotonic()
        for executor in sorted(others):
            if not self._free(executor):
                self._suspects.pop(executor, None)
            elif now - self._suspects.setdefault(executor, now) >= self._lease:
                del self._suspects[executor]
                handles = DBOS._recover_pending_workflows([executor])
                log.warning(
                    "sync process %r is gone, and %d of its workflows unfinished: taken back",
                    executor,
                    len(handles),
                )
        for gone in set(self._suspects) - others:
            del self._suspects[gone]

    def _free(self, executor: str) -> bool:
        """Whether no live process holds ``executor``'s lock (taken and let go at once)."""
        assert self._own is not None  # looked for only while this one's is held
        name = {"name": _LOCK_NAME + executor}
        free = bool(self._own.execute(_TRY_LOCK, name).scalar())
        if free:
            self._own.execute(_UNLOCK, name)
        self._own.commit()
        return free
