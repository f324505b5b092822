"""index of the attempts by endpoint, outcome and start: an endpoint's failed attempts
are read from it, not found among all of its attempts

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-07 22:45:00
"""

from __future__ import annotations

from alembic import op

from producersync.index_builds import build_indexes, index_name

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

_COLUMNS = ["endpoint_id", "succeeded", "attempted_at", "id"]


def upgrade() -> None:
    build_indexes("webhook_attempts", [_COLUMNS])


def downgrade() -> None:
    op.drop_index(index_name("webhook_attempts", _COLUMNS), table_name="webhook_attempts")
