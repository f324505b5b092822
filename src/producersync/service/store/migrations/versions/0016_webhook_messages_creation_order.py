"""webhook messages are numbered in the order they are published (``seq``), the lists'
tie-break among those of one time: a job's events, published in one transaction, tied
on their time and listed in their random ids' order

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-08 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

_Seq = sa.BigInteger().with_variant(sa.Integer, "sqlite")
# The lists' indexes, by account and by account and type: each now ends with seq, the
# order they page in.
_LISTS = (["account_id"], ["account_id", "event_type"])


def _index(columns: list[str]) -> str:
    return f"ix_webhook_messages_{'_'.join(columns)}"


def upgrade() -> None:
    # Required from the start, with a constant default, as 0014 adds its own (why there).
    op.add_column("webhook_messages", sa.Column("seq", _Seq, server_default="0", nullable=False))
    # The messages already made, numbered in the order they listed in until now.
    op.execute("CREATE TEMPORARY TABLE made_order (made_key VARCHAR(64) PRIMARY KEY, n BIGINT)")
    op.execute(
        "INSERT INTO made_order (made_key, n)"
        " SELECT id, row_number() OVER (ORDER BY created_at, id) FROM webhook_messages"
    )
    op.execute(
        "UPDATE webhook_messages SET seq"
        " = (SELECT n FROM made_order WHERE made_order.made_key = webhook_messages.id)"
    )
    op.execute("DROP TABLE made_order")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE SEQUENCE webhook_messages_seq_seq OWNED BY webhook_messages.seq")
        op.execute(
            "SELECT setval('webhook_messages_seq_seq', coalesce(max(seq), 0) + 1, false)"
            " FROM webhook_messages"
        )
    op.create_index("ix_webhook_messages_seq", "webhook_messages", ["seq"], unique=True)
    for columns in _LISTS:
        op.drop_index(_index([*columns, "created_at"]), table_name="webhook_messages")
        op.create_index(
            _index([*columns, "created_at", "seq"]),
            "webhook_messages",
            [*columns, "created_at", "seq"],
        )


def downgrade() -> None:
    for columns in _LISTS:
        op.drop_index(_index([*columns, "created_at", "seq"]), table_name="webhook_messages")
        op.create_index(
            _index([*columns, "created_at"]), "webhook_messages", [*columns, "created_at"]
        )
    op.drop_index("ix_webhook_messages_seq", table_name="webhook_messages")
    op.drop_column("webhook_messages", "seq")
