"""each Python hook's cursor in the change feed, and the lease of the process calling it

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-08 12:00:00

Hooks were called at most once: a process that ended between a commit and a hook's call
never made it. Each hook's last handled change is kept here, moved on once it has
returned; at start a hook is given the feed after it (``sync.hooks``). A hook that raises
has its failures counted, since when and the last one's line, until a call succeeds.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

_Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "hook_cursors",
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("after", _Id, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("holder", sa.String(), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failures", sa.Integer(), server_default="0", nullable=False),
        sa.Column("failing_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("name", name="pk_hook_cursors"),
    )


def downgrade() -> None:
    op.drop_table("hook_cursors")
