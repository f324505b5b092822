"""index of the deliveries by endpoint, state and message: the portal's Messages
filtered by a state that few of the account's deliveries are in read them from it, not
each of the account's messages

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07 10:00:00
"""

from __future__ import annotations

from alembic import op

from producersync.index_builds import build_indexes, index_name

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

_COLUMNS = ["endpoint_id", "state", "message_id"]


def upgrade() -> None:
    build_indexes("webhook_deliveries", [_COLUMNS])


def downgrade() -> None:
    op.drop_index(index_name("webhook_deliveries", _COLUMNS), table_name="webhook_deliveries")
