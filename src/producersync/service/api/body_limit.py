"""A cap on request bodies, before any route reads one whole.

The webhook API's bodies are a few hundred bytes, yet FastAPI read and parsed 104 MB sent
to one (the process grew by 114 MB); the subscription lists are the one large body. A
declared length past the cap is refused before a byte of it is read; a body that arrives
in chunks is cut off as it passes the cap. Either way a ``413`` with the standard body,
nothing changed.
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["MAX_BODY_BYTES", "BodyLimit"]

# Every body but a subscription list (a webhook endpoint, a token request, a portal form)
# is a few hundred bytes.
MAX_BODY_BYTES = 64 * 1024


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
    ) -> None:
        self.app = app
        self._prefixes = prefixes
        self._default = default
        self._by_prefix = sorted(by_prefix.items(), key=lambda item: -len(item[0]))

    def _limit(self, path: str) -> int | None:
        """The most bytes a body on ``path`` may have; None: not capped here."""
        if not path.startswith(self._prefixes):
            return None
        return next((n for prefix, n in self._by_prefix if path.startswith(prefix)), self._default)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = self._limit(scope["path"]) if scope["type"] == "http" else None
        if limit is None:
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length", "")
        received = int(declared) if declared.isdigit() else 0

        async def capped() -> Message:
            # Raised into whoever reads the body, before a byte past the cap is taken:
            # FastAPI passes an HTTPException on (anything else it turns into a 400), the
            # handlers give it the standard body, and the token endpoint its RFC 6749 one.
            nonlocal received
            if received <= limit:
                event = await receive()
                if event["type"] == "http.request" and not declared.isdigit():
                    received += len(event.get("body", b""))
                if received <= limit:
                    return event
            raise HTTPException(413, f"The request body exceeds {limit} bytes")

        await self.app(scope, capped, send)
