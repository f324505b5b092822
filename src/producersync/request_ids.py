"""Request ids: the one a request is answered under (``x-request-id``), and the log lines
made while it is handled, which carry it.

A client's own id is kept only if it is a sane token (``REQUEST_ID_PATTERN``): up to
128 characters of letters, digits and ``. _ ~ : @ + / = -`` (a UUID, a ULID, base64, a
proxy's own id). Anything else (a line break, a quote, a space, a kilobyte) gets a fresh
id, never echoed into the logs or the answer. The log lines of a request carry the id
(``RequestIdFilter`` on the handler): the text format ends the message with
``request_id=...``, the JSON format has a ``request_id`` field. ``RequestIds`` gives
each request its id and sends it on every answer, in every app that serves HTTP (the
service's API and portal, its worker, the sync receiver). Imported by the log
configuration of every process, so it imports nothing heavy (Starlette's types only
when type-checking).
"""

from __future__ import annotations

import logging
import re
import secrets
import time
from collections.abc import Callable
from contextvars import ContextVar
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from starlette.applications import Starlette
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "REQUEST_ID_HEADER",
    "REQUEST_ID_PATTERN",
    "Answered",
    "RequestIdFilter",
    "RequestIds",
    "current_request_id",
    "identify_requests",
    "new_request_id",
    "request_id_given",
]

REQUEST_ID_HEADER: Final = "x-request-id"
_HEADER: Final = REQUEST_ID_HEADER.encode()
REQUEST_ID_PATTERN: Final = re.compile(r"[A-Za-z0-9._~:@+/=-]{1,128}")

current_request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
"""The id of the request being handled, in its task (and the threads it hands work to)."""


def new_request_id() -> str:
    """A fresh id: ``req_`` and 24 hex digits (96 random bits)."""
    return "req_" + secrets.token_hex(12)


def request_id_given(values: list[bytes]) -> str | None:
    """The client's id, from the values of its ``x-request-id`` headers: one, and sane;
    else None (none, two, or one that is not a sane token)."""
    if len(values) != 1:
        return None
    text = values[0].decode("latin-1")
    return text if REQUEST_ID_PATTERN.fullmatch(text) else None


class RequestIdFilter(logging.Filter):
    """Gives each record made while a request is handled that request's id
    (``record.request_id``), unless the record names one itself. On the handler, so that
    every logger's records pass it, uvicorn's and the libraries' too."""

    def filter(self, record: logging.LogRecord) -> bool:
        request_id = current_request_id.get()
        if request_id is not None and not hasattr(record, "request_id"):
            record.request_id = request_id
        return True


Answered = Callable[["Scope", int | None, float, str], None]
"""Told of each request once it is answered: its scope, the status sent (None: none was,
the client went away), its seconds and its id (the service's access log)."""


class RequestIds:
    """Pure ASGI: the request's id set for its log lines and sent on its answer; each
    answer told to ``answered``, if given."""

    def __init__(self, app: ASGIApp, *, answered: Answered | None = None) -> None:
        self.app, self.answered = app, answered

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
            if self.answered is not None:
                self.answered(scope, status, time.perf_counter() - started, request_id)
        # Not reset when the app raised: the server's report of the exception (uvicorn's
        # "Exception in ASGI application" and its traceback), made after, in the same
        # task, carries the id too. Each request is a task of its own under uvicorn.
        current_request_id.reset(token)


def identify_requests(app: Starlette, *, answered: Answered | None = None) -> None:
    """``RequestIds`` around ``app``'s whole stack: outside Starlette's own 500 answer
    (a middleware added to the app sits inside it, and that 500 went out without an id)
    and the app's other middleware (a 503 of ``RetryShortly``)."""
    build = app.build_middleware_stack

    def built() -> ASGIApp:
        return RequestIds(build(), answered=answered)

    app.build_middleware_stack = built  # type: ignore[method-assign]
