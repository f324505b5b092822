"""Taking back the workflows of a process that died, from another process of its kind
(`sync run`, or the service's processes that run DBOS).

DBOS recovers a process's unfinished workflows when a process of the same executor id
starts again. One that never does (a new host name or port, a container recreated, a
process scaled away) left them pending for good: a sync held the sync queue's one slot
in every process, and no sync ran again anywhere; a scheduled daily NIPR run kept its
day's workflow id, so no other process ever ran that day.

So each process holds a lock named after its executor id for as long as it lives, which
its end, a SIGKILL's included, lets go: on PostgreSQL a session advisory lock, on SQLite
(whose processes share one host) an flock on a file beside the database. It is taken
before DBOS launches, whose recovery resumes the id's workflows: a process whose id
another holds waits for it a while (a host that died holding it is let go within about a
minute: ``KEEPALIVE``), then refuses to start (``ExecutorTaken``), since it would run the
other's workflows a second time (every webhook of its batches in flight sent again). Every
``interval`` it looks at the executors that own pending workflows: one whose lock it can
take, and again a lease later, is dead, and its workflows are re-enqueued (DBOS's
recovery for that executor id: idempotent, one live process runs each). Again a lease
later: a live process whose connection was cut (a database restart) takes its lock back
within an interval, and a workflow taken from a live process would run twice.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Protocol

import sqlalchemy as sa
from dbos import DBOS

from producersync.database_url import sqlite_file
from producersync.db_outage import unavailable
from producersync.repeated_errors import RepeatedErrorLog

try:
    import fcntl
except ImportError:  # Windows: no flock, and no lock to take on SQLite
    fcntl = None  # type: ignore[assignment]

__all__ = ["ExecutorLock", "ExecutorTaken", "ExecutorWatch", "Role"]

log = logging.getLogger(__name__)

_TRY_LOCK: Final = sa.text("SELECT pg_try_advisory_lock(hashtextextended(:name, 0))")
_UNLOCK: Final = sa.text("SELECT pg_advisory_unlock(hashtextextended(:name, 0))")
# The process holding a lock, as its lock connection names itself (``_AdvisoryLocks``).
# An int8 advisory key is its classid (high half) and objid (low half), objsubid 1.
_HOLDER: Final = sa.text(
    "SELECT a.application_name, a.client_addr, a.backend_start FROM pg_locks l"
    " JOIN pg_stat_activity a ON a.pid = l.pid"
    " WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1"
    " AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
    " AND ((l.classid::bigint << 32) | l.objid::bigint) = hashtextextended(:name, 0)"
)
# TCP keepalive on the lock's connection, both ends: PostgreSQL lets a lock go when the
# connection holding it ends, and the connection of a host that died (power, kernel
# panic, a network cut away) ends only when the server notices, by default after its
# kernel's keepalive (2 hours and 11 minutes on Linux). Here the server probes after
# 10 s idle, every 5 s, 3 times: a dead holder's lock is let go within about 25 s, 30 s
# with data unacknowledged (tcp_user_timeout), well within the wait of a process
# started in its place. The client's own settle how soon a holder sees its server gone.
KEEPALIVE: Final = {"idle": 10, "interval": 5, "count": 3, "user_timeout_ms": 30_000}
_SERVER_KEEPALIVE: Final = (
    f"-c tcp_keepalives_idle={KEEPALIVE['idle']}"
    f" -c tcp_keepalives_interval={KEEPALIVE['interval']}"
    f" -c tcp_keepalives_count={KEEPALIVE['count']}"
    f" -c tcp_user_timeout={KEEPALIVE['user_timeout_ms']}"
)
_RETRY_SECONDS: Final = 1.0  # between two tries of a lock held by another


@dataclass(frozen=True, slots=True)
class Role:
    """The processes that take back each other's workflows: those on one database and
    DBOS system database, running the same workflows."""

    name: str  # in the log: "sync", "service"
    lock_prefix: str  # of the advisory locks' names: two roles may share a database
    setting: str  # how the executor id is given (its option, its variable), named in the log
    twice: str  # what a workflow run twice does again, named in the log
    wait_setting: str  # the variable of the wait for an id another process holds


class ExecutorTaken(Exception):
    """Another live process holds this executor id, still at the end of the wait."""

    def __init__(self, message: str, executor_id: str) -> None:
        super().__init__(message)
        self.executor_id = executor_id


class _Locks(Protocol):
    def hold(self, name: str) -> bool:
        """Take ``name`` for this process's life; False if another process holds it."""

    def holding(self) -> bool:
        """Whether the lock taken is still held (a cut connection lets it go)."""

    def free(self, name: str) -> bool:
        """Whether no live process holds ``name`` (taken and let go at once)."""

    def holder(self, name: str) -> str | None:
        """Who holds ``name``, as its holder wrote it (None: not known)."""

    def close(self) -> None: ...


def _whoami(role: Role) -> str:
    return f"producersync {role.name} on {socket.gethostname()}, pid {os.getpid()}"


class _AdvisoryLocks:
    """PostgreSQL session advisory locks, on a connection of this process's own."""

    def __init__(self, url: sa.URL, role: Role) -> None:
        given = url.query.get("options")
        options = " ".join(
            [*([given] if isinstance(given, str) else given or ()), _SERVER_KEEPALIVE]
        )
        # Outside the database's pool: held for the process's life.
        self._engine = sa.create_engine(
            url,
            poolclass=sa.pool.NullPool,
            connect_args={
                # Named, so that a process refused names the one holding its id: the
                # name is at most 63 bytes, its host name cut short past them.
                "application_name": _whoami(role)[:63],
                "keepalives": 1,
                "keepalives_idle": KEEPALIVE["idle"],
                "keepalives_interval": KEEPALIVE["interval"],
                "keepalives_count": KEEPALIVE["count"],
                "tcp_user_timeout": KEEPALIVE["user_timeout_ms"],
                "options": options,
            },
        )
        self._prefix = role.lock_prefix
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

    def holder(self, name: str) -> str | None:
        with self._engine.connect() as conn:
            row = conn.execute(_HOLDER, {"name": self._prefix + name}).first()
        if row is None:
            return None
        # A role other than ours sees another role's connections without any of these.
        name_, address, since = row
        at = f" at {address}" if address is not None else ""
        start = f", since {since.astimezone(dt.UTC):%Y-%m-%dT%H:%M:%SZ}" if since else ""
        return f"{name_ or 'a connection of another role'}{at}{start}"

    def close(self) -> None:
        if self._own is not None:
            self._own.close()
            self._own = None
        self._engine.dispose()


class _FileLocks:
    """flock(2) on a file per executor id, in a directory beside the SQLite database."""

    def __init__(self, directory: Path, role: Role) -> None:
        self._directory = directory
        self._role = role
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
        if self._own is None:
            return False
        # Who holds it, for a process refused it to name (``holder``).
        since = dt.datetime.now(dt.UTC)
        os.ftruncate(self._own, 0)
        os.pwrite(self._own, f"{_whoami(self._role)}, since {since:%Y-%m-%dT%H:%M:%SZ}".encode(), 0)
        return True

    def holding(self) -> bool:
        return self._own is not None

    def free(self, name: str) -> bool:
        fd = self._try(name)
        if fd is None:
            return False
        os.close(fd)  # lets the lock go
        return True

    def holder(self, name: str) -> str | None:
        try:
            written = self._path(name).read_text(errors="replace").strip()
        except FileNotFoundError:
            return None
        return written or None

    def close(self) -> None:
        if self._own is not None:
            os.close(self._own)
            self._own = None


def _locks(url: sa.URL, role: Role) -> _Locks | None:
    """The executor locks of ``role`` on the database at ``url``; None where there are
    none to take (SQLite in memory, a system without flock)."""
    if url.get_backend_name() == "postgresql":
        return _AdvisoryLocks(url, role)
    path = sqlite_file(url)
    if path is None or fcntl is None:
        return None
    return _FileLocks(path.with_name(path.name + ".executors"), role)


class ExecutorLock:
    """This process's lock on its executor id, taken (``take``) before DBOS launches and
    held until ``close``."""

    def __init__(self, url: sa.URL, role: Role, executor_id: str) -> None:
        self.locks = _locks(url, role)
        self.role, self.executor_id = role, executor_id
        self._taken = False

    def take(self, wait: float) -> None:
        """Take the lock, waiting up to ``wait`` seconds for another process holding it to
        end; else ``ExecutorTaken``. At once if taken already (by the command, before the
        app it runs was made)."""
        if self.locks is None or self._taken:
            return
        deadline = time.monotonic() + wait
        told = False
        while not self.locks.hold(self.executor_id):
            holder = self.locks.holder(self.executor_id) or "a process not known"
            left = deadline - time.monotonic()
            if left <= 0:
                self.close()
                raise ExecutorTaken(self._refusal(holder, wait), self.executor_id)
            if not told:
                told = True
                log.warning(
                    "executor id %r is held by another %s process (%s): waiting up to %g s "
                    "(%s) for it to end before running the id's workflows; a host that "
                    "died holding it lets it go within about 30 s",
                    self.executor_id,
                    self.role.name,
                    holder,
                    wait,
                    self.role.wait_setting,
                )
            time.sleep(min(_RETRY_SECONDS, left))
        self._taken = True

    def _refusal(self, holder: str, wait: float) -> str:
        role = self.role
        return (
            f"executor id {self.executor_id!r} ({role.setting}) is held by another live "
            f"{role.name} process ({holder}), still after {wait:g} s ({role.wait_setting}): "
            f"started under it, this one would run again the workflows that one is "
            f"running ({role.twice}); give each {role.name} process its own executor id, "
            "or stop the other first"
        )

    def close(self) -> None:
        if self.locks is not None:
            self.locks.close()
        self._taken = False


class ExecutorWatch:
    """This process's executor lock, and a thread that recovers dead executors'
    workflows."""

    def __init__(self, lock: ExecutorLock, interval: float, lease: float) -> None:
        self._lock = lock
        self._locks = lock.locks
        self._role = lock.role
        self._executor_id, self._interval, self._lease = lock.executor_id, interval, lease
        self._suspects: dict[str, float] = {}  # executor id: when its lock was first free
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="executor-watch", daemon=True)
        self._errors = RepeatedErrorLog(
            log, f"looking for the workflows of dead {self._role.name} processes"
        )

    def launch(self) -> None:
        if self._locks is not None:
            self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)
        self._lock.close()

    def _run(self) -> None:
        assert self._locks is not None  # launched only with locks to take
        while not self._stopping.wait(self._interval):
            try:
                if self._locks.holding() or self._locks.hold(self._executor_id):
                    self._recover_dead(self._locks)
                self._errors.succeeded()
            except Exception as exc:
                # DBOS destroyed under it is a process stopping, not worth a traceback.
                if not unavailable(exc) and not self._stopping.is_set():
                    self._errors.failed(exc, "trying again next round")

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
