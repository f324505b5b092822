"""Open the store ready for use: engine, schema at head, sandbox data present."""

from __future__ import annotations

import sqlalchemy as sa

from producersync.database_file import directory_faults
from producersync.service.store.engine import make_engine
from producersync.service.store.indexes import ensure_secondary_indexes
from producersync.service.store.migrate import upgrade

__all__ = ["open_store"]


def open_store(url: str, pool_size: int | None = None) -> sa.Engine:
    """Every command and the service start here: a fresh database is migrated at once.
    ``pool_size``: see ``ServiceSettings.database_pool_size`` (PostgreSQL only). Raises
    ``DatabaseFileError`` when a SQLite store's directory is missing or not writable."""
    engine = make_engine(url, pool_size)
    with directory_faults(engine, "the store"):
        upgrade(engine)
    ensure_secondary_indexes(engine)
    from producersync.service.nipr.sandbox import ensure_sandbox

    ensure_sandbox(engine)
    return engine
