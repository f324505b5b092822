"""Sync runs (what ran, when, how many records, which error) and the sync position."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from producersync.model.events import iso_z
from producersync.sync.mirror.engine import dialect_insert
from producersync.sync.mirror.population import settle_owed
from producersync.sync.mirror.tables import sync_runs, sync_state
from producersync.timestamps import as_utc

__all__ = [
    "MANUAL_KINDS",
    "RUN_FAMILIES",
    "RUN_KINDS",
    "RunGoingOn",
    "beat_runs",
    "failed_runs",
    "failed_runs_total",
    "failures",
    "finish_run",
    "interrupt_run",
    "iso_text",
    "last_run",
    "last_synced_run_date",
    "mirror_now",
    "record_synced_through",
    "set_last_synced_run_date",
    "start_run",
    "sync_start",
    "synced_through_bound",
]

# Runs that fetch NPNs whole: what each fetched is complete as of when it started.
_WHOLE_FETCHES = ("activation", "population", "backfill")

RUN_KINDS = ("updates", "activation", "population", "backfill", "catch-up", "manual")
# Runs that make up for one another's failure: a later one of the family that succeeds
# has done what the failed one was to do. A daily sync, catch-up and `sync now` pull the
# changes from the last synced runDate; activation runs and passes fetch the NPNs owed
# (a failed one leaves them owed for the next); a backfill is made up for only by
# another (an activation's few NPNs are not the population).
RUN_FAMILIES = (("updates", "catch-up", "manual"), ("activation", "population"), ("backfill",))
# The runs of `sync now` and `sync backfill`: one at a time on a mirror (``start_run``).
MANUAL_KINDS = ("manual", "backfill")
_STATE_ROW = 1
_PG_RUNS_LOCK = 0x52554E53  # "RUNS": a run that must be alone checks and starts under it


class RunGoingOn(Exception):
    """A run that must be alone found another going on: ``run``, as ``last_run`` gives
    it."""

    def __init__(self, run: dict[str, Any]) -> None:
        super().__init__(f"sync run {run['id']} ({run['kind']}) is running")
        self.run = run


def start_run(
    conn: sa.Connection,
    kind: str,
    *,
    run_date: dt.date | None = None,
    since: dt.date | None = None,
    lease: dt.timedelta | None = None,
    started_by: str | None = None,
    alone_among: Sequence[str] = (),
) -> int:
    """A new run, its id. ``lease``: how long it is shown running without being shown
    alive again (``beat_runs``); None, for good (no process promises to).
    ``started_by``: the workflow step starting it; when that step runs again (its
    process died before DBOS recorded its result), the run it started, alive again.
    ``alone_among``: kinds of which none may be running (shown alive within its lease)
    when it starts; ``RunGoingOn`` when one is. The check and the start are one step:
    two started together, one of them is refused."""
    if kind not in RUN_KINDS:
        raise ValueError(f"unknown run kind {kind!r}; one of {RUN_KINDS}")
    if alone_among and conn.dialect.name == "postgresql":
        # SQLite's writers take turns already (``write_transaction``).
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:id)"), {"id": _PG_RUNS_LOCK})
    if alone_among and (going := run_going_on(conn, alone_among)) is not None:
        raise RunGoingOn(going)
    now = mirror_now(conn)
    alive = {
        "heartbeat_at": None if lease is None else now,
        "lease_until": None if lease is None else now + lease,
    }
    if started_by is not None:
        again = (
            sa.update(sync_runs)
            .where(sync_runs.c.started_by == started_by)
            .values(alive)
            .returning(sync_runs.c.id)
        )
        found = conn.execute(again).scalar_one_or_none()
        if found is not None:
            return int(found)
    insert = sa.insert(sync_runs).values(
        kind=kind, run_date=run_date, since=since, started_at=now, started_by=started_by, **alive
    )
    return int(conn.execute(insert.returning(sync_runs.c.id)).scalar_one())


def run_going_on(conn: sa.Connection, kinds: Sequence[str]) -> dict[str, Any] | None:
    """The first run of ``kinds`` going on (unfinished, shown alive within its lease), as
    ``last_run`` gives it; None when none is."""
    now = mirror_now(conn)
    going = conn.execute(
        sa.select(sync_runs)
        .where(
            sync_runs.c.kind.in_(list(kinds)),
            sync_runs.c.finished_at.is_(None),
            # A run without a lease (recorded before leases) tells nothing of its
            # process, and would refuse every run after it for good.
            sync_runs.c.lease_until >= now,
        )
        .order_by(sync_runs.c.id)
        .limit(1)
    ).first()
    return None if going is None else _described(going, now)


def beat_runs(conn: sa.Connection, run_ids: Sequence[int], lease: dt.timedelta) -> set[int]:
    """Show the runs ``run_ids`` alive now, for ``lease`` more; those of them still
    unfinished (a finished run keeps the lease it had when it finished)."""
    if not run_ids:
        return set()
    now = mirror_now(conn)
    beat = (
        sa.update(sync_runs)
        .where(sync_runs.c.id.in_(run_ids), sync_runs.c.finished_at.is_(None))
        .values(heartbeat_at=now, lease_until=now + lease)
        .returning(sync_runs.c.id)
    )
    return {int(run_id) for run_id in conn.execute(beat).scalars()}


def interrupt_run(conn: sa.Connection, run_id: int) -> None:
    """Run ``run_id`` stops unfinished (its process stopped by hand): shown interrupted
    from now, not once its lease has run out. A finished run is left as it is."""
    now = mirror_now(conn)
    conn.execute(
        sa.update(sync_runs)
        .where(sync_runs.c.id == run_id, sync_runs.c.finished_at.is_(None))
        .values(heartbeat_at=now, lease_until=now)
    )


def finish_run(
    conn: sa.Connection,
    run_id: int,
    counts: Mapping[str, int],
    error: str | None = None,
    *,
    restarted: bool = False,
) -> float:
    """Close the run; how long it took, in seconds since it started. ``restarted``: it
    stopped with ``error`` to start over at once, shown so and not counted failed."""
    finished = mirror_now(conn)
    values = {"finished_at": finished, "counts": dict(counts), "error": error}
    started: dt.datetime = conn.execute(
        sa.update(sync_runs)
        .where(sync_runs.c.id == run_id)
        .values(**values, restarted=restarted)
        .returning(sync_runs.c.started_at)
    ).scalar_one()
    if started.tzinfo is None:  # SQLite keeps no zone; it was written in UTC
        started = started.replace(tzinfo=dt.UTC)
    if error is None:
        settle_owed(conn)
    # Finished again with an error (its step run again), the NPNs it fetched are owed
    # again: the database flags them as this statement changes the run (mirror migration
    # 0019's triggers on ``sync_runs``).
    return max(0.0, (finished - started).total_seconds())


def last_run(conn: sa.Connection, now: dt.datetime | None = None) -> dict[str, Any] | None:
    """The latest run, JSON-ready, as of ``now`` (default: now): its ``status`` is
    running, interrupted (no finish, and its lease has run out), restarted, failed or
    succeeded;
    ``lastSeenAt``, for a run not finished, when its process last showed it alive (an
    interrupted one stopped after that, within its lease)."""
    row = conn.execute(sa.select(sync_runs).order_by(sync_runs.c.id.desc()).limit(1)).first()
    return None if row is None else _described(row, now or mirror_now(conn))


def _described(row: sa.Row[Any], now: dt.datetime) -> dict[str, Any]:
    """A run's row, JSON-ready, its status as of ``now`` (``last_run``)."""
    return {
        "id": row.id,
        "kind": row.kind,
        "status": _status(row, now),
        "runDate": iso_text(row.run_date),
        "since": iso_text(row.since),
        "startedAt": iso_text(row.started_at),
        "finishedAt": iso_text(row.finished_at),
        "lastSeenAt": iso_text(row.heartbeat_at) if row.finished_at is None else None,
        "counts": row.counts,
        "notStored": row.not_stored,
        "error": row.error,
    }


def mirror_now(conn: sa.Connection) -> dt.datetime:
    """The time a run's row is written and read by. A PostgreSQL mirror's own clock: the
    processes that write a run's lease and those that read it (`sync status`) may be on
    machines whose clocks disagree, and a skew of a lease's length showed a run going on
    as interrupted, or a dead one as running. A SQLite mirror is a file every process
    reaches on one machine, under one clock."""
    if conn.dialect.name == "postgresql":
        now: dt.datetime = conn.execute(sa.select(sa.func.clock_timestamp())).scalar_one()
        return now.astimezone(dt.UTC)
    return dt.datetime.now(dt.UTC)


def _status(row: sa.Row[Any], now: dt.datetime) -> str:
    if row.finished_at is not None:
        return "restarted" if row.restarted else "failed" if row.error else "succeeded"
    # Only the lease tells: a run may be going on in another process, or on another
    # machine (`sync now` and `sync backfill` run beside `sync run`'s own syncs).
    if row.lease_until is not None and row.lease_until < now:
        return "interrupted"
    return "running"


# Failed: a run that stopped to start over at once (``restarted``) is not.
_failed = sa.and_(sync_runs.c.error.is_not(None), sync_runs.c.restarted.is_(False))


def failed_runs(conn: sa.Connection) -> int:
    """The failed runs not made up for: those started after the latest run of their
    family (``RUN_FAMILIES``) that succeeded, or with none. Every failure ever counted,
    one fixed months ago was shown (and alerted on) for good."""
    count = sa.select(sa.func.count()).select_from(sync_runs)
    return sum(int(conn.execute(count.where(c)).scalar_one()) for c in _not_made_up())


def failures(conn: sa.Connection, limit: int) -> list[dict[str, Any]]:
    """The latest ``limit`` of the failed runs ``failed_runs`` counts, the latest first,
    JSON-ready: what failed, when, and why, where the last run, of another family (an
    activation's fetch going on while the daily syncs fail), told neither."""
    rows = [
        row
        for outstanding in _not_made_up()
        for row in conn.execute(
            sa.select(sync_runs).where(outstanding).order_by(sync_runs.c.id.desc()).limit(limit)
        )
    ]
    rows.sort(key=lambda row: row.id, reverse=True)
    return [
        {
            "id": row.id,
            "kind": row.kind,
            "runDate": iso_text(row.run_date),
            "startedAt": iso_text(row.started_at),
            "finishedAt": iso_text(row.finished_at),
            "error": row.error,
        }
        for row in rows[:limit]
    ]


def _not_made_up() -> list[sa.ColumnElement[bool]]:
    """For each family, its failed runs started after its latest run that succeeded."""
    runs = sync_runs.c
    succeeded = sa.and_(runs.finished_at.is_not(None), runs.error.is_(None))
    found = []
    for family in RUN_FAMILIES:
        latest = sa.select(sa.func.max(runs.id)).where(runs.kind.in_(family), succeeded)
        after = sa.func.coalesce(latest.scalar_subquery(), 0)
        found.append(sa.and_(_failed, runs.kind.in_(family), runs.id > after))
    return found


def failed_runs_total(conn: sa.Connection) -> int:
    """Every failed run the mirror records (``sync_runs`` is never pruned)."""
    return int(conn.execute(sa.select(sa.func.count()).where(_failed)).scalar_one())


def last_synced_run_date(conn: sa.Connection) -> dt.date | None:
    query = sa.select(sync_state.c.last_synced_run_date).where(sync_state.c.id == _STATE_ROW)
    value: dt.date | None = conn.execute(query).scalar()
    return value


def sync_start(conn: sa.Connection) -> dt.date | None:
    """Where the next pull of changes starts: the last synced runDate, or, before any,
    the day before the first fetch of whole NPNs that finished without error started
    (that day's own NIPR run may have been published after it, late in UTC). None while
    nothing is fetched. Starting the first daily sync at its own runDate lost a day whose
    event never came between the first fetch and that sync, and catch-up, with no day
    to start from, never pulled it."""
    last = last_synced_run_date(conn)
    if last is not None:
        return last
    fetched = sa.and_(
        sync_runs.c.kind.in_(_WHOLE_FETCHES),
        sync_runs.c.finished_at.is_not(None),
        sync_runs.c.error.is_(None),
    )
    first = conn.execute(sa.select(sa.func.min(sync_runs.c.started_at)).where(fetched)).scalar()
    return None if first is None else as_utc(first).date() - dt.timedelta(days=1)


def set_last_synced_run_date(conn: sa.Connection, run_date: dt.date) -> None:
    """Record ``run_date`` as fully synced, unless a later date already is (a late,
    older run finishing must not make the next sync skip days)."""
    statement = dialect_insert(conn, sync_state).values(
        id=_STATE_ROW, last_synced_run_date=run_date, updated_at=dt.datetime.now(dt.UTC)
    )
    current = sync_state.c.last_synced_run_date
    conn.execute(
        statement.on_conflict_do_update(
            index_elements=[sync_state.c.id],
            set_={
                "last_synced_run_date": statement.excluded.last_synced_run_date,
                "updated_at": statement.excluded.updated_at,
            },
            where=sa.or_(current.is_(None), current < statement.excluded.last_synced_run_date),
        )
    )


def synced_through_bound(run_date: dt.date, started: dt.datetime) -> dt.date:
    """What a complete run started at ``started`` (UTC) for ``run_date`` has synced
    through: ``run_date``, unless it is after the day the run started. No NIPR run of a
    later day can have been served by then, so such a runDate (a sender's mistake, a
    replay tool dated ahead) is no evidence of anything: the run is taken for what it
    surely is, a pull of everything changed up to that day, which has synced the days
    before it, as ``sync now`` records. Recorded as given, a far-future runDate made
    every later sync pull from its own day and catch-up think nothing was missed.

    The day before, not the day itself: a NIPR run may be published after its day has
    ended in UTC (an evening run in the United States), so the start day's own run may
    still be to come."""
    started_day = as_utc(started).date()
    return run_date if run_date <= started_day else started_day - dt.timedelta(days=1)


def record_synced_through(conn: sa.Connection, run_id: int, run_date: dt.date) -> dt.date:
    """Record that run ``run_id``, complete, synced through ``run_date``: the position
    moves to ``synced_through_bound`` of it (never back, ``set_last_synced_run_date``).
    The date recorded."""
    started: dt.datetime = conn.execute(
        sa.select(sync_runs.c.started_at).where(sync_runs.c.id == run_id)
    ).scalar_one()
    through = synced_through_bound(run_date, started)
    set_last_synced_run_date(conn, through)
    return through


def iso_text(value: dt.date | None) -> str | None:
    """A day or a time of the mirror's views, JSON-ready: a day as ISO 8601, a time as the
    API writes it (``iso_z``, as every command writes one), where a time was Python's
    ``+00:00`` in `sync status` beside the service's and admin's ``Z``."""
    if isinstance(value, dt.datetime):
        return iso_z(value)
    return None if value is None else value.isoformat()
