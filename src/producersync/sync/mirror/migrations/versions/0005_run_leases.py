"""each sync run's lease: when its process last showed it alive, and until when

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05 12:00:00

A run's process renews both while it runs; a run whose lease has run out without a
finish is shown interrupted (its process killed or stopped). Runs from before have
neither, and are shown as they were: running until finished.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sync_runs") as batch:
        batch.add_column(sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sync_runs") as batch:
        batch.drop_column("lease_until")
        batch.drop_column("heartbeat_at")
