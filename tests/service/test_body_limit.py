"""A body's bound in time (``api/body_limit.py``): one that stops coming is refused, one
that keeps coming at the least rate is read, and nothing after it is bounded."""

from __future__ import annotations

import anyio
import orjson
import pytest
from fastapi import FastAPI, Request
from starlette.types import Message, Receive

from producersync.service.api.body_limit import BodyLimit
from producersync.service.errors import install_error_handlers

pytestmark = pytest.mark.anyio

_SECONDS = 0.5  # a body's time before its bytes add to it
_MIN_RATE = 500  # each 1,000 bytes then add 2 s


def _app() -> BodyLimit:
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/thing")
    async def thing(request: Request) -> dict[str, object]:
        body = await request.body()
        after = await request.receive()  # as a response listening for a disconnect does
        return {"length": len(body), "after": after["type"]}

    return BodyLimit(
        app,
        prefixes=("/",),
        default=100_000,
        by_prefix={},
        seconds=_SECONDS,
        min_rate=_MIN_RATE,
    )


def _sender(chunks: list[bytes], pause: float) -> Receive:
    """The body in ``chunks``, ``pause`` seconds apart; then nothing, until a disconnect
    ``pause`` seconds later: a client that said all it had to. ``pause`` of ``inf`` after
    the first chunk: a client that stopped."""
    pending = list(chunks)
    first = True

    async def receive() -> Message:
        nonlocal first
        if not first:
            await anyio.sleep(pause)
        first = False
        if pending:
            chunk = pending.pop(0)
            return {"type": "http.request", "body": chunk, "more_body": bool(pending)}
        return {"type": "http.disconnect"}

    return receive


async def _post(receive: Receive, length: int) -> tuple[int, dict[str, str], bytes]:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/thing",
        "raw_path": b"/thing",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"content-length", str(length).encode())],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 80),
        "state": {},
    }
    answer: list[Message] = []

    async def send(message: Message) -> None:
        answer.append(message)

    await _app()(scope, receive, send)
    start, *parts = answer
    headers = {k.decode(): v.decode() for k, v in start["headers"]}
    return start["status"], headers, b"".join(part.get("body", b"") for part in parts)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_a_body_that_stops_coming_is_refused_408_and_its_connection_closed() -> None:
    """It held its connection for good: a token request that sent ``grant`` and then
    nothing was never answered."""
    with anyio.fail_after(10):
        status, headers, body = await _post(_sender([b"grant", b"_type"], float("inf")), 100)
    assert status == 408
    assert headers["connection"] == "close"
    assert orjson.loads(body)["message"] == "The request body did not arrive within 1 s"


async def test_a_body_that_keeps_coming_at_the_least_rate_is_read_past_its_first_seconds() -> None:
    chunks = [b"x" * 1000] * 4  # 0.3 s apart: 1.2 s in all, each chunk 2 s more
    status, _, body = await _post(_sender(chunks, 0.3), 4000)
    assert status == 200, body
    # Read whole; then the wait for a disconnect, past the body's time, is not cut.
    assert orjson.loads(body) == {"length": 4000, "after": "http.disconnect"}
