"""keyset indexes carry updated_at: a day's changes are checked in the index

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 17:30:00
"""

from __future__ import annotations

from producersync.service.store.indexes import swap_record_index

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    swap_record_index(["npn", "id"], ["npn", "id", "updated_at"])


def downgrade() -> None:
    swap_record_index(["npn", "id", "updated_at"], ["npn", "id"])
