"""Chaos: injected latency and faults on the API, for anyone testing an integration.

Off by default; ``create_app`` installs it only when ``chaos_latency_ms`` or
``chaos_fault_rate`` is set. It sits outside the API gate so that the latency lands on
every ``/v1`` and ``/v2`` response, the gate's own 401s and 429s included. A request
picked for a fault still goes through a gate first, so a bad token keeps its truthful 401
and a throttled client its truthful 429. Only a request the gate admits (and counts) gets
a fault, and the fault takes the route's place: a faulted request never changes state.
"""

from __future__ import annotations

import random
from typing import Literal

import anyio
from starlette.types import ASGIApp, Receive, Scope, Send

from producersync.service.context import ServiceContext
from producersync.service.errors import error_response
from producersync.service.gate import API_PREFIXES, ApiGate
from producersync.service.served_under import route_path

__all__ = ["FAULTS", "RETRY_AFTER_SECONDS", "Chaos", "Fault"]

Fault = Literal["500", "429", "drop"]
FAULTS: tuple[Fault, ...] = ("500", "429", "drop")
RETRY_AFTER_SECONDS = 1  # short, so that clients under test retry quickly
_INJECTED = "(injected by PRODUCERSYNC_CHAOS_FAULT_RATE)"
# A header name no HTTP/1.1 serialiser accepts (spaces are not token characters).
_UNSENDABLE = [(b"producersync chaos drop", b"")]


class Chaos:
    def __init__(
        self,
        app: ASGIApp,
        *,
        latency_ms: float = 0,
        fault_rate: float = 0,
        seed: int | None = None,
    ) -> None:
        if not latency_ms >= 0:
            raise ValueError(f"latency_ms must be >= 0, not {latency_ms}")
        if not 0 <= fault_rate <= 1:
            raise ValueError(f"fault_rate must be in [0, 1], not {fault_rate}")
        self.app = app
        self.latency_seconds = latency_ms / 1000
        self.fault_rate = fault_rate
        self._random = random.Random(seed)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not route_path(scope).startswith(API_PREFIXES):
            await self.app(scope, receive, send)
            return
        if self.latency_seconds:
            await anyio.sleep(self.latency_seconds)
        if self.fault_rate and self._random.random() < self.fault_rate:
            await self._inject(self._random.choice(FAULTS), scope, receive, send)
            return
        await self.app(scope, receive, send)

    async def _inject(self, fault: Fault, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"]

        async def instead_of_the_route(scope: Scope, receive: Receive, gated: Send) -> None:
            if fault == "500":
                # Through the gate's send: rate-limit headers like any admitted request.
                message = f"Internal error {_INJECTED}"
                await error_response(500, message, path)(scope, receive, gated)
            elif fault == "429":
                # Straight to the server: the gate would stamp its real counts over these.
                ctx: ServiceContext = scope["app"].state.context
                limit = ctx.api_limiter.limit
                headers = {
                    "retry-after": str(RETRY_AFTER_SECONDS),
                    "ratelimit-limit": str(limit),
                    "ratelimit-remaining": "0",
                    "ratelimit-reset": str(RETRY_AFTER_SECONDS),
                }
                message = (
                    f"Rate limit of {limit} requests per minute exceeded; "
                    f"retry in {RETRY_AFTER_SECONDS} s {_INJECTED}"
                )
                await error_response(429, message, path, headers)(scope, receive, send)
            else:
                await _drop_connection(send)

        await ApiGate(instead_of_the_route)(scope, receive, send)


async def _drop_connection(send: Send) -> None:
    """Close the connection without sending a byte of response.

    ASGI has no message for this, and an app that returns without responding gets a 500
    from uvicorn. But uvicorn (h11 and httptools alike) marks the response started before
    it serialises the status line and headers, and refuses an invalid header name before
    writing anything. Once we return, it finds a response started and not completed, logs
    "ASGI callable returned without completing response." and closes the transport: the
    client reads EOF where a response should be. A server that did write the header block
    gets an exception instead, and aborts the response it can never complete.
    """
    try:
        await send({"type": "http.response.start", "status": 500, "headers": _UNSENDABLE})
    except Exception:
        return
    raise RuntimeError("chaos: dropped connection")
