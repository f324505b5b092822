"""Run the store's Alembic migrations programmatically (every command does, on start)."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from producersync import migrations
from producersync.service.store.engine import write_transaction
from producersync.url_userinfo import masked

__all__ = ["HEAD", "PG_LOCK_ID", "NotAStoreError", "current_revision", "upgrade"]

_MIGRATIONS = Path(__file__).parent / "migrations"
PG_LOCK_ID = 0x50524F44  # an arbitrary constant shared by every service process
_VERSION_TABLE = "alembic_version"  # Alembic's default, which the store's env.py keeps
HEAD = migrations.last_revision(_MIGRATIONS)


class NotAStoreError(Exception):
    """The database holds something other than a store this version can migrate."""


def upgrade(engine: sa.Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision``; safe when several processes start together.
    Raises ``NotAStoreError`` before changing anything in a database that is not a store
    (migrating it would add the store's tables beside another application's), and
    ``migrations.MigrationError`` for one migrated by a newer version or that refuses
    the migration's writes."""
    if revision == "head" and migrations.at_head(engine, _VERSION_TABLE, HEAD):
        return
    _refuse_other_databases(engine)
    migrations.upgrade(
        engine, _MIGRATIONS, PG_LOCK_ID, write_transaction, what="the store", revision=revision
    )


def current_revision(engine: sa.Engine) -> str | None:
    """The revision the store's schema is at; None for a database never migrated."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def _refuse_other_databases(engine: sa.Engine) -> None:
    with engine.connect() as conn:
        tables = set(sa.inspect(conn).get_table_names())
    if not tables or _VERSION_TABLE in tables:
        return  # a new store, or one of ours (its revision is checked as it is migrated)
    # A sync mirror lands here too, named by its tables: the service knows nothing of
    # the sync's (they are two companies' systems).
    shown = ", ".join(sorted(tables)[:3]) + (", ..." if len(tables) > 3 else "")
    raise NotAStoreError(
        f"{masked(engine.url.render_as_string())} is not a ProducerSync store: it holds "
        f"other tables ({shown}) and no {_VERSION_TABLE}"
    )
