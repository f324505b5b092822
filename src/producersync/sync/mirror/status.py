"""What `producersync sync status` reports: counts, position, runs, receipts."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import pydantic
import sqlalchemy as sa

from producersync.model.events import ENDPOINT_TEST, UPDATES_AVAILABLE, UpdatesAvailable
from producersync.sync.mirror.hook_cursors import hook_lags
from producersync.sync.mirror.queries import pending_fetches
from producersync.sync.mirror.receipts import ACCEPTED, IGNORED, receipt_body
from producersync.sync.mirror.runs import (
    failed_runs,
    failed_runs_total,
    failures,
    iso_text,
    last_run,
    last_synced_run_date,
    sync_start,
    synced_through_bound,
)
from producersync.sync.mirror.tables import (
    MIRRORED,
    NOT_REFUSED,
    events,
    malformed,
    population,
    receipts,
    sync_runs,
)

__all__ = [
    "Freshness",
    "freshness",
    "lag_days",
    "latest_run_date",
    "malformed_count",
    "malformed_fields",
    "record_counts",
    "records_not_stored",
    "sync_status",
]

_LATEST = 10  # malformed fields `sync status` lists, the latest first
_PENDING_NAMED = 5  # NPNs owed a fetch that `sync status` names, the first by NPN
_FAILURES_SHOWN = 3  # failed runs not made up for that `sync status` shows, the latest


def record_counts(conn: sa.Connection) -> dict[str, int]:
    """Records in the mirror per resource (niprDeleted ones included), nested children's
    tables (``regulatoryActionValues``) too."""
    return {
        resource: int(conn.execute(sa.select(sa.func.count()).select_from(m.table)).scalar_one())
        for resource, m in MIRRORED.items()
    }


@dataclass(frozen=True)
class Freshness:
    """How current the mirror is, as ``sync status`` tells it: what an answer read from
    it holds as of."""

    # The NIPR run it holds as of: its last synced runDate, or before any, the day
    # before its first fetch of whole NPNs that finished without error (``sync_start``,
    # where its first pull of changes starts); None before either.
    as_of: dt.date | None
    latest: dt.date  # the latest runDate it could hold: ``latest_run_date``
    lag_days: int | None  # the run days it lacks: ``lag_days``


def freshness(conn: sa.Connection, today: dt.date | None = None) -> Freshness:
    """The mirror's ``Freshness`` on ``today`` (default: today, UTC). A mirror filled by
    the fetches of its activated NPNs, before any daily sync, holds each as of its
    fetch: it read "no sync yet", as if it held nothing current."""
    as_of = sync_start(conn)
    latest = latest_run_date(conn, today or dt.datetime.now(dt.UTC).date())
    return Freshness(as_of, latest, lag_days(as_of, latest))


def sync_status(conn: sa.Connection, today: dt.date | None = None) -> dict[str, Any]:
    """What ``sync status`` shows, as of ``today`` (default: today, UTC)."""
    fresh = freshness(conn, today)
    active = sa.select(sa.func.count()).where(population.c.active)
    return {
        "lastSyncedRunDate": iso_text(last_synced_run_date(conn)),
        "asOf": iso_text(fresh.as_of),
        "latestRunDate": fresh.latest.isoformat(),
        "lagDays": fresh.lag_days,
        "lastRun": last_run(conn),
        "failedRuns": failed_runs(conn),
        "failedRunsTotal": failed_runs_total(conn),
        "failures": failures(conn, _FAILURES_SHOWN),
        "counts": record_counts(conn),
        "activeNpns": int(conn.execute(active).scalar_one()),
        # What `check` and `report expiring` point to when they cannot tell for an NPN
        # whose records are still being fetched.
        "pendingNpns": _pending(conn),
        "receipts": _receipts(conn),
        "malformed": {
            "fields": malformed_count(conn),
            "recordsNotStored": records_not_stored(conn),
            "latest": malformed_fields(conn, limit=_LATEST),
        },
        "hooks": hook_lags(conn),
    }


def _pending(conn: sa.Connection) -> dict[str, Any]:
    owed = pending_fetches(conn, _PENDING_NAMED)
    return {"count": owed.count, "npns": list(owed.npns)}


def latest_run_date(conn: sa.Connection, today: dt.date) -> dt.date:
    """The latest runDate the mirror can be expected to hold on ``today`` (UTC): the
    newest announced by an accepted ``updates_available`` receipt, or yesterday, whichever
    is later. Yesterday, as catch-up takes it: the day's own NIPR run is published during
    the day (or after it, in UTC), so a mirror through yesterday is current until it is
    announced. An announced runDate counts as a sync started at its receipt would record
    it (``synced_through_bound``): one after the day it came names no run NIPR can have
    made, and would have shown the mirror behind for good. So only a receipt of today can
    be later than yesterday, and only today's are read."""
    yesterday = today - dt.timedelta(days=1)
    midnight = dt.datetime.combine(today, dt.time(), dt.UTC)
    announced = sa.select(
        receipts.c.event_id, receipts.c.body, receipts.c.body_length, receipts.c.received_at
    ).where(
        receipts.c.received_at >= midnight,
        receipts.c.event_type == UPDATES_AVAILABLE,
        receipts.c.verdict == ACCEPTED,
        NOT_REFUSED,  # implied: it reads them on their index, not every receipt of the day
    )
    latest = yesterday
    for row in conn.execute(announced).all():
        body = row.body
        if row.body_length is not None:  # a duplicate that kept no body: its first's
            body = receipt_body(conn, row.event_id) or b""
        try:
            run_date = UpdatesAvailable.model_validate_json(body).data.run_date
        except pydantic.ValidationError:
            continue  # accepted bodies were verified events: one that is not tells nothing
        latest = max(latest, synced_through_bound(run_date, row.received_at))
    return latest


def lag_days(as_of: dt.date | None, latest: dt.date) -> int | None:
    """Run days the mirror lacks: from the run it holds as of (``Freshness.as_of``) to
    ``latest`` (``latest_run_date``), 0 when it holds it; None while nothing is synced
    or fetched."""
    if as_of is None:
        return None
    return max(0, (latest - as_of).days)


def malformed_count(conn: sa.Connection) -> int:
    """The fields of stored records that their typed columns could not hold (each left
    NULL, its raw value in ``record``), and nested children not stored for want of an
    integer id (``records``)."""
    return int(conn.execute(sa.select(sa.func.count()).select_from(malformed)).scalar_one())


def records_not_stored(conn: sa.Connection) -> int:
    """The records the latest sync run was served that have no key to be stored under
    (not an object, or no integer id), so far: not in the mirror, nor in ``malformed``.
    They come again with each run that covers them; a run that meets none shows 0."""
    latest = sa.select(sync_runs.c.not_stored).order_by(sync_runs.c.id.desc()).limit(1)
    return int(conn.execute(latest).scalar() or 0)


def malformed_fields(conn: sa.Connection, *, limit: int | None = None) -> list[dict[str, Any]]:
    """Those fields, the latest seen first: resource, record id, NPN, field (its path in
    the wire record), value (its repr, cut short), and when and in which run it came."""
    m = malformed.c
    query = sa.select(malformed).order_by(m.seen_at.desc(), m.resource, m.record_id, m.field)
    return [
        {
            "resource": row.resource,
            "id": row.record_id,
            "npn": row.npn,
            "field": row.field,
            "value": row.value,
            "runId": row.run_id,
            "seenAt": iso_text(row.seen_at),
        }
        for row in conn.execute(query.limit(limit))
    ]


def _receipts(conn: sa.Connection) -> dict[str, int]:
    """The receipts kept, by the verdict the receiver answered them with, as its metric
    (``producersync_sync_receipts_total``) counts them: accepted (an event's first
    receipt), duplicate (its redeliveries), ignored (an endpoint test, verified and
    recorded but starting no work, or an event type we do not know), rejected. An
    endpoint test was counted accepted here and ignored there."""
    recorded = receipts.c.verdict == ACCEPTED
    test = receipts.c.event_type == ENDPOINT_TEST
    work = sa.and_(recorded, receipts.c.event_type.is_distinct_from(ENDPOINT_TEST))
    ignored = sa.or_(sa.and_(recorded, test), receipts.c.verdict.startswith(IGNORED))
    total = conn.execute(sa.select(sa.func.count()).select_from(receipts)).scalar_one()
    # Only the receipts not refused can be work or ignored: read on their index, without
    # the storm of forged ones a scan went through (migration 0016).
    received, first, ignored_count = conn.execute(
        sa.select(
            sa.func.count(sa.case((work, 1))),
            sa.func.count(sa.distinct(sa.case((work, receipts.c.event_id)))),
            sa.func.count(sa.case((ignored, 1))),
        ).where(NOT_REFUSED)
    ).one()
    unprocessed, failed = conn.execute(
        sa.select(
            sa.func.count(sa.case((events.c.processed_at.is_(None), 1))),
            sa.func.count(events.c.error),
        ).select_from(events)
    ).one()
    return {
        "total": int(total),
        "accepted": int(first),
        "duplicate": int(received) - int(first),
        "ignored": int(ignored_count),
        "rejected": int(total) - int(received) - int(ignored_count),
        "unprocessed": int(unprocessed),
        "failed": int(failed),
    }
