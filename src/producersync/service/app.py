"""The ProducerSync service as an ASGI app: ``create_app(settings) -> FastAPI``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Literal

import anyio.to_thread
from fastapi import FastAPI
from pydantic import BaseModel
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.types import ASGIApp

from producersync import __version__
from producersync.executors import ExecutorLock
from producersync.gc_tuning import tune_gc
from producersync.host_header import OneHost
from producersync.service.access import identify_requests
from producersync.service.api import subscriptions, v1, v2, webhooks
from producersync.service.api.body_headers import BodyHeaders
from producersync.service.api.body_limit import MAX_BODY_BYTES, BodyLimit
from producersync.service.api.cursor import CursorCodec
from producersync.service.api.query_string import OneValueEach
from producersync.service.api.stray_params import QueryParameters
from producersync.service.api_docs import install_docs
from producersync.service.auth import token_endpoint
from producersync.service.auth.tokens import TokenCodec
from producersync.service.background import Background
from producersync.service.chaos import Chaos
from producersync.service.context import Revocations, ServiceContext
from producersync.service.encoded_slash import EncodedSlash
from producersync.service.errors import PathBodies, install_error_handlers
from producersync.service.gate import API_PREFIXES, ApiGate
from producersync.service.head import HeadAsGet
from producersync.service.idempotency import Idempotency
from producersync.service.metrics import RequestMetrics, ServiceMetrics
from producersync.service.openapi_spec import BuiltInThread, openapi
from producersync.service.portal.app import create_portal
from producersync.service.ratelimit import RateLimiter, moving_window
from producersync.service.served_routes import serve
from producersync.service.served_under import ServedUnder, prefix_of
from producersync.service.settings import ServiceSettings
from producersync.service.store.keys import load_or_create_key
from producersync.service.store.open import open_store
from producersync.service.supervised import Unhealthy, unhealthy
from producersync.service.unavailable import StoreUnavailable

__all__ = ["create_app"]

_DESCRIPTION = """\
ProducerSync: U.S. insurance-producer compliance data (licenses, lines of authority,
appointments, addresses, regulatory actions) for the NPNs an account monitors, refreshed
daily from NIPR. Authenticate with `POST /oauth2/token` (client credentials), then call
the API with `Authorization: Bearer <token>`. An error of `/v1` and `/v2` has the
standard body `{timestamp, status, error, message, path}`; one of the token endpoint,
RFC 6749's `{error, error_description}`; `/healthz`'s `503` (a background task of the
process failing), `{status, failing}`. An API response carries `ratelimit-limit`,
`ratelimit-remaining` and `ratelimit-reset` once the client is known: a `401` and a
`503` do not (each response below declares the headers it carries). `HEAD` is served
wherever `GET` is (the `GET`'s status and headers, no body) and is listed as no
operation of its own. A method a path does not serve is a `405` in the path's error
body, with `Allow` naming every method the path serves (`HEAD` wherever `GET`); it is
declared on no operation, which a client calls by its own method.
"""

_PORTAL = "/portal"


def _build_context(settings: ServiceSettings, metrics: ServiceMetrics) -> ServiceContext:
    engine = open_store(settings.database_url, settings.database_pool_size)
    key = (
        settings.token_signing_key.get_secret_value().encode()
        if settings.token_signing_key
        else load_or_create_key(engine, "token-signing")
    )
    # One window for both: else a Redis outage is told once by each limiter.
    window = moving_window(
        settings.rate_limit_storage, "rate limits", metrics.counted_alone.labels("api").inc
    )
    return ServiceContext(
        settings=settings,
        engine=engine,
        tokens=TokenCodec(key, settings.token_ttl_seconds),
        cursors=CursorCodec(key),
        api_limiter=RateLimiter(window, "api", settings.api_rate_limit_per_minute),
        token_limiter=RateLimiter(window, "token", settings.token_rate_limit_per_minute),
        token_failure_limiter=RateLimiter(
            window, "token-failed", settings.token_failure_limit_per_minute
        ),
        revocations=Revocations(engine, settings.token_ttl_seconds),
    )


class Health(BaseModel):
    status: Literal["ok"]


def create_app(
    settings: ServiceSettings | None = None, lock: ExecutorLock | None = None
) -> FastAPI:
    """``lock``: the executor lock the command took (``DurableRuntime``)."""
    settings = settings or ServiceSettings()
    portal = create_portal()
    metrics = ServiceMetrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        ctx = await anyio.to_thread.run_sync(_build_context, settings, metrics)
        # Told as the process starts (the outage's WARNING), not at its first request.
        await ctx.api_limiter.reach()
        background = Background(ctx.engine, settings, metrics, lock)
        ctx.published = background.published
        app.state.context = ctx
        portal.state.context = ctx
        app.state.job_worker = background.jobs
        tune_gc()
        background.start()
        try:
            yield
        finally:
            await background.stop()
            ctx.engine.dispose()

    app = FastAPI(
        title="ProducerSync API",
        version=__version__,
        description=_DESCRIPTION,
        lifespan=lifespan,
        # A path with a slash more is no resource of the API: the router answered it with
        # a 307 to an absolute URL built on the Host header, which any client sets
        # (PRODUCERSYNC_PUBLIC_URL aside, and http behind a TLS proxy). Now a 404.
        redirect_slashes=False,
        # Served by install_docs, from the package rather than a CDN.
        docs_url=None,
        redoc_url=None,
    )
    # The token endpoint answers in RFC 6749's body, its errors that no route makes too.
    bodies = PathBodies(
        {token_endpoint.PATH: token_endpoint.refusal}, root=prefix_of(settings.public_url)
    )
    install_error_handlers(app, bodies)
    app.add_middleware(BuiltInThread, api=app)
    # Inside the gate, whose principal names the account a key belongs to, and inside the
    # body limit: a body is read whole (to tell a retry from another request) only once
    # it is known to be small enough.
    app.add_middleware(Idempotency)
    body_paths = (*API_PREFIXES, token_endpoint.PATH, f"{_PORTAL}/")
    # Outside the idempotency keys, which read a body whole, and inside the body limit: a
    # body's headers are checked as it is first read, whoever reads it.
    app.add_middleware(BodyHeaders, prefixes=body_paths)
    # Inside the gate: a client is authenticated (and counted) before its query or its
    # body is read. The portal's forms too: FastAPI reads a form before the route's
    # session check, so an uncapped one would be buffered whole for anyone who sent it.
    app.add_middleware(
        BodyLimit,
        prefixes=body_paths,
        default=MAX_BODY_BYTES,
        by_prefix={subscriptions.PATH: subscriptions.MAX_BODY_BYTES},
    )
    app.add_middleware(OneValueEach)
    app.add_middleware(ApiGate)
    if settings.chaos_latency_ms or settings.chaos_fault_rate:
        # Added last, so outermost: the latency lands on every API response, the gate's
        # own 401s and 429s included. Faults are for admitted requests only: Chaos sends a
        # request it picks through a gate of its own, so a bad token or a throttled client
        # still gets the gate's truthful answer, and the fault replaces the route (no state
        # change) instead of following it.
        app.add_middleware(
            Chaos,
            latency_ms=settings.chaos_latency_ms,
            fault_rate=settings.chaos_fault_rate,
            seed=settings.chaos_seed,
        )
    # Outside the gate, which reads revocations from the store; inside the metrics, so
    # that the 503s are counted as such.
    app.add_middleware(StoreUnavailable, bodies=bodies)
    # Outside the gate, which need not authenticate a request no host was named for;
    # inside the HEAD's, which drops the refusal's body.
    app.add_middleware(OneHost, refusal=bodies)
    # Outside the gate, so that a HEAD is authenticated and counted as its GET; inside
    # the metrics, which count it as the HEAD it was.
    app.add_middleware(HeadAsGet)
    # Outermost: every answer is counted, the gate's and the chaos middleware's included.
    app.add_middleware(RequestMetrics, metrics=metrics)
    # Outside even the metrics, which answer nothing of their own: every layer, the gate's
    # choice of API paths and the metrics' route templates included, reads the same path.
    app.add_middleware(EncodedSlash)
    serve(
        app,
        token_endpoint.router,
        subscriptions.router,
        v2.router,
        v1.router,
        webhooks.router,
    )
    # Read by each API route's refuse_strays: what every operation of the API takes.
    app.state.query_parameters = QueryParameters(app.routes)
    # A sub-application, not a router: its pages, its session sign-in and its HTML error
    # pages stay apart from the API (the gate covers only /v1 and /v2), and out of the spec.
    app.mount(_PORTAL, portal)
    # The portal's one address without its slash, sent on by a path (the portal's own
    # redirects are paths too), not by a URL built on the Host header.
    app.add_route(
        _PORTAL,
        lambda request: RedirectResponse(f"{request.scope.get('root_path', '')}{_PORTAL}/"),
        include_in_schema=False,
    )

    install_docs(app)

    # A FastAPI route, which the router names on the request as the metrics count it (a
    # plain Starlette route is left unnamed).
    app.add_api_route("/metrics", metrics.endpoint, methods=["GET"], include_in_schema=False)

    # Named, and its answer typed: FastAPI's own id (healthz_healthz_get) and a free-form
    # map made a generated client's worst-named function and model.
    @app.get(
        "/healthz",
        tags=["Operations"],
        summary="Liveness",
        description=(
            "No token needed; stays 200 while the store is out of reach. 503 while a "
            "background task of the process (the webhook dispatcher) has died of an "
            "unexpected error and not yet run a round since its restart: each such task "
            "named, with since when, the exception's type and its restarts."
        ),
        operation_id="getHealth",
        response_model=Health,
        responses={503: {"model": Unhealthy, "description": "A background task fails."}},
    )
    async def healthz() -> Response:
        return unhealthy(metrics.liveness) or JSONResponse({"status": "ok"})

    app.openapi = lambda: openapi(app, settings.max_subscription_npns)  # type: ignore[method-assign]
    # Around everything, Starlette's own 500 answer too: every answer names its request.
    identify_requests(app, access_log=settings.access_log)
    _serve_under(app, prefix_of(settings.public_url))
    return app


def _serve_under(app: FastAPI, prefix: str) -> None:
    """``ServedUnder`` around ``app``'s whole stack, its request ids' too, if the public
    URL has a path: every layer reads the same path and ``root_path``."""
    if not prefix:
        return
    build = app.build_middleware_stack

    def built() -> ASGIApp:
        return ServedUnder(build(), prefix)

    app.build_middleware_stack = built  # type: ignore[method-assign]
