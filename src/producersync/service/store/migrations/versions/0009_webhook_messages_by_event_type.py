"""webhook messages indexed by account and event type: a type filter of the attempts and
messages lists finds the account's few messages of a rare type in the index

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05 17:00:00
"""

from __future__ import annotations

from alembic import op

from producersync.index_builds import build_indexes, index_name

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_COLUMNS = ["account_id", "event_type", "created_at"]


def upgrade() -> None:
    build_indexes("webhook_messages", [_COLUMNS])


def downgrade() -> None:
    op.drop_index(index_name("webhook_messages", _COLUMNS), table_name="webhook_messages")
