"""the mirror: record tables, population, receipts and events, sync runs and state, changes

Revision ID: 0001
Revises:
Create Date: 2026-11-23 08:04:51.521934
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
_TIME = sa.DateTime(timezone=True)

# Record table -> its query columns and the ones indexed besides npn.
_RECORD_TABLES: dict[str, tuple[list[sa.Column[Any]], list[str]]] = {
    "entities": ([sa.Column("type", sa.String())], []),
    "licenses": (
        [
            sa.Column("state", sa.String()),
            sa.Column("license_num", sa.String()),
            sa.Column("active", sa.Boolean()),
            sa.Column("expiration_date", sa.Date()),
            sa.Column("license_class", sa.String()),
            sa.Column("residency_status", sa.String()),
        ],
        ["state", "expiration_date"],
    ),
    "license_loas": (
        [
            sa.Column("license_id", _ID),
            sa.Column("state", sa.String()),
            sa.Column("loa", sa.String()),
            sa.Column("loa_code", sa.String()),
            sa.Column("status", sa.String()),
            sa.Column("categories", _JSON),
            sa.Column("ce_compliance", sa.String()),
        ],
        ["license_id"],
    ),
    "appointments": (
        [
            sa.Column("state", sa.String()),
            sa.Column("co_code", sa.String()),
            sa.Column("company_name", sa.String()),
            sa.Column("loa", sa.String()),
            sa.Column("loa_code", sa.String()),
            sa.Column("status", sa.String()),
            sa.Column("categories", _JSON),
            sa.Column("termination_reason", sa.String()),
        ],
        ["co_code"],
    ),
    "addresses": ([sa.Column("state", sa.String()), sa.Column("type", sa.String())], []),
    "contact_infos": ([sa.Column("state", sa.String()), sa.Column("type", sa.String())], []),
    "other_names": ([sa.Column("state", sa.String()), sa.Column("type", sa.String())], []),
    "regulatory_actions": (
        [
            sa.Column("state", sa.String()),
            sa.Column("action_id", sa.String()),
            sa.Column("action_date", sa.Date()),
        ],
        [],
    ),
    "regulatory_action_values": (
        [sa.Column("regulatory_action_id", _ID), sa.Column("type", sa.String())],
        ["regulatory_action_id"],
    ),
}

# Table -> indexed columns, for the tables that are not record tables.
_OTHER_INDEXES = {
    "receipts": ["event_id", "received_at"],
    "events": ["received_at"],
    "changes": ["changed_at", "npn"],
}


def _create_indexes(table: str, columns: list[str]) -> None:
    for column in columns:
        op.create_index(op.f(f"ix_{table}_{column}"), table, [column])


def upgrade() -> None:
    for name, (columns, indexed) in _RECORD_TABLES.items():
        op.create_table(
            name,
            sa.Column("id", _ID, autoincrement=False, nullable=False),
            sa.Column("npn", sa.String(10), nullable=True),
            sa.Column("updated_at", sa.Date(), nullable=True),
            sa.Column("nipr_deleted", sa.Boolean(), server_default=sa.false(), nullable=False),
            *columns,
            sa.Column("record", _JSON, nullable=False),
            sa.Column("synced_at", _TIME, nullable=False),
            sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{name}")),
        )
        _create_indexes(name, ["npn", *indexed])
    op.create_table(
        "population",
        sa.Column("npn", sa.String(10), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("activated_at", _TIME, nullable=True),
        sa.Column("deactivated_at", _TIME, nullable=True),
        sa.PrimaryKeyConstraint("npn", name=op.f("pk_population")),
    )
    op.create_table(
        "receipts",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("event_id", sa.String(), nullable=True),
        sa.Column("event_type", sa.String(), nullable=True),
        sa.Column("received_at", _TIME, nullable=False),
        sa.Column("headers", _JSON, nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("verdict", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_receipts")),
    )
    op.create_table(
        "events",
        sa.Column("event_id", sa.String(), nullable=False),
        sa.Column("event_type", sa.String(), nullable=True),
        sa.Column("received_at", _TIME, nullable=False),
        sa.Column("processed_at", _TIME, nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_events")),
    )
    op.create_table(
        "sync_runs",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("run_date", sa.Date(), nullable=True),
        sa.Column("since", sa.Date(), nullable=True),
        sa.Column("started_at", _TIME, nullable=False),
        sa.Column("finished_at", _TIME, nullable=True),
        sa.Column("counts", _JSON, nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sync_runs")),
    )
    op.create_table(
        "sync_state",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last_synced_run_date", sa.Date(), nullable=True),
        sa.Column("updated_at", _TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sync_state")),
    )
    op.create_table(
        "changes",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("resource", sa.String(), nullable=False),
        sa.Column("record_id", _ID, nullable=False),
        sa.Column("npn", sa.String(10), nullable=True),
        sa.Column("action", sa.String(), nullable=False),
        sa.Column("fields", _JSON, nullable=False),
        sa.Column("run_id", _ID, nullable=True),
        sa.Column("changed_at", _TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_changes")),
    )
    for table, indexed in _OTHER_INDEXES.items():
        _create_indexes(table, indexed)


def downgrade() -> None:
    for table in [*_OTHER_INDEXES, "sync_state", "sync_runs", "population", *_RECORD_TABLES]:
        op.drop_table(table)
