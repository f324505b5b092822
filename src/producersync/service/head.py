"""HEAD answered wherever GET is, without the body.

Spring, which the public API runs on, serves HEAD for every GET mapping, and Starlette's
own routes do; FastAPI's routes know only the methods they declare, so an uptime probe's
``HEAD /healthz`` or a link checker's ``HEAD`` of a portal page got a 405. A HEAD goes
through as a GET, rate limit and authentication included, and leaves with the GET's status
and headers (its ``content-length`` too, as RFC 9110 §9.3.2 allows) and no body.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["HeadAsGet"]


class HeadAsGet:
    """Pure ASGI: a HEAD request runs as a GET whose body is dropped."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def headers_only(message: Message) -> None:
            if message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        # A copy (the server reads the method on its own scope to send no body), whose
        # route, once picked, is named on the request's own scope for the metrics outside.
        as_get = {**scope, "method": "GET"}
        try:
            await self.app(as_get, receive, headers_only)
        finally:
            scope.update({k: as_get[k] for k in ("route", "root_path") if k in as_get})
