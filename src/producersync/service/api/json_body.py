"""JSON request bodies read by orjson, as RFC 8259 writes JSON, as the subscription lists
are read.

FastAPI reads a body model's JSON with the standard library, which takes what is no JSON:
``NaN`` and ``Infinity`` (a ``rateLimitPerSecond`` of ``NaN`` was refused as ``'null'``,
the value it then showed), numbers past a double (``1e400`` read as infinity), and a lone
surrogate (``"\\ud800"``, a 500: the error body that showed it could not be written as
UTF-8); and which gives up on bytes that are not UTF-8 or on a 5,000-digit number with no
word of why (``There was an error parsing the body``). orjson refuses each with the reason
and the character. Its error is a ``json.JSONDecodeError``, which FastAPI turns into a
validation error: a 400 that says the body is not valid JSON, why and where.

A body of another content type reached the model as bytes, and its refusal named the
JSON object the client had sent as not one (``Input should be a valid dictionary``): it
is a 400 that names the content type instead. The subscription lists, read without a
body model, are held to the same content types by ``refuse_other_content_types``.
"""

from __future__ import annotations

import email.message
import json
from collections import Counter
from collections.abc import Callable, Coroutine
from typing import Any

import orjson
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from producersync.service.api.spec_responses import SharedResponsesRoute
from producersync.service.errors import ApiError, shown

__all__ = ["JsonBodyRoute", "refuse_other_content_types"]


class _JsonRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            value = orjson.loads(body)
            self._json = _names_once(body, value) if isinstance(value, dict) else value
        return self._json


def _names_once(body: bytes, value: Any) -> Any:
    """The object, read again by Python's json; a 400 if it names a field twice.

    orjson, like most parsers, keeps the last value: {"url": A, "url": B} would save B
    without a word, as a query parameter given twice would be answered for its last
    value. orjson tells no repeats, so Python's json reads the body again (at most 64 KiB,
    and valid JSON by now) to list each object's names. Its reading is the one kept: an
    integer past 64 bits is orjson's float (99999999999999999999999 refused as '1e+23',
    "exceeded maximum size"), Python's the number as written."""

    def unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        twice = [name for name, count in Counter(name for name, _ in pairs).items() if count > 1]
        if twice:
            # An HTTPException, which FastAPI passes on from a body's parsing (it turns
            # anything else into "There was an error parsing the body").
            names = ", ".join(shown(name) for name in twice)
            raise HTTPException(400, f"The body gives {names} more than once; give it once")
        return dict(pairs)

    # Nested deeper than Python's json reads (orjson reads 1,024 levels): no field of the
    # API's bodies nests, so the model refuses the value, naming it.
    try:
        return json.loads(body, object_pairs_hook=unique)
    except RecursionError:
        return value


def _is_json(content_type: str) -> bool:
    # As FastAPI tells JSON from the rest: application/json or application/*+json.
    message = email.message.Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json")
    )


class JsonBodyRoute(SharedResponsesRoute):
    """A route whose body model is read from JSON by orjson, and from JSON only."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        if self.body_field is None:
            return handler

        async def read_as_json(request: Request) -> Response:
            request = _JsonRequest(request.scope, request.receive)
            await refuse_other_content_types(request)
            return await handler(request)

        return read_as_json


async def refuse_other_content_types(request: Request) -> None:
    """A 400 naming the content type, for a body sent as another than JSON (or as none);
    the body read is kept on the request."""
    content_type = request.headers.get("content-type", "")
    if not _is_json(content_type) and await _has_body(request):
        raise ApiError(
            400,
            "The body must be JSON, sent as content-type application/json, "
            f"not {shown(content_type or 'none')}",
        )


async def _has_body(request: Request) -> bool:
    try:
        return bool(await request.body())  # kept on the request for the handler
    except ClientDisconnect:
        return False  # the handler meets it too, and answers it as FastAPI does
