"""the workflow step that started each sync run

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05 13:00:00

A step runs again when its process died after the run's insert committed but before
DBOS recorded the step's result; it used to start a second run, and the first stayed
interrupted for good while the second did its work. Now the step finds the run it
started. Runs from before, and runs started by hand, have none.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from producersync.index_builds import Index, build_indexes, committed_column

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_UNIQUE = "uq_sync_runs_started_by"


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        with op.batch_alter_table("sync_runs") as batch:
            batch.add_column(sa.Column("started_by", sa.String(), nullable=True))
            batch.create_unique_constraint(_UNIQUE, ["started_by"])
        return
    if not committed_column("sync_runs", "started_by"):  # not by a run cut short
        op.add_column("sync_runs", sa.Column("started_by", sa.String(), nullable=True))
    # The constraint takes over the index built beside the runs (``build_indexes``):
    # ADD CONSTRAINT ... UNIQUE built it in the migration's transaction.
    build_indexes("sync_runs", [Index(_UNIQUE, ["started_by"], unique=True)])
    constraints = sa.inspect(op.get_bind()).get_unique_constraints("sync_runs")
    if _UNIQUE not in {found["name"] for found in constraints}:
        op.execute(f"ALTER TABLE sync_runs ADD CONSTRAINT {_UNIQUE} UNIQUE USING INDEX {_UNIQUE}")


def downgrade() -> None:
    with op.batch_alter_table("sync_runs") as batch:
        batch.drop_constraint(_UNIQUE, type_="unique")
        batch.drop_column("started_by")
