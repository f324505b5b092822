"""webhook deliveries pending to a disabled endpoint are parked, out of the due index,
until it is enabled again: every claim read past a disabled endpoint's backlog (30-100
ms a claim with 50,000 waiting on one) to the due deliveries of the others. A trigger
on the endpoints parks and unparks them as ``enabled`` changes, in the transaction that
changes it, whichever process does (one of the version before, in a rolling upgrade,
too); an index finds an endpoint's pending deliveries without its whole history

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-09 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from producersync.index_builds import Index, build_indexes, committed_column

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

_TRIGGER = "webhook_endpoints_park_deliveries"
# The endpoint's pending deliveries whose flag is not yet the one its new state asks for.
_PARK = (
    "UPDATE webhook_deliveries SET parked = NOT NEW.enabled"
    " WHERE endpoint_id = NEW.id AND state = 'pending' AND parked = NEW.enabled"
)
_DUE_OLD = Index("ix_webhook_deliveries_due", ["next_attempt_at"], "state = 'pending'")
_PENDING = Index("ix_webhook_deliveries_pending_endpoint_id", ["endpoint_id"], "state = 'pending'")


def _due_new(postgresql: bool) -> Index:
    # As the claims' query says it (tables.DUE_TO_ENABLED), which SQLite matches by its
    # words: its 0 is not its false.
    parked = "false" if postgresql else "0"
    return Index(
        "ix_webhook_deliveries_due_to_enabled",
        ["next_attempt_at"],
        f"state = 'pending' AND parked = {parked}",
    )


def _postgresql() -> bool:
    return bool(op.get_bind().dialect.name == "postgresql")


def upgrade() -> None:
    postgresql = _postgresql()
    # Run again after builds cut short (build_indexes), the rest is committed already.
    if not committed_column("webhook_deliveries", "parked"):
        op.add_column(
            "webhook_deliveries",
            sa.Column("parked", sa.Boolean(), server_default=sa.false(), nullable=False),
        )
        d = sa.table(
            "webhook_deliveries",
            sa.column("endpoint_id"),
            sa.column("state"),
            sa.column("parked", sa.Boolean),
        )
        e = sa.table("webhook_endpoints", sa.column("id"), sa.column("enabled", sa.Boolean))
        disabled = sa.select(e.c.id).where(e.c.enabled == sa.false())
        op.execute(
            d.update()
            .where(d.c.state == "pending", d.c.endpoint_id.in_(disabled))
            .values(parked=True)
        )
        if postgresql:
            op.execute(
                f"CREATE FUNCTION {_TRIGGER}() RETURNS trigger LANGUAGE plpgsql AS $$"
                f" BEGIN {_PARK}; RETURN NULL; END $$"
            )
            op.execute(
                f"CREATE TRIGGER {_TRIGGER} AFTER UPDATE OF enabled ON webhook_endpoints"
                " FOR EACH ROW WHEN (OLD.enabled IS DISTINCT FROM NEW.enabled)"
                f" EXECUTE FUNCTION {_TRIGGER}()"
            )
        else:
            op.execute(
                f"CREATE TRIGGER {_TRIGGER} AFTER UPDATE OF enabled ON webhook_endpoints"
                f" WHEN OLD.enabled IS NOT NEW.enabled BEGIN {_PARK}; END"
            )
    # The new due index first: the claims keep one while it is built.
    build_indexes("webhook_deliveries", [_due_new(postgresql), _PENDING], replacing=[_DUE_OLD])


def downgrade() -> None:
    postgresql = _postgresql()
    build_indexes("webhook_deliveries", [_DUE_OLD], replacing=[_due_new(postgresql), _PENDING])
    if postgresql:
        op.execute(f"DROP TRIGGER {_TRIGGER} ON webhook_endpoints")
        op.execute(f"DROP FUNCTION {_TRIGGER}()")
    else:
        op.execute(f"DROP TRIGGER {_TRIGGER}")
    with op.batch_alter_table("webhook_deliveries") as batch:
        batch.drop_column("parked")
