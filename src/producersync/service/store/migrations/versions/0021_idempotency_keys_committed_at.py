"""idempotency keys note when their request's write committed (``committed_at``, set in
the write's own transaction): a retry of a request whose process ended after its change
and before its answer was kept is refused, where it made the change again

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-10 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "idempotency_keys", sa.Column("committed_at", sa.DateTime(timezone=True), nullable=True)
    )


def downgrade() -> None:
    with op.batch_alter_table("idempotency_keys") as batch:
        batch.drop_column("committed_at")
