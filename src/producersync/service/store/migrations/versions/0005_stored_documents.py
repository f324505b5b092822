"""records keep their served JSON (the document column)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from producersync.service.store import documents

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for table in documents.MATERIALIZED_TABLES:
        op.add_column(table.name, sa.Column("document", sa.Text(), nullable=True))
        if postgres:
            # Documents are 1-3 kB: kept inline and uncompressed, a page reads them at
            # memory speed (compressed, decompressing them took a third of a page).
            op.execute(f"ALTER TABLE {table.name} SET (toast_tuple_target = 8160)")
    # Built by the code of the day: the format is the one the service serves now.
    for table in documents.MATERIALIZED_TABLES:
        documents.fill(op.get_bind(), table)


def downgrade() -> None:
    for table in documents.MATERIALIZED_TABLES:
        op.drop_column(table.name, "document")
