"""``503 Service Unavailable`` with ``Retry-After``, in the app's own body, to a request a
process cannot answer for now: one that a stopping process cut, and (where the app asks)
one that found its database out of reach.

uvicorn cancels what a stop's grace period left unanswered (a body sent slowly, a request
stuck on the database) and answered it with a plain-text 500, a bug to the client where
it is a restart: the other processes, or this one started again, answer it. A client of
the API and a webhook sender alike wait out a 503's ``Retry-After`` and try again, where
they give up on a 500 sooner. Used by the service (its standard error body) and by the
sync receiver (its own), neither of which imports the other.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Final

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from producersync.db_outage import OutageLog, unavailable

__all__ = ["RETRY_AFTER", "RETRY_AFTER_SECONDS", "Answer", "RetryShortly"]

RETRY_AFTER_SECONDS: Final = 5  # a restart's usual length; clients retry sooner than on a 500
RETRY_AFTER: Final[Mapping[str, str]] = {"retry-after": str(RETRY_AFTER_SECONDS)}

Answer = Callable[[str], Response]
"""The app's 503 for a request's path, ``RETRY_AFTER`` among its headers."""


class RetryShortly:
    """Pure ASGI: a request cut by the process's stop, or (given ``outage``) one that met
    the database unavailable, before its response started, is answered ``answer``'s
    503. Any other error is left to the app's 500."""

    def __init__(self, app: ASGIApp, answer: Answer, outage: OutageLog | None = None) -> None:
        self.app, self._answer, self._outage = app, answer, outage

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
            if not started:
                await self._answer(scope["path"])(scope, receive, send)
            raise  # uvicorn's report of it is one line (``shutdown_filter``)
        except Exception as exc:
            if started or self._outage is None or not unavailable(exc):
                raise
            self._outage.failed(exc, "answering 503")
            await self._answer(scope["path"])(scope, receive, send)
