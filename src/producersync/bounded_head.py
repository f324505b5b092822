"""uvicorn's httptools protocol with a bound on each request's head (its request line and
headers), for every process that serves HTTP (the API and portal, the worker, the
receiver).

httptools, which uvicorn picks when it is installed (we install it for its speed), keeps
every header line it is sent until the blank line that ends them, with no limit: one
unauthenticated connection sent 200 MB of headers and the process held them all (its
memory grew by as much), then answered 200. h11 stops at 16 KiB of head, but httptools
offers no such setting. Past ``MAX_HEAD_BYTES`` the connection is answered 431 and
closed, before the app sees the request.
"""

from __future__ import annotations

from typing import Final

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["MAX_HEAD_BYTES", "BoundedHead"]

MAX_HEAD_BYTES: Final = 64 * 1024
"""Four times h11's 16 KiB: an API URL listing the 1,000 NPNs a filter takes, each sent
as ``%2C``-separated digits, is some 13 KB."""

_REFUSAL: Final = (
    f"The request line and headers exceed {MAX_HEAD_BYTES} bytes; send fewer or shorter ones."
)


class BoundedHead(HttpToolsProtocol):
    """Counts the bytes read while a request's head is awaited, and refuses the request
    once they pass ``MAX_HEAD_BYTES`` with its head still not ended. Checked after the
    parser has read them, so that a read (up to 256 KiB) that ends the head and goes on
    into a large body is not taken for a large head. A read that ends one request's body
    and begins the next one's head (a pipelining client) is not counted: a head is held
    to ``MAX_HEAD_BYTES`` and one read at most."""

    _head_bytes = 0
    _reading_head = True  # a connection starts with a request's head

    def data_received(self, data: bytes) -> None:
        if self._reading_head:
            self._head_bytes += len(data)
        super().data_received(data)
        if (
            self._reading_head
            and self._head_bytes > MAX_HEAD_BYTES
            and not self.transport.is_closing()  # refused already, or by the parser
        ):
            self._refuse()

    def on_headers_complete(self) -> None:
        self._reading_head, self._head_bytes = False, 0
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._reading_head = True  # what comes next is the next request's head

    def _refuse(self) -> None:
        body = _REFUSAL.encode()
        head = [
            b"HTTP/1.1 431 Request Header Fields Too Large\r\n",
            *(name + b": " + value + b"\r\n" for name, value in self.server_state.default_headers),
            b"content-type: text/plain; charset=utf-8\r\n",
            b"content-length: " + str(len(body)).encode() + b"\r\n",
            b"connection: close\r\n\r\n",
        ]
        self.transport.write(b"".join(head) + body)
        self.transport.close()
