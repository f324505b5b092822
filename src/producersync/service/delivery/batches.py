"""The dispatcher's side of the store, run from worker threads: claiming due deliveries,
and settling a batch's outcomes (recording them, counting them, and moving the
endpoints' failure clocks)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass

import sqlalchemy as sa

from producersync.service.delivery.policy import RetryPolicy
from producersync.service.delivery.sender import Clock, local_clock
from producersync.service.metrics import ServiceMetrics
from producersync.service.store import endpoints as store_endpoints
from producersync.service.store.engine import write_transaction
from producersync.service.store.outbox import (
    Claimed,
    Deferred,
    Outcome,
    claim_due,
    defer,
    next_due,
    record,
    store_clock,
)

__all__ = ["GONE", "Batches", "Settled"]

GONE = "the endpoint answered 410 Gone"


@dataclass(frozen=True, slots=True)
class Settled:
    """The endpoints a batch disabled: failing for too long, or gone (410) and not that."""

    disabled: list[str]
    gone: list[str]


class Batches:
    """Claims are made and judged by the store's clock (``outbox.store_clock``); ``clock``
    is this process's own, which may be off. A claim takes at most ``per_endpoint``
    deliveries to any one endpoint (``outbox.claim_due``)."""

    def __init__(
        self,
        engine: sa.Engine,
        policy: RetryPolicy,
        size: int,
        metrics: ServiceMetrics,
        clock: Clock = local_clock,
        *,
        per_endpoint: int | None = None,
    ) -> None:
        self._engine = engine
        self._per_endpoint = per_endpoint
        self._clock = clock
        self._policy = policy
        self._size = size
        self._attempts, self._attempt_seconds = metrics.attempts, metrics.attempt_seconds
        for outcome in ("succeeded", "failed", "deferred"):  # at 0 while none is made
            self._attempts.labels(outcome)

    def claim(self, passed_over: Collection[str] = ()) -> list[Claimed]:
        """Due deliveries claimed, none to the endpoints ``passed_over``."""
        with write_transaction(self._engine) as conn:
            now = store_clock(conn)
            lease = self._policy.lease
            return claim_due(
                conn,
                now,
                self._size,
                lease,
                per_endpoint=self._per_endpoint,
                passed_over=passed_over,
            )

    def next_due(self) -> dt.timedelta | None:
        """How long until the earliest pending delivery falls due (maybe past), by the
        store's clock, as its due time was set; ``None``: none is pending. Told by this
        process's own, a dispatcher an hour ahead found a delivery due in a minute an hour
        late, and looked for it again at once, without a pause, until it fell due."""
        with self._engine.connect() as conn:
            due = next_due(conn)
            return None if due is None else due - store_clock(conn)

    def secrets(self, endpoint_ids: list[str]) -> tuple[dict[str, list[str]], Clock]:
        """The endpoints' signing secrets, and the store's clock as this process can read
        it without asking: the sender judges whether a claim still holds by it."""
        with self._engine.connect() as conn:
            # Read before the store's: the clock then runs ahead by at most the round trip,
            # so a claim about to lapse is handed back rather than sent late.
            before = self._clock()
            offset = store_clock(conn) - before
            secrets = store_endpoints.active_secrets(conn, sorted(set(endpoint_ids)))
        return secrets, lambda: self._clock() + offset

    def settle(self, results: list[Outcome | Deferred]) -> Settled:
        """Record a batch's outcomes in one transaction, then count them. Safe to run again
        (the DBOS step is retried after a deadlock or an outage): a transaction that failed
        counted nothing, and one that committed unacknowledged is not recorded twice."""
        outcomes = [o for o in results if isinstance(o, Outcome)]
        healthy = {o.claimed.endpoint_id for o in outcomes if o.succeeded}
        failing = {o.claimed.endpoint_id for o in outcomes if not o.succeeded} - healthy
        gone = {o.claimed.endpoint_id for o in outcomes if o.disable_endpoint}
        with write_transaction(self._engine) as conn:
            store_endpoints.lock_endpoints(conn, [r.claimed.endpoint_id for r in results])
            record(conn, outcomes)
            defer(conn, [o for o in results if isinstance(o, Deferred)])
            store_endpoints.note_success(conn, sorted(healthy))
            disabled = store_endpoints.note_failure(
                conn, sorted(failing), store_clock(conn), self._policy.disable_after
            )
            for endpoint_id in sorted(gone):
                store_endpoints.disable_endpoint(conn, None, endpoint_id, GONE)
        # Counted once committed: counted before, every retry of a failed transaction
        # would count the batch's attempts again.
        succeeded = sum(o.succeeded for o in outcomes)
        self._attempts.labels("succeeded").inc(succeeded)
        self._attempts.labels("failed").inc(len(outcomes) - succeeded)
        self._attempts.labels("deferred").inc(len(results) - len(outcomes))
        for o in outcomes:
            outcome = "succeeded" if o.succeeded else "failed"
            self._attempt_seconds.labels(outcome).observe(o.duration_ms / 1000)
        return Settled(disabled, sorted(gone - set(disabled)))
