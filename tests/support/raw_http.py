"""HTTP/1.1 answers read off a raw socket, for the tests that send requests byte for byte
(a head cut short, a body never sent, a second request on the same connection)."""

from __future__ import annotations

import re
import socket

__all__ = ["read_answer"]

_LENGTH = re.compile(rb"content-length: (\d+)", re.IGNORECASE)


def read_answer(sock: socket.socket) -> bytes:
    """One response: its head, and its body of the length the head gives (none given: no
    body); what came before the connection ended, if it ended first."""
    answer = b""
    while b"\r\n\r\n" not in answer and (chunk := sock.recv(65536)):
        answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    found = _LENGTH.search(head)
    length = int(found[1]) if found else 0
    while len(body) < length and (chunk := sock.recv(65536)):
        body += chunk
    return head + b"\r\n\r\n" + body
