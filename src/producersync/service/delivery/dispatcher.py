"""The dispatcher: claims due deliveries from the outbox and runs each batch as a DBOS
workflow whose steps send the attempts and record them.

The outbox row is the durable truth of what is owed: its ``next_attempt_at`` holds the
retry wait, so a retry survives any restart without a sleeping workflow per delivery.
DBOS makes each batch resumable: a batch whose attempts were sent but not recorded is
recorded on recovery, without sending again; one cut off mid-send is sent again (at least
once, same ``webhook-id``). A claim that never became a workflow is due again when its
lease ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Callable

import sqlalchemy as sa
from dbos import DBOS, DBOSConfiguredInstance

from producersync.counted import counted
from producersync.db_outage import STEP_RETRIES, unavailable
from producersync.repeated_errors import RepeatedErrorLog, RoundErrors
from producersync.service.delivery.batches import GONE, Batches
from producersync.service.delivery.policy import RetryPolicy
from producersync.service.delivery.sender import Sender
from producersync.service.delivery.throttle import EndpointThrottle
from producersync.service.delivery.urls import AddressGuard
from producersync.service.metrics import ServiceMetrics
from producersync.service.settings import ServiceSettings
from producersync.service.store.outbox import Claimed, Deferred, Outcome

__all__ = ["Dispatcher"]

log = logging.getLogger(__name__)


@DBOS.dbos_class()
class Dispatcher(DBOSConfiguredInstance):
    def __init__(
        self, engine: sa.Engine, settings: ServiceSettings, metrics: ServiceMetrics
    ) -> None:
        super().__init__("webhook-dispatcher")
        self._policy = RetryPolicy.from_settings(settings)
        self._batch = settings.webhook_batch_size
        # Half the sending slots at most to one endpoint's attempts, so that the others
        # always have the rest, before a receiver that hangs has been found slow as after.
        in_flight = max(
            1, min(settings.webhook_endpoint_concurrency, settings.webhook_concurrency // 2)
        )
        # Half a claim at most to one endpoint, and no more than it can send at once: the
        # rest of a claim goes to the others, so a fresh event elsewhere waits for about
        # one round of that endpoint's attempts, not for its whole backlog.
        per_endpoint = max(1, min(in_flight, self._batch // 2))
        self._store = Batches(engine, self._policy, self._batch, metrics, per_endpoint=per_endpoint)
        self._poll = settings.webhook_poll_seconds
        # Enough batches in flight to keep every sending slot busy while others record.
        self._max_batches = max(2, -(-settings.webhook_concurrency // self._batch) + 1)
        self._wake = asyncio.Event()
        self._sender = Sender(
            self._policy,
            AddressGuard(allow_private=settings.allow_private_endpoints),
            EndpointThrottle(
                settings.rate_limit_storage, metrics.counted_alone.labels("endpoints").inc
            ),
            settings.webhook_concurrency,
            per_endpoint=in_flight,
            # Called on the loop's thread: a claim that passed the endpoint over, then
            # found nothing else due, takes its deliveries now.
            endpoint_freed=self._wake.set,
        )
        self._errors = RoundErrors(log, "dispatcher")
        # Its own run: a claim that succeeds between two failed batches would end it.
        self._batch_errors = RepeatedErrorLog(log, "dispatcher: a batch")
        self._loop: asyncio.AbstractEventLoop | None = None

    # --- the workflow ------------------------------------------------------------------

    @DBOS.workflow()
    async def deliver(self, claimed: list[Claimed]) -> int:
        outcomes = await self.attempt(claimed)
        await self.settle(outcomes)
        return len(outcomes)

    @DBOS.step()
    async def attempt(self, claimed: list[Claimed]) -> list[Outcome | Deferred]:
        endpoint_ids = [c.endpoint_id for c in claimed]
        secrets, clock = await asyncio.to_thread(self._store.secrets, endpoint_ids)
        return await self._sender.send_all(claimed, secrets, clock)

    # Retried through a store outage: a batch that gave up here would be sent and not
    # recorded, so every delivery in it would go out again once its lease ended.
    @DBOS.step(**STEP_RETRIES)
    async def settle(self, outcomes: list[Outcome | Deferred]) -> None:
        await asyncio.to_thread(self._settle, outcomes)

    # --- the loop that feeds it --------------------------------------------------------

    def wake(self) -> None:
        """Look for due deliveries now (thread-safe): something was just published."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    def stop_sending(self) -> None:
        """From the loop's thread, as the process stops: the batches in flight end with the
        attempts already made (``Sender.stop_sending``)."""
        self._sender.stop_sending()

    async def run(self, stop: asyncio.Event, ran: Callable[[], None]) -> None:
        """Claim and send until ``stop`` is set, calling ``ran`` after each round (claimed,
        idled or waited out an outage). An error no round handles ends it, its batches in
        flight left to finish (``Liveness`` restarts it); the sender stays open for the
        restart, and is closed by ``close``."""
        self._loop = asyncio.get_running_loop()
        running: set[asyncio.Task[int]] = set()
        entered = 0  # how many deliveries the sender will have been given, the last batch's too
        try:
            while not stop.is_set():
                # Beside the batches in flight, another while every delivery of theirs has
                # gone or ended and a sending slot is free: a batch ends with its slowest
                # attempt, and two batches each waiting out a hung receiver's timeout kept
                # every other endpoint's fresh events unclaimed, slots free, for as long.
                room = self._sender.entered >= entered and self._sender.has_room()
                if len(running) >= self._max_batches and not room:
                    await self._batch_or_move(running)
                    continue
                claimed = await self._claimed()
                ran()
                if claimed:
                    entered = self._sender.entered + len(claimed)
                    task = asyncio.create_task(self._run_batch(claimed))
                    running.add(task)
                    task.add_done_callback(running.discard)
        finally:
            if running:
                await asyncio.wait(running)

    async def _batch_or_move(self, running: set[asyncio.Task[int]]) -> None:
        """Return once a batch of ``running`` ends, or a delivery reaches the sender or a
        sending slot is given back (from now: called as ``run`` has found no room, with
        no await between)."""
        moved = asyncio.ensure_future(self._sender.moved())
        try:
            await asyncio.wait({*running, moved}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            moved.cancel()

    async def close(self) -> None:
        await self._sender.aclose()

    async def _claimed(self) -> list[Claimed]:
        """The due deliveries claimed, else none once it has idled: none due, or the store
        failed (told by ``RoundErrors``)."""
        # Passed over: their deliveries would wait here for their slots behind those they
        # have, and in every claim since (the shared slots free), without end.
        full = self._sender.full_endpoints()
        try:
            claimed = await asyncio.to_thread(self._store.claim, full)
            self._errors.succeeded()
            if claimed:
                return claimed
            due_in = await asyncio.to_thread(self._store.next_due)
            if full and due_in is not None and due_in <= dt.timedelta(0):
                # Most likely theirs, due and passed over: looked for again at once, the
                # claims would read past them over and over. One of theirs sent wakes the
                # dispatcher (``endpoint_freed``), else it polls.
                due_in = None
        except sa.exc.SQLAlchemyError as exc:
            self._errors.failed(exc)
            due_in = None
        await self._idle(due_in)
        return []

    async def _run_batch(self, claimed: list[Claimed]) -> int:
        try:
            handle = await DBOS.start_workflow_async(self.deliver, claimed)
            delivered = await handle.get_result()
        except Exception as exc:
            # The claim's lease ends and the deliveries fall due again.
            again = f"{len(claimed)} deliveries due again in a lease"
            if unavailable(exc):
                self._errors.outage.failed(exc, again)
            else:
                self._batch_errors.failed(exc, again)
            return 0
        self._batch_errors.succeeded()
        return delivered

    async def _idle(self, due_in: dt.timedelta | None) -> None:
        wait = self._poll
        if due_in is not None:
            wait = min(wait, max(0.0, due_in.total_seconds()))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=wait)
        self._wake.clear()

    def _settle(self, results: list[Outcome | Deferred]) -> None:
        settled = self._store.settle(results)
        outcomes = [o for o in results if isinstance(o, Outcome)]
        _log_given_up(outcomes)
        _log_disabled(settled.disabled, self._policy.disable_after)
        for endpoint_id in settled.gone:
            log.warning(
                "endpoint %s disabled: %s. Its owner removed it; enable it again only if "
                "they ask (producersync admin endpoint enable %s)",
                endpoint_id,
                GONE,
                endpoint_id,
            )


_UNITS = (
    ("day", dt.timedelta(days=1)),
    ("hour", dt.timedelta(hours=1)),
    ("minute", dt.timedelta(minutes=1)),
)


def _spoken(window: dt.timedelta) -> str:
    """``window`` as people say it: ``5 days``, ``1 day 12 hours``, ``1 minute 30.5
    seconds`` (printed as it is, a timedelta reads ``5 days, 0:00:00``)."""
    parts = []
    rest = window
    for unit, length in _UNITS:
        count, rest = divmod(rest, length)
        if count:
            parts.append(counted(count, unit))
    if rest or not parts:
        seconds = rest.total_seconds()
        parts.append(counted(seconds, "second"))
    return " ".join(parts)


def _log_disabled(endpoint_ids: list[str], window: dt.timedelta) -> None:
    """A line per endpoint this batch disabled for failing all through ``window``."""
    for endpoint_id in endpoint_ids:
        log.warning(
            "endpoint %s disabled: its attempts have all failed for %s; its deliveries "
            "wait. Once its receiver answers again: producersync admin endpoint enable %s",
            endpoint_id,
            _spoken(window),
            endpoint_id,
        )


def _log_given_up(outcomes: list[Outcome]) -> None:
    """A line per endpoint for the deliveries of this batch that failed their last
    automatic attempt: they are not retried unless someone asks."""
    given_up: dict[str, list[str]] = {}
    for o in outcomes:
        last = o.next_attempt_at is None and not o.claimed.manual and not o.disable_endpoint
        if not o.succeeded and last:
            given_up.setdefault(o.claimed.endpoint_id, []).append(o.claimed.message_id)
    for endpoint_id, events in sorted(given_up.items()):
        log.warning(
            "endpoint %s: %d deliveries given up after their last retry (events %s%s); "
            "to send them again: producersync admin endpoint recover %s --since TIME",
            endpoint_id,
            len(events),
            ", ".join(events[:3]),
            ", ..." if len(events) > 3 else "",
            endpoint_id,
            # Every event, not the first three: a JSON line is read by programs.
            extra={"endpoint_id": endpoint_id, "message_ids": events},
        )
