"""Taking back the workflows of a process that died, from another process of its kind
(`sync run`, or the service's processes that run DBOS).

DBOS recovers a process's unfinished workflows when a process of the same executor id
starts again. One that never does (a new host name or port, a container recreated, a
process scaled away) left them pending for good: a sync held the sync queue's one slot
in every process, and no sync ran again anywhere; a scheduled daily NIPR run kept its
day's workflow id, so no other process ever ran that day.

So each process holds a lock named after its executor id for as long as it lives, which
its end, a SIGKILL's included, lets go: on PostgreSQL a session advisory lock, on SQLite
(whose processes share one host) an flock on a file beside the database. Every
``interval`` it looks at the executors that own pending workflows: one whose lock it can
take, and again a lease later, is dead, and its workflows are re-enqueued (DBOS's
recovery for that executor id: idempotent, one live process runs each). Again a lease
later: a live process whose connection was cut (a database restart) takes its lock back
within an interval, and a workflow taken from a live process would run twice.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Protocol

import sqlalchemy as sa
from dbos import DBOS

from producersync.database_url import sqlite_file
from producersync.db_outage import unavailable

try:
    import fcntl
except ImportError:  # Windows: no flock, and no lock to take on SQLite
    fcntl = None  # type: ignore[assignment]

__all__ = ["ExecutorWatch", "Role"]

log = logging.getLogger(__name__)

_TRY_LOCK: Final = sa.text("SELECT pg_try_advisory_lock(hashtextextended(:name, 0))")
_UNLOCK: Final = sa.text("SELECT pg_advisory_unlock(hashtextextended(:name, 0))")


@dataclass(frozen=True, slots=True)
class Role:
    """The processes that take back each other's workflows: those on one database and
    DBOS system database, running the same workflows."""

    name: str  # in the log: "sync", "service"
    lock_prefix: str  # of the advisory locks' names: two roles may share a database
    setting: str  # how the executor id is given (its option, its variable), named in the log
    twice: str  # what a workflow run twice does again, named in the log


class _Locks(Protocol):
    def hold(self, name: str) -> bool:
        """Take ``name`` for this process's life; False if another process holds it."""

    def holding(self) -> bool:
        """Whether the lock taken is still held (a cut connection lets it go)."""

    def free(self, name: str) -> bool:
        """Whether no live process holds ``name`` (taken and let go at once)."""

    def close(self) -> None: ...


class _AdvisoryLocks:
    """PostgreSQL session advisory locks, on a connection of this process's own."""

    def __init__(self, url: sa.URL, prefix: str) -> None:
        # Outside the database's pool: held for the process's life.
        self._engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
        self._prefix = prefix
        self._own: sa.Connection | None = None

    def hold(self, name: str) -> bool:
        conn = self._engine.connect()
        try:
            taken = bool(conn.execute(_TRY_LOCK, {"name": self._prefix + name}).scalar())
            conn.commit()  # a session lock: it outlives the transaction
        except BaseException:
            conn.close()
            raise
        if not taken:
            conn.close()
            return False
        self._own = conn
        return True

    def holding(self) -> bool:
        if self._own is None:
            return False
        try:
            self._own.execute(sa.text("SELECT 1"))
            return True
        except sa.exc.DBAPIError:
            self._own.close()  # the lock went with the connection: taken again later
            self._own = None
            return False

    def free(self, name: str) -> bool:
        assert self._own is not None  # looked for only while this one's is held
        params = {"name": self._prefix + name}
        free = bool(self._own.execute(_TRY_LOCK, params).scalar())
        if free:
            self._own.execute(_UNLOCK, params)
        self._own.commit()
        return free

    def close(self) -> None:
        if self._own is not None:
            self._own.close()
        self._engine.dispose()


class _FileLocks:
    """flock(2) on a file per executor id, in a directory beside the SQLite database."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory
        self._own: int | None = None

    def _path(self, name: str) -> Path:
        # Hashed: an executor id may hold any character, a slash included.
        return self._directory / f"{hashlib.sha256(name.encode()).hexdigest()[:32]}.lock"

    def _try(self, name: str) -> int | None:
        self._directory.mkdir(exist_ok=True)
        fd = os.open(self._path(name), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        return fd

    def hold(self, name: str) -> bool:
        self._own = self._try(name)
        return self._own is not None

    def holding(self) -> bool:
        return self._own is not None

    def free(self, name: str) -> bool:
        fd = self._try(name)
        if fd is None:
            return False
        os.close(fd)  # lets the lock go
        return True

    def close(self) -> None:
        if self._own is not None:
            os.close(self._own)
            self._own = None


def _locks(url: sa.URL, role: Role) -> _Locks | None:
    """The executor locks of ``role`` on the database at ``url``; None where there are
    none to take (SQLite in memory, a system without flock)."""
    if url.get_backend_name() == "postgresql":
        return _AdvisoryLocks(url, role.lock_prefix)
    path = sqlite_file(url)
    if path is None or fcntl is None:
        return None
    return _FileLocks(path.with_name(path.name + ".executors"))


class ExecutorWatch:
    """This process's executor lock, and a thread that recovers dead executors'
    workflows."""

    def __init__(
        self, url: sa.URL, role: Role, executor_id: str, interval: float, lease: float
    ) -> None:
        self._locks = _locks(url, role)
        self._role = role
        self._executor_id, self._interval, self._lease = executor_id, interval, lease
        self._suspects: dict[str, float] = {}  # executor id: when its lock was first free
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="executor-watch", daemon=True)

    def hold(self) -> None:
        """Take this executor's lock (before DBOS recovers its workflows), or warn that
        another process holds it (the same executor id twice): tried again every
        interval."""
        if self._locks is not None and not self._locks.hold(self._executor_id):
            # Not refused: a host that died holding the lock keeps it until PostgreSQL
            # notices (hours, by TCP keepalive), and its replacement under the same id
            # must still start. But the line says what the start does meanwhile: it read
            # as advice, and replicas given one id sent every batch's deliveries twice.
            log.warning(
                "another process holds executor id %r: give each %s process its own (%s). "
                "Started under it, this one resumes the workflows that one is running, "
                "which then run twice (%s)",
                self._executor_id,
                self._role.name,
                self._role.setting,
                self._role.twice,
            )

    def launch(self) -> None:
        if self._locks is not None:
            self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)
        if self._locks is not None:
            self._locks.close()

    def _run(self) -> None:
        assert self._locks is not None  # launched only with locks to take
        while not self._stopping.wait(self._interval):
            try:
                if self._locks.holding() or self._locks.hold(self._executor_id):
                    self._recover_dead(self._locks)
            except Exception as exc:
                # DBOS destroyed under it is a process stopping, not worth a traceback.
                if not unavailable(exc) and not self._stopping.is_set():
                    log.exception(
                        "looking for the workflows of dead %s processes failed", self._role.name
                    )

    def _recover_dead(self, locks: _Locks) -> None:
        # DBOS recovers only the workflows of its own application version: those of
        # another (a process of the release before, of another application sharing the
        # system database) would be found gone again every lease, and none taken back.
        pending = DBOS.list_workflows(
            status="PENDING",
            app_version=DBOS.application_version,
            load_input=False,
            load_output=False,
        )
        others = {w.executor_id for w in pending if w.executor_id} - {self._executor_id}
        now = time.monotonic()
        for executor in sorted(others):
            if not locks.free(executor):
                self._suspects.pop(executor, None)
            elif now - self._suspects.setdefault(executor, now) >= self._lease:
                del self._suspects[executor]
                handles = DBOS._recover_pending_workflows([executor])
                log.warning(
                    "%s process %r is gone, and %d of its workflows unfinished: taken back",
                    self._role.name,
                    executor,
                    len(handles),
                )
        for gone in set(self._suspects) - others:
            del self._suspects[gone]
