"""Each request's id (``x-request-id`` on every answer) and, when asked for, its access-log
line.

A customer reporting a failure could point at no request (the SDK's errors read
``x-request-id``, and ours sent none), and the logs could not be searched by one. Every
answer of the service now carries the request's id: the client's own ``x-request-id`` if
it is a sane token (``request_ids``), else a fresh ``req_...``. The lines logged while the
request is handled carry it (a 500's traceback, an outage's line), and with
``PRODUCERSYNC_ACCESS_LOG`` (``--access-log``) so does one line per request::

    ... INFO producersync.service.access: GET /v2/licenses/9 404 3.1 ms request_id=req_...

The path is as sent, without the query (a portal sign-in link holds its token there, an
NPN filter a thousand numbers); in JSON the line has ``method``, ``path``, ``status`` and
``duration_ms`` too.

Wrapped around the whole app (``identify_requests``), Starlette's own 500 answer included:
a middleware added to the app sits inside it, and that 500 went out without the id.
"""

from __future__ import annotations

import logging
import time
from urllib.parse import quote_from_bytes

from starlette.applications import Starlette
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from producersync.echo import PATH_SHOWN, cut
from producersync.request_ids import (
    REQUEST_ID_HEADER,
    current_request_id,
    new_request_id,
    request_id_given,
)

__all__ = ["RequestIds", "identify_requests"]

log = logging.getLogger(__name__)

_HEADER = REQUEST_ID_HEADER.encode()
# Kept as sent: the path's own characters and its escapes; anything else escaped, so that
# a line is one line whatever the path held.
_PATH_SAFE = "/:@!$&'()*+,;=-._~%"


class RequestIds:
    """Pure ASGI: the request's id set for its log lines and sent on its answer; with
    ``access_log``, a line once it is answered."""

    def __init__(self, app: ASGIApp, *, access_log: bool = False) -> None:
        self.app, self.access_log = app, access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = [value for name, value in scope["headers"] if name == _HEADER]
        request_id = request_id_given(given) or new_request_id()
        token = current_request_id.set(request_id)
        started = time.perf_counter()
        status: int | None = None

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != _HEADER]
                message = {**message, "headers": [*headers, (_HEADER, request_id.encode())]}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            if self.access_log:
                self._log(scope, status, time.perf_counter() - started, request_id)
        # Not reset when the app raised: the server's report of the exception (uvicorn's
        # "Exception in ASGI application" and its traceback), made after, in the same
        # task, carries the id too. Each request is a task of its own under uvicorn.
        current_request_id.reset(token)

    def _log(self, scope: Scope, status: int | None, seconds: float, request_id: str) -> None:
        raw: bytes = scope.get("raw_path") or scope["path"].encode()
        path = cut(quote_from_bytes(raw, safe=_PATH_SAFE), PATH_SHOWN)
        ms = round(seconds * 1000, 1)
        log.info(
            "%s %s %s %.1f ms",
            scope["method"],
            path,
            status or "-",  # none sent: the connection was dropped, or the client left
            ms,
            extra={
                "method": scope["method"],
                "path": path,
                "status": status,
                "duration_ms": ms,
                "request_id": request_id,
            },
        )


def identify_requests(app: Starlette, *, access_log: bool = False) -> None:
    """``RequestIds`` around ``app``'s whole stack, outside Starlette's own 500 answer."""
    build = app.build_middleware_stack

    def built() -> ASGIApp:
        return RequestIds(build(), access_log=access_log)

    app.build_middleware_stack = built  # type: ignore[method-assign]
