"""webhook messages are numbered in the order they are published (``seq``), the lists'
tie-break among those of one time: a job's events, published in one transaction, tied
on their time and listed in their random ids' order

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-08 12:00:00
"""

from __future__ import annotations

from alembic import op

from producersync.index_builds import build_indexes
from producersync.service.store.creation_order import add_creation_order

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

# The lists' indexes, by account and by account and type: each now ends with seq, the
# order they page in.
_LISTS = (["account_id"], ["account_id", "event_type"])


def upgrade() -> None:
    # The messages already made, numbered in the order they listed in until now.
    add_creation_order("webhook_messages", "id", "created_at, id")
    build_indexes(
        "webhook_messages",
        [[*columns, "created_at", "seq"] for columns in _LISTS],
        replacing=[[*columns, "created_at"] for columns in _LISTS],
    )


def downgrade() -> None:
    build_indexes(
        "webhook_messages",
        [[*columns, "created_at"] for columns in _LISTS],
        replacing=[[*columns, "created_at", "seq"] for columns in _LISTS],
    )
    op.drop_index("ix_webhook_messages_seq", table_name="webhook_messages")
    op.drop_column("webhook_messages", "seq")
