"""The service's Prometheus metrics, in a registry of its own per app (tests build many
apps in one process, and the default registry refuses a name twice).

Each process exposes its own at ``GET /metrics``: requests by route and status with
their latency, webhook attempts by outcome, and gauges read from the store at scrape
time (deliveries pending, subscription jobs queued, the last NIPR run's date), which
every process sees alike.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import anyio.to_thread
import sqlalchemy as sa
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from producersync.db_outage import Readings
from producersync.service.route_templates import RouteTemplates
from producersync.service.store.churn import latest_run_date
from producersync.service.store.jobs import count_queued
from producersync.service.store.outbox import count_pending
from producersync.service.supervised import Liveness
from producersync.timestamps import day_timestamp

__all__ = ["OTHER_METHOD", "RequestMetrics", "ServiceMetrics"]

# Most pages are answered in 1 to 5 ms, a 1,000-record page in tens of ms.
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# The methods counted by name. The HTTP parser takes some forty (PROPFIND, MKCOL, SOURCE
# ...) from anyone, unauthenticated: by name, a scanner's each made a series per route.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OTHER_METHOD = "other"
# A receiver answers in milliseconds, or not within the attempt timeout (5 s by default).
_ATTEMPT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class ServiceMetrics:
    def __init__(self) -> None:
        self._readings = Readings()
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)  # process_*: CPU, memory, start time
        self.requests = Counter(
            "producersync_http_requests",
            "HTTP requests answered, by method, route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "producersync_http_request_duration_seconds",
            "Time to answer an HTTP request, by route template.",
            ["route"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.attempts = Counter(
            "producersync_webhook_attempts",
            "Webhook delivery attempts made by this process, by outcome (succeeded, "
            "failed; deferred: not attempted, held back by the endpoint's rate limit or "
            "handed back, the process stopping or the claim lapsing).",
            ["outcome"],
            registry=self.registry,
        )
        # Present from the start (0) where Redis counts: an alert on its rate needs the
        # series before the first outage.
        self.counted_alone = Counter(
            "producersync_rate_limit_counted_alone",
            "Rate-limit checks this process counted in its own memory, Redis (its "
            "PRODUCERSYNC_RATE_LIMIT_STORAGE) being unavailable, by limits: api (API and "
            "token requests) and endpoints (webhook attempts to a rate-limited endpoint). "
            "Meanwhile N processes allow N times a limit.",
            ["limits"],
            registry=self.registry,
        )
        self.pruned = Counter(
            "producersync_pruned",
            "Rows this process let go past their retention, by what: payloads and responses "
            "(expired), jobs and job_items (deleted).",
            ["what"],
            registry=self.registry,
        )
        self.attempt_seconds = Histogram(
            "producersync_webhook_attempt_duration_seconds",
            "Time from sending a webhook delivery attempt to its answer (or to the attempt "
            "timeout), by outcome (succeeded, failed).",
            ["outcome"],
            buckets=_ATTEMPT_BUCKETS,
            registry=self.registry,
        )
        # Its gauge and counter beside the others; /healthz reads which tasks fail.
        self.liveness = Liveness(self.registry)

    def watch(self, engine: sa.Engine) -> None:
        """Add the gauges read from the store (once the process has opened it)."""

        def store_read(query: Callable[[sa.Connection], float]) -> float:
            with engine.connect() as conn:
                return float(query(conn))

        Gauge(
            "producersync_webhook_deliveries_pending",
            "Deliveries not yet succeeded or given up (due now or retrying later).",
            registry=self.registry,
        ).set_function(self._readings.gauge(lambda: store_read(count_pending)))
        Gauge(
            "producersync_subscription_jobs_queued",
            "Subscription jobs accepted and not yet applied.",
            registry=self.registry,
        ).set_function(self._readings.gauge(lambda: store_read(count_queued)))
        # Whether the day was run: the run's INFO line is one process's, and the sync's
        # metrics are each client's, which the operator of the service may not see.
        Gauge(
            "producersync_nipr_last_run_date_timestamp_seconds",
            "The latest day a NIPR run applied (scheduled or by hand), as Unix time at "
            "00:00 UTC (0: none yet).",
            registry=self.registry,
        ).set_function(self._readings.gauge(lambda: store_read(_last_run_date)))

    async def endpoint(self, _request: Request) -> Response:
        """``GET /metrics``."""
        body = await anyio.to_thread.run_sync(self.render)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    def render(self) -> bytes:
        """The exposition text; reads the store (the gauges), so call it off the loop."""
        return generate_latest(self.registry)


def _last_run_date(conn: sa.Connection) -> float:
    return day_timestamp(latest_run_date(conn))


class RequestMetrics:
    """Pure ASGI: counts and times every HTTP request under its route template (the path
    with its parameters as written in the route), so ids never become labels; the
    method is the request's as it came (a HEAD runs as a GET further in), ``other``
    for one the API has no use for."""

    def __init__(self, app: ASGIApp, metrics: ServiceMetrics) -> None:
        self.app, self.metrics = app, metrics
        self._templates = RouteTemplates()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method = scope["method"] if scope["method"] in _METHODS else OTHER_METHOD
        root_path, app = scope.get("root_path", ""), scope["app"]
        started = time.perf_counter()
        status = 500  # what the client gets if the app fails before answering

        async def send_counted(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_counted)
        finally:
            elapsed = time.perf_counter() - started
            route = self._templates.of(app, scope, root_path)
            self.metrics.requests.labels(method, route, str(status)).inc()
            self.metrics.latency.labels(route).observe(elapsed)
