"""indexes no query needs, which every insert kept up

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 00:30:00

A backfill inserts every record and a change row for each, and each insert kept up
every index of its table. Three served no query: the change feed is read by id and
time, never by NPN; and on SQLite a license by NPN and state (the compliance check)
was read through ``ix_licenses_state``, every license of the state, where the NPN's
index finds its few, as ``ix_appointments_co_code`` did for an appointment by NPN,
state and carrier. Both queries now take the NPN's index.
"""

from __future__ import annotations

from producersync.index_builds import build_indexes

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

# Table -> the column of its index dropped (ix_changes_npn, ...).
_DROPPED = {"changes": "npn", "licenses": "state", "appointments": "co_code"}


def upgrade() -> None:
    for table, column in _DROPPED.items():
        build_indexes(table, [], replacing=[[column]])


def downgrade() -> None:
    for table, column in _DROPPED.items():
        build_indexes(table, [[column]])
