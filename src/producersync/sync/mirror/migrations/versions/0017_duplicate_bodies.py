"""an accepted event's first body digest: a duplicate with that body keeps none

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-09 12:00:00

A verified delivery replayed (its id, signature and body, within the signature's 5 min)
or a sender's retry storm stored its whole body at each receipt: 10,000 replays of one
100 KiB delivery were 1 GB of receipts. The event now keeps its first receipt's body
digest, and a duplicate whose body has it keeps none (its ``body_length`` and
``body_sha256`` tell what came); one with another body is kept whole. NULL for the
events accepted before, until a duplicate of one fills it in from its first receipt.
No index: the column is read by the event's primary key.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("events", sa.Column("body_sha256", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.drop_column("body_sha256")
