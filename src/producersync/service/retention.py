"""Retention: what the store keeps, and the pruner that lets the rest go.

Without it nothing was ever deleted: a carrier replacing 50,000 NPNs a day added 18
million job detail rows a year, and every webhook payload and response body stayed.
As Svix does, a message's payload expires (it then reads ``{"expired": true}`` and cannot
be sent again) and so does an attempt's response body; finished subscription jobs are
deleted whole. Every process with background work prunes, in batches of one short
transaction each, resting between them as long as the last took: a first run over years
of rows holds no lock for long and leaves the store's writers half its time (on SQLite
they share one write lock).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa
from prometheus_client import Counter

from producersync.repeated_errors import RoundErrors
from producersync.service.settings import ServiceSettings
from producersync.service.store import retention
from producersync.service.store.engine import write_transaction
from producersync.service.store.outbox import store_clock

__all__ = ["Pruned", "Pruner", "Retention", "prune"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Retention:
    payloads: dt.timedelta
    responses: dt.timedelta
    jobs: dt.timedelta
    batch: int

    @classmethod
    def from_settings(cls, settings: ServiceSettings) -> Retention:
        return cls(
            payloads=dt.timedelta(days=settings.payload_retention_days),
            responses=dt.timedelta(days=settings.response_retention_days),
            jobs=dt.timedelta(days=settings.job_retention_days),
            batch=settings.prune_batch_size,
        )


@dataclass(frozen=True, slots=True)
class Pruned:
    """What one run let go."""

    payloads: int = 0
    responses: int = 0
    jobs: int = 0
    job_items: int = 0

    def __bool__(self) -> bool:
        return any(dataclasses.astuple(self))


_WHAT = tuple(field.name for field in dataclasses.fields(Pruned))


def prune(
    engine: sa.Engine,
    kept: Retention,
    now: dt.datetime | None = None,
    stop: threading.Event | None = None,
) -> Pruned:
    """Let go of everything past its retention at ``now`` (default: the store's clock), a
    batch a transaction, until none is left or ``stop`` is set."""
    stop = stop or threading.Event()
    if now is None:
        with engine.connect() as conn:
            now = store_clock(conn)
    at = now

    def batches(step: Callable[[sa.Connection], tuple[int, int]]) -> tuple[int, int]:
        first = second = 0
        while not stop.is_set():
            started = time.monotonic()
            with write_transaction(engine) as conn:
                retention.commit_unflushed(conn)
                one, two = step(conn)
            first, second = first + one, second + two
            if not (one or two):
                break
            stop.wait(time.monotonic() - started)
        return first, second

    payloads, _ = batches(
        lambda conn: (retention.expire_payloads(conn, at - kept.payloads, kept.batch, at), 0)
    )
    responses, _ = batches(
        lambda conn: (retention.expire_responses(conn, at - kept.responses, kept.batch), 0)
    )
    jobs, items = batches(lambda conn: retention.prune_jobs(conn, at - kept.jobs, kept.batch))
    return Pruned(payloads, responses, jobs, items)


class Pruner:
    """A background thread that prunes at start, then every ``interval`` seconds, and
    counts what it let go in ``counted`` (labelled by ``Pruned``'s fields)."""

    def __init__(
        self,
        engine: sa.Engine,
        kept: Retention,
        interval: float,
        counted: Counter,
        errors_told_every: float = 60.0,
    ) -> None:
        """``errors_told_every``: how often an error that persists is logged again, in a
        line (``RepeatedErrorLog``)."""
        self._engine, self._kept, self._interval = engine, kept, interval
        self._counted = counted
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="retention", daemon=True)
        self._errors = RoundErrors(log, "retention", errors_told_every)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                pruned = prune(self._engine, self._kept, stop=self._stop)
                self._errors.succeeded()
            except Exception as exc:
                self._errors.failed(exc, "trying again next round")
            else:
                for what, count in zip(_WHAT, dataclasses.astuple(pruned), strict=True):
                    self._counted.labels(what).inc(count)
                if pruned:
                    log.info(
                        "retention: expired %d payloads and %d response bodies, deleted %d "
                        "jobs (%d detail rows) in %.1f s",
                        pruned.payloads,
                        pruned.responses,
                        pruned.jobs,
                        pruned.job_items,
                        time.monotonic() - started,
                    )
            self._stop.wait(self._interval)
