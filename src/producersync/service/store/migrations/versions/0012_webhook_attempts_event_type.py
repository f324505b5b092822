"""webhook attempts keep their message's event type, indexed by endpoint, type, start and
id: a list filtered by a rare type is read from the type's own attempts, not by joining
every attempt of the endpoint to its message until enough are of it

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05 21:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from producersync.index_builds import build_indexes, committed_column, index_name

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_COLUMNS = ["endpoint_id", "event_type", "attempted_at", "id"]


def upgrade() -> None:
    if not committed_column("webhook_attempts", "event_type"):
        _add_event_type()
    build_indexes("webhook_attempts", [_COLUMNS])


def _add_event_type() -> None:
    op.add_column("webhook_attempts", sa.Column("event_type", sa.String(100), nullable=True))
    # One set-based statement, not rows through Python: a join on PostgreSQL (a hash join
    # over both tables; a lookup per attempt was the slower plan), a primary-key look-up
    # per attempt on SQLite (whose UPDATE ... FROM needs 3.33).
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "UPDATE webhook_attempts AS a SET event_type = m.event_type"
            " FROM webhook_messages AS m WHERE m.id = a.message_id"
        )
    else:
        op.execute(
            "UPDATE webhook_attempts SET event_type = (SELECT m.event_type"
            " FROM webhook_messages AS m WHERE m.id = webhook_attempts.message_id)"
        )
    # Every attempt has its message (its delivery's, which a foreign key keeps): an
    # attempt left without a type stops the migration rather than drop out of the lists.
    with op.batch_alter_table("webhook_attempts") as batch:
        batch.alter_column("event_type", existing_type=sa.String(100), nullable=False)


def downgrade() -> None:
    op.drop_index(index_name("webhook_attempts", _COLUMNS), table_name="webhook_attempts")
    with op.batch_alter_table("webhook_attempts") as batch:
        batch.drop_column("event_type")
