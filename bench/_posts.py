"""A lean HTTP/1.1 load generator: keep-alive POSTs over raw asyncio streams.

On a 2-core machine the load generator shares the CPU with the server it measures. An
httpx client spends about a millisecond of CPU per request, so it, not the server, set the
"saturation" of a do-nothing server (about 1,070/s here). Writing the request bytes and
reading the status line and ``content-length`` body costs a few tens of microseconds, which
leaves the cores to the server under test. It speaks only what the benchmarks need: POST,
``content-length`` bodies out, ``content-length`` or chunked answers, connections reused.
"""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

__all__ = ["Posts"]

_Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class Posts:
    """POSTs to one URL over a pool of keep-alive connections (opened as needed)."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self._host, self._port = parts.hostname or "127.0.0.1", parts.port or 80
        self._head = f"POST {parts.path or '/'} HTTP/1.1\r\nhost: {parts.netloc}\r\n"
        self._idle: list[_Connection] = []

    async def post(self, body: bytes, headers: dict[str, str]) -> int:
        """Send one request and read its whole answer; the status code. A kept-alive
        connection the server closed meanwhile (its idle timeout) is replaced once."""
        lines = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        request = f"{self._head}{lines}content-length: {len(body)}\r\n\r\n".encode("latin-1")
        while self._idle:
            try:
                return await self._exchange(self._idle.pop(), request + body)
            except (asyncio.IncompleteReadError, ConnectionError) as exc:
                if isinstance(exc, asyncio.IncompleteReadError) and exc.partial:
                    raise
        connection = await asyncio.open_connection(self._host, self._port)
        return await self._exchange(connection, request + body)

    async def _exchange(self, connection: _Connection, request: bytes) -> int:
        reader, writer = connection
        try:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status, length, closing = _parse_head(head)
            if length is None:
                await _skip_chunks(reader)
            else:
                await reader.readexactly(length)
        except BaseException:
            writer.close()
            raise
        if closing:
            writer.close()
        else:
            self._idle.append(connection)
        return status

    async def aclose(self) -> None:
        for _, writer in self._idle:
            writer.close()
        self._idle.clear()


def _parse_head(head: bytes) -> tuple[int, int | None, bool]:
    """Status, body length (None: chunked) and whether the server closes the connection."""
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length: int | None = 0
    closing = False
    for line in lines[1:]:
        name, _, value = line.partition(":")
        name, value = name.strip().lower(), value.strip().lower()
        if name == "content-length":
            length = int(value)
        elif name == "transfer-encoding" and value == "chunked":
            length = None
        elif name == "connection":
            closing = value == "close"
    return status, length, closing


async def _skip_chunks(reader: asyncio.StreamReader) -> None:
    while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
        await reader.readexactly(size + 2)
    await reader.readuntil(b"\r\n")  # the empty trailer
