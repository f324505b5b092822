"""Retention: one batch of the pruner's work per call, each meant for a transaction of its
own (``service/retention.py`` drives them).

A batch is found through an index that holds only what is still to prune (messages whose
payload is kept, attempts whose response body is; finished jobs by their time), so the
thousandth batch reads no more than the first. On PostgreSQL the rows are taken
``FOR UPDATE SKIP LOCKED``: several processes pruning at once take disjoint batches, and
none waits on another's.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from producersync.service.store.jobs import JobStatus
from producersync.service.store.outbox import (
    EXPIRED_PAYLOAD,
    PAYLOAD_EXPIRED,
    PENDING,
    end_unsent,
    unexpired,
)
from producersync.service.store.tables import (
    job_items,
    jobs,
    webhook_attempts,
    webhook_deliveries,
    webhook_messages,
)

__all__ = ["FINISHED", "commit_unflushed", "expire_payloads", "expire_responses", "prune_jobs"]

FINISHED = (JobStatus.COMPLETED.value, JobStatus.FAILED.value)


def commit_unflushed(conn: sa.Connection) -> None:
    """PostgreSQL: this transaction's commit returns without waiting for its WAL to reach
    the disk (``synchronous_commit`` off; all or nothing of it survives a crash all the
    same). A batch lost to a crash is pruned again by the next run, and SQLite, at
    ``synchronous=NORMAL`` in WAL mode, commits so already. The flush took 5.7 ms of
    each of the 2,343 batches of a year (bench/retention.py's store), 0.6 ms now."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SET LOCAL synchronous_commit TO off")


def _taken(conn: sa.Connection, query: sa.Select[Any]) -> sa.Select[Any]:
    if conn.dialect.name == "postgresql":
        return query.with_for_update(skip_locked=True)
    return query


def expire_payloads(conn: sa.Connection, before: dt.datetime, limit: int, now: dt.datetime) -> int:
    """Expire the payloads of up to ``limit`` messages created before ``before``, oldest
    first; how many. A delivery of one still pending (to an endpoint disabled since, or
    re-enabled and not yet sent) is ended unsent, saying why: it had only an empty
    body left to send."""
    m, d = webhook_messages, webhook_deliveries
    found = conn.execute(
        _taken(
            conn,
            sa.select(m.c.id, m.c.event_type)
            .where(unexpired(m.c.payload), m.c.created_at < before)
            .order_by(m.c.created_at)
            .limit(limit),
        )
    ).all()
    if not found:
        return 0
    types = {message_id: event_type for message_id, event_type in found}
    pending = conn.execute(
        sa.select(d.c.id, d.c.message_id).where(d.c.message_id.in_(types), d.c.state == PENDING)
    )
    end_unsent(
        conn,
        {delivery_id: (types[message_id], PAYLOAD_EXPIRED) for delivery_id, message_id in pending},
        now,
    )
    conn.execute(m.update().where(m.c.id.in_(types)).values(payload=EXPIRED_PAYLOAD))
    return len(found)


def expire_responses(conn: sa.Connection, before: dt.datetime, limit: int) -> int:
    """Drop the response bodies of up to ``limit`` attempts made before ``before``, oldest
    first; how many."""
    a = webhook_attempts
    ids = (
        conn.execute(
            _taken(
                conn,
                sa.select(a.c.id)
                .where(a.c.response.is_not(None), a.c.attempted_at < before)
                .order_by(a.c.attempted_at)
                .limit(limit),
            )
        )
        .scalars()
        .all()
    )
    if ids:
        conn.execute(a.update().where(a.c.id.in_(ids)).values(response=None))
    return len(ids)


def prune_jobs(conn: sa.Connection, before: dt.datetime, limit: int) -> tuple[int, int]:
    """Delete up to ``limit`` detail rows of jobs finished before ``before``, then those of
    the jobs that have none left: (jobs, detail rows) deleted. A 50,000-NPN job goes over
    as many batches as its rows need; a queued or running job is never touched."""
    j, i = jobs, job_items
    ids = (
        conn.execute(
            _taken(
                conn,
                # In no order: ordered, the finished jobs of both statuses would be
                # sorted whole for each batch (a year of one-NPN jobs, 365,000 of them).
                sa.select(j.c.id)
                .where(j.c.status.in_(FINISHED), j.c.updated_at < before)
                .limit(limit),
            )
        )
        .scalars()
        .all()
    )
    if not ids:
        return 0, 0
    # A job at a time, in the index's order: the batch reads from where the first job's
    # rows start, and every job it passed is left empty. No statement joins job_items:
    # PostgreSQL's planner, weighing a merge join, read the ends of its indexes, where
    # the rows deleted so far lie until a vacuum, before each batch. A year's 1,790
    # batches took 56 ms each in the two statements that joined, 13 ms in these three.
    found = conn.execute(
        sa.select(i.c.id, i.c.job_id)
        .where(i.c.job_id.in_(ids))
        .order_by(i.c.job_id, i.c.id)
        .limit(limit)
    ).all()
    if found:
        conn.execute(i.delete().where(i.c.id.in_([item for item, _ in found])))
    # A short batch left all its jobs empty; a full one, those before the last it reached
    # (in the index's order, the database's; a job with no rows at all among them). The
    # foreign key stops a job deleted with rows left.
    emptied = j.c.id.in_(ids)
    if len(found) == limit:
        emptied &= j.c.id < found[-1].job_id
    return conn.execute(j.delete().where(emptied)).rowcount, len(found)
