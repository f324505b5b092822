"""NPN-management jobs: queued by the API, applied by the worker, read back by clients."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import secrets
import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from producersync.model.subscriptions import JobAction as Action
from producersync.model.subscriptions import JobOperation as Operation
from producersync.model.subscriptions import JobResult as ItemResult
from producersync.model.subscriptions import JobState as JobStatus
from producersync.service.store.bulk import insert_rows
from producersync.service.store.outbox import store_clock
from producersync.service.store.tables import entities, job_items, jobs

__all__ = [
    "Action",
    "ItemResult",
    "Job",
    "JobItem",
    "JobRecord",
    "JobStatus",
    "Operation",
    "UnreadableJob",
    "UnreadableRecord",
    "count_job_items",
    "count_queued",
    "create_job",
    "created_at_of",
    "fail_job",
    "finish_job",
    "get_job",
    "known_npns",
    "next_queued_account",
    "oldest_queued_job",
    "page_job_items",
    "record_items",
    "time_ordered_id",
]


@dataclass(frozen=True, slots=True)
class Job:
    """A queued job, as the worker applies it."""

    id: str
    account_id: int
    operation: Operation
    npns: list[str]


@dataclass(frozen=True, slots=True)
class JobRecord:
    """A job as its status shows it. Without its NPNs, which the status does not show, and
    with its operation as stored: a row the worker refused (``UnreadableJob``) is shown
    FAILED with its error, where reading it made the status a 500."""

    id: str
    account_id: int
    operation: str
    status: JobStatus
    requested: int
    activated: int
    deactivated: int
    unchanged: int
    failed: int
    error: str | None
    created_at: dt.datetime
    updated_at: dt.datetime


@dataclass(frozen=True, slots=True)
class JobItem:
    npn: str
    action: Action
    result: ItemResult
    reason: str | None


class UnreadableJob(Exception):
    """A queued job whose row holds what this service never writes (a hand edit, a value
    of another release, a column that no longer parses): it can never be applied, and
    retrying it held back every account's jobs. ``problem`` says what, for its client."""

    def __init__(self, job_id: str, problem: str) -> None:
        super().__init__(f"job {job_id}: {problem}")
        self.job_id, self.problem = job_id, problem


class UnreadableRecord(Exception):
    """A job's row its status cannot be shown from (a hand edit: a ``status`` that is no
    state, a ``created_at`` that is no time): the store's fault, not its client's.
    ``problem`` says what, for the operator alone."""

    def __init__(self, job_id: str, problem: str) -> None:
        super().__init__(f"job {job_id}: {problem}")
        self.job_id, self.problem = job_id, problem


# A value its column's type cannot load: SQLite's text of a time that is none, JSON that
# does not parse (ValueError, TypeError); a PostgreSQL time of 'infinity', which Python's
# datetime cannot hold (psycopg's DataError, as it reads the row).
_UNLOADABLE = (ValueError, TypeError, sa.exc.DataError)

# What the worker loads of a job; what else its row holds only its status shows.
_APPLIED = (jobs.c.account_id, jobs.c.operation, jobs.c.npns)
_SHOWN = tuple(jobs.c[field.name] for field in dataclasses.fields(JobRecord))
_OPERATIONS = ", ".join(Operation)
_STATES = ", ".join(JobStatus)


def _applied_job(job_id: str, row: sa.Row[Any, Any, Any]) -> Job:
    try:
        operation = Operation(row.operation)
    except ValueError:
        quoted = json.dumps(str(row.operation)[:40])
        raise UnreadableJob(job_id, f"its operation {quoted} is none of {_OPERATIONS}") from None
    npns = row.npns
    if not isinstance(npns, list) or not all(isinstance(npn, str) for npn in npns):
        raise UnreadableJob(job_id, "its npns are not a list of NPN strings")
    return Job(job_id, row.account_id, operation, npns)


def _unreadable_column(
    conn: sa.Connection, job_id: str, columns: Sequence[sa.Column[Any]]
) -> sa.Column[Any] | None:
    """The first of ``columns`` whose value its type cannot load, alone."""
    for column in columns:
        try:
            conn.execute(sa.select(column).where(jobs.c.id == job_id)).scalar()
        except _UNLOADABLE:
            return column
    return None


def _as_stored(conn: sa.Connection, job_id: str, column: sa.Column[Any]) -> str:
    """The column's value as its text, quoted and cut: what its type could not load."""
    text = conn.execute(sa.select(sa.cast(column, sa.Text)).where(jobs.c.id == job_id)).scalar()
    return "NULL" if text is None else json.dumps(text[:40])


def time_ordered_id(at: dt.datetime) -> str:
    """A UUID of version 7 (RFC 9562): the millisecond ``at`` then 74 random bits. A job's
    id tells when it was made, so that the id of a job pruned since is told from one that
    never was (``created_at_of``)."""
    millis = int(at.timestamp() * 1000) & (1 << 48) - 1
    rand_a, rand_b = secrets.randbits(12), secrets.randbits(62)
    return str(uuid.UUID(int=millis << 80 | 7 << 76 | rand_a << 64 | 0b10 << 62 | rand_b))


def created_at_of(job_id: str) -> dt.datetime | None:
    """When the job of this id was made, if its id is one ``time_ordered_id`` gave (jobs
    made before have random ids: None)."""
    value = uuid.UUID(job_id)
    if value.version != 7:
        return None
    return dt.datetime.fromtimestamp((value.int >> 80) / 1000, dt.UTC)


def create_job(
    conn: sa.Connection, account_id: int, operation: Operation, npns: Sequence[str]
) -> Job:
    # The store's time, as the job's events are: an API or worker host an hour off showed
    # the job's times an hour off in its status (the order it runs in is by no clock).
    now = store_clock(conn)
    job_id = time_ordered_id(now)
    values = {
        "id": job_id,
        "account_id": account_id,
        "operation": operation.value,
        "status": JobStatus.QUEUED.value,
        "npns": list(npns),
        "requested": len(npns),
        "activated": 0,
        "deactivated": 0,
        "unchanged": 0,
        "failed": 0,
        "error": None,
        "created_at": now,
        "updated_at": now,
    }
    conn.execute(jobs.insert().values(**values))
    return Job(job_id, account_id, operation, list(npns))


def get_job(conn: sa.Connection, account_id: int, job_id: str) -> JobRecord | None:
    """The job, only if it belongs to the account (another account's job does not exist);
    ``UnreadableRecord`` if its row makes no status (its status or times unreadable)."""
    query = sa.select(*_SHOWN).where(jobs.c.id == job_id, jobs.c.account_id == account_id)
    try:
        row = conn.execute(query).mappings().first()
    except _UNLOADABLE as exc:
        column = _unreadable_column(conn, job_id, _SHOWN)
        if column is None:
            raise
        stored = _as_stored(conn, job_id, column)
        raise UnreadableRecord(job_id, f"its {column.name} {stored} could not be read") from exc
    if row is None:
        return None
    try:
        status = JobStatus(row["status"])
    except ValueError:
        stored = json.dumps(str(row["status"])[:40])
        raise UnreadableRecord(job_id, f"its status {stored} is none of {_STATES}") from None
    return JobRecord(**{**row, "status": status})


def next_queued_account(conn: sa.Connection, passing: Collection[int] = ()) -> int | None:
    """The account of the oldest queued job, passing over the accounts ``passing``."""
    query = sa.select(jobs.c.account_id).where(jobs.c.status == JobStatus.QUEUED.value)
    if passing:
        query = query.where(jobs.c.account_id.not_in(passing))
    return conn.execute(query.order_by(jobs.c.seq).limit(1)).scalar()


def count_queued(conn: sa.Connection) -> int:
    """Jobs accepted and not yet applied, across every account."""
    query = sa.select(sa.func.count()).where(jobs.c.status == JobStatus.QUEUED.value)
    return int(conn.execute(query).scalar_one())


def oldest_queued_job(conn: sa.Connection, account_id: int) -> Job | None:
    """The account's oldest queued job; ``UnreadableJob`` if its row makes none."""
    job_id = conn.execute(
        sa.select(jobs.c.id)
        .where(jobs.c.account_id == account_id, jobs.c.status == JobStatus.QUEUED.value)
        .order_by(jobs.c.seq)
        .limit(1)
    ).scalar()
    if job_id is None:
        return None
    try:
        row = conn.execute(sa.select(*_APPLIED).where(jobs.c.id == job_id)).one()
    except (ValueError, TypeError) as exc:  # a value its column's type cannot load: bad JSON
        column = _unreadable_column(conn, job_id, _APPLIED)
        name = "row" if column is None else column.name
        raise UnreadableJob(job_id, f"its {name} could not be read") from exc
    return _applied_job(job_id, row)


def known_npns(conn: sa.Connection, npns: Sequence[str]) -> set[str]:
    """The NPNs NIPR knows (an entity exists for them)."""
    found: set[str] = set()
    for start in range(0, len(npns), 5000):
        chunk = list(npns[start : start + 5000])
        found.update(
            conn.execute(sa.select(entities.c.npn).where(entities.c.npn.in_(chunk))).scalars()
        )
    return found


def record_items(conn: sa.Connection, job_id: str, items: Sequence[JobItem]) -> None:
    rows = [
        {
            "job_id": job_id,
            "npn": i.npn,
            "action": i.action.value,
            "result": i.result.value,
            "reason": i.reason,
        }
        for i in items
    ]
    insert_rows(conn, job_items, rows)


def finish_job(conn: sa.Connection, job_id: str, items: Sequence[JobItem]) -> None:
    def count(result: ItemResult, action: Action | None = None) -> int:
        return sum(
            1 for i in items if i.result is result and (action is None or i.action is action)
        )

    conn.execute(
        jobs.update()
        .where(jobs.c.id == job_id)
        .values(
            status=JobStatus.COMPLETED.value,
            activated=count(ItemResult.SUCCESS, Action.ACTIVATE),
            deactivated=count(ItemResult.SUCCESS, Action.DEACTIVATE),
            unchanged=count(ItemResult.UNCHANGED),
            failed=count(ItemResult.FAILED),
            updated_at=store_clock(conn),
        )
    )


def fail_job(conn: sa.Connection, job_id: str, error: str) -> None:
    conn.execute(
        jobs.update()
        .where(jobs.c.id == job_id)
        .values(status=JobStatus.FAILED.value, error=error[:500], updated_at=store_clock(conn))
    )


def count_job_items(conn: sa.Connection, job_id: str) -> int:
    return int(
        conn.execute(sa.select(sa.func.count()).where(job_items.c.job_id == job_id)).scalar_one()
    )


def page_job_items(conn: sa.Connection, job_id: str, page: int, size: int) -> list[JobItem]:
    rows = conn.execute(
        sa.select(job_items)
        .where(job_items.c.job_id == job_id)
        .order_by(job_items.c.id)
        .limit(size)
        .offset(page * size)
    ).mappings()
    return [
        JobItem(r["npn"], Action(r["action"]), ItemResult(r["result"]), r["reason"]) for r in rows
    ]
