"""uvicorn's httptools protocol with a bound on each request's head (its request line and
headers), for every process that serves HTTP (the API and portal, the worker, the
receiver).

httptools, which uvicorn picks when it is installed (we install it for its speed), keeps
every header line it is sent until the blank line that ends them, with no limit: one
unauthenticated connection can send 200 MB of headers and the process holds them all (its
memory grows by as much), then answers 200. h11 stops at 16 KiB of head, but httptools
offers no such setting. Past ``MAX_HEAD_BYTES`` the connection is answered 431 and
closed, before the app sees the request.

Nor is there a bound on a head's time (uvicorn has none, under either parser): a client
that opens a connection and sends nothing, or a header line a minute, holds its connection
(and a file descriptor) for good, and a few thousand such exhaust the process's. A head
not ended ``head_seconds`` after its first byte (a new connection: after its opening) is
answered 408 and the connection closed; one that sent nothing is closed. The wait between
a kept-alive connection's requests is uvicorn's ``timeout_keep_alive``, a body's the app's.

Each refusal is in the app's own error body (``Refusal``), as its other errors are, and
so is uvicorn's 400 to a request the parser cannot read (a header name with a space, a
byte outside ASCII in the path, a ``Content-Length`` beside ``Transfer-Encoding``), which
says what the parser found wrong, where uvicorn's own is plain text saying only "Invalid
HTTP request received.". Each carries an ``x-request-id`` as the app's answers
do (the client's own, if the parser had handed it over, else a fresh one), and is
logged once under it, with its status, path and reason: uvicorn's line of a 400 has none
of them, and it logs the others not at all.

And an app's answer begun before its request's body has all come (a body refused for
its size, its time or its route, unread) ends the connection: kept alive, the rest of
the body would be read to be dropped, however large, and a client that sent no body (it
asked ``Expect: 100-continue``, or stopped at the refusal) have its next request read as
that body.
"""

from __future__ import annotations

import asyncio
import sys
import urllib.parse
from collections.abc import Awaitable, Callable
from typing import Final

import httptools
from starlette.responses import Response
from starlette.types import Message
from uvicorn.protocols.http.httptools_impl import (
    STATUS_LINE,
    HttpToolsProtocol,
    RequestResponseCycle,
)

from producersync.head_settings import HEAD_TIMEOUT_SECONDS
from producersync.request_ids import REQUEST_ID_HEADER, new_request_id, request_id_given

__all__ = ["MAX_HEAD_BYTES", "BoundedHead", "Refusal"]

MAX_HEAD_BYTES: Final = 64 * 1024
"""Four times h11's 16 KiB: an API URL listing the 1,000 NPNs a filter takes, each sent
as ``%2C``-separated digits, is some 13 KB."""

_TOO_LARGE: Final = (
    431,
    f"The request line and headers exceed {MAX_HEAD_BYTES} bytes; send fewer or shorter ones.",
)

_ID_HEADER: Final = REQUEST_ID_HEADER.encode()

Refusal = Callable[[int, str, str], Response]
"""The app's error answer for a status, a message and the request's path (empty when
none was read)."""


class BoundedHead(HttpToolsProtocol):
    """Counts the bytes read while a request's head is awaited, and refuses the request
    once they pass ``MAX_HEAD_BYTES`` with its head still not ended. Checked after the
    parser has read them, so that a read (up to 256 KiB) that ends the head and goes on
    into a large body is not taken for a large head. A read that ends one request's body
    and begins the next one's head (a pipelining client) is not counted: a head is held
    to ``MAX_HEAD_BYTES`` and one read at most. And times each head, from the connection's
    opening or the first byte of the next (``on_message_begin``) to its end."""

    head_seconds: float = HEAD_TIMEOUT_SECONDS
    refusal: Refusal
    _head_bytes = 0
    _reading_head = True  # a connection starts with a request's head
    _head_begun = False
    _head_timer: asyncio.TimerHandle | None = None

    @classmethod
    def within(cls, seconds: float, refusal: Refusal) -> type[BoundedHead]:
        """This protocol, each head bounded to ``seconds`` and refused in ``refusal``'s
        body: uvicorn makes the protocol of each connection from the class it is given."""
        attributes = {"head_seconds": seconds, "refusal": staticmethod(refusal)}
        return type(cls.__name__, (cls,), attributes)

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._time_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._untime_head()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._reading_head:
            self._head_bytes += len(data)
        super().data_received(data)
        if (
            self._reading_head
            and self._head_bytes > MAX_HEAD_BYTES
            and not self.transport.is_closing()  # refused already, or by the parser
        ):
            if self._answering():
                self._end_after_answer()
            else:
                self._refuse(*_TOO_LARGE)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_begun = True
        if self._head_timer is None:  # a new connection's is timed from its opening
            self._time_head()

    def on_headers_complete(self) -> None:
        self._reading_head, self._head_bytes, self._head_begun = False, 0, False
        self._untime_head()
        before = self.cycle
        super().on_headers_complete()
        if self.cycle is not before:  # a request to answer (not a protocol upgrade)
            self.cycle.send = _closing_unread(self.cycle)  # type: ignore[method-assign,assignment]

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._reading_head = True  # what comes next is the next request's head

    def _time_head(self) -> None:
        self._head_timer = self.loop.call_later(self.head_seconds, self._head_timed_out)

    def _untime_head(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport.is_closing():
            return
        if self._answering():
            self._end_after_answer()
        elif self._head_begun:
            message = (
                f"The request line and headers took over {self.head_seconds:g} s; "
                "send them at once."
            )
            self._refuse(408, message)
        else:
            self.transport.close()  # nothing came: no request to answer

    def _answering(self) -> bool:
        """Whether a request before the head awaited is still being answered: a pipelining
        client would read a refusal written now as that request's answer (a write, it may
        be, that was done), and lose the answer."""
        return self.cycle is not None and not self.cycle.response_complete

    def _end_after_answer(self) -> None:
        """The connection ended once the request before is answered, as a graceful
        shutdown ends it, and nothing more read of the head refused meanwhile."""
        assert self.cycle is not None
        self.cycle.keep_alive = False
        self.flow.pause_reading()

    def send_400_response(self, msg: str) -> None:
        if self._reading_head and self._answering():
            # A pipelined request's head (not the body of the one being answered).
            self._end_after_answer()
            return
        # Called as uvicorn handles the parser's error, whose words name what is wrong;
        # those of an error raised in a callback (``User callback error``) are the cause's:
        # uvicorn's reading of a URL past the 64 KiB httptools parses, for one.
        error = sys.exception()
        if isinstance(error, httptools.HttpParserCallbackError) and error.__context__:
            error = error.__context__
        self._refuse(400, f"The request is not valid HTTP/1.1: {error or msg}")

    def _refuse(self, status: int, message: str) -> None:
        path, request_id = self._path(), self._request_id()
        # The line uvicorn logged of a 400 alone ("Invalid HTTP request received.",
        # dropped by ``ParserErrorFilter``), saying why, under the id the client reads.
        self.logger.warning(
            "Refused %d %s: %s", status, path or "-", message, extra={"request_id": request_id}
        )
        answer = self.refusal(status, message, path)
        headers = [
            *self.server_state.default_headers,
            *answer.raw_headers,
            (_ID_HEADER, request_id.encode()),
        ]
        head = [
            STATUS_LINE[status],
            *(name + b": " + value + b"\r\n" for name, value in headers),
            b"connection: close\r\n\r\n",
        ]
        self.transport.write(b"".join(head) + answer.body)
        self.transport.close()

    def _request_id(self) -> str:
        """The refused request's id, as the app's answers have it (``request_ids``): the
        client's own, if its headers read so far gave a sane one, else a fresh one."""
        read = self.headers if self._own_request_read() else []
        return request_id_given([v for name, v in read if name == _ID_HEADER]) or new_request_id()

    def _own_request_read(self) -> bool:
        """Whether what uvicorn read of a request (``url``, ``headers``) is the refused
        one's: not before its first byte, when it still holds the request before's."""
        return self._head_begun or not self._reading_head

    def _path(self) -> str:
        """The path of the request refused, decoded as uvicorn decodes it for the app, as
        far as it was read."""
        url: bytes = self.url if self._own_request_read() else b""
        try:
            raw = httptools.parse_url(url).path or b""
        except httptools.HttpParserError:  # cut short, or none yet
            raw = url.partition(b"?")[0]
        return urllib.parse.unquote(raw.decode("ascii", "replace"))


def _closing_unread(cycle: RequestResponseCycle) -> Callable[[Message], Awaitable[None]]:
    """``cycle``'s send, ending the connection after an answer begun before the request's
    body had all come (a refusal that read none of it, or part): closed, not drained, so
    what it costs is bounded whatever the body declared. Kept alive, the next request was
    parsed from where that body stood: its rest read and dropped first, all of it (a
    200 MB body's 413 and a request after it took 0.22 s on loopback, 0.05 s now), and
    a client that sent no body had its next request taken for the body's bytes, and
    waited for an answer that never came. A body that came whole, read or not, keeps
    the connection."""
    send = cycle.send

    async def closing(message: Message) -> None:
        if message["type"] == "http.response.start" and cycle.more_body:
            cycle.keep_alive = False  # uvicorn says ``connection: close``, and closes after
        await send(message)  # type: ignore[arg-type]

    return closing
