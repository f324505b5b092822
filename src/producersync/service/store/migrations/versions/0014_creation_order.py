"""jobs, API clients and webhook endpoints are numbered in the order they are made
(``seq``): by their times, jobs made in one transaction tied on PostgreSQL and ran in
their random ids' order, clients made in one listed so, and endpoints made in one
millisecond listed in their ids' random tails' order

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

_Seq = sa.BigInteger().with_variant(sa.Integer, "sqlite")

# Each table's key, and the order its rows ran or were listed in until now.
_TABLES = {
    "jobs": ("id", "created_at, id"),
    "api_clients": ("client_id", "created_at, client_id"),
    "webhook_endpoints": ("id", "id"),
}


def upgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    for table, (key, order) in _TABLES.items():
        # Required from the start, which SQLite allows only with a constant default: made
        # required later, the table is copied and the old one dropped, which the foreign
        # keys naming it refuse (checked at once: the pragma that turns them off is a
        # no-op in a transaction).
        op.add_column(table, sa.Column("seq", _Seq, server_default="0", nullable=False))
        # The rows already made, numbered in that order. Through a table keyed as theirs,
        # not UPDATE ... FROM, which SQLite has only since 3.33.
        op.execute("CREATE TEMPORARY TABLE made_order (made_key VARCHAR(64) PRIMARY KEY, n BIGINT)")
        op.execute(
            f"INSERT INTO made_order (made_key, n)"
            f" SELECT {key}, row_number() OVER (ORDER BY {order}) FROM {table}"
        )
        op.execute(
            f"UPDATE {table} SET seq"
            f" = (SELECT n FROM made_order WHERE made_order.made_key = {table}.{key})"
        )
        op.execute("DROP TABLE made_order")
        if postgresql:  # the numbers of the rows made from now on (store/creation_order.py)
            op.execute(f"CREATE SEQUENCE {table}_seq_seq OWNED BY {table}.seq")
            op.execute(
                f"SELECT setval('{table}_seq_seq', coalesce(max(seq), 0) + 1, false) FROM {table}"
            )
        op.create_index(f"ix_{table}_seq", table, ["seq"], unique=True)
    op.drop_index("ix_jobs_status_created_at", table_name="jobs")
    op.create_index("ix_jobs_status_seq", "jobs", ["status", "seq"])


def downgrade() -> None:
    op.drop_index("ix_jobs_status_seq", table_name="jobs")
    op.create_index("ix_jobs_status_created_at", "jobs", ["status", "created_at"])
    for table in _TABLES:
        op.drop_index(f"ix_{table}_seq", table_name=table)
        op.drop_column(table, "seq")  # SQLite's own DROP COLUMN: no copy of the table
