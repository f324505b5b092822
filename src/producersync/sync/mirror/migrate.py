"""The mirror's Alembic migrations, run programmatically whenever a mirror is opened."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from producersync import migrations
from producersync.sync.mirror.engine import write_transaction

__all__ = ["VERSION_TABLE", "upgrade"]

_MIGRATIONS = Path(__file__).parent / "migrations"
# Not Alembic's default `alembic_version`: the mirror may share a database with the
# service's store or DBOS, and each schema must keep its own revision.
VERSION_TABLE = "mirror_alembic_version"
_PG_LOCK_ID = 0x4D495252  # "MIRR": serialises sync processes that start together


def upgrade(engine: sa.Engine, revision: str = "head") -> None:
    """Bring the mirror's schema to ``revision``; safe when several processes start together."""
    migrations.upgrade(engine, _MIGRATIONS, _PG_LOCK_ID, write_transaction, revision)
