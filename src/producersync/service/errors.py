"""The standard error body, and the handlers that give it to every error.

``{"timestamp": <epoch ms>, "status": 400, "error": "Bad Request", "message": "...",
"path": "/v2/licenses"}`` — for our own errors, unknown paths (404), wrong methods (405)
and request validation (400 naming the parameter and the bad value, never FastAPI's 422).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from http import HTTPStatus
from itertools import islice
from typing import Any

import orjson
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel
from starlette.applications import Starlette
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.routing import Match, Mount

from producersync.echo import PATH_SHOWN, cut
from producersync.model.validation import reason
from producersync.service.served_under import after_root
from producersync.url_userinfo import masked

__all__ = [
    "INTERNAL_ERROR",
    "ApiError",
    "ErrorBody",
    "OwnBody",
    "PathBodies",
    "allowed_methods",
    "error_response",
    "install_error_handlers",
    "shown",
    "validation_message",
]


INTERNAL_ERROR = "Internal error; it has been logged"
"""A 500's message: the traceback goes to the log, never to the client."""


class ErrorBody(BaseModel):
    """The standard error body of every ProducerSync error response."""

    timestamp: int
    status: int
    error: str
    message: str
    path: str


class ApiError(Exception):
    """An error that the API answers with the standard body."""

    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})

    @classmethod
    def bad_parameter(
        cls, name: str, value: object, why: str, *, noun: str = "parameter"
    ) -> ApiError:
        """A 400 worded as pydantic's refusals are (``validation_message``): ``noun`` is
        ``path parameter`` for a value in the path."""
        return cls(400, f"Invalid value {shown(value)} for {noun} '{name}': {why}")


_SHOWN = 100
"""Characters of a refused value that a message shows."""

_MESSAGE_MOST = 4000
"""Characters of a message: ten refusals, each value cut to ``_SHOWN``, fit well within."""


def shown(value: object, most: int = _SHOWN) -> str:
    """``value`` quoted as the client wrote it, cut to ``most`` characters: JSON's true,
    null or ["a"], not Python's True, None or ['a']. The user and password of a URL in it
    are ``***``: a webhook URL refused for a space or its length was echoed with them."""
    if isinstance(value, str):
        text = value
    elif isinstance(value, bytes):
        text = value.decode("utf-8", "replace")
    else:
        clipped = _clipped(value, most)
        try:
            text = orjson.dumps(clipped, default=str).decode()
        except TypeError:  # an integer past 64 bits, which orjson does not write
            text = json.dumps(clipped, default=str, ensure_ascii=False, separators=(",", ":"))
    # Masked before the cut, which could leave a password without its "@".
    return f"'{cut(masked(text), most)}'"


def _clipped(value: object, most: int) -> object:
    """``value`` cut to what ``most`` characters can show: at most that many items and
    levels. orjson writes no more than 254 levels: a body nested 900 deep, which it reads
    (up to 1,024), was a 500 when its value was shown."""
    if most <= 0:
        return "…"
    if isinstance(value, list | tuple):
        return [_clipped(item, most - 1) for item in value[:most]]
    if isinstance(value, dict):
        return {key: _clipped(item, most - 1) for key, item in islice(value.items(), most)}
    return value


def error_response(
    status: int, message: str, path: str, headers: Mapping[str, str] | None = None
) -> Response:
    """The standard body; the path and the message cut short (``cut``), whoever built them."""
    body = {
        "timestamp": int(time.time() * 1000),
        "status": status,
        "error": HTTPStatus(status).phrase,
        "message": cut(message, _MESSAGE_MOST),
        "path": cut(path, PATH_SHOWN),
    }
    return Response(
        orjson.dumps(body),
        status_code=status,
        media_type="application/json",
        headers=dict(headers or {}),
    )


_LISTED = 10
"""Refusals a message lists. A body holds thousands: 30,000 numbers where event types go
(60 KB) made a 2.4 MB message, one refusal each."""


def validation_message(exc: RequestValidationError) -> str:
    """Each refused parameter or field, by name, with the value given and why; past
    ``_LISTED`` of them, how many more."""
    parts = []
    errors = exc.errors()
    for err in errors[:_LISTED]:
        if err.get("type") == "json_invalid":
            # loc is ("body", <character offset>): not a field.
            where = err.get("loc", ("body", "?"))[-1]
            why = err.get("ctx", {}).get("error", "invalid JSON")
            parts.append(f"The request body is not valid JSON ({why} at character {where})")
            continue
        if err.get("type") == "missing" and tuple(err.get("loc", ())) == ("body",):
            # No field of the client's is missing, the whole body is: FastAPI's location,
            # ("body",), would read as a field 'body'. Every body model of the API is an object.
            parts.append("The request body is missing: send a JSON object")
            continue
        loc = [str(p) for p in err.get("loc", ()) if p not in ("query", "path", "body", "header")]
        where = cut(".".join(loc), _SHOWN) or "body"  # a body's key is the client's too
        kind = err.get("loc", ("",))[0]
        noun = {"query": "parameter", "path": "path parameter", "header": "header"}.get(
            str(kind), "field"
        )
        detail = reason(err)
        if "input" in err and err.get("type") != "missing":
            parts.append(f"Invalid value {shown(err['input'])} for {noun} '{where}': {detail}")
        else:
            parts.append(f"Missing {noun} '{where}': {detail}")
    if len(errors) > _LISTED:
        parts.append(f"and {len(errors) - _LISTED} more")
    return "; ".join(parts) or "Invalid request"


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def allowed_methods(request: Request) -> str:
    """A 405's ``Allow``: every method a route of the request's app serves on its path.
    The router's 405 names the methods of the first route it found there alone: ``allow:
    POST`` on ``/v1/accounts/subscriptions``, which serves GET, PUT and DELETE as well
    (``GET`` alone on the portal's forms, which take POST); and never HEAD, which
    ``head.py`` serves wherever GET is."""
    routes = [route for route in request.app.router.routes if not isinstance(route, Mount)]
    allowed = {
        method
        for method in _METHODS
        for route in routes
        if route.matches({**request.scope, "method": method})[0] is Match.FULL
    }
    if "GET" in allowed:
        allowed.add("HEAD")
    return ", ".join(method for method in _METHODS if method in allowed)


OwnBody = Callable[[int, str, Mapping[str, str]], Response]
"""A path's own answer to an error no route of it made (status, message, headers): the
router's refusal, a 500, a 503; the token endpoint's, in RFC 6749's body."""


class PathBodies:
    """An error's answer on a path: a path of ``own_bodies`` (after ``root``, the path
    prefix the app serves under) in that path's own body, any other in the standard body,
    which names the full path."""

    def __init__(self, own_bodies: Mapping[str, OwnBody] | None = None, root: str = "") -> None:
        self._own, self._root = dict(own_bodies or {}), root

    def __call__(
        self, status: int, message: str, path: str, headers: Mapping[str, str] | None = None
    ) -> Response:
        # Every caller has the full path: under a prefix, the token endpoint's 405s, 500s,
        # 503s and Host refusals were looked up by it, and had the standard body.
        own = self._own.get(after_root(path, self._root))
        if own is not None:
            return own(status, message, dict(headers or {}))
        return error_response(status, message, path, headers)


def install_error_handlers(app: Starlette, bodies: PathBodies | None = None) -> None:
    """The standard body for every error of ``app``: the API's, or the worker's (which
    serves only ``/healthz`` and ``/metrics``); the router's refusals and a 500 in
    ``bodies``', a path's own where it has one."""
    answer = bodies or PathBodies()

    async def api_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        return error_response(exc.status, exc.message, request.url.path, exc.headers)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        status = exc.status_code
        message = str(exc.detail) if exc.detail else HTTPStatus(status).phrase
        path = cut(request.url.path, PATH_SHOWN)
        if status == 404 and message == "Not Found":
            message = f"No such resource: {request.method} {path}"
        headers: dict[str, Any] = dict(exc.headers or {})
        if status == 405:
            message = f"Method {request.method} is not allowed on {path}"
            headers = {k: v for k, v in headers.items() if k.lower() != "allow"}
            headers["allow"] = allowed_methods(request)
        return answer(status, message, request.url.path, headers)

    async def validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        return error_response(400, validation_message(exc), request.url.path)

    async def unexpected(request: Request, exc: Exception) -> Response:
        # Starlette logs the traceback; the client gets the standard body, no internals.
        return answer(500, INTERNAL_ERROR, request.url.path)

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(Exception, unexpected)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
