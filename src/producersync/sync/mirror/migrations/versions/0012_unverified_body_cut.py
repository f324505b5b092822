"""a delivery that did not verify keeps the beginning of its body, its length and digest

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 06:00:00

Every receipt kept its whole body, a forged one's too: up to the body limit (1 MiB by
default) a delivery, so whoever knew the receiver's URL could fill the mirror at network
speed. A delivery whose signature does not verify now keeps its first 4 KiB, and these
columns the whole body's length and SHA-256; both NULL where ``body`` is whole, as in
every receipt written before.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("receipts", sa.Column("body_length", sa.BigInteger(), nullable=True))
    op.add_column("receipts", sa.Column("body_sha256", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("receipts") as batch:
        batch.drop_column("body_sha256")
        batch.drop_column("body_length")
