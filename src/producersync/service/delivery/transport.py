"""The sender's transport: httpx2's, made of public parts, its connections opened through
the ``AddressGuard``.

httpx2's ``AsyncHTTPTransport`` takes no network backend. The sender replaced its private
``_pool`` with one that had the guard: an httpx2 that renamed or stopped reading the
attribute would have sent through its own pool, unguarded and (as it was made) verifying
no certificate, with no error anywhere. This transport owns its pool, made with
httpcore2's public ``network_backend``, and maps requests, responses and errors between
the two as httpx2's does (``httpx2/_transports/default.py``)."""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import AsyncIterator, Iterator

import httpcore2
import httpx2

from producersync.service.delivery.urls import AddressGuard

__all__ = ["GuardedTransport"]

# httpcore2's errors as httpx2 names them, for what a pool without a proxy raises. The
# sender keeps the class name in the attempt's error ("ConnectError: ...").
_HTTPX_ERRORS: dict[type[Exception], type[httpx2.TransportError]] = {
    httpcore2.TimeoutException: httpx2.TimeoutException,
    httpcore2.ConnectTimeout: httpx2.ConnectTimeout,
    httpcore2.ReadTimeout: httpx2.ReadTimeout,
    httpcore2.WriteTimeout: httpx2.WriteTimeout,
    httpcore2.PoolTimeout: httpx2.PoolTimeout,
    httpcore2.NetworkError: httpx2.NetworkError,
    httpcore2.ConnectError: httpx2.ConnectError,
    httpcore2.ReadError: httpx2.ReadError,
    httpcore2.WriteError: httpx2.WriteError,
    httpcore2.UnsupportedProtocol: httpx2.UnsupportedProtocol,
    httpcore2.ProtocolError: httpx2.ProtocolError,
    httpcore2.LocalProtocolError: httpx2.LocalProtocolError,
    httpcore2.RemoteProtocolError: httpx2.RemoteProtocolError,
}


@contextlib.contextmanager
def _as_httpx_errors() -> Iterator[None]:
    """httpcore2's error raised as the most specific httpx2 one, with its text; any other
    (the guard's ``EndpointUrlError``) as it is."""
    try:
        yield
    except Exception as exc:
        mapped = next((_HTTPX_ERRORS[c] for c in type(exc).__mro__ if c in _HTTPX_ERRORS), None)
        if mapped is None:
            raise
        raise mapped(str(exc)) from exc


class _Body(httpx2.AsyncByteStream):
    """A response's body as it arrives; closing it hands the connection back to the pool."""

    def __init__(self, response: httpcore2.Response) -> None:
        self._response = response

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _as_httpx_errors():
            async for chunk in self._response.aiter_stream():
                yield chunk

    async def aclose(self) -> None:
        await self._response.aclose()


class _Pool(httpcore2.AsyncConnectionPool):
    """Keep-alive connections, each opened through the guard, its https ones verified by
    one context made for the first of them: reading the system's roots took 20-80 ms of
    every start's CPU, in a process that may never reach an https receiver."""

    def __init__(self, guard: AddressGuard, concurrency: int) -> None:
        self._guard = guard
        self._keepalive = httpx2.Limits().keepalive_expiry
        self._tls: ssl.SSLContext | None = None
        super().__init__(
            max_connections=concurrency,
            max_keepalive_connections=concurrency,
            keepalive_expiry=self._keepalive,
            # Given here too: were create_connection no longer called, the pool's own
            # connections would still go through the guard (and verify, by a context each).
            network_backend=guard,
        )

    def create_connection(self, origin: httpcore2.Origin) -> httpcore2.AsyncConnectionInterface:
        if origin.scheme == b"https" and self._tls is None:
            # httpx2's default: the system's roots, or those SSL_CERT_FILE or SSL_CERT_DIR
            # name (a receiver behind a private CA).
            self._tls = httpx2.create_ssl_context()
        return httpcore2.AsyncHTTPConnection(
            origin=origin,
            ssl_context=self._tls,
            keepalive_expiry=self._keepalive,
            network_backend=self._guard,
        )


class GuardedTransport(httpx2.AsyncBaseTransport):
    """Sends each request on a pool of at most ``concurrency`` connections, opened through
    ``guard`` (which checks the address actually connected to). No proxy, from the
    environment or otherwise: the address checked would be the proxy's."""

    def __init__(self, guard: AddressGuard, concurrency: int) -> None:
        self._pool = _Pool(guard, concurrency)

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        url = request.url
        sent = httpcore2.Request(
            method=request.method,
            url=httpcore2.URL(
                scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path
            ),
            headers=request.headers.raw,
            content=request.stream,
            # The client's timeouts travel here, as httpcore2 reads them.
            extensions=request.extensions,
        )
        with _as_httpx_errors():
            answered = await self._pool.handle_async_request(sent)
        return httpx2.Response(
            status_code=answered.status,
            headers=answered.headers,
            stream=_Body(answered),
            extensions=answered.extensions,
        )

    async def aclose(self) -> None:
        await self._pool.aclose()
