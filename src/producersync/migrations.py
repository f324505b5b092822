"""Running a schema's Alembic migrations programmatically: the store's and the mirror's
each keep their own scripts, and are brought up to date the same way."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

__all__ = ["upgrade"]


def upgrade(engine: sa.Engine, scripts: Path, lock_id: int, revision: str = "head") -> None:
    """Bring the schema whose migrations are in ``scripts`` to ``revision``; safe when
    several processes start together: on PostgreSQL they queue on the advisory lock
    ``lock_id`` (released at commit). The scripts' ``env.py`` runs on the connection
    given in ``config.attributes``."""
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(sa.text("SELECT pg_advisory_xact_lock(:id)"), {"id": lock_id})
        config = Config()
        config.set_main_option("script_location", str(scripts))
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
