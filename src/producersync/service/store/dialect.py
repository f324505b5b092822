"""The one place that picks dialect-specific SQL (upserts)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

__all__ = ["insert"]


def insert(conn: sa.Connection, table: sa.Table) -> Any:
    """INSERT with ``on_conflict_do_*`` for the connection's dialect."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)
