"""Alembic environment for the mirror: always given a live connection by ``migrate.upgrade``."""

from __future__ import annotations

from alembic import context

from producersync.sync.mirror.migrate import VERSION_TABLE
from producersync.sync.mirror.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only `alembic` run by hand gets here
    raise RuntimeError("the mirror migrates itself when opened (open_mirror)")

context.configure(
    connection=connection,
    target_metadata=metadata,
    version_table=VERSION_TABLE,
    render_as_batch=True,
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
