"""jobs, API clients and webhook endpoints are numbered in the order they are made
(``seq``): by their times, jobs made in one transaction tied on PostgreSQL and ran in
their random ids' order, clients made in one listed so, and endpoints made in one
millisecond listed in their ids' random tails' order

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 12:00:00
"""

from __future__ import annotations

from alembic import op

from producersync.index_builds import build_indexes
from producersync.service.store.creation_order import add_creation_order

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

# Each table's key, and the order its rows ran or were listed in until now.
_TABLES = {
    "jobs": ("id", "created_at, id"),
    "api_clients": ("client_id", "created_at, client_id"),
    "webhook_endpoints": ("id", "id"),
}


def upgrade() -> None:
    for table, (key, order) in _TABLES.items():
        add_creation_order(table, key, order)
    build_indexes("jobs", [["status", "seq"]], replacing=[["status", "created_at"]])


def downgrade() -> None:
    op.drop_index("ix_jobs_status_seq", table_name="jobs")
    op.create_index("ix_jobs_status_created_at", "jobs", ["status", "created_at"])
    for table in _TABLES:
        op.drop_index(f"ix_{table}_seq", table_name=table)
        op.drop_column(table, "seq")  # SQLite's own DROP COLUMN: no copy of the table
