"""records a sync run was served that the mirror could not store

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 00:40:00

A record that is not an object or has no integer id has no key to be stored under: it
was logged and nothing more, and neither `sync status` nor the metrics counted it. Each
run now counts those it was served, in the transaction of the page that held them.
Runs from before count none.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sync_runs") as batch:
        batch.add_column(sa.Column("not_stored", sa.Integer, nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("sync_runs") as batch:
        batch.drop_column("not_stored")
