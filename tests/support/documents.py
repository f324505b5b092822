"""The stored-document invariant: every materialized row holds what its columns build."""

from __future__ import annotations

import sqlalchemy as sa

from producersync.service.store.documents import MATERIALIZED_TABLES, document


def stale_documents(conn: sa.Connection) -> dict[str, list[int]]:
    """Per table, the ids (at most 10) whose stored document is missing or differs
    from the one built from the row now; empty when the store is consistent."""
    stale: dict[str, list[int]] = {}
    for table in MATERIALIZED_TABLES:
        built = document(table)
        ids = list(
            conn.execute(
                sa.select(table.c.id)
                .where(sa.or_(table.c.document.is_(None), table.c.document != built))
                .order_by(table.c.id)
                .limit(10)
            ).scalars()
        )
        if ids:
            stale[str(table.name)] = ids
    return stale
