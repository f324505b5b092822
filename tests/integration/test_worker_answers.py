"""What a ``producersync service worker`` process answers beside its ``/healthz`` and
``/metrics``: the standard error body, as the service's other processes give it."""

from __future__ import annotations

from collections.abc import Iterator

import httpx2
import pytest

from producersync.service.errors import ErrorBody
from tests.support.processes import ServiceProcess, service_process

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
    response = httpx2.request(method, f"{worker.base_url}{path}")
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    error = ErrorBody.model_validate(response.json())
    assert (error.status, error.message, error.path) == (status, message, path)
    if status == 405:
        assert response.headers["allow"] == "GET, HEAD"
