"""the NPNs a pass over the whole population covered

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03 03:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "fetched",
        sa.Column("npn", sa.String(10), primary_key=True),
        sa.Column("activated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("run_id", _ID, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("fetched")
