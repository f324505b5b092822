"""licenses indexed by (active, expiration_date): the daily run finds the day's licenses
whose expiration date has come in the index instead of reading every license

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05 19:30:00
"""

from __future__ import annotations

from alembic import op

from producersync.index_builds import build_indexes, index_name

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_COLUMNS = ["active", "expiration_date"]


def upgrade() -> None:
    build_indexes("licenses", [_COLUMNS])


def downgrade() -> None:
    op.drop_index(index_name("licenses", _COLUMNS), table_name="licenses")
