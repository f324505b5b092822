"""A cap on request bodies, before any route reads one whole.

The webhook API's bodies are a few hundred bytes, yet FastAPI read and parsed 104 MB sent
to one (the process grew by 114 MB); the subscription lists are the one large body. A
declared length past the cap is refused before a byte of it is read; a body that arrives
in chunks is cut off as it passes the cap. Either way a ``413`` with the standard body,
nothing changed.

Nor had a body a bound on its time: uvicorn has none (the head's is ``bounded_head``'s),
and a token request or a portal form, read before anyone is authenticated, that sent
"grant" and then nothing held its connection for good. A body gets ``BODY_SECONDS``
from its first read, a second more for each ``BODY_MIN_RATE`` bytes that came (as
Apache's mod_reqtimeout: body=20,MinRate=500), then a ``408``. Either refusal closes
the connection: what is left of the body would otherwise be read, to be dropped, on a
connection kept alive.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

import anyio
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from producersync.body_time import BODY_MIN_RATE, BODY_SECONDS, body_ends
from producersync.service.served_under import route_path

__all__ = ["BODY_MIN_RATE", "BODY_SECONDS", "MAX_BODY_BYTES", "BodyLimit"]

# Every body but a subscription list (a webhook endpoint, a token request, a portal form)
# is a few hundred bytes.
MAX_BODY_BYTES = 64 * 1024

_CLOSE: Final = {"connection": "close"}


def _too_large(limit: int) -> HTTPException:
    return HTTPException(413, f"The request body exceeds {limit} bytes", _CLOSE)


class BodyLimit:
    """Pure ASGI: ``default`` bytes for every request under ``prefixes``, or the bytes of
    the longest ``by_prefix`` entry the path starts with."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        prefixes: tuple[str, ...],
        default: int,
        by_prefix: Mapping[str, int],
        seconds: float = BODY_SECONDS,
        min_rate: int = BODY_MIN_RATE,
    ) -> None:
        self.app = app
        self._prefixes = prefixes
        self._default = default
        self._by_prefix = sorted(by_prefix.items(), key=lambda item: -len(item[0]))
        self._seconds = seconds
        self._min_rate = min_rate

    def _limit(self, path: str) -> int | None:
        """The most bytes a body on ``path`` may have; None: not capped here."""
        if not path.startswith(self._prefixes):
            return None
        return next((n for prefix, n in self._by_prefix if path.startswith(prefix)), self._default)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = self._limit(route_path(scope)) if scope["type"] == "http" else None
        if limit is None:
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length", "")
        received = int(declared) if declared.isdigit() else 0
        came = 0  # bytes of the body read so far
        started: float | None = None  # when the body was first read
        complete = False

        async def capped() -> Message:
            # Raised into whoever reads the body, before a byte past the cap is taken:
            # FastAPI passes an HTTPException on (anything else it turns into a 400), the
            # handlers give it the standard body, and the token endpoint its RFC 6749 one.
            nonlocal received, came, started, complete
            if complete:  # a response listening for the client's disconnect: no bound
                return await receive()
            if received > limit:
                raise _too_large(limit)
            if started is None:
                started = anyio.current_time()
            ends = body_ends(started, came, self._seconds, self._min_rate)
            with anyio.move_on_after(ends - anyio.current_time()):
                event = await receive()
                if event["type"] == "http.request":
                    chunk = len(event.get("body", b""))
                    came += chunk
                    received += 0 if declared.isdigit() else chunk
                    complete = not event.get("more_body", False)
                if received > limit:
                    raise _too_large(limit)
                return event
            raise HTTPException(
                408, f"The request body did not arrive within {ends - started:.0f} s", _CLOSE
            )

        await self.app(scope, capped, send)
