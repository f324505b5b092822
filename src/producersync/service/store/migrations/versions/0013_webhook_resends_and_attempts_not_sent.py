"""webhook deliveries note a Resend of a delivery still on its retry schedule (sent
whatever the endpoint's filter, logged manual, its retries kept), and attempts note the
ones that were not made (left out of the success rate)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 03:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "webhook_deliveries",
        sa.Column("resent", sa.Boolean(), server_default=sa.false(), nullable=False),
    )
    op.add_column(
        "webhook_attempts",
        sa.Column("sent", sa.Boolean(), server_default=sa.true(), nullable=False),
    )
    # The attempts not made before the column, known by the error they were logged with
    # (the prefix of outbox.UNSUBSCRIBED, which this migration must not import).
    op.execute(
        "UPDATE webhook_attempts SET sent = false WHERE status_code = 0"
        " AND error LIKE 'not sent: the endpoint no longer subscribes to %'"
    )


def downgrade() -> None:
    with op.batch_alter_table("webhook_attempts") as batch:
        batch.drop_column("sent")
    with op.batch_alter_table("webhook_deliveries") as batch:
        batch.drop_column("resent")
