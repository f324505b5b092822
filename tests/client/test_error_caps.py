"""What an error carries from a hostile server is capped: a real server on loopback
(``tests/support/fault_proxy.py``, relaying every request) answers with error messages,
codes and bodies of megabytes, and neither ``str(exc)`` nor a log line grows with them."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import httpx2
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from producersync.client import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    Client,
    ProducerSyncError,
    ResponseValidationError,
    ServerError,
    WaitTimeoutError,
)
from producersync.client._constants import MAX_ERROR_CHARS
from producersync.client._exceptions import capped
from tests.support.errors import STATUS_ERRORS
from tests.support.fault_proxy import FaultMix, fault_proxy

HUGE = 2_000_000  # characters of each hostile string
MESSAGE = "m" * HUGE


def _standard(status: int) -> JSONResponse:
    """The standard error body, every string in it of megabytes."""
    body = {"status": status, "error": "e" * HUGE, "message": MESSAGE, "path": "p" * HUGE}
    return JSONResponse(body, status_code=status, headers={"retry-after": "0"})


async def _api(request: Request) -> Response:
    path = request.url.path
    if path == "/oauth2/token":
        form = await request.form()
        if form["client_id"] == "refused":
            refusal = {"error": "invalid_client", "error_description": MESSAGE}
            return JSONResponse(refusal, status_code=400)
        return JSONResponse({"access_token": "t", "token_type": "Bearer", "expires_in": 3600})
    if path.startswith("/v1/status/"):
        return _standard(int(path.rsplit("/", 1)[1]))
    if path == "/v1/text":
        return PlainTextResponse("t" * HUGE, status_code=502)
    # A page of records that fit no model: a validation error per record.
    rows = [{"id": "not-an-id", "npn": i} for i in range(20_000)]
    return JSONResponse({"embedded": {"licenses": rows}, "links": {}})


@pytest.fixture(scope="module")
def api_url() -> Iterator[str]:
    app = Starlette(routes=[Route("/{path:path}", _api, methods=["GET", "POST"])])
    relay = FaultMix(server_error=0, rate_limited=0, reset=0, slow=0)
    with fault_proxy("http://api", relay, transport=httpx2.ASGITransport(app)) as proxy:
        yield proxy.url


def _client(url: str, client_id: str = "cid", retries: int = 0) -> Client:
    return Client(client_id, "secret", base_url=url, max_retries=retries, rate_limit=1_000_000)


def _assert_capped(text: str | None, whole: int) -> None:
    assert text is not None
    assert len(text) <= MAX_ERROR_CHARS
    kept, _, marker = text.partition(" … [")
    assert marker == f"{whole - len(kept):,} more characters cut]"


@pytest.mark.parametrize(("status", "cls"), STATUS_ERRORS)
def test_a_status_error_s_message_code_and_path_are_capped(
    status: int, cls: type[APIStatusError], api_url: str
) -> None:
    with _client(api_url) as client, pytest.raises(cls) as raised:
        client.request("GET", f"/v1/status/{status}")
    error = raised.value
    assert type(error) is cls
    prefix = f"{status} {error.response.reason_phrase}: "
    _assert_capped(str(error), len(prefix) + HUGE)
    assert str(error).startswith(prefix + "m")
    assert error.message == str(error)
    _assert_capped(error.error, HUGE)
    _assert_capped(error.path, HUGE)


def test_a_refused_token_request_s_description_is_capped(api_url: str) -> None:
    with (
        _client(api_url, client_id="refused") as client,
        pytest.raises(AuthenticationError) as raised,
    ):
        client.request("GET", "/v1/status/200")
    assert raised.value.error == "invalid_client"
    assert len(str(raised.value)) <= MAX_ERROR_CHARS
    assert str(raised.value).endswith(" more characters cut]")


def test_a_body_that_is_not_json_is_carried_capped(api_url: str) -> None:
    with _client(api_url) as client, pytest.raises(ServerError) as raised:
        client.request("GET", "/v1/text")
    assert str(raised.value) == f"502 {raised.value.response.reason_phrase}"
    _assert_capped(raised.value.body, HUGE)


def test_a_malformed_page_s_validation_error_is_capped(api_url: str) -> None:
    with _client(api_url) as client, pytest.raises(ResponseValidationError) as raised:
        list(client.licenses.list())
    assert str(raised.value).startswith("malformed licenses page: ")
    assert len(str(raised.value)) <= MAX_ERROR_CHARS


def test_a_retried_error_is_logged_capped_at_info(
    api_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A retry is logged at INFO, where an application's log shows it; each call, at DEBUG."""
    caplog.set_level(logging.INFO, logger="producersync.client")
    with _client(api_url, retries=1) as client, pytest.raises(ServerError):
        client.request("GET", "/v1/status/503")
    retries = [r.getMessage() for r in caplog.records if "; retry 1 in" in r.getMessage()]
    assert len(retries) == 1
    assert MAX_ERROR_CHARS < len(retries[0]) < MAX_ERROR_CHARS + 200
    assert not [r for r in caplog.records if " -> " in r.getMessage()]


REQUEST = httpx2.Request("GET", "https://api.example/v2/licenses")


@pytest.mark.parametrize(
    ("make", "before"),
    [
        (ProducerSyncError, ""),
        (ResponseValidationError, ""),
        (lambda text: APIError(text, REQUEST), ""),
        # A connection error's message names its call first.
        (lambda text: APIConnectionError(REQUEST, text), "GET https://api.example/v2/licenses: "),
        (lambda text: ServerError(text, httpx2.Response(500, request=REQUEST)), ""),
    ],
)
def test_every_error_class_caps_its_message(make: type[ProducerSyncError], before: str) -> None:
    _assert_capped(str(make("x" * HUGE)), len(before) + HUGE)
    assert str(APITimeoutError(REQUEST)) == "GET https://api.example/v2/licenses: Request timed out"


def test_a_wait_s_timeout_caps_its_message() -> None:
    """Its job id and last status are the server's (a status of megabytes, say)."""
    whole = f"job {'x' * HUGE}: no status came within the wait's 30 s"
    _assert_capped(str(WaitTimeoutError("x" * HUGE, None, 30)), len(whole))


@pytest.mark.parametrize("length", [0, 1, MAX_ERROR_CHARS, MAX_ERROR_CHARS + 1, 10**7])
def test_capping_keeps_short_text_and_is_idempotent(length: int) -> None:
    text = "c" * length
    once = capped(text)
    assert once == text if length <= MAX_ERROR_CHARS else len(once) <= MAX_ERROR_CHARS
    assert capped(once) == once
