"""An encoded slash (``%2F``) stays a character of the path segment it was sent in.

The server decodes the path before routing, so ``/v2/entities/10104556%2Flicenses`` would
be routed as ``/v2/entities/10104556/licenses``: the client would name one resource (the
entity whose NPN is ``10104556/licenses``) and be answered another, and a ``POST`` to
``/v1/webhooks/endpoints/{id}%2Fsecret%2Frotate`` would rotate the secret. Kept encoded, the
segment reaches the route as the value sent, which the route refuses as it refuses any
bad value: an NPN, a number or a job id is a 400 naming it, an endpoint, a message or a
portal page is not found, and a path that no route has is a 404.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["EncodedSlash"]

_SLASH = re.compile(r"(%2f)", re.IGNORECASE)


class EncodedSlash:
    """Pure ASGI: a path that has a ``%2F`` is decoded again from the raw path, as the
    server decodes it (``unquote``) but for each ``%2F``, which stays as sent."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw = scope.get("raw_path") if scope["type"] == "http" else None
        if raw and _SLASH.search(raw.decode("latin-1")):
            scope = {**scope, "path": _decoded(raw.decode("latin-1"))}
        await self.app(scope, receive, send)


def _decoded(raw_path: str) -> str:
    # Split on the capturing pattern: the odd pieces are the %2Fs themselves.
    pieces = _SLASH.split(raw_path)
    return "".join(piece if index % 2 else unquote(piece) for index, piece in enumerate(pieces))
