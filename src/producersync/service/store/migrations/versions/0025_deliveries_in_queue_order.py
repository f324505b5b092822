"""index of the webhook deliveries by message and id: a message's deliveries in the order
queued (the portal's message page) are read a page at a time from it, not all read and
sorted for each page

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-08 01:30:00
"""

from __future__ import annotations

from alembic import op

from producersync.index_builds import build_indexes, index_name

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None

_COLUMNS = ["message_id", "id"]


def upgrade() -> None:
    build_indexes("webhook_deliveries", [_COLUMNS])


def downgrade() -> None:
    op.drop_index(index_name("webhook_deliveries", _COLUMNS), table_name="webhook_deliveries")
