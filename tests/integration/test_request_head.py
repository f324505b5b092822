"""A request's head (request line and headers) is bounded in every process that serves
HTTP: under httptools it was not, and one connection's headers filled the memory."""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Iterator

import httpx2
import orjson
import pytest

from producersync.bounded_head import MAX_HEAD_BYTES
from producersync.echo import cut
from producersync.service.errors import ErrorBody
from tests.support.processes import ServiceProcess, service_process
from tests.support.raw_http import read_answer
from tests.support.waiting import eventually

pytestmark = pytest.mark.slow(20)


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    directory = tmp_path_factory.mktemp("head")
    with service_process(f"sqlite:///{directory / 'store.db'}", directory) as running:
        yield running


# Short, for the time bound's tests; uvicorn's keep-alive wait (5 s) is longer.
_HEAD_SECONDS = 1


@pytest.fixture(scope="module")
def hurried(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    """A service that gives a request's head ``_HEAD_SECONDS``."""
    directory = tmp_path_factory.mktemp("head-time")
    env = {"PRODUCERSYNC_HEAD_TIMEOUT_SECONDS": str(_HEAD_SECONDS)}
    with service_process(f"sqlite:///{directory / 'store.db'}", directory, env=env) as running:
        yield running


def _connection(service: ServiceProcess) -> socket.socket:
    url = httpx2.URL(service.base_url)
    assert url.port is not None
    sock = socket.create_connection((url.host, url.port))
    sock.settimeout(30)
    return sock


def _refused(answer: bytes, status: int, path: str) -> ErrorBody:
    """The standard error body of ``answer``, which refused the request and closed the
    connection; it was plain text. Under a fresh request id, as the app's answers: it
    had none."""
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(f"HTTP/1.1 {status} ".encode()), answer[:200]
    assert b"content-type: application/json" in head
    assert b"connection: close" in head
    assert re.search(rb"\r\nx-request-id: req_[0-9a-f]{24}\r\n", head), head
    error = ErrorBody.model_validate(orjson.loads(body))
    assert (error.status, error.path) == (status, path)
    return error


def _padding(size: int) -> bytes:
    line = b"x-padding: " + b"a" * 1000 + b"\r\n"
    return line * (size // len(line))


def test_a_head_past_the_bound_is_answered_431_before_it_ends(service: ServiceProcess) -> None:
    # Never ended: the old service read on, holding every line (200 MB of them, its
    # memory as much larger), and answered nothing until the blank line came.
    with _connection(service) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nhost: x\r\n" + _padding(MAX_HEAD_BYTES + 8192))
        answer = read_answer(sock)
    error = _refused(answer, 431, "/healthz")
    assert error.message.startswith(f"The request line and headers exceed {MAX_HEAD_BYTES} bytes")


@pytest.mark.parametrize(
    ("request_head", "path", "reason"),
    [
        (b"GET /v2/licenses HTTP/1.1\r\nho st: x\r\n\r\n", "/v2/licenses", "Invalid header token"),
        (b"GET /v2/entities/\xff HTTP/1.1\r\nhost: x\r\n\r\n", "", "Invalid char in url path"),
        (
            b"POST /oauth2/token HTTP/1.1\r\nhost: x\r\ncontent-length: 3\r\n"
            b"transfer-encoding: chunked\r\n\r\n0\r\n\r\n",
            "/oauth2/token",
            "Transfer-Encoding can't be present with Content-Length",
        ),
    ],
    ids=["header name", "path byte", "two lengths"],
)
def test_a_request_the_parser_cannot_read_is_answered_400_saying_why(
    service: ServiceProcess, request_head: bytes, path: str, reason: str
) -> None:
    # uvicorn's own answer was plain text, "Invalid HTTP request received.", for each.
    with _connection(service) as sock:
        sock.sendall(request_head)
        answer = read_answer(sock)
    error = _refused(answer, 400, path)
    assert error.message == f"The request is not valid HTTP/1.1: {reason}"


def test_a_request_the_parser_refuses_keeps_its_id_in_the_answer_and_the_log_line(
    service: ServiceProcess,
) -> None:
    # Neither had one: uvicorn logged "Invalid HTTP request received." alone, no path,
    # no reason, and the answer had no x-request-id to find it by.
    request_id = "trace-7f3a.parser"
    with _connection(service) as sock:
        sock.sendall(
            f"GET /v2/licenses HTTP/1.1\r\nx-request-id: {request_id}\r\n".encode()
            # The parser hands a header over once the next one's name is read.
            + b"host: x\r\nho st: x\r\n\r\n"
        )
        answer = read_answer(sock)
    assert f"\r\nx-request-id: {request_id}\r\n".encode() in answer
    line = (
        "WARNING uvicorn.error: Refused 400 /v2/licenses: The request is not valid HTTP/1.1: "
        f"Invalid header token request_id={request_id}"
    )
    eventually(lambda: line in service.log.read_text())
    assert "Invalid HTTP request received." not in service.log.read_text()


def test_a_url_past_what_the_parser_takes_is_answered_400_saying_so(
    service: ServiceProcess,
) -> None:
    # httptools reads a URL of 64 KiB at most. A head ending in the read that passes the
    # bound is not refused 431 (a read may hold the head and a large body), so the URL
    # reached uvicorn, whose parsing of it failed: "User callback error", no word of why.
    url = b"/v3/" + b"a" * 70_000
    with _connection(service) as sock:
        sock.sendall(b"GET " + url[:60_000])
        time.sleep(0.5)  # read apart: the bound is passed only by the read that ends the head
        sock.sendall(url[60_000:] + b" HTTP/1.1\r\nhost: x\r\n\r\n")
        answer = read_answer(sock)
    error = _refused(answer, 400, cut(url.decode(), 200))  # the path echoed cut short
    assert error.message == (
        "The request is not valid HTTP/1.1: url is too long: url length of 70004 bytes "
        "exceeds the maximum of 65535 bytes"
    )


def test_a_head_within_the_bound_and_a_large_body_in_one_write_are_answered(
    service: ServiceProcess,
) -> None:
    # The head, then 200 KB of body, arrive in one read: the body is no part of the head.
    body = b"[" + b'"15645555",' * 20_000 + b'"15645555"]'
    head = (
        b"POST /healthz HTTP/1.1\r\nhost: x\r\n"
        + _padding(MAX_HEAD_BYTES - 2048)
        + f"content-length: {len(body)}\r\n\r\n".encode()
    )
    with _connection(service) as sock:
        sock.sendall(head + body)
        answer = read_answer(sock)
    assert answer.startswith(b"HTTP/1.1 405 "), answer[:200]  # healthz is GET only


def test_each_request_of_a_kept_alive_connection_has_its_own_bound(
    service: ServiceProcess,
) -> None:
    request = b"GET /healthz HTTP/1.1\r\nhost: x\r\n" + _padding(MAX_HEAD_BYTES // 2) + b"\r\n"
    with _connection(service) as sock:
        for _ in range(3):
            sock.sendall(request)
            answer = read_answer(sock)
            assert answer.startswith(b"HTTP/1.1 200 "), answer[:200]


_HEALTHZ = b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n"


@pytest.mark.parametrize("answered_before", [0, 1], ids=["first request", "kept-alive"])
def test_a_head_not_ended_in_time_is_answered_408(
    hurried: ServiceProcess, answered_before: int
) -> None:
    # A head sent a line at a time, never ended: the old service waited for it for good
    # (a few thousand such connections held as many file descriptors).
    with _connection(hurried) as sock:
        for _ in range(answered_before):
            sock.sendall(_HEALTHZ)
            assert read_answer(sock).startswith(b"HTTP/1.1 200 ")
        sock.sendall(b"GET /v2/lic%65nses?size=1 HTTP/1.1\r\nhost: x\r\n")
        answer = read_answer(sock)
        assert sock.recv(1) == b""  # and closed
    error = _refused(answer, 408, "/v2/licenses")
    assert (
        error.message
        == f"The request line and headers took over {_HEAD_SECONDS} s; send them at once."
    )


def test_a_new_connection_that_sends_nothing_is_closed(hurried: ServiceProcess) -> None:
    with _connection(hurried) as sock:
        assert sock.recv(1) == b""  # the old service kept it open: recv timed out


def test_neither_the_wait_between_requests_nor_a_slow_body_is_bounded(
    hurried: ServiceProcess,
) -> None:
    """The head's bound starts at the next request's first byte, and ends with its head:
    a kept-alive connection idle past it, then a body sent past it, are answered."""
    form = b"grant_type=client_credentials&client_id=psc_none&client_secret=wrong"
    head = (
        b"POST /oauth2/token HTTP/1.1\r\nhost: x\r\n"
        b"content-type: application/x-www-form-urlencoded\r\n"
        + f"content-length: {len(form)}\r\n\r\n".encode()
    )
    with _connection(hurried) as sock:
        sock.sendall(_HEALTHZ)
        assert read_answer(sock).startswith(b"HTTP/1.1 200 ")
        time.sleep(_HEAD_SECONDS + 1)  # idle between requests, within uvicorn's 5 s
        sock.sendall(head + form[:10])
        time.sleep(_HEAD_SECONDS + 1)  # the body comes slowly
        sock.sendall(form[10:])
        answer = read_answer(sock)
    assert answer.startswith(b"HTTP/1.1 401 "), answer[:200]  # no such client


# Long enough that the next head arrives, and passes the bound, while this one is answered.
_ANSWER_SECONDS = 3


@pytest.fixture(scope="module")
def slow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    """A service that answers each API request ``_ANSWER_SECONDS`` late (its chaos latency)."""
    directory = tmp_path_factory.mktemp("head-slow")
    env = {"PRODUCERSYNC_CHAOS_LATENCY_MS": str(_ANSWER_SECONDS * 1000)}
    with service_process(f"sqlite:///{directory / 'store.db'}", directory, env=env) as running:
        yield running


def test_a_pipelined_head_past_the_bound_ends_the_connection_after_the_answer_before_it(
    slow: ServiceProcess,
) -> None:
    # The old service wrote its 431 at once, so the client read it as the answer to the
    # request before (a write, perhaps, that was done), whose own answer was lost.
    with _connection(slow) as sock:
        sock.sendall(b"GET /v2/licenses HTTP/1.1\r\nhost: x\r\n\r\n")
        time.sleep(0.5)  # a read of its own: the next head is counted from its first byte
        sock.sendall(b"GET /healthz HTTP/1.1\r\nhost: x\r\n" + _padding(MAX_HEAD_BYTES + 8192))
        answer = read_answer(sock)
        assert sock.recv(1) == b""  # and closed, the oversized head unanswered
    assert answer.startswith(b"HTTP/1.1 401 "), answer[:200]  # no token


def test_a_pipelined_request_the_parser_cannot_read_ends_the_connection_after_the_answer_before(
    slow: ServiceProcess,
) -> None:
    # As for a head past the bound: the old service wrote its 400 at once, which the
    # client read as the answer to the request before.
    with _connection(slow) as sock:
        sock.sendall(b"GET /v2/licenses HTTP/1.1\r\nhost: x\r\n\r\n")
        time.sleep(0.5)  # a read of its own
        sock.sendall(b"GET /v2/licenses HTTP/1.1\r\nho st: x\r\n\r\n")
        answer = read_answer(sock)
        assert sock.recv(1) == b""  # and closed, the unreadable request unanswered
    assert answer.startswith(b"HTTP/1.1 401 "), answer[:200]  # no token
