"""webhook messages indexed by account and event type: a type filter of the attempts and
messages lists finds the account's few messages of a rare type in the index

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05 17:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_NAME = "ix_webhook_messages_account_id_event_type_created_at"


def upgrade() -> None:
    op.create_index(_NAME, "webhook_messages", ["account_id", "event_type", "created_at"])


def downgrade() -> None:
    op.drop_index(_NAME, table_name="webhook_messages")
