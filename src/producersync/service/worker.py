"""A worker process: the background work of the service (webhook delivery, subscription
jobs, the daily NIPR schedule) without the API, for deployments that scale delivery apart
from the API processes. It answers only ``GET /healthz`` (for the process supervisor)
and ``GET /metrics`` (Prometheus)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio.to_thread
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from producersync.executors import ExecutorLock
from producersync.gc_tuning import tune_gc
from producersync.host_header import OneHost
from producersync.service.access import identify_requests
from producersync.service.background import Background
from producersync.service.errors import error_response, install_error_handlers
from producersync.service.metrics import ServiceMetrics
from producersync.service.settings import ServiceSettings
from producersync.service.store.open import open_store
from producersync.service.supervised import unhealthy

__all__ = ["create_worker_app"]


def create_worker_app(settings: ServiceSettings, lock: ExecutorLock | None = None) -> Starlette:
    """``lock``: the executor lock the command took (``DurableRuntime``)."""
    metrics = ServiceMetrics()

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        engine = await anyio.to_thread.run_sync(
            open_store, settings.database_url, settings.database_pool_size
        )
        background = Background(engine, settings, metrics, lock)
        tune_gc()
        background.start()
        try:
            yield
        finally:
            await background.stop()
            engine.dispose()

    async def healthz(_request: Request) -> Response:
        failing = unhealthy(metrics.liveness, role="worker")
        return failing or JSONResponse({"status": "ok", "role": "worker"})

    app = Starlette(
        routes=[
            Route("/healthz", healthz, methods=["GET"]),
            Route("/metrics", metrics.endpoint, methods=["GET"]),
        ],
        lifespan=lifespan,
        middleware=[Middleware(OneHost, refusal=error_response)],
    )
    # Else its 404s and 405s are Starlette's plain text, beside bounded_head's standard body.
    install_error_handlers(app)
    identify_requests(app, access_log=settings.access_log)
    return app
