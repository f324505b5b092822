"""The sync service's ASGI app: the webhook receiver, ``/metrics`` and ``/healthz``, with
DBOS launched for the app's lifetime (workflows recovered, queues and the daily catch-up
schedule in place, a catch-up check at start)."""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

import anyio
import sqlalchemy as sa
from dbos import DBOS, SetEnqueueOptions
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from producersync.client import ProducerSyncError
from producersync.dbos_process import DbosProcess, process_lock
from producersync.dbos_stop import destroy_dbos
from producersync.echo import PATH_SHOWN, cut
from producersync.executors import ExecutorLock, ExecutorWatch, Role
from producersync.gc_tuning import tune_gc
from producersync.host_header import OneHost
from producersync.request_ids import identify_requests
from producersync.retry_shortly import RetryShortly
from producersync.sync import mirror
from producersync.sync.heartbeat import LEASE_BEATS
from producersync.sync.hooks import Hooks
from producersync.sync.metrics import Metrics
from producersync.sync.mirror.hook_cursors import hook_lags
from producersync.sync.mirror.queries import pending_fetches
from producersync.sync.mirror.runs import failed_runs
from producersync.sync.pull import Puller
from producersync.sync.receiver import Receiver, Start, refused, stopping
from producersync.sync.settings import SyncSettings
from producersync.sync.starter import Starter
from producersync.sync.workflows import (
    ACTIVATION_QUEUE,
    APP_NAME,
    PULL_QUEUE,
    SYNC_QUEUE,
    SyncWorkflows,
    catch_up_schedule,
)
from producersync.webhooks import WebhookVerificationError, parse_event

__all__ = ["DurableSync", "create_app", "executor_lock"]

log = logging.getLogger(__name__)
T = TypeVar("T")

# Its locks keep their names: sync processes of the version before see them.
SYNC_PROCESSES = Role(
    "sync",
    "producersync-sync-executor:",
    "--executor-id or PRODUCERSYNC_SYNC_EXECUTOR_ID",
    "a sync's pages fetched and written to the mirror again",
    "PRODUCERSYNC_SYNC_EXECUTOR_LOCK_WAIT_SECONDS",
)
_QUEUE_POLL_SECONDS = 0.2  # how soon a queued sync starts; the default 1 s adds to every event
# A stop's time for the workflows running here and then the hooks' drain, together, once
# the requests in flight are answered (their grace is the setting's): what is left then is
# taken up at the next start, workflows from their last step and hooks from their cursors.
# Each had its own (5 s, then 10 s): a hook that was behind held a stop 10 s more.
_STOP_SECONDS = 5.0


def _reported(record: logging.LogRecord) -> bool:
    """DBOS's log filter: drop its traceback of a workflow that failed on the API (down,
    refusing, timing out). That is no bug, and the run it ended is logged once, with
    what follows it (``SyncWorkflows.finish_run``); DBOS logged every workflow of it, a
    parent and each of its streams, 25 tracebacks for one sync with the API down."""
    error = record.exc_info[1] if record.exc_info else None
    return not isinstance(error, ProducerSyncError)


def executor_lock(settings: SyncSettings) -> ExecutorLock:
    """The lock on this process's executor id (the setting, else <hostname>:<port>), not
    taken yet."""
    return process_lock(SYNC_PROCESSES, settings.mirror_url, settings.executor_id, settings.port)


class DurableSync:
    """DBOS and the workflows of one sync process."""

    def __init__(
        self,
        engine: sa.Engine,
        settings: SyncSettings,
        metrics: Metrics,
        lock: ExecutorLock | None = None,
    ) -> None:
        """``lock``: the executor lock the command took before making the app (else it is
        taken as the app starts)."""
        hooks = Hooks.from_entry_points(engine, interval=settings.run_heartbeat_seconds)
        puller = Puller(
            settings.client(),
            engine,
            settings.page_size,
            metrics.upserted,
            hooks,
            settle_seconds=settings.population_settle_seconds,
            heartbeat_seconds=settings.run_heartbeat_seconds,
        )
        self.workflows = SyncWorkflows(puller, engine, settings, metrics)
        self.starter = Starter(self.workflows.start)
        self._engine, self._settings, self._hooks = engine, settings, hooks
        self._dbos = DbosProcess(
            APP_NAME,
            settings.system_database_url(),
            lock or executor_lock(settings),
            settings.mirror_pool_size,
        )
        beat = settings.run_heartbeat_seconds
        self.executors = ExecutorWatch(self._dbos.lock, beat, beat * LEASE_BEATS)
        logging.getLogger("dbos").addFilter(_reported)

    def start(self) -> None:
        self._dbos.launch(self._settings.executor_lock_wait_seconds)
        for queue in (SYNC_QUEUE, ACTIVATION_QUEUE):
            DBOS.register_queue(
                queue, global_concurrency=1, polling_interval_sec=_QUEUE_POLL_SECONDS
            )
        DBOS.register_queue(
            PULL_QUEUE,
            worker_concurrency=self._settings.pull_concurrency,
            polling_interval_sec=_QUEUE_POLL_SECONDS,
        )
        DBOS.apply_schedules([catch_up_schedule(self._settings.catch_up_cron)])
        # The catch-up also prunes the receipts past their retention, at start and daily.
        with SetEnqueueOptions(deduplication_id="catch-up", duplication_policy="return-existing"):
            DBOS.enqueue_workflow(SYNC_QUEUE, self.workflows.catch_up)
        self.starter.launch()
        self.executors.launch()
        self._resume()

    def stop(self) -> None:
        deadline = time.monotonic() + _STOP_SECONDS
        self.starter.stop()
        destroy_dbos(_left(deadline))
        # After DBOS: while its workflows may still run here, none is taken elsewhere.
        self.executors.stop()
        # The batches committed by the workflows, delivered first, in what is left.
        self._hooks.close(_left(deadline))

    def _resume(self) -> None:
        """Start again every event acknowledged before a crash and not processed since
        (those already running or done are not run twice: the id is the event's)."""
        with self._engine.connect() as conn:
            pending = mirror.unprocessed_events(conn)
        for event_id, body in pending:
            try:
                event = parse_event(body)
            except WebhookVerificationError:
                log.warning("event %s: its recorded body is not an event; not resumed", event_id)
                continue
            self.starter.submit(event, event_id)


def create_app(
    settings: SyncSettings, *, start: Start | None = None, lock: ExecutorLock | None = None
) -> Starlette:
    """The app. ``start`` replaces the durable workflows (receiver tests): without it,
    DBOS runs in this process, under ``lock`` if the command took it (``DurableSync``)."""
    if not settings.webhook_secrets:
        raise ValueError("no webhook secret: set PRODUCERSYNC_WEBHOOK_SECRETS")
    engine = mirror.open_mirror(settings.mirror_url, settings.mirror_pool_size)
    metrics = Metrics(
        lambda: _last_synced(engine),
        lambda: _read(engine, mirror.malformed_count),
        lambda: _read(engine, mirror.records_not_stored),
        lambda: _lag_days(engine),
        lambda: _hooks_behind(engine),
        lambda: _read(engine, lambda conn: pending_fetches(conn, 1).count),
        lambda: _read(engine, failed_runs),
        lambda: _read(engine, mirror.oldest_unprocessed),
    )
    durable: DurableSync | None = None
    if start is None:
        durable = DurableSync(engine, settings, metrics, lock)
        start = durable.starter.submit
    receiver = Receiver(engine, settings.secrets(), start, metrics, settings.max_body_bytes)

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        if durable is not None:
            await anyio.to_thread.run_sync(durable.start)
        tune_gc()
        try:
            yield
        finally:
            await anyio.to_thread.run_sync(receiver.close)
            if durable is not None:
                await anyio.to_thread.run_sync(durable.stop)
            engine.dispose()

    async def metrics_view(_request: Request) -> Response:
        body = await anyio.to_thread.run_sync(metrics.render)
        return Response(body, media_type="text/plain; version=0.0.4; charset=utf-8")

    async def healthz(_request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def no_route(request: Request, exc: Exception) -> Response:
        # The receiver's own body shape, saying what was asked: a sender's delivery log
        # shows it, and "Not Found" alone does not tell a wrong path from a wrong method.
        assert isinstance(exc, HTTPException)
        asked = f"{request.method} {cut(request.url.path, PATH_SHOWN)}"
        detail = f"no {asked}; deliveries go to POST {settings.webhook_path}"
        if exc.status_code == 405:
            allowed = (exc.headers or {}).get("Allow", "")
            detail = f"{asked} is not allowed (allowed: {allowed})"
        return JSONResponse({"status": "rejected", "detail": detail}, exc.status_code, exc.headers)

    async def failed(_request: Request, _exc: Exception) -> Response:
        # A fault of ours (Starlette logs its traceback), in the receiver's body too, not
        # Starlette's plain-text "Internal Server Error". The sender retries it.
        return JSONResponse(
            {"status": "failed", "detail": "internal error; it has been logged"}, 500
        )

    app = Starlette(
        routes=[
            Route(settings.webhook_path, receiver.handle, methods=["POST"]),
            Route("/metrics", metrics_view, methods=["GET"]),
            Route("/healthz", healthz, methods=["GET"]),
        ],
        lifespan=lifespan,
        exception_handlers={HTTPException: no_route, Exception: failed},
        # A delivery the stop cuts would be uvicorn's plain-text 500: a 503, which the sender
        # retries after Retry-After. An outage of the mirror is the receiver's own 503.
        middleware=[
            Middleware(RetryShortly, answer=stopping),
            Middleware(OneHost, refusal=refused),
        ],
    )
    # An endpoint URL with a slash too many would get a 307 to the receiver's path, which
    # a webhook sender does not follow (Standard Webhooks): a failed delivery that reads
    # as "moved". A 404 says what is wrong.
    app.router.redirect_slashes = False
    # Every answer names its request, as the service's and the parser's refusals here do,
    # and the receiver's lines of a delivery carry the id beside its webhook-id.
    identify_requests(app)
    return app


def _left(deadline: float) -> float:
    return max(0.0, deadline - time.monotonic())


def _last_synced(engine: sa.Engine) -> dt.date | None:
    with engine.connect() as conn:
        return mirror.last_synced_run_date(conn)


def _lag_days(engine: sa.Engine) -> int | None:
    with engine.connect() as conn:
        return mirror.freshness(conn).lag_days


def _read(engine: sa.Engine, query: Callable[[sa.Connection], T]) -> T:
    with engine.connect() as conn:
        return query(conn)


def _hooks_behind(engine: sa.Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {lag["name"]: lag["behind"] for lag in hook_lags(conn)}
