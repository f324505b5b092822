"""Running a schema's Alembic migrations programmatically: the store's and the mirror's
each keep their own scripts, and are brought up to date the same way."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa

from producersync.url_userinfo import masked

if TYPE_CHECKING:
    from alembic.script import ScriptDirectory

__all__ = ["MigrationError", "WriteTransaction", "at_head", "last_revision", "upgrade"]

# The schema's own `write_transaction`: one that takes SQLite's write lock at BEGIN.
WriteTransaction = Callable[[sa.Engine], AbstractContextManager[sa.Connection]]

_INSUFFICIENT_PRIVILEGE = "42501"  # PostgreSQL's SQLSTATE
_SQLITE_READONLY = 8  # SQLite's primary result code, under its extended ones
_LOCK_POLL = 0.2  # seconds between a waiting process's tries of PostgreSQL's lock


class MigrationError(Exception):
    """A schema that cannot be brought to head: a newer version migrated it, or the
    database refuses the writes its migration needs (read-only, or a user without the
    privilege). The message names the database, masked, and why."""


def upgrade(
    engine: sa.Engine,
    scripts: Path,
    lock_id: int,
    write_transaction: WriteTransaction,
    *,
    what: str,
    version_table: str = "alembic_version",
    revision: str = "head",
) -> None:
    """Bring the schema whose migrations are in ``scripts`` (``what``: "the mirror") to
    ``revision``; safe when several processes start together: on PostgreSQL they queue
    on the advisory lock ``lock_id`` (``_migrating``), on SQLite on the write lock,
    taken at BEGIN. A plain BEGIN read the version table first: a process that had read
    it while another migrated could not write after that one's commit, and failed
    "database is locked" at once (WAL refuses a writer whose snapshot is stale; no busy
    wait helps). The scripts' ``env.py`` runs on the connection given in
    ``config.attributes``. Raises ``MigrationError`` for a schema at a revision these
    scripts do not know (Alembic's "Can't locate revision" was a traceback from every
    command) and for a database that may not be migrated (a ``permission denied``
    traceback)."""
    # Imported here: Alembic takes a quarter of a second to import (every dialect's
    # DDL, Mako), and a schema at its head, every start but the first, needs none of it.
    from alembic import command
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    where = f"{what} at {masked(engine.url.render_as_string())}"
    known = ScriptDirectory(str(scripts))
    try:
        with _migrating(engine, lock_id, write_transaction) as connection:
            _refuse_unknown_revisions(connection, known, version_table, where)
            if connection.dialect.name == "postgresql":
                connection.commit()  # Alembic's own transactions from here
            config = Config()
            config.set_main_option("script_location", str(scripts))
            config.attributes["connection"] = connection
            config.attributes["what"] = what  # for the log of a build that waits
            command.upgrade(config, revision)
    except sa.exc.DBAPIError as exc:
        if not _refused_writes(exc):
            raise
        from producersync.db_outage import describe  # psycopg under it: only when needed

        raise MigrationError(
            f"{where} needs migrating to revision {', '.join(known.get_heads())}, and the "
            f"database refuses it: {masked(describe(exc))}"
        ) from None


@contextmanager
def _migrating(
    engine: sa.Engine, lock_id: int, write_transaction: WriteTransaction
) -> Iterator[sa.Connection]:
    """The connection to migrate on, the schema's lock held. On SQLite, a write
    transaction: the migrations run in it. On PostgreSQL, a session holding the advisory
    lock ``lock_id``, outside any transaction: Alembic commits each run of migrations,
    and a migration may commit mid-way to build an index concurrently (which cannot run
    in a transaction). A session waiting for the lock tries it again and again, holding
    no snapshot between its tries: waiting inside ``pg_advisory_lock``, its statement's
    snapshot was one more that a concurrent build waits for, the two sessions each
    waiting for the other (PostgreSQL ended one: "deadlock detected")."""
    if engine.dialect.name != "postgresql":
        with write_transaction(engine) as connection:
            yield connection
        return
    with engine.connect() as connection:
        connection.execution_options(isolation_level="AUTOCOMMIT")
        taken = sa.text("SELECT pg_try_advisory_lock(:id)")
        while not connection.execute(taken, {"id": lock_id}).scalar_one():
            time.sleep(_LOCK_POLL)
        connection.commit()  # SQLAlchemy's side of it: the level may change after
        connection.execution_options(isolation_level=connection.default_isolation_level)
        try:
            yield connection
        finally:
            connection.rollback()  # what a failed migration left begun
            connection.execute(sa.text("SELECT pg_advisory_unlock(:id)"), {"id": lock_id})
            connection.commit()


def last_revision(migrations: Path) -> str:
    """The newest revision of the scripts in ``migrations``, read from their names
    (``0012_….py`` holds revision 0012; a test holds every name to its revision), so a
    schema at it is opened without reading the scripts, nor importing Alembic."""
    return max(script.name.split("_", 1)[0] for script in (migrations / "versions").glob("*.py"))


def at_head(engine: sa.Engine, version_table: str, head: str) -> bool:
    """Whether the schema is at ``head`` already, read without the write lock and without
    Alembic. Every command and process opens its schema, those that only read it (`sync
    status`, `check`) too, and taking SQLite's write lock to find nothing to do held them
    behind any writer: a transaction left open for 30 s made `sync status` fail
    `database is locked`."""
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table(version_table):
            return False
        current = conn.execute(sa.text(f"SELECT version_num FROM {version_table}")).scalars()
        return list(current) == [head]


def _refuse_unknown_revisions(
    connection: sa.Connection, known: ScriptDirectory, version_table: str, where: str
) -> None:
    if not sa.inspect(connection).has_table(version_table):
        return
    found = connection.execute(sa.text(f"SELECT version_num FROM {version_table}")).scalars()
    unknown = set(found) - {script.revision for script in known.walk_revisions()}
    if unknown:
        # What to do, for an operator rolling back after an upgrade: nothing here undoes
        # a migration, and "a newer version migrated it" alone left them to guess.
        raise MigrationError(
            f"{where} is at revision {', '.join(sorted(unknown))}, which this version of "
            f"producersync does not know (its latest is {known.get_current_head()}): a newer "
            "version migrated it, and migrations are never undone; run that version, or "
            "restore the backup taken before its upgrade"
        )


def _refused_writes(exc: sa.exc.DBAPIError) -> bool:
    """Whether the database refused a migration's writes for want of the right to write."""
    if getattr(exc.orig, "sqlstate", None) == _INSUFFICIENT_PRIVILEGE:
        return True
    code = getattr(exc.orig, "sqlite_errorcode", None)
    return code is not None and code & 0xFF == _SQLITE_READONLY
