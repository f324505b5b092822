"""the updated_at index carries npn and id: a day's changes are found in the index

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 21:00:00
"""

from __future__ import annotations

from producersync.service.store.indexes import swap_record_index

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    swap_record_index(["updated_at"], ["updated_at", "npn", "id"])


def downgrade() -> None:
    swap_record_index(["updated_at", "npn", "id"], ["updated_at"])
