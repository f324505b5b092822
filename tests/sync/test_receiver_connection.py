"""The receiver's connection once it has answered a delivery, over a socket to a real
``producersync sync run``: an answer given before the body had all come (a body past the
limit, refused unread or part read) ends the connection. It was kept alive, and the next
request on it was parsed from where that body stood: the rest of a large body read first
(to be dropped), or, from a sender that sent no body, the next request taken for it."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from producersync.sync import mirror
from producersync.sync.mirror.tables import receipts
from producersync.webhooks import generate_secret
from tests.support.databases import migrated_mirror
from tests.support.raw_http import read_answer
from tests.support.service import free_port
from tests.support.sync_harness import SyncProcess, offline_env

pytestmark = pytest.mark.slow(15)

PATH = "/webhooks/psapi"
LIMIT = 1 << 20  # PRODUCERSYNC_MAX_BODY_BYTES's default
HEALTHZ = b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n"


@pytest.fixture(scope="module")
def sync(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SyncProcess]:
    directory = tmp_path_factory.mktemp("connection")
    with migrated_mirror("sqlite", directory) as url:
        process = SyncProcess(
            free_port(), offline_env(url, generate_secret(), "connection"), directory
        )
        process.start()
        try:
            yield process
        finally:
            process.stop()


def _connection(sync: SyncProcess) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", sync.port))
    sock.settimeout(30)
    return sock


def _verdicts(sync: SyncProcess, event_id: str) -> list[str]:
    engine = mirror.open_mirror(sync.env["PRODUCERSYNC_MIRROR_URL"])
    with engine.connect() as conn:
        found = conn.execute(sa.select(receipts.c.verdict).where(receipts.c.event_id == event_id))
        verdicts = list(found.scalars())
    engine.dispose()
    return verdicts


def _chunked(size: int) -> bytes:
    """``size`` bytes of a chunked body, in 64 KiB chunks, its last chunk not sent."""
    chunk = 64 * 1024
    return b"".join(
        f"{min(chunk, size - at):x}\r\n".encode() + b"x" * min(chunk, size - at) + b"\r\n"
        for at in range(0, size, chunk)
    )


@pytest.mark.parametrize(
    ("framing", "sent"),
    [
        (f"content-length: {2 * LIMIT}", b""),
        (f"content-length: {2 * LIMIT}\r\nexpect: 100-continue", b""),
        ("transfer-encoding: chunked", _chunked(LIMIT + 1)),
    ],
    ids=["declared, not sent", "100-continue", "chunked, past the limit"],
)
def test_a_delivery_answered_before_its_body_came_ends_its_connection(
    sync: SyncProcess, framing: str, sent: bytes
) -> None:
    # A sender that stopped at the 413 (as one that asked 100-continue is to) sent its
    # next request on the connection, which the old receiver read as the body's bytes:
    # it waited for an answer that never came.
    event_id = f"msg_unread_{time.time_ns()}"
    head = f"POST {PATH} HTTP/1.1\r\nhost: x\r\nwebhook-id: {event_id}\r\n{framing}\r\n\r\n"
    with _connection(sync) as sock:
        sock.sendall(head.encode() + sent)
        answer = read_answer(sock)
        assert answer.startswith(b"HTTP/1.1 413 "), answer[:300]
        assert b"\r\nconnection: close\r\n" in answer
        try:
            sock.sendall(HEALTHZ)
            assert sock.recv(1) == b""  # closed: the request is not read as the body
        except ConnectionResetError:
            pass  # closed before the request came: a reset, as closed
    assert _verdicts(sync, event_id) == [f"{mirror.REJECTED}body over {LIMIT} bytes"]


def test_a_delivery_whose_body_came_whole_keeps_its_connection(sync: SyncProcess) -> None:
    """Read to its end before the answer, a refused delivery's connection serves the
    next request: only one answered before its body had come is ended."""
    body = b'{"type": "npn.deactivated"}'
    head = f"POST {PATH} HTTP/1.1\r\nhost: x\r\ncontent-length: {len(body)}\r\n\r\n"
    with _connection(sync) as sock:
        sock.sendall(head.encode() + body)
        answer = read_answer(sock)
        assert answer.startswith(b"HTTP/1.1 401 "), answer[:300]  # not signed
        assert b"connection: close" not in answer
        sock.sendall(HEALTHZ)
        assert read_answer(sock).startswith(b"HTTP/1.1 200 ")
