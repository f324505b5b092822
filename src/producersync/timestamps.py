"""Timestamps as the store and the mirror keep them: aware UTC datetimes, on SQLite as on
PostgreSQL. SQLite has no time zones: SQLAlchemy stores the wall time without its offset
and hands it back naive, so an aware time in another zone was stored as the wrong instant
and a naive one read back could not be compared with an aware one. Used by the service
and the sync alike (neither imports the other)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

__all__ = ["UtcDateTime", "as_utc", "day_timestamp"]


def as_utc(value: dt.datetime) -> dt.datetime:
    """``value`` in UTC; a naive datetime is taken to be UTC already."""
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def day_timestamp(day: dt.date | None) -> float:
    """A run date as a metric gives it: the Unix time of its 00:00 UTC, 0 for none."""
    if day is None:
        return 0.0
    return dt.datetime.combine(day, dt.time(), dt.UTC).timestamp()


class UtcDateTime(sa.TypeDecorator[dt.datetime]):
    """A ``TIMESTAMP WITH TIME ZONE`` (what ``sa.DateTime(timezone=True)`` makes, so no
    migration) that stores and returns aware UTC datetimes on both backends; a naive
    datetime given to it is taken to be UTC."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        return None if value is None else as_utc(value)

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        return None if value is None else as_utc(value)
