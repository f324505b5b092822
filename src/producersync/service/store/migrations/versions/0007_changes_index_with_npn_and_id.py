"""the updated_at index carries npn and id: a day's changes are found in the index

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 21:00:00
"""

from __future__ import annotations

from alembic import op

from producersync.service.store.tables import RECORD_TABLES

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in RECORD_TABLES:
        # Built before the old one goes: daily deltas keep an index meanwhile.
        op.create_index(
            f"ix_{table.name}_updated_at_npn_id",
            table.name,
            ["updated_at", "npn", "id"],
            if_not_exists=True,
        )
        op.drop_index(f"ix_{table.name}_updated_at", table_name=table.name, if_exists=True)


def downgrade() -> None:
    for table in RECORD_TABLES:
        name = f"ix_{table.name}_updated_at"
        op.create_index(name, table.name, ["updated_at"], if_not_exists=True)
        op.drop_index(f"ix_{table.name}_updated_at_npn_id", table_name=table.name, if_exists=True)
