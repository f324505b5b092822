"""Every response body bounded as it comes: at most ``MAX_BODY_BYTES``, decoded.

httpx2 decodes a gzip body in bounded pieces, then joins them all: a few hundred
kilobytes of gzip that inflate to gigabytes (a decompression bomb), or a server that
streams a body without end, filled the process's memory before anything looked at the
size. A response hook decodes the body here instead, counting as it goes, and drops
``content-encoding`` so that httpx2 does not decode it twice. Past the limit the read
fails with ``ResponseValidationError``: a response no page of the API comes near (the
largest, 1,000 licenses with their LOAs, is a few megabytes), final like any malformed
one. The hook runs for every response of a call, the token response and a 401's
included; the deadline's hook (``_deadline``) sees the raw bytes before it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx2

from producersync.client._constants import MAX_BODY_BYTES
from producersync.client._exceptions import ResponseValidationError

__all__ = ["abound_body", "bound_body"]


def bound_body(response: httpx2.Response) -> None:
    """A sync client's response hook: the body decoded here, ``MAX_BODY_BYTES`` at most."""
    assert isinstance(response.stream, httpx2.SyncByteStream)
    response.stream = _Bounded(_decoder(response), response.request)
    response.headers.pop("content-encoding", None)


async def abound_body(response: httpx2.Response) -> None:
    """``bound_body`` for an async client (its hooks are awaited)."""
    assert isinstance(response.stream, httpx2.AsyncByteStream)
    response.stream = _AsyncBounded(_decoder(response), response.request)
    response.headers.pop("content-encoding", None)


def _decoder(response: httpx2.Response) -> httpx2.Response:
    """A response of the same raw body and encoding, only to decode it (httpx2's
    decoders, through its public API) where the size can be counted."""
    encoding = response.headers.get("content-encoding")
    headers = {"content-encoding": encoding} if encoding is not None else {}
    return httpx2.Response(response.status_code, headers=headers, stream=response.stream)


def _too_large(request: httpx2.Request) -> ResponseValidationError:
    return ResponseValidationError(
        f"{request.method} {request.url.path} answered with a body over "
        f"{MAX_BODY_BYTES // 2**20} MiB decoded; not read further"
    )


class _Bounded(httpx2.SyncByteStream):
    def __init__(self, decoder: httpx2.Response, request: httpx2.Request) -> None:
        self._decoder = decoder
        self._request = request

    def __iter__(self) -> Iterator[bytes]:
        size = 0
        for part in self._decoder.iter_bytes():
            size += len(part)
            if size > MAX_BODY_BYTES:
                raise _too_large(self._request)
            yield part

    def close(self) -> None:
        self._decoder.close()


class _AsyncBounded(httpx2.AsyncByteStream):
    def __init__(self, decoder: httpx2.Response, request: httpx2.Request) -> None:
        self._decoder = decoder
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        size = 0
        async for part in self._decoder.aiter_bytes():
            size += len(part)
            if size > MAX_BODY_BYTES:
                raise _too_large(self._request)
            yield part

    async def aclose(self) -> None:
        await self._decoder.aclose()
