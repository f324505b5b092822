"""an index of the events still owed

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02 13:00:00
"""

from __future__ import annotations

from alembic import op

from producersync.index_builds import Index, build_indexes

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


_UNPROCESSED = Index(
    "ix_events_unprocessed", ["received_at", "event_id"], where="processed_at IS NULL"
)


def upgrade() -> None:
    build_indexes("events", [_UNPROCESSED])


def downgrade() -> None:
    op.drop_index(_UNPROCESSED.name, table_name="events")
