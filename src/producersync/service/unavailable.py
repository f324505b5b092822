"""``503 Service Unavailable`` while the store is out of reach, and to a request that a
stopping process cut.

A PostgreSQL restart, a server down or its connections cut made every request a 500
("Internal error; it has been logged") with a traceback each: a client cannot tell that
from a bug, and the SDK and webhook senders wait out a 503's ``Retry-After`` where they
give up on a 500 sooner. Every request from the token endpoint to the API (the gate
reads revocations from the store too) answers 503 with the standard body instead, and
the log gets a line a minute while it lasts (``db_outage.OutageLog``). Any other error is left to
the 500 handler.
"""

from __future__ import annotations

import asyncio
import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from producersync.db_outage import OutageLog, unavailable
from producersync.service.errors import error_response

__all__ = ["RETRY_AFTER_SECONDS", "StoreUnavailable"]

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5  # a restart's usual length; clients retry sooner than on a 500


class StoreUnavailable:
    """Pure ASGI: a store outage that reaches it before the response has started becomes a
    503 with ``Retry-After``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._outage = OutageLog(log, "API")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, send_tracked)
        except asyncio.CancelledError:
            # uvicorn cancels what a stop's grace period left unanswered (a body sent
            # slowly) and answered it with a plain-text 500, a bug to the client where it
            # is a restart: the other processes, or this one started again, answer it.
            if not started:
                await _retry_shortly(scope, receive, send)
            raise
        except Exception as exc:
            if started or not unavailable(exc):
                raise
            self._outage.failed(exc, "answering 503")
            await _retry_shortly(scope, receive, send)


async def _retry_shortly(scope: Scope, receive: Receive, send: Send) -> None:
    message = "The service is temporarily unavailable; retry shortly"
    headers = {"retry-after": str(RETRY_AFTER_SECONDS)}
    await error_response(503, message, scope["path"], headers)(scope, receive, send)
