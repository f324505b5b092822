"""the workflow step that started each sync run

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05 13:00:00

A step runs again when its process died after the run's insert committed but before
DBOS recorded the step's result; it used to start a second run, and the first stayed
interrupted for good while the second did its work. Now the step finds the run it
started. Runs from before, and runs started by hand, have none.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sync_runs") as batch:
        batch.add_column(sa.Column("started_by", sa.String(), nullable=True))
        batch.create_unique_constraint("uq_sync_runs_started_by", ["started_by"])


def downgrade() -> None:
    with op.batch_alter_table("sync_runs") as batch:
        batch.drop_constraint("uq_sync_runs_started_by", type_="unique")
        batch.drop_column("started_by")
