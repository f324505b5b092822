"""webhook attempts indexed by endpoint, start and id, the order of the attempts list:
a time window far in the past is read from where it starts, not from the newest attempt

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 10:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_OLD = ("ix_webhook_attempts_endpoint_id_id", ["endpoint_id", "id"])
_NEW = ("ix_webhook_attempts_endpoint_id_attempted_at_id", ["endpoint_id", "attempted_at", "id"])


def upgrade() -> None:
    op.create_index(_NEW[0], "webhook_attempts", _NEW[1])
    op.drop_index(_OLD[0], table_name="webhook_attempts")


def downgrade() -> None:
    op.create_index(_OLD[0], "webhook_attempts", _OLD[1])
    op.drop_index(_NEW[0], table_name="webhook_attempts")
