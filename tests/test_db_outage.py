"""What a durable step retries (``db_outage.STEP_RETRIES``): an outage, or a transaction
PostgreSQL rolled back for a conflict; never a fault of the statement. What an outage's
log line tells of a SQLite file."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa
from psycopg import errors

from producersync.db_outage import STEP_RETRIES, OutageLog, describe
from producersync.service.store.engine import make_engine as store_engine
from producersync.sync.mirror.engine import make_engine as mirror_engine


def _raised(orig: psycopg.Error) -> sa.exc.DBAPIError:
    return sa.exc.DBAPIError.instance("UPDATE entities ...", {}, orig, psycopg.Error)


@pytest.mark.parametrize(
    ("orig", "retried"),
    [
        (errors.DeadlockDetected("deadlock detected"), True),
        (errors.SerializationFailure("could not serialize access"), True),
        (errors.AdminShutdown("terminating connection"), True),
        (errors.UniqueViolation("duplicate key"), False),
        (errors.QueryCanceled("canceling statement due to statement timeout"), False),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, Exception) else str(value),
)
def test_a_step_retries_outages_and_lost_conflicts_only(orig: psycopg.Error, retried: bool) -> None:
    assert STEP_RETRIES["should_retry"](_raised(orig)) is retried


def _full(engine: sa.Engine) -> sa.Engine:
    """``engine``, its SQLite file full: each connection's page limit is pinned to the
    pages in use (SQLite raises a lower limit to them), so a write that needs one more
    fails with SQLITE_FULL, "database or disk is full", as on a disk with no room left."""
    sa.event.listen(
        engine.pool, "checkout", lambda conn, *_: conn.execute("PRAGMA max_page_count = 1")
    )
    return engine


@pytest.mark.parametrize("make_engine", [store_engine, mirror_engine], ids=["store", "mirror"])
def test_an_outage_line_names_the_sqlite_file_on_a_full_disk(
    make_engine: Callable[[str], sa.Engine], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # It said "database or disk is full" alone: not which of a process's two files, nor
    # so where to free space.
    path = tmp_path / "full.db"
    engine = _full(make_engine(f"sqlite:///{path}"))
    with pytest.raises(sa.exc.OperationalError) as raised, engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE filler (body BLOB)"))
    engine.dispose()
    caplog.set_level(logging.WARNING, logger="full-disk")
    OutageLog(logging.getLogger("full-disk"), "API").failed(raised.value, "answering 503")
    assert caplog.messages == [
        f"API: the database is unavailable, answering 503: database or disk is full ({path})"
    ]
    assert describe(raised.value) == "database or disk is full"  # what an answer may carry
