"""webhook deliveries say why a sender put them back unsent, and until when (``held_for``,
``held_until``): the endpoint's rate limit, or its one attempt at a time after a timeout.
The portal showed such a delivery "Sending now", as one a sender has in hand, for as long
as it waited (a minute, after a timeout). Rows of before are left NULL: held by no one

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-08 01:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "webhook_deliveries", sa.Column("held_until", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column("webhook_deliveries", sa.Column("held_for", sa.String(16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("webhook_deliveries") as batch:
        batch.drop_column("held_for")
        batch.drop_column("held_until")
