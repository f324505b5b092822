"""A failed run's error names the request the API refused, for its operator."""

from __future__ import annotations

import httpx2
import pytest

from producersync.client import APIConnectionError, AuthenticationError, ServerError
from producersync.sync.failure import run_failure

REQUEST = httpx2.Request("GET", "http://api.example/v2/licenses")


def _answered(status: int, body: dict[str, str], headers: dict[str, str]) -> httpx2.Response:
    return httpx2.Response(status, json=body, headers=headers, request=REQUEST)


@pytest.mark.parametrize(
    ("headers", "said"),
    [
        ({"x-request-id": "req_1"}, "ServerError: 503 boom (request_id req_1)"),
        ({"request-id": "abc-2"}, "ServerError: 503 boom (request_id abc-2)"),
        ({}, "ServerError: 503 boom"),
    ],
    ids=["x-request-id", "request-id", "none"],
)
def test_a_run_failed_on_the_api_names_the_request_id_the_server_gave(
    headers: dict[str, str], said: str
) -> None:
    error = ServerError("503 boom", _answered(503, {"message": "boom"}, headers))
    assert run_failure(error) == said


def test_credentials_refused_name_the_request_then_the_settings_to_change() -> None:
    body = {"error": "invalid_client"}
    response = _answered(401, body, {"x-request-id": "req_3"})
    error = run_failure(AuthenticationError("401 Unauthorized: no", response, body))
    assert error.startswith("AuthenticationError: 401 Unauthorized: no (request_id req_3) (")
    assert "PRODUCERSYNC_CLIENT_SECRET must be a live client's" in error


def test_a_failure_without_a_response_is_told_as_it_is() -> None:
    error = APIConnectionError(REQUEST, "Connection error: refused")
    assert run_failure(error) == (
        "APIConnectionError: GET http://api.example/v2/licenses: Connection error: refused"
    )
    assert run_failure(ValueError("not ours")) == "ValueError: not ours"
