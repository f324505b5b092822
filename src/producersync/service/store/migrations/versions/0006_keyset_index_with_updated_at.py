"""keyset indexes carry updated_at: a day's changes are checked in the index

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 17:30:00
"""

from __future__ import annotations

from alembic import op

from producersync.service.store.tables import RECORD_TABLES

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in RECORD_TABLES:
        # Built before the old one goes: pages keep an index to seek by meanwhile.
        op.create_index(
            f"ix_{table.name}_npn_id_updated_at",
            table.name,
            ["npn", "id", "updated_at"],
            if_not_exists=True,
        )
        op.drop_index(f"ix_{table.name}_npn_id", table_name=table.name, if_exists=True)


def downgrade() -> None:
    for table in RECORD_TABLES:
        op.create_index(f"ix_{table.name}_npn_id", table.name, ["npn", "id"], if_not_exists=True)
        op.drop_index(f"ix_{table.name}_npn_id_updated_at", table_name=table.name, if_exists=True)
