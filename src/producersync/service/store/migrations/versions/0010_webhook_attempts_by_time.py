"""webhook attempts indexed by endpoint, start and id, the order of the attempts list:
a time window far in the past is read from where it starts, not from the newest attempt

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 10:00:00
"""

from __future__ import annotations

from producersync.index_builds import build_indexes

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_OLD = ["endpoint_id", "id"]
_NEW = ["endpoint_id", "attempted_at", "id"]


def upgrade() -> None:
    build_indexes("webhook_attempts", [_NEW], replacing=[_OLD])


def downgrade() -> None:
    build_indexes("webhook_attempts", [_OLD], replacing=[_NEW])
