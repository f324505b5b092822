"""The mirror's Alembic migrations, run programmatically whenever a mirror is opened."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

__all__ = ["VERSION_TABLE", "alembic_config", "upgrade"]

_MIGRATIONS = Path(__file__).parent / "migrations"
# Not Alembic's default `alembic_version`: the mirror may share a database with the
# service's store or DBOS, and each schema must keep its own revision.
VERSION_TABLE = "mirror_alembic_version"
_PG_LOCK_ID = 0x4D495252  # "MIRR": serialises sync processes that start together


def alembic_config(connection: sa.Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def upgrade(engine: sa.Engine, revision: str = "head") -> None:
    """Bring the mirror's schema to ``revision``; safe when several processes start together."""
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(sa.text("SELECT pg_advisory_xact_lock(:id)"), {"id": _PG_LOCK_ID})
        command.upgrade(alembic_config(connection), revision)
