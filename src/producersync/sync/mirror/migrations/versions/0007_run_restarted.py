"""sync runs stopped to start over at once

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05 14:00:00

A pass over the population stops when NPNs were subscribed after it read the list, and
another starts from the list as it is now. It was recorded as a failure: `sync status`
showed it failed and counted it among the failed runs, an alert for nothing on every
storm of subscriptions. Runs from before keep what they showed.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sync_runs") as batch:
        batch.add_column(
            sa.Column("restarted", sa.Boolean, nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("sync_runs") as batch:
        batch.drop_column("restarted")
