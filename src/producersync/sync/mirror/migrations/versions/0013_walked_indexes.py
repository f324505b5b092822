"""indexes for the LOA words a check reads and the latest malformed fields

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 12:00:00

A check answered no read every license LOA to tell a typo from a name (a DISTINCT of
names, codes and categories: 0.4 s on PostgreSQL for 700,000 LOAs, a scan on SQLite),
and a check by a category word read them to know no LOA is named so. Each of those
columns is now indexed and walked a value at a time. ``sync status`` sorted every
malformed field for its latest ten; this index is in their order.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from producersync.index_builds import Index, build_indexes

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

_WORDS = ("loa", "loa_code", "categories")


_LATEST = Index("ix_malformed_latest", [sa.text("seen_at DESC"), "resource", "record_id", "field"])


def upgrade() -> None:
    build_indexes("license_loas", [[column] for column in _WORDS])
    build_indexes("malformed", [_LATEST])


def downgrade() -> None:
    op.drop_index(_LATEST.name, table_name="malformed")
    for column in _WORDS:
        op.drop_index(f"ix_license_loas_{column}", table_name="license_loas")
