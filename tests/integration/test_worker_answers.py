"""What a ``producersync service worker`` process answers beside its ``/healthz`` and
``/metrics``: the standard error body, as the service's other processes give it."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import httpx2
import pytest

from producersync.service.errors import ErrorBody
from tests.support import plain_http
from tests.support.processes import ServiceProcess, service_process
from tests.support.raw_http import read_answer

pytestmark = pytest.mark.slow(10)


@pytest.fixture(scope="module")
def worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    directory = tmp_path_factory.mktemp("worker")
    url = f"sqlite:///{directory / 'store.db'}"
    with service_process(url, directory, command="worker") as running:
        yield running


@pytest.mark.parametrize(
    ("method", "path", "status", "message"),
    [
        ("GET", "/v2/licenses", 404, "No such resource: GET /v2/licenses"),
        ("POST", "/healthz", 405, "Method POST is not allowed on /healthz"),
    ],
)
def test_a_request_the_worker_does_not_serve_gets_the_standard_body(
    worker: ServiceProcess, method: str, path: str, status: int, message: str
) -> None:
    # Starlette's plain text ("Not Found", "Method Not Allowed"), where the worker's
    # refusals of a head (431, 408, 400) are the standard body.
    response = plain_http.request(method, f"{worker.base_url}{path}")
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    error = ErrorBody.model_validate(response.json())
    assert (error.status, error.message, error.path) == (status, message, path)
    if status == 405:
        assert response.headers["allow"] == "GET, HEAD"


def test_a_request_without_a_host_gets_the_standard_body(worker: ServiceProcess) -> None:
    """RFC 9112 §3.2, as the service's other processes refuse it."""
    url = httpx2.URL(worker.base_url)
    with socket.create_connection((url.host, url.port or 80), timeout=30) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nconnection: close\r\n\r\n")
        head, _, body = read_answer(sock).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 "), head
    error = ErrorBody.model_validate_json(body)
    assert error.message.startswith("Missing header 'Host': an HTTP/1.1 request names its host")
