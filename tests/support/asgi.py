"""One HTTP request straight into an ASGI app, without a client library in between: header
bytes exactly as given (a client would refuse or re-encode some) and the body in the
chunks given, and a fraction of a client's cost per request (the receiver fuzz sends
100,000)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import anyio
from starlette.types import ASGIApp, Message

__all__ = ["request"]


async def request(
    app: ASGIApp,
    method: str,
    path: str,
    headers: Sequence[tuple[bytes, bytes]],
    chunks: Sequence[bytes] = (),
    *,
    cut_short: bool = False,
    stalled: bool = False,
) -> tuple[int, bytes]:
    """(status, body) of ``method path``; the body arrives in ``chunks``, and with
    ``cut_short`` the client goes away before the more it announced, with ``stalled`` it
    sends no more, and stays."""
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        # A Host, as every HTTP/1.1 client sends (RFC 9112 §3.2), unless the case gives one.
        "headers": list(headers)
        if any(name.lower() == b"host" for name, _ in headers)
        else [(b"host", b"127.0.0.1"), *headers],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 80),
        "state": {},
    }
    pending = list(chunks) or [b""]
    status: list[int] = []
    body: list[bytes] = []

    async def receive() -> Message:
        if pending:
            chunk = pending.pop(0)
            more = bool(pending) or cut_short or stalled
            return {"type": "http.request", "body": chunk, "more_body": more}
        if stalled:
            await anyio.sleep_forever()
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])
        elif message["type"] == "http.response.body":
            body.append(message.get("body", b""))

    await app(scope, receive, send)
    return status[0], b"".join(body)
