"""The receiver's answers that no view of it writes, over HTTP to a real ``producersync
sync run``: each in its JSON body (``{"status", "detail"}``), as a sender's delivery log
shows the others; they were plain text."""

from __future__ import annotations

import re
import socket
import time
from pathlib import Path

import orjson
import pytest

from producersync.bounded_head import MAX_HEAD_BYTES
from producersync.model.events import NpnDeactivated
from producersync.sync import mirror
from producersync.webhooks import generate_secret, headers
from tests.support.service import free_port
from tests.support.sync_harness import SyncProcess, offline_env
from tests.support.webhook_fuzz import Delivery, send_raw

pytestmark = pytest.mark.slow(15)

PATH = "/webhooks/psapi"


def _refusal(port: int, request: bytes) -> tuple[bytes, dict[str, str]]:
    """The head of the receiver's answer to ``request``, sent raw, and its JSON body."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(request)
        reply = b""
        while part := sock.recv(65536):  # to the end: the receiver closes the connection
            reply += part
    head, _, body = reply.partition(b"\r\n\r\n")
    return head, orjson.loads(body)


def test_a_request_refused_before_the_receiver_reads_it_is_in_the_receivers_body(
    tmp_path: Path, sqlite_mirror: str
) -> None:
    sync = SyncProcess(free_port(), offline_env(sqlite_mirror, generate_secret(), "head"), tmp_path)
    sync.start()
    try:
        long = b"x-pad: " + b"a" * (MAX_HEAD_BYTES + 8192) + b"\r\n"
        too_long = _refusal(sync.port, f"POST {PATH} HTTP/1.1\r\nhost: x\r\n".encode() + long)
        unreadable = _refusal(sync.port, f"POST {PATH} HTTP/1.1\r\nho st: x\r\n\r\n".encode())
        ending = "connection: close\r\ncontent-length: 0\r\n\r\n"
        no_host = _refusal(sync.port, f"POST {PATH} HTTP/1.1\r\n{ending}".encode())
        two_hosts = _refusal(
            sync.port, f"POST {PATH} HTTP/1.1\r\nhost: a\r\nhost: b\r\n{ending}".encode()
        )
    finally:
        sync.stop()
    # Each was plain text, where a sender's delivery log shows the receiver's JSON.
    for (head, _), status in [(too_long, 431), (unreadable, 400), (no_host, 400), (two_hosts, 400)]:
        assert head.startswith(f"HTTP/1.1 {status} ".encode()), head
        assert b"content-type: application/json" in head
        assert re.search(rb"\r\nx-request-id: req_[0-9a-f]{24}\r\n", head), head  # it had none
    detail = (
        f"The request line and headers exceed {MAX_HEAD_BYTES} bytes; send fewer or shorter ones."
    )
    assert too_long[1] == {"status": "rejected", "detail": detail}
    detail = "The request is not valid HTTP/1.1: Invalid header token"
    assert unreadable[1] == {"status": "rejected", "detail": detail}
    # RFC 9112 §3.2, as the service refuses them: httptools hands either on.
    detail = "Missing header 'Host': an HTTP/1.1 request names its host (RFC 9112 §3.2)"
    assert no_host[1] == {"status": "rejected", "detail": detail}
    detail = "Invalid value 'a, b' for header 'Host': given more than once; give it once"
    assert two_hosts[1] == {"status": "rejected", "detail": detail}


def test_a_delivery_the_receiver_fails_on_is_a_500_in_its_body(
    tmp_path: Path, sqlite_mirror: str
) -> None:
    secret = generate_secret()
    sync = SyncProcess(free_port(), offline_env(sqlite_mirror, secret, "fails"), tmp_path)
    sync.start()
    try:
        # A mirror without its receipts table: a fault of ours, not the sender's, nor an
        # outage (a 503) that retrying mends.
        engine = mirror.open_mirror(sqlite_mirror)
        with engine.begin() as conn:
            conn.exec_driver_sql("ALTER TABLE receipts RENAME TO receipts_gone")
        engine.dispose()
        event = NpnDeactivated.create("1234567", event_id="msg_failed")
        body = event.to_json()
        signed = headers(event.id, int(time.time()), body, secret)
        sent = tuple((name, value.encode()) for name, value in signed.items())
        delivery = Delivery("fails", sent, (body,), frozenset())
        status, answer = send_raw("127.0.0.1", sync.port, PATH, delivery)
    finally:
        sync.stop()
    # It was Starlette's plain-text "Internal Server Error".
    assert status == 500
    assert orjson.loads(answer) == {
        "status": "failed",
        "detail": "internal error; it has been logged",
    }
