"""Bulk inserts through the driver store exactly what SQLAlchemy's own insert would."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from producersync.service.store import accounts
from producersync.service.store.bulk import insert_rows
from producersync.service.store.engine import write_transaction
from producersync.service.store.open import open_store
from producersync.service.store.tables import jobs, subscriptions
from tests.conftest import BACKENDS
from tests.support.databases import migrated_store

NOON = dt.datetime(2026, 12, 3, 12, 0, 0, 123000, tzinfo=dt.UTC)
# The same instant in another zone: equal to NOON, and SQLite's DateTime type stores the
# two as different texts, so no answer may be reused across equal values.
NOON_IN_PARIS = NOON.astimezone(dt.timezone(dt.timedelta(hours=1)))


def _jobs(account_id: int, prefix: str, first: int) -> list[dict[str, Any]]:
    shared = NOON  # one object in every row, as a job's rows share its time
    return [
        {
            "id": f"{prefix}-{n}",
            "account_id": account_id,
            "operation": "APPEND",
            "status": "QUEUED",
            "npns": [f"{n}000", f"{n}001"],  # a JSON column: a list per row
            "requested": 2,
            "error": None if n else "a reason",
            "created_at": shared,
            "updated_at": NOON_IN_PARIS if n == 1 else shared,
            "seq": first + n,  # unique: the jobs' creation order (a raw insert gives it)
        }
        for n in range(3)
    ]


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[sa.Engine, int]]:
    """A fresh store on the backend, and an account in it."""
    with migrated_store(request.param, tmp_path) as url:
        engine = open_store(url)
        try:
            with write_transaction(engine) as conn:
                account = accounts.create_account(conn, "bulk", sandbox=False)
            yield engine, account.id
        finally:
            engine.dispose()


def test_rows_read_back_as_sqlalchemys_insert_wrote_them(store: tuple[sa.Engine, int]) -> None:
    engine, account_id = store
    with write_transaction(engine) as conn:
        insert_rows(conn, jobs, _jobs(account_id, "driver", 1))
        conn.execute(jobs.insert(), _jobs(account_id, "orm", 4))
    with engine.connect() as conn:
        stored = {
            row.id: {k: v for k, v in row._mapping.items() if k not in ("id", "seq")}
            for row in conn.execute(sa.select(jobs))
        }
    for n in range(3):
        assert stored[f"driver-{n}"] == stored[f"orm-{n}"]
    assert stored["driver-0"]["npns"] == ["0000", "0001"]
    assert stored["driver-0"]["error"] == "a reason"


def test_skipping_conflicts_keeps_the_first_row(store: tuple[sa.Engine, int]) -> None:
    engine, account_id = store
    row = {"account_id": account_id, "npn": "1234567", "activated_at": NOON}
    with write_transaction(engine) as conn:
        insert_rows(conn, subscriptions, [row])
        later = {**row, "activated_at": NOON + dt.timedelta(days=1)}
        insert_rows(conn, subscriptions, [later, {**row, "npn": "7654321"}], skip_conflicts=True)
    with engine.connect() as conn:
        query = sa.select(subscriptions.c.npn, subscriptions.c.activated_at)
        held = {npn: at for npn, at in conn.execute(query)}
    assert sorted(held) == ["1234567", "7654321"]
    assert held["1234567"] == NOON
