"""Telling a database that is out of reach from a statement that is wrong.

A PostgreSQL server restarting, down, out of connection slots or cutting connections
(``pg_terminate_backend``), and a SQLite file that is locked past the busy timeout, on a
full disk or unreadable, are outages: the same work succeeds once they end, so the
processes answer 503, retry, and log one line, not a traceback. Anything else is a fault
of ours and stays an error. Used by the service and the sync alike (neither imports the
other).

A SQLite engine made ``files_told`` has its errors carry its file, and the outage lines
name it: "database or disk is full" said neither which database (``sync run`` writes two
files, the service two) nor where to free space.
"""

from __future__ import annotations

import logging
import math
import sqlite3
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from types import ModuleType
from typing import Any, Final, TypeVar

import sqlalchemy as sa

from producersync.database_url import sqlite_file

__all__ = [
    "STEP_RETRIES",
    "OutageLog",
    "Readings",
    "database_file",
    "describe",
    "files_told",
    "lost_a_conflict",
    "sqlite_busy",
    "unavailable",
]

# SQLSTATE classes of an outage: 08 connection exception, 53 insufficient resources (too
# many clients, disk full), 57 operator intervention (shutdown, restart, terminated).
_POSTGRES_CLASSES = ("08", "53", "57")
_QUERY_CANCELED = "57014"  # a statement timeout: the statement's own cost, not an outage
# Transaction rollbacks for a conflict: a serialization failure, a deadlock broken. The
# server rolled the transaction back; run again, it succeeds.
_CONFLICTS = frozenset({"40001", "40P01"})
# SQLite's primary result codes of an outage: busy, locked, read-only (its file or
# volume made so: a disk remounted read-only after errors, a restore as another user),
# I/O error, full, cannot open. Each is the operator's to fix, and the writes wait.
_SQLITE_BUSY = 5
_SQLITE_CODES = frozenset({_SQLITE_BUSY, 6, 8, 10, 13, 14})


def unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` says the database is unavailable for now (not that the statement
    failed): worth a retry, and a 503 rather than a 500. SQLAlchemy's errors, or a
    driver's own (DBOS's notification listener uses psycopg directly)."""
    if isinstance(exc, sa.exc.TimeoutError):
        return True  # no pooled connection came free in time
    if isinstance(exc, sa.exc.DBAPIError):
        return exc.connection_invalidated or _driver_unavailable(exc.orig)
    return _driver_unavailable(exc)


def lost_a_conflict(exc: BaseException) -> bool:
    """Whether PostgreSQL rolled the transaction back for a conflict with another one
    (a deadlock it broke, a serialization failure): the same transaction, run again,
    succeeds. Neither an outage nor a fault of the statement."""
    orig = exc.orig if isinstance(exc, sa.exc.DBAPIError) else exc
    psycopg = _psycopg()
    return psycopg is not None and isinstance(orig, psycopg.Error) and orig.sqlstate in _CONFLICTS


def sqlite_busy(exc: BaseException) -> bool:
    """Whether SQLite gave up waiting for another connection's write lock (``database is
    locked``, past the busy timeout): a writer held the store that long."""
    orig = exc.orig if isinstance(exc, sa.exc.DBAPIError) else exc
    return _sqlite_code(orig) == _SQLITE_BUSY


def _sqlite_code(exc: BaseException | None) -> int | None:
    """An operational error's primary result code (an outage's kinds are all of them)."""
    if not isinstance(exc, sqlite3.OperationalError):
        return None
    return int(getattr(exc, "sqlite_errorcode", 0)) & 0xFF


def _driver_unavailable(exc: BaseException | None) -> bool:
    if isinstance(exc, sqlite3.Error):
        return _sqlite_code(exc) in _SQLITE_CODES
    psycopg = _psycopg()
    if psycopg is None or not isinstance(exc, psycopg.OperationalError):
        return False
    sqlstate: str | None = exc.sqlstate
    if sqlstate is None:
        return True  # psycopg's own: connection failed, closed, or lost mid-statement
    return sqlstate.startswith(_POSTGRES_CLASSES) and sqlstate != _QUERY_CANCELED


def _psycopg() -> ModuleType | None:
    """psycopg, once this process has imported it: only a connection it made raises its
    errors, and a process on SQLite alone (``sync verify`` of a SQLite mirror) is spared
    its import, some 40 ms of CPU at every start."""
    return sys.modules.get("psycopg")


def _transient(exc: BaseException) -> bool:
    """An outage, or a transaction PostgreSQL rolled back for a conflict: a deadlock broke
    the daily run's or a sync's step for good, where running it again succeeds."""
    return unavailable(exc) or lost_a_conflict(exc)


# How a durable step that found the database unavailable, or lost a conflict, retries
# (``DBOS.step``'s options): after 1 s, 1.5 s, 2.25 s ... 19 waits, 74 min in all, each
# at most half the outage late. A step that gave up is recorded as failed for good: its
# workflow is not run again, even by a restart.
STEP_RETRIES: Final[dict[str, Any]] = {
    "retries_allowed": True,
    "should_retry": _transient,
    "interval_seconds": 1.0,
    "backoff_rate": 1.5,
    "max_attempts": 20,
}


_T = TypeVar("_T")

# How long a scrape waits for a gauge's read from the database. They take milliseconds;
# a server whose packets are dropped would hold each one for the connect timeout (10 s),
# a pool with no connection free for the pool's (30 s): the scrape would outlast
# Prometheus's own timeout (10 s by default) and be lost whole, its counters with it.
_SCRAPE_READ_SECONDS: Final = 2.0


class Readings:
    """The database reads of one process's gauges at a scrape, each within 2 s: one not
    done by then, or that found the database unavailable, reads ``otherwise`` (NaN), and
    while one that ran out of time still waits the next ones are not started (they would
    wait as long). A scrape then still brings the counters (the 503s, the failed
    attempts) instead of failing whole when they matter most."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._overdue: Future[Any] | None = None

    def gauge(self, read: Callable[[], float]) -> Callable[[], float]:
        """``read`` as a gauge's function: NaN when it cannot be read."""
        return lambda: self.read(read, math.nan)

    def read(self, read: Callable[[], _T], otherwise: _T) -> _T:
        with self._lock:
            if self._overdue is not None and not self._overdue.done():
                return otherwise
        future: Future[_T] = Future()

        def run() -> None:
            try:
                future.set_result(read())
            except BaseException as exc:
                future.set_exception(exc)

        # A daemon thread: a read still waiting on a dead server holds no process's exit.
        threading.Thread(target=run, name="metrics-read", daemon=True).start()
        try:
            return future.result(timeout=_SCRAPE_READ_SECONDS)
        except FutureTimeout:
            with self._lock:
                self._overdue = future
            return otherwise
        except Exception as exc:
            if unavailable(exc):
                return otherwise
            raise


_FILE: Final = "producersync_database_file"  # the attribute an error carries its file in


def files_told(engine: sa.Engine) -> sa.Engine:
    """``engine``, whose errors carry its SQLite file (``database_file``), if it has one."""
    path = sqlite_file(engine.url)
    if path is not None:
        told = path.absolute()

        def carry(context: sa.engine.ExceptionContext) -> None:
            if context.sqlalchemy_exception is not None:
                setattr(context.sqlalchemy_exception, _FILE, told)

        sa.event.listen(engine, "handle_error", carry)
    return engine


def database_file(exc: BaseException) -> Path | None:
    """The SQLite file whose engine (``files_told``) raised ``exc``, if known."""
    path = getattr(exc, _FILE, None)
    return path if isinstance(path, Path) else None


def describe(exc: BaseException) -> str:
    """One line on what failed: the driver's first line, without the statement or its
    parameters (``str(exc)`` of SQLAlchemy's error appends both)."""
    orig = exc.orig if isinstance(exc, sa.exc.DBAPIError) else exc
    lines = str(orig).strip().splitlines()
    return lines[0].strip() if lines else type(orig).__name__


class OutageLog:
    """Log lines for one component's outages: a warning when one starts, again every
    ``every`` seconds while it lasts, and (from callers that can tell) when it ends. A
    failure more than ``every`` seconds after the last is a new outage. A process polling
    a database that was down wrote a traceback a second per loop: 10,000 lines in 30 s."""

    def __init__(
        self,
        logger: logging.Logger,
        what: str,
        every: float = 60.0,
        resource: str = "the database",
    ) -> None:
        self._log, self._what, self._every, self._resource = logger, what, every, resource
        self._since: float | None = None  # when the outage began; None: none known
        self._told = self._last = 0.0

    def failed(self, exc: BaseException, doing: str = "retrying") -> None:
        now = time.monotonic()
        if self._since is None or now - self._last > self._every:
            self._since = self._told = now
            self._log.warning(
                "%s: %s is unavailable, %s: %s", self._what, self._resource, doing, _told(exc)
            )
        elif now - self._told >= self._every:
            self._told = now
            self._log.warning(
                "%s: %s is still unavailable after %.0f s, %s: %s",
                self._what,
                self._resource,
                now - self._since,
                doing,
                _told(exc),
            )
        self._last = now

    def succeeded(self) -> None:
        if self._since is not None:
            lasted, self._since = time.monotonic() - self._since, None
            self._log.warning("%s: %s is back after %.0f s", self._what, self._resource, lasted)


def _told(exc: BaseException) -> str:
    """``describe``'s line, and the file of a SQLite database: a log line's, for the
    operator (never an answer's: a client has no business with the host's paths)."""
    path = database_file(exc)
    return describe(exc) if path is None else f"{describe(exc)} ({path})"
