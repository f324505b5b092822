"""Indexes a migration builds on a table that may hold rows, the store's and the
mirror's: on PostgreSQL concurrently, outside the migration's transaction.

Built in the migration's transaction, an index on a table whose rows had been updated in
place (heap-only updates: the migration's own, or any made while a transaction older
than them ran) was flagged ``pg_index.indcheckxmin``: no transaction older than the
build could use it, and the planner of every newer one skipped it too while any such
transaction ran on the server (a backup, a report, an idle session). The API's keyset
reads then scanned whole tables, the old index, replaced, already dropped; a mirror, on
a customer's server beside their reports and backups, walked its LOA words so. Built
``CONCURRENTLY``, the index is usable once built, the old one it replaces is dropped
only then, and the build waits instead for the transactions of the database that are
older than it: each is named in the log while it does.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

__all__ = ["Index", "build_indexes", "committed_column", "index_name"]

log = logging.getLogger(__name__)

_LOOK_EVERY = 1.0  # seconds between looks at what a build waits for
_TELL_AFTER = 5.0  # seconds of waiting on end before the first log line
_TELL_EVERY = 30.0  # seconds between the log lines of one wait

# The sessions a backend waits for, oldest transaction first; no query text (another
# application's, it may carry secrets).
_BLOCKERS = sa.text(
    "SELECT pid, state, datname, application_name,"
    " extract(epoch FROM now() - xact_start)::int AS open_for"
    " FROM pg_stat_activity WHERE pid = ANY (pg_blocking_pids(:pid))"
    " ORDER BY xact_start NULLS LAST"
)


@dataclass(frozen=True)
class Index:
    """An index ``build_indexes`` builds that is more than columns named by the
    metadata's convention (the mirror's): its ``columns`` may hold expressions
    (``sa.text``: a column ``DESC``, a word's beginning), ``where`` makes it partial."""

    name: str
    columns: Sequence[str | sa.TextClause]
    where: str | None = None
    unique: bool = False


def index_name(table: str, columns: Sequence[str]) -> str:
    return f"ix_{table}_{'_'.join(columns)}"  # the metadata's naming convention


def committed_column(table: str, column: str) -> bool:
    """In a migration that adds ``column`` to ``table`` and then calls ``build_indexes``:
    whether a run of it cut short in those builds committed the column already (the rest
    of the migration's changes with it)."""
    from alembic import op

    return column in {found["name"] for found in sa.inspect(op.get_bind()).get_columns(table)}


def build_indexes(
    table: str,
    new: Sequence[Sequence[str] | Index],
    replacing: Sequence[Sequence[str] | Index] = (),
    *,
    unique: bool = False,
) -> None:
    """In a migration: build on ``table`` each index of ``new`` (a list of columns, or an
    ``Index``), then drop those of ``replacing`` (the same), so that the
    queries they serve keep an index. SQLite builds them in the migration's transaction,
    as PostgreSQL does on a table never written to. Otherwise PostgreSQL commits that
    transaction first: a migration calls this after its other changes, and is run again
    over them if the builds are cut short (the schema's revision is the one before it
    until they are done); an index a build cut short left INVALID is built again."""
    from alembic import op  # a migration's: opening a schema imports no Alembic

    indexes = [_index(table, entry, unique) for entry in new]
    if op.get_bind().dialect.name != "postgresql" or _never_written(table):
        for index in indexes:
            op.create_index(
                index.name, table, list(index.columns), if_not_exists=True, **_options(index)
            )
        for old in replacing:
            op.drop_index(_index(table, old, unique).name, table_name=table, if_exists=True)
        return
    upgrading = _upgrading()
    with op.get_context().autocommit_block():
        connection = op.get_bind()
        for index in indexes:
            _build_concurrently(connection, table, index, upgrading)
        for old in replacing:
            name = _index(table, old, unique).name
            with _telling_waits(connection, f"{upgrading}: dropping index {name}"):
                op.drop_index(name, table_name=table, if_exists=True, postgresql_concurrently=True)


def _index(table: str, entry: Sequence[str] | Index, unique: bool) -> Index:
    if isinstance(entry, Index):
        return entry
    return Index(index_name(table, entry), entry, unique=unique)


def _options(index: Index) -> dict[str, Any]:
    """``op.create_index``'s keywords for ``index`` beside its name and columns."""
    if index.where is None:
        return {"unique": index.unique}
    where = sa.text(index.where)
    return {"unique": index.unique, "postgresql_where": where, "sqlite_where": where}


def _upgrading() -> str:
    """What the log names the upgrade by: "the mirror's upgrade" (``migrations.upgrade``
    gives the schema's name)."""
    from alembic import op

    config = op.get_context().config
    what = config.attributes.get("what") if config is not None else None
    return f"{what or 'the schema'}'s upgrade"


def _never_written(table: str) -> bool:
    """Whether the PostgreSQL ``table`` has no page, so no row version that an index
    built in the migration's transaction could be flagged for (a new schema's tables: its
    first migration takes a second, not two); writes to it wait for that transaction."""
    from alembic import op

    bind = op.get_bind()
    bind.exec_driver_sql(f"LOCK TABLE {table} IN SHARE MODE")
    empty = sa.text("SELECT pg_relation_size(CAST(:table AS regclass)) = 0")
    return bool(bind.execute(empty, {"table": table}).scalar_one())


def _build_concurrently(
    connection: sa.Connection, table: str, index: Index, upgrading: str
) -> None:
    from alembic import op

    name = index.name
    valid = connection.execute(
        sa.text("SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass(:name)"),
        {"name": name},
    ).scalar()
    if valid:
        return
    if valid is not None:
        log.warning(
            "%s: index %s, left INVALID by a build cut short, is built again", upgrading, name
        )
        op.drop_index(name, table_name=table, postgresql_concurrently=True)
    with _telling_waits(connection, f"{upgrading}: building index {name}"):
        op.create_index(
            name, table, list(index.columns), postgresql_concurrently=True, **_options(index)
        )


@contextmanager
def _telling_waits(connection: sa.Connection, what: str) -> Iterator[None]:
    """Log, while the statement run inside waits for other sessions, which ones."""
    pid = connection.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
    done = threading.Event()
    watcher = threading.Thread(
        target=_watch, args=(connection.engine, pid, what, done), name="index-build-watch"
    )
    watcher.start()
    try:
        yield
    finally:
        done.set()
        watcher.join()


def _watch(engine: sa.Engine, pid: int, what: str, done: threading.Event) -> None:
    """Look every second which sessions the statement waits for; tell them once it has
    waited for some on end for ``_TELL_AFTER`` (a busy API's requests each hold a build
    back a moment), then every ``_TELL_EVERY`` while it still waits."""
    if done.wait(_LOOK_EVERY):
        return  # no wait worth a look (nor a connection)
    began = time.monotonic() - _LOOK_EVERY
    waiting_since: float | None = None
    told_at: float | None = None
    # Autocommit: a transaction of its own kept open would be one more the build waits for.
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as watching:
        while True:
            blockers = watching.execute(_BLOCKERS, {"pid": pid}).all()
            now = time.monotonic()
            if not blockers:
                waiting_since = None
            elif waiting_since is None:
                waiting_since = now
            elif now - waiting_since >= _TELL_AFTER and (
                told_at is None or now - told_at >= _TELL_EVERY
            ):
                told_at = now
                log.warning(
                    "%s waits for %s to end (for %d s); the queries"
                    " use the indexes already there meanwhile",
                    what,
                    ", ".join(_described(row) for row in blockers),
                    now - waiting_since,
                )
            if done.wait(_LOOK_EVERY):
                break
    if told_at is not None:
        spent = time.monotonic() - began
        log.info("%s done, %d s after it began", what, spent)


def _described(blocker: Any) -> str:
    """One of ``_BLOCKERS``' rows, told."""
    where = f", application {blocker.application_name!r}" if blocker.application_name else ""
    return (
        f"pid {blocker.pid} ({blocker.state}, its transaction open for {blocker.open_for} s,"
        f" database {blocker.datname}{where})"
    )
