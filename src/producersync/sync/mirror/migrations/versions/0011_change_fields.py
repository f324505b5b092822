"""an insert's list of fields stored once, its change row pointing to it

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 03:00:00

An insert's change row listed every field of its record by name: ~190 of its ~260
bytes, 40 MB of a 10,000-NPN backfill's 220 MB, written by the one SQLite writer that
bounds a backfill. A backfill's inserts share a few dozen such lists; each is now kept
once in ``change_fields``, and the row holds its id in ``fields_id`` and a JSON null in
``fields``. Rows written before keep their lists and are read as they were.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "change_fields",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("fields", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_change_fields")),
        sa.UniqueConstraint("fields", name=op.f("uq_change_fields_fields")),
    )
    # A column added, not ``fields`` made nullable: that rebuilt the whole feed on SQLite.
    op.add_column("changes", sa.Column("fields_id", _ID, nullable=True))


def downgrade() -> None:
    listed = "f.fields::jsonb" if op.get_bind().dialect.name == "postgresql" else "f.fields"
    op.execute(
        f"UPDATE changes SET fields = (SELECT {listed} FROM change_fields f"
        " WHERE f.id = changes.fields_id) WHERE fields_id IS NOT NULL"
    )
    with op.batch_alter_table("changes") as batch:
        batch.drop_column("fields_id")
    op.drop_table("change_fields")
