"""The one timestamp type of the store and the mirror: whatever a backend keeps, a time
comes back aware and in UTC, and a time given in another zone, or naive (taken as UTC),
is stored as the instant it names."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import sqlalchemy as sa

from producersync.timestamps import UtcDateTime
from tests.conftest import BACKENDS
from tests.support.databases import store_url

AT = dt.datetime(2025, 6, 1, 12, 30, 15, 250000, tzinfo=dt.UTC)
PLUS_FIVE = dt.timezone(dt.timedelta(hours=5))


@pytest.mark.parametrize("kind", BACKENDS)
def test_times_come_back_aware_in_utc_however_they_were_given(kind: str, tmp_path: Path) -> None:
    table = sa.Table(
        "times",
        sa.MetaData(),
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at", UtcDateTime),
    )
    with store_url(kind, tmp_path) as url:
        engine = sa.create_engine(url)
        try:
            with engine.begin() as conn:
                table.create(conn)
                given = [AT, AT.astimezone(PLUS_FIVE), AT.replace(tzinfo=None), None]
                conn.execute(table.insert(), [{"id": i, "at": at} for i, at in enumerate(given)])
                read = list(conn.execute(sa.select(table.c.at).order_by(table.c.id)).scalars())
                # Compared in SQL (text, on SQLite), a bound time in another zone still
                # names its instant.
                later = sa.select(sa.func.count()).where(table.c.at > AT.astimezone(PLUS_FIVE))
                assert conn.execute(later).scalar_one() == 0
        finally:
            engine.dispose()
    assert read == [AT, AT, AT, None]
    assert all(at.utcoffset() == dt.timedelta(0) for at in read if at is not None)
