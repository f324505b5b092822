"""A request's ``Host`` header: one, or (HTTP/1.0, which has none of its own) none.

RFC 9112 §3.2: a server answers ``400`` to an HTTP/1.1 request with no ``Host`` and to
any request with more than one. h11 refuses both; httptools, which uvicorn picks when it
is installed (we install it), hands either on, and both were served: two hosts, one
read by a proxy in front and the other by the app (the portal's absolute URLs, the
docs' server), or none at all, an HTTP/1.1 client's malformed request answered as if
well formed. Refused before anything is read or authenticated, in the app's own error
body, on every path; used by every process that serves HTTP (the service, its worker,
the sync receiver).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from producersync.echo import cut

__all__ = ["OneHost"]

_HOST: Final = b"host"
_SHOWN: Final = 100  # characters of the hosts given that a refusal shows

Refusal = Callable[[int, str, str], Response]
"""The app's error answer for a status, a message and the request's path."""


class OneHost:
    """Pure ASGI: an HTTP request with no ``Host`` (HTTP/1.1) or more than one is answered
    ``refusal``'s ``400`` naming the header, and goes no further."""

    def __init__(self, app: ASGIApp, refusal: Refusal) -> None:
        self.app, self._refusal = app, refusal

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            message = _refused(scope)
            if message:
                await self._refusal(400, message, scope["path"])(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _refused(scope: Scope) -> str | None:
    hosts = [value.decode("latin-1") for name, value in scope["headers"] if name == _HOST]
    if len(hosts) > 1:
        given = cut(", ".join(hosts), _SHOWN)
        return f"Invalid value '{given}' for header 'Host': given more than once; give it once"
    if not hosts and scope.get("http_version") == "1.1":
        return "Missing header 'Host': an HTTP/1.1 request names its host (RFC 9112 §3.2)"
    return None
