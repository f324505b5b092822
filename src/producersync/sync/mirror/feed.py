"""The change feed: one row per record inserted, changed or purged, in commit order."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from producersync.sync.mirror.tables import changes

__all__ = ["Change", "append_changes", "changes_since"]


@dataclass(frozen=True)
class Change:
    id: int
    resource: str
    record_id: int
    npn: str | None
    fields: list[str]  # the top-level wire fields that changed (all of them on insert)
    run_id: int | None
    changed_at: dt.datetime
    action: str = "update"  # "insert", "update" or "delete" (a purge)


def append_changes(conn: sa.Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Rows with the ``changes`` columns but ``id``; one executemany."""
    if rows:
        conn.execute(sa.insert(changes), list(rows))


def changes_since(
    conn: sa.Connection, since: dt.datetime, *, limit: int | None = None
) -> list[Change]:
    """Changes at or after ``since`` (a naive datetime is UTC), oldest first."""
    query = sa.select(changes).where(changes.c.changed_at >= since).order_by(changes.c.id)
    if limit is not None:
        query = query.limit(limit)
    return [
        Change(
            id=row.id,
            resource=row.resource,
            record_id=row.record_id,
            npn=row.npn,
            fields=list(row.fields),
            run_id=row.run_id,
            changed_at=row.changed_at,
            action=row.action,
        )
        for row in conn.execute(query)
    ]
