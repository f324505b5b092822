"""The headers that say how a request's body is to be read: each given once, and none
that the service cannot honour.

Starlette reads ``Content-Type`` for its first value, in the JSON routes and the token
endpoint alike: a body sent as ``text/plain`` and ``application/json`` would be taken as
whichever came first, where a proxy in front may have read the other (as with
``Authorization`` given twice, which the gate refuses). It reads no ``Content-Encoding``:
a subscription list sent gzipped would be refused as no JSON (``unexpected character``),
a token request as having no ``grant_type``, and a plain body said to be gzipped taken
as sent. No content coding is accepted: every body is small (the largest, a subscription
list, at most 4 MiB), and one to inflate would need a bound of its own on what it
inflates to. ``identity``, which names no coding, is taken.

Each is a ``400`` naming the header and its value, as a query parameter given twice is
(the token endpoint's ``invalid_request``, a portal ``400`` page), and nothing changes.
The check runs as the body is first read, as the body limit's do: a request that sends
no body (a ``GET``) is not refused for a header it does not use.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from producersync.service.errors import ApiError
from producersync.service.served_under import route_path

__all__ = ["BodyHeaders"]

_IDENTITY = "identity"


def _refusal(headers: Headers) -> str | None:
    """Why the body cannot be read as these headers describe it; None if it can."""
    for name in ("Content-Type", "Content-Encoding"):
        given = headers.getlist(name)
        if len(given) > 1:
            why = "given more than once; give it once"
            return ApiError.bad_parameter(name, ", ".join(given), why, noun="header").message
    encoding = headers.get("content-encoding", "")
    codings = [coding.strip().lower() for coding in encoding.split(",") if coding.strip()]
    if any(coding != _IDENTITY for coding in codings):
        why = "the body is read as sent; send it without a content coding"
        return ApiError.bad_parameter("Content-Encoding", encoding, why, noun="header").message
    return None


class BodyHeaders:
    """Pure ASGI: for requests under ``prefixes``, an ``HTTPException`` (400) raised into
    whoever first reads the body, before a byte of it is taken, when its headers are
    refused."""

    def __init__(self, app: ASGIApp, *, prefixes: tuple[str, ...]) -> None:
        self.app = app
        self._prefixes = prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not route_path(scope).startswith(self._prefixes):
            await self.app(scope, receive, send)
            return
        checked = False

        async def checked_receive() -> Message:
            nonlocal checked
            if not checked:
                checked = True  # later reads (a response awaiting a disconnect) pass
                refusal = _refusal(Headers(scope=scope))
                if refusal:
                    # FastAPI passes an HTTPException on from a body's reading; the handlers
                    # give it the standard body, the token endpoint its RFC 6749 one.
                    raise HTTPException(400, refusal)
            return await receive()

        await self.app(scope, checked_receive, send)
