"""the last synced runDate no later than the day it was recorded on

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05 10:00:00

A position recorded before runs were bounded by their start day (``runs.
synced_through_bound``) may name a day still to come: a signed ``updates_available``
dated 2099 moved it there, and since then every sync pulled from its own day and
catch-up saw nothing missed. The same bound, applied to the day the position was
recorded (``updated_at``: the run that moved it finished then, so started no later),
takes it back to what can have been synced, and the next sync or catch-up pulls every
day since. A position within its bound is left as it is.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_STATE = sa.table(
    "sync_state",
    sa.column("id", sa.Integer),
    sa.column("last_synced_run_date", sa.Date),
    sa.column("updated_at", sa.DateTime(timezone=True)),
)


def upgrade() -> None:
    conn = op.get_bind()
    rows = conn.execute(
        sa.select(_STATE.c.id, _STATE.c.last_synced_run_date, _STATE.c.updated_at)
    ).all()
    for row in rows:
        if row.last_synced_run_date is None:
            continue
        recorded = row.updated_at
        # SQLite keeps no zone: it was written in UTC.
        if recorded.tzinfo is None:
            recorded = recorded.replace(tzinfo=dt.UTC)
        day = recorded.astimezone(dt.UTC).date()
        if row.last_synced_run_date > day:
            conn.execute(
                sa.update(_STATE)
                .where(_STATE.c.id == row.id)
                .values(last_synced_run_date=day - dt.timedelta(days=1))
            )


def downgrade() -> None:
    pass  # the date it held named no run that had been served
