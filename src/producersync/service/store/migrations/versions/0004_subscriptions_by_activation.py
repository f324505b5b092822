"""subscriptions listed by activation

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 12:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_INDEX = "ix_subscriptions_account_id_activated_at_npn"


def upgrade() -> None:
    op.create_index(_INDEX, "subscriptions", ["account_id", "activated_at", "npn"])


def downgrade() -> None:
    op.drop_index(_INDEX, table_name="subscriptions")
