"""licenses indexed by (active, expiration_date): the daily run finds the day's licenses
whose expiration date has come in the index instead of reading every license

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05 19:30:00
"""

from __future__ import annotations

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_NAME = "ix_licenses_active_expiration_date"


def upgrade() -> None:
    op.create_index(_NAME, "licenses", ["active", "expiration_date"])


def downgrade() -> None:
    op.drop_index(_NAME, table_name="licenses")
