"""Open the mirror ready for use: the engine, with the schema at head."""

from __future__ import annotations

import sqlalchemy as sa

from producersync.database_file import directory_faults
from producersync.sync.mirror.engine import make_engine
from producersync.sync.mirror.migrate import upgrade

__all__ = ["open_mirror"]


def open_mirror(url: str, pool_size: int | None = None) -> sa.Engine:
    """Every sync command starts here: a new mirror is created, an old one migrated.
    ``pool_size``: see ``SyncSettings.mirror_pool_size`` (PostgreSQL only). Raises
    ``DatabaseFileError`` when a SQLite mirror's directory is missing or not writable."""
    engine = make_engine(url, pool_size)
    with directory_faults(engine, "the mirror"):
        upgrade(engine)
    return engine
