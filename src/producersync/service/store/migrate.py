"""Run the store's Alembic migrations programmatically (every command does, on start)."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from producersync import migrations

__all__ = ["upgrade"]

_MIGRATIONS = Path(__file__).parent / "migrations"
_PG_LOCK_ID = 0x50524F44  # an arbitrary constant shared by every service process


def upgrade(engine: sa.Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision``; safe when several processes start together."""
    migrations.upgrade(engine, _MIGRATIONS, _PG_LOCK_ID, revision)
