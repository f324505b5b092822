"""Applying NPN-management jobs: one transaction per job, in order per account.

A job is a committed row before the API answers 202; it is applied in one transaction
that also marks it COMPLETED, so a crash leaves it QUEUED and a restart applies it.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import sqlalchemy as sa

from producersync.db_outage import describe, lost_a_conflict, unavailable
from producersync.model.events import Event, NpnActivated, NpnDeactivated
from producersync.repeated_errors import RoundErrors
from producersync.service.delivery.publish import event_time, publish_events
from producersync.service.store.engine import write_transaction
from producersync.service.store.jobs import (
    Action,
    ItemResult,
    Job,
    JobItem,
    Operation,
    UnreadableJob,
    fail_job,
    finish_job,
    known_npns,
    next_queued_account,
    oldest_queued_job,
    record_items,
)
from producersync.service.store.maintenance import refresh_statistics
from producersync.service.store.population import (
    add_subscriptions,
    all_subscribed,
    lock_account,
    remove_subscriptions,
)
from producersync.service.store.tables import subscriptions

__all__ = [
    "JobWorker",
    "JobsPassedOver",
    "PassedOver",
    "apply_job",
    "job_events",
    "process_next_job",
]

log = logging.getLogger(__name__)

_NOT_AT_NIPR = "NPN not found in NIPR"
_ANALYZE_AFTER = 1000  # subscriptions changed by one job before planner statistics refresh


def apply_job(conn: sa.Connection, job: Job, at: dt.datetime) -> list[JobItem]:
    """Change the account's subscriptions as the job says, at ``at``; one item per NPN
    and action."""
    requested = list(dict.fromkeys(job.npns))
    items: list[JobItem] = []
    if job.operation is Operation.REMOVE:
        removed = set(remove_subscriptions(conn, job.account_id, requested))
        for npn in requested:
            if npn in removed:
                items.append(JobItem(npn, Action.DEACTIVATE, ItemResult.SUCCESS, None))
            else:
                items.append(
                    JobItem(npn, Action.DEACTIVATE, ItemResult.UNCHANGED, "not subscribed")
                )
        return items

    known = known_npns(conn, requested)
    wanted = [n for n in requested if n in known]
    current = all_subscribed(conn, job.account_id)
    if job.operation is Operation.REPLACE:
        dropped = sorted(current - set(wanted))
        remove_subscriptions(conn, job.account_id, dropped)
        items.extend(JobItem(n, Action.DEACTIVATE, ItemResult.SUCCESS, None) for n in dropped)
    added = set(add_subscriptions(conn, job.account_id, wanted, at))
    for npn in requested:
        if npn not in known:
            items.append(JobItem(npn, Action.ACTIVATE, ItemResult.FAILED, _NOT_AT_NIPR))
        elif npn in added:
            items.append(JobItem(npn, Action.ACTIVATE, ItemResult.SUCCESS, None))
        else:
            items.append(JobItem(npn, Action.ACTIVATE, ItemResult.UNCHANGED, "already subscribed"))
    return items


def job_events(items: Sequence[JobItem], now: dt.datetime) -> list[Event]:
    """``npn.activated`` / ``npn.deactivated`` for each NPN the job actually changed, at
    ``now``, the job's time."""
    events: list[Event] = []
    for item in items:
        if item.result is not ItemResult.SUCCESS:
            continue
        if item.action is Action.ACTIVATE:
            events.append(NpnActivated.create(item.npn, now, timestamp=now))
        else:
            events.append(NpnDeactivated.create(item.npn, now, timestamp=now))
    return events


class JobsPassedOver(Exception):
    """An account's oldest queued job was neither applied nor marked FAILED, for an error
    that is no outage: its jobs are passed over for ``seconds``."""

    def __init__(self, account_id: int, seconds: float, cause: Exception) -> None:
        super().__init__(
            f"account {account_id}'s oldest queued job could be neither applied nor marked "
            f"FAILED ({type(cause).__name__}: {describe(cause)}); its jobs are passed over "
            f"for {seconds:.0f} s"
        )
        self.account_id, self.seconds = account_id, seconds


# How long an account whose job could not be settled is passed over: a minute, doubled at
# each failure after, up to an hour. Its job stays queued, and is tried after each pause.
_FIRST_PAUSE_SECONDS = 60.0
_LONGEST_PAUSE_SECONDS = 3600.0


class PassedOver:
    """The accounts a worker passes over for a while (``JobsPassedOver``): each poll took
    the oldest job's account, and one whose job failed before it could be marked FAILED
    held back every account's jobs."""

    def __init__(self) -> None:
        self._paused: dict[int, tuple[float, float]] = {}  # account: (until, pause)

    def accounts(self) -> list[int]:
        now = time.monotonic()
        return [account for account, (until, _) in self._paused.items() if until > now]

    def add(self, account_id: int, cause: Exception) -> JobsPassedOver:
        _, last = self._paused.get(account_id, (0.0, 0.0))
        pause = min(max(2 * last, _FIRST_PAUSE_SECONDS), _LONGEST_PAUSE_SECONDS)
        self._paused[account_id] = (time.monotonic() + pause, pause)
        return JobsPassedOver(account_id, pause, cause)

    def settled(self, account_id: int) -> None:
        self._paused.pop(account_id, None)


def process_next_job(
    engine: sa.Engine,
    on_publish: Callable[[], None] = lambda: None,
    passed_over: PassedOver | None = None,
) -> bool:
    """Apply the oldest queued job of some account; False when none is queued but those
    of accounts another worker is applying a job of, or ``passed_over``'s.

    Such an account is passed over (its worker goes on with its jobs): each worker waited
    on the oldest job's account, and a carrier's one-NPN job was applied 3.5 s after it
    was made, with another's 50,000-NPN job, while a second process idled. An account
    whose job fails for good before it is marked FAILED is added to ``passed_over``
    (``JobsPassedOver`` is raised)."""
    busy: list[int] = []
    while True:
        passing = busy + (passed_over.accounts() if passed_over is not None else [])
        with engine.connect() as conn:
            account_id = next_queued_account(conn, passing)
        if account_id is None:
            return False
        try:
            applied = _apply_oldest_job(engine, account_id)
        except Exception as exc:
            if passed_over is None or unavailable(exc) or lost_a_conflict(exc):
                # An outage: every account waits for it alike, and no job fails; a
                # conflict: run again, the same transaction goes through.
                raise
            raise passed_over.add(account_id, exc) from exc
        if not isinstance(applied, _Busy):
            break
        busy.append(account_id)
    if passed_over is not None:
        passed_over.settled(account_id)
    # The job is settled (committed COMPLETED, or FAILED): what follows may go wrong
    # without telling its client otherwise. A failure here would mark a job FAILED
    # whose changes and events were committed.
    if applied is None or isinstance(applied, _Busy):
        return True
    if applied.published:
        on_publish()
    if applied.changed >= _ANALYZE_AFTER:
        # Tell the planner how big populations are now: with stale numbers (say 30
        # rows for a 10,000-NPN population) Postgres sorts whole populations or
        # probes an index per NPN. Sampled on SQLite: an exact ANALYZE of every
        # account's subscriptions held the next job back 1.3 s after a 50,000-NPN one.
        refresh_statistics(engine, [subscriptions])
    return True


@dataclass(frozen=True, slots=True)
class _Applied:
    changed: int  # subscriptions added or removed
    published: bool  # events were queued for delivery


class _Busy:
    """Another transaction holds the account: its worker applies one of its jobs."""


def _apply_oldest_job(engine: sa.Engine, account_id: int) -> _Applied | _Busy | None:
    """Apply the account's oldest queued job in one transaction, or mark it FAILED;
    None when it did not complete, ``_Busy`` when another transaction holds the account."""
    job: Job | None = None
    try:
        with write_transaction(engine) as conn:
            if not lock_account(conn, account_id, wait=False):
                return _Busy()
            try:
                job = oldest_queued_job(conn, account_id)
            except UnreadableJob as unreadable:
                _refuse(conn, account_id, unreadable)
                return None
            if job is None:  # another worker took it
                return None
            now = event_time(conn)
            items = apply_job(conn, job, now)
            record_items(conn, job.id, items)
            finish_job(conn, job.id, items)
            # In the job's transaction: the events exist exactly when the changes do.
            published = publish_events(conn, job.account_id, job_events(items, now))
    except Exception as exc:
        if job is None or unavailable(exc):
            raise  # the store is unavailable: the job stays queued for the next attempt
        if lost_a_conflict(exc):
            # Two accounts' jobs touching the same NPNs' subscriber counts in opposite
            # orders deadlock on PostgreSQL, which rolls one back: failing the job
            # would be wrong, as, run again, it applies. It stays queued.
            log.info("job %s: rolled back for a conflict (%s); retrying", job.id, describe(exc))
            return None
        with write_transaction(engine) as conn:
            fail_job(conn, job.id, _failed_as_applied(job))
        # Logged once it is FAILED: should marking it fail, the worker's line for the
        # account passed over carries this error too, in its traceback.
        log.error(
            "job %s of account %d (%s) marked FAILED: an error as it was applied",
            job.id,
            job.account_id,
            _what(job),
            exc_info=exc,
        )
        return None
    return _Applied(sum(item.result is ItemResult.SUCCESS for item in items), bool(published))


def _failed_as_applied(job: Job) -> str:
    """What the client of a job that failed as it was applied reads in its status: what
    to do, in its request's terms. The store's error named its tables and constraints
    (``IntegrityError: CHECK constraint failed: count >= 0``), which the log keeps."""
    return (
        f"The service failed to apply this {_what(job)}, "
        "through no fault of the request. Nothing was changed; send the request again, and "
        f"should it fail again, contact support, quoting job {job.id}."
    )


def _what(job: Job) -> str:
    count = len(job.npns)
    return f"{job.operation.value} of {count} NPN{'' if count == 1 else 's'}"


def _refuse(conn: sa.Connection, account_id: int, unreadable: UnreadableJob) -> None:
    """Mark FAILED a job no attempt can apply: retried, it was taken again at every poll,
    and no other account's job ran."""
    fail_job(
        conn,
        unreadable.job_id,
        f"The job cannot be applied: {unreadable.problem}. Nothing was changed; "
        "send its request again.",
    )
    # No traceback: the row is at fault, not the code, and the job is settled.
    log.error(
        "job %s of account %d marked FAILED: %s (a row this service does not write)",
        unreadable.job_id,
        account_id,
        unreadable.problem,
    )


# How long a stop lets the job worker end by itself: it is idle (it ends at once) or
# between two statements of a small job.
_STOP_WAIT_SECONDS = 1.0


class JobWorker:
    """A background thread that drains queued jobs; woken at once when a job is created."""

    def __init__(
        self,
        engine: sa.Engine,
        poll_seconds: float,
        on_publish: Callable[[], None] = lambda: None,
        errors_told_every: float = 60.0,
    ) -> None:
        """``errors_told_every``: how often an error that persists is logged again, in a
        line (``RepeatedErrorLog``)."""
        self._engine = engine
        self._on_publish = on_publish
        self._poll = poll_seconds
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="job-worker", daemon=True)
        self._passed_over = PassedOver()
        self._errors = RoundErrors(log, "job worker", errors_told_every)

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        """Stop taking jobs. A job being applied is not waited for: it is one transaction,
        rolled back with the process's connection unless it commits first, and a job
        rolled back stays queued for the next start (or another process). The stop waited
        for it, up to 30 s: a 50,000-NPN job, or one waiting on a lock, held a SIGTERMed
        process past `docker stop`'s 10 s."""
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=_STOP_WAIT_SECONDS)
        if self._thread.is_alive():
            log.info(
                "job worker: a subscription job is being applied; unless it commits before "
                "the process ends it stays queued, and is applied at the next start"
            )

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                busy = process_next_job(self._engine, self._on_publish, self._passed_over)
                self._errors.succeeded()
            except Exception as exc:
                if self._stop.is_set():
                    return  # the process is ending under it (its engine disposed of)
                self._errors.failed(exc)
                busy = False
            if not busy:
                self._wake.wait(self._poll)
                self._wake.clear()
