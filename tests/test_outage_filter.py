"""DBOS's warnings of a database outage collapse (``producersync.outage_filter``): the
first of each line through, then one a minute with the count held back; a warning that
is not of an outage, and an error, always through."""

from __future__ import annotations

import logging
import sqlite3
import traceback
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import psycopg
import pytest
import sqlalchemy as sa

from producersync.outage_filter import OutageFilter


def _down() -> sa.exc.OperationalError:
    """PostgreSQL gone, as DBOS's queues and scheduler see it (through SQLAlchemy)."""
    refused = psycopg.OperationalError('connection failed: database "x" is not accepting')
    return sa.exc.OperationalError("SELECT 1", {}, refused)


def _listener_down() -> psycopg.OperationalError:
    """PostgreSQL gone, as DBOS's notification listener sees it (psycopg's own)."""
    return psycopg.OperationalError("consuming input failed: server closed the connection")


@dataclass
class _Clock:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class _Dbos:
    """A logger with the filter, as ``log_format`` gives DBOS's, and what it let out."""

    logger: logging.Logger
    clock: _Clock
    records: list[logging.LogRecord] = field(default_factory=list)

    def handling(self, exc: BaseException) -> None:
        """Log as DBOS does in its ``except`` blocks, the exception in the text; always
        from this line of code."""
        try:
            raise exc
        except Exception as e:
            self.logger.warning(f"Exception listing queues: {e}")

    def messages(self) -> list[str]:
        return [record.getMessage().split(":")[0] for record in self.records]


class _Kept(logging.Handler):
    def __init__(self, records: list[logging.LogRecord]) -> None:
        super().__init__()
        self._records = records

    def emit(self, record: logging.LogRecord) -> None:
        self._records.append(record)


@pytest.fixture
def dbos() -> Iterator[_Dbos]:
    clock = _Clock()
    logger = logging.getLogger(f"dbos-test-{uuid.uuid4().hex}")
    logger.propagate = False
    logger.setLevel(logging.WARNING)
    logger.addFilter(OutageFilter(clock=clock))
    kept = _Dbos(logger, clock)
    handler = _Kept(kept.records)
    logger.addHandler(handler)
    yield kept
    logger.removeHandler(handler)


def test_the_first_outage_warning_goes_through_and_its_repeats_are_held(dbos: _Dbos) -> None:
    for _ in range(5):
        dbos.handling(_down())
        dbos.clock.now += 1
    assert len(dbos.records) == 1
    assert dbos.records[0].getMessage().startswith("Exception listing queues: (psycopg.")


def test_a_minute_later_one_goes_through_with_the_count_held_back(dbos: _Dbos) -> None:
    for _ in range(61):  # one a second for a minute, and one more
        dbos.handling(_down())
        dbos.clock.now += 1
    first, summary = dbos.records
    assert "more like it" not in first.getMessage()
    assert summary.getMessage().endswith(" (and 59 more like it in the 60 s before, not logged)")
    assert summary.__dict__["suppressed"] == 59  # a field of its own in JSON


def test_each_line_that_logs_an_outage_is_collapsed_on_its_own(dbos: _Dbos) -> None:
    for _ in range(3):
        dbos.handling(_down())
        try:
            raise _listener_down()
        except psycopg.OperationalError as e:
            dbos.logger.warning(f"Notification listener error: {e}")
        try:
            raise _down()
        except sa.exc.OperationalError:
            dbos.logger.warning("Fallback notification poll failed", exc_info=True)
    assert dbos.messages() == [
        "Exception listing queues",
        "Notification listener error",
        "Fallback notification poll failed",
    ]


def test_an_outage_long_past_is_told_again_at_once(dbos: _Dbos) -> None:
    dbos.handling(_down())
    dbos.clock.now += 3600
    dbos.handling(_down())
    assert len(dbos.records) == 2 and "more like it" not in dbos.records[1].getMessage()


@pytest.mark.parametrize(
    "exc",
    [
        sa.exc.IntegrityError("INSERT", {}, psycopg.errors.UniqueViolation("duplicate key")),
        sa.exc.OperationalError("SELECT", {}, psycopg.errors.QueryCanceled("statement timeout")),
        ValueError("a workflow's own bug"),
    ],
    ids=["integrity", "statement-timeout", "not-a-database-error"],
)
def test_a_warning_that_is_not_of_an_outage_always_goes_through(
    dbos: _Dbos, exc: Exception
) -> None:
    for _ in range(3):
        dbos.handling(exc)
    assert len(dbos.records) == 3


def test_a_warning_without_an_exception_always_goes_through(dbos: _Dbos) -> None:
    for _ in range(3):
        dbos.logger.warning("Contention detected in queue thread for q")
    assert len(dbos.records) == 3


def test_an_error_during_an_outage_always_goes_through(dbos: _Dbos) -> None:
    for _ in range(3):
        try:
            raise _down()
        except sa.exc.OperationalError:
            dbos.logger.error("Workflow wf_1 failed", exc_info=True)
    assert len(dbos.records) == 3


def test_a_sqlite_file_locked_is_an_outage_too(dbos: _Dbos) -> None:
    locked = sqlite3.OperationalError("database is locked")
    locked.sqlite_errorcode = sqlite3.SQLITE_BUSY  # type: ignore[attr-defined]
    for _ in range(3):
        dbos.handling(sa.exc.OperationalError("UPDATE", {}, locked))
    assert len(dbos.records) == 1


def test_an_outage_warning_is_one_line_with_the_drivers_first(dbos: _Dbos) -> None:
    """DBOS's scheduler wrote the whole traceback into its text (90 lines at each outage,
    and once a minute after), its queues the driver's hint lines, its notification poll a
    traceback below; now one line each, ending with the driver's first."""
    refused = psycopg.OperationalError(
        'connection failed: connection to server at "db", port 5432 failed: Connection '
        "refused\n\tIs the server running on that host and accepting TCP/IP connections?"
    )
    down = sa.exc.OperationalError("SELECT 1", {}, refused)
    try:
        raise down
    except sa.exc.OperationalError:
        dbos.logger.warning(f"Exception polling schedules: {traceback.format_exc()}")
        dbos.logger.warning("Fallback notification poll failed", exc_info=True)
    dbos.handling(down)
    driver = "(psycopg.OperationalError) connection failed: connection to server at"
    scheduler, poll, queues = dbos.records
    assert scheduler.getMessage().startswith(f"Exception polling schedules: {driver}")
    assert queues.getMessage().startswith(f"Exception listing queues: {driver}")
    assert poll.getMessage().startswith(f"Fallback notification poll failed: {driver}")
    for record in dbos.records:
        assert "\n" not in record.getMessage() and record.exc_info is None
        assert record.getMessage().endswith("Connection refused")


def test_a_warning_not_of_an_outage_keeps_its_lines(dbos: _Dbos) -> None:
    dbos.handling(ValueError("a workflow's\nown bug"))
    assert dbos.records[0].getMessage() == "Exception listing queues: a workflow's\nown bug"
