"""Running a schema's Alembic migrations programmatically: the store's and the mirror's
each keep their own scripts, and are brought up to date the same way."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

__all__ = ["WriteTransaction", "upgrade"]

# The schema's own `write_transaction`: one that takes SQLite's write lock at BEGIN.
WriteTransaction = Callable[[sa.Engine], AbstractContextManager[sa.Connection]]


def upgrade(
    engine: sa.Engine,
    scripts: Path,
    lock_id: int,
    write_transaction: WriteTransaction,
    revision: str = "head",
) -> None:
    """Bring the schema whose migrations are in ``scripts`` to ``revision``; safe when
    several processes start together: on PostgreSQL they queue on the advisory lock
    ``lock_id`` (released at commit), on SQLite on the write lock, taken at BEGIN. A
    plain BEGIN read the version table first: a process that had read it while another
    migrated could not write after that one's commit, and failed "database is locked"
    at once (WAL refuses a writer whose snapshot is stale; no busy wait helps). The
    scripts' ``env.py`` runs on the connection given in ``config.attributes``."""
    with write_transaction(engine) as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(sa.text("SELECT pg_advisory_xact_lock(:id)"), {"id": lock_id})
        config = Config()
        config.set_main_option("script_location", str(scripts))
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
