"""webhook attempts keep the URL they were sent to (``url``): an attempt's page and the
API showed the endpoint's URL of now, and after the URL was edited the attempts of
before read as if sent to the new one. Those made before are left NULL, not filled with
the endpoint's URL now, which is the very guess this column replaces

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-11 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("webhook_attempts", sa.Column("url", sa.String(2048), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("webhook_attempts") as batch:
        batch.drop_column("url")
