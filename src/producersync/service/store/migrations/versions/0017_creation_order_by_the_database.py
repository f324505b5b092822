"""the database numbers a row inserted without its ``seq`` (creation_order's), as a
service process of the version before 0014 inserts every row: such a process, still
running while the store is upgraded under it (a rolling upgrade), gave each row 0, its
first job then ran before every older one and its second insert failed the unique index
(a 500 to a second subscription change, an API client or endpoint not made, a job's
events not published)

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06 13:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

_TABLES = ("jobs", "api_clients", "webhook_endpoints", "webhook_messages")


def upgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    for table in _TABLES:
        if postgresql:  # the sequence 0014 or 0016 made for the column
            op.execute(
                f"ALTER TABLE {table} ALTER COLUMN seq SET DEFAULT nextval('{table}_seq_seq')"
            )
        else:
            # SQLite's DEFAULT takes no subquery: the row is numbered once inserted, before
            # the next row of the statement (the index checks each row as it is written).
            op.execute(
                f"CREATE TRIGGER {table}_seq_given AFTER INSERT ON {table} WHEN NEW.seq = 0"
                f" BEGIN UPDATE {table} SET seq = (SELECT max(seq) + 1 FROM {table})"
                f" WHERE rowid = NEW.rowid; END"
            )


def downgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    for table in _TABLES:
        if postgresql:
            op.execute(f"ALTER TABLE {table} ALTER COLUMN seq SET DEFAULT 0")
        else:
            op.execute(f"DROP TRIGGER {table}_seq_given")
