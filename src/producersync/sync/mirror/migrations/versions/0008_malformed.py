"""fields of stored records their typed columns could not hold

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05 22:30:00

A record with one malformed field (a blank ``expirationDate``) failed its whole page,
and the page failed again on every retry and every later sync: no record after it
reached the mirror. The record is now stored with that column NULL, its raw value kept
in ``record``, and the field listed here for `sync status` and the metrics.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "malformed",
        sa.Column("resource", sa.String(), nullable=False),
        sa.Column("record_id", _ID, nullable=False, autoincrement=False),
        sa.Column("field", sa.String(), nullable=False),
        sa.Column("npn", sa.String(), nullable=True),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("run_id", _ID, nullable=True),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("resource", "record_id", "field", name=op.f("pk_malformed")),
    )
    op.create_index(op.f("ix_malformed_npn"), "malformed", ["npn"])


def downgrade() -> None:
    op.drop_table("malformed")
