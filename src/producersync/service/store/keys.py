"""Service keys kept in the store, so that every process and every restart shares them."""

from __future__ import annotations

import datetime as dt
import secrets

import sqlalchemy as sa

from producersync.service.store.engine import write_transaction
from producersync.service.store.tables import service_keys

__all__ = ["load_or_create_key"]


def load_or_create_key(engine: sa.Engine, name: str) -> bytes:
    # SQLite's write lock at BEGIN: a process that read no key while another wrote one
    # could not write after that one's commit, and its start would fail "database is
    # locked".
    with write_transaction(engine) as conn:
        row = conn.execute(
            sa.select(service_keys.c.value).where(service_keys.c.name == name)
        ).first()
        if row is not None:
            return bytes.fromhex(row.value)
        value = secrets.token_hex(32)
        # Two processes may race on a fresh PostgreSQL store: the loser reads the winner's.
        try:
            with conn.begin_nested():
                conn.execute(
                    service_keys.insert().values(
                        name=name, value=value, created_at=dt.datetime.now(dt.UTC)
                    )
                )
        except sa.exc.IntegrityError:
            value = conn.execute(
                sa.select(service_keys.c.value).where(service_keys.c.name == name)
            ).scalar_one()
        return bytes.fromhex(value)
