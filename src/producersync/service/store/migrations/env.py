"""Alembic environment: always called with a live connection by ``migrate.upgrade``."""

from __future__ import annotations

from alembic import context

from producersync.service.store.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only `alembic` run by hand gets here
    raise RuntimeError("run migrations through `producersync db upgrade`")

context.configure(
    connection=connection, target_metadata=metadata, render_as_batch=True, compare_type=True
)
with context.begin_transaction():
    context.run_migrations()
