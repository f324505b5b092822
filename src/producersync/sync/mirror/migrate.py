"""The mirror's Alembic migrations, run programmatically whenever a mirror is opened."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from producersync import migrations
from producersync.sync.mirror.engine import write_transaction

__all__ = ["HEAD", "VERSION_TABLE", "holds_mirror", "upgrade"]

_MIGRATIONS = Path(__file__).parent / "migrations"
# Not Alembic's default `alembic_version`: the mirror may share a database with the
# service's store or DBOS, and each schema must keep its own revision.
VERSION_TABLE = "mirror_alembic_version"
_PG_LOCK_ID = 0x4D495252  # "MIRR": serialises sync processes that start together
HEAD = migrations.last_revision(_MIGRATIONS)


def upgrade(engine: sa.Engine, revision: str = "head") -> None:
    """Bring the mirror's schema to ``revision``; safe when several processes start together.
    Raises ``migrations.MigrationError`` for a mirror a newer version migrated, or one
    that refuses the migration's writes."""
    if revision == "head" and migrations.at_head(engine, VERSION_TABLE, HEAD):
        return
    migrations.upgrade(
        engine,
        _MIGRATIONS,
        _PG_LOCK_ID,
        write_transaction,
        what="the mirror",
        version_table=VERSION_TABLE,
        revision=revision,
    )


def holds_mirror(engine: sa.Engine) -> bool:
    """Whether the database holds a mirror (at any revision): one that does not is empty,
    or some other database's."""
    with engine.connect() as conn:
        return sa.inspect(conn).has_table(VERSION_TABLE)
