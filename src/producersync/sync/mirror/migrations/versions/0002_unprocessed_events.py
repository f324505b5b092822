"""an index of the events still owed

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02 13:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    unprocessed = sa.text("processed_at IS NULL")
    op.create_index(
        "ix_events_unprocessed",
        "events",
        ["received_at", "event_id"],
        sqlite_where=unprocessed,
        postgresql_where=unprocessed,
    )


def downgrade() -> None:
    op.drop_index("ix_events_unprocessed", table_name="events")
