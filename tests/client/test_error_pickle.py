"""Every SDK error survives pickling as itself: a durable workflow (DBOS) records a
failed step's error by pickling it, and reads it back where the workflow goes on."""

from __future__ import annotations

import pickle
from typing import Any

import httpx2
import pytest

from producersync.client import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    CallCancelledError,
    ProducerSyncError,
    RateLimitError,
    ResponseValidationError,
    ServerError,
    WaitTimeoutError,
)
from producersync.client._exceptions import make_status_error
from tests.client.fake import FakeAPI
from tests.support.errors import STATUS_ERRORS

SECRET = "Bearer tok-VERY-SECRET"
REQUEST = httpx2.Request(
    "GET",
    "https://user:pass-VERY-SECRET@api.example/v2/licenses?npns=1",
    headers={"authorization": SECRET},
)


def _answered(status: int, headers: dict[str, str] | None = None) -> APIStatusError:
    body = {"status": status, "error": "E", "message": "went wrong", "path": "/v2/licenses"}
    headers = {"retry-after": "300", **(headers or {})}
    return make_status_error(httpx2.Response(status, json=body, headers=headers, request=REQUEST))


def _round_trip(error: ProducerSyncError) -> Any:
    pickled = pickle.dumps(error)
    assert b"VERY-SECRET" not in pickled  # neither the token nor the URL's password
    return pickle.loads(pickled)


@pytest.mark.parametrize(("status", "cls"), STATUS_ERRORS)
def test_a_status_error_round_trips_as_itself(status: int, cls: type[APIStatusError]) -> None:
    error = _answered(status, {"retry-after": "300", "x-request-id": "req_7"})
    again = _round_trip(error)
    assert type(again) is cls
    assert str(again) == str(error) == f"{status} {error.response.reason_phrase}: went wrong"
    fields = ("message", "status_code", "error", "path", "body", "request_id")
    assert [getattr(again, name) for name in fields] == [
        error.message,
        status,
        "E",
        "/v2/licenses",
        error.body,
        "req_7",
    ]
    assert again.response.status_code == status
    assert again.request is again.response.request
    assert (again.request.method, str(again.request.url)) == (
        "GET",
        "https://api.example/v2/licenses?npns=1",
    )
    assert "authorization" not in again.request.headers


def test_a_rate_limit_error_keeps_its_wait() -> None:
    again = _round_trip(_answered(429))
    assert isinstance(again, RateLimitError)
    assert again.retry_after == 300.0


@pytest.mark.parametrize(
    "error",
    [
        APIConnectionError(REQUEST, "Connection error: ConnectError: refused"),
        APITimeoutError(REQUEST),
        APIError("failed", REQUEST, {"any": "body"}),
    ],
    ids=type,
)
def test_an_error_without_a_response_round_trips_as_itself(error: APIError) -> None:
    again = _round_trip(error)
    assert type(again) is type(error)
    assert (str(again), again.message, again.body) == (str(error), error.message, error.body)
    assert str(again.request.url) == "https://api.example/v2/licenses?npns=1"


@pytest.mark.parametrize(
    "error",
    [
        ProducerSyncError("client_id and client_secret are required"),
        ResponseValidationError("malformed licenses page: not a JSON object"),
        WaitTimeoutError("0ded8367-01ac-4519-8cd7-ce965d55c0b0", None, 30),
    ],
    ids=type,
)
def test_an_error_from_no_call_round_trips_as_itself(error: ProducerSyncError) -> None:
    again = _round_trip(error)
    assert type(again) is type(error)
    assert str(again) == str(error)


def test_a_round_trip_keeps_a_capped_message_as_it_was() -> None:
    error = ServerError("m" * 10_000, httpx2.Response(500, request=REQUEST))
    assert _round_trip(error).message == error.message


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"x-request-id": "req_7"}, "req_7"),
        ({"Request-Id": "req_8"}, "req_8"),  # Stripe's and Anthropic's name
        ({"x-request-id": ""}, None),
        ({}, None),
    ],
)
def test_a_status_error_names_the_request_as_the_server_did(
    headers: dict[str, str], expected: str | None
) -> None:
    assert _answered(500, headers).request_id == expected


@pytest.mark.parametrize(
    "error",
    [
        APITimeoutError(REQUEST),
        ProducerSyncError("client_id and client_secret are required"),
        ResponseValidationError("malformed licenses page: not a JSON object"),
        WaitTimeoutError("0ded8367-01ac-4519-8cd7-ce965d55c0b0", None, 30),
        CallCancelledError("the call was cancelled before it was sent"),
    ],
    ids=type,
)
def test_an_error_without_a_response_has_a_request_id_of_none(error: ProducerSyncError) -> None:
    """Every SDK error has one, so that a handler of any of them can log it."""
    assert error.request_id is None
    assert _round_trip(error).request_id is None


def test_a_response_not_shaped_as_documented_names_its_request() -> None:
    def not_json(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, content=b"<html>", headers={"x-request-id": "req_9"})

    with FakeAPI(not_json).client() as client, pytest.raises(ResponseValidationError) as caught:
        client.request("GET", "/v1/accounts/subscriptions")
    assert caught.value.request_id == "req_9"
    assert _round_trip(caught.value).request_id == "req_9"


_TOKEN_URL = "https://gateway:pass-VERY-SECRET@fake/oauth2/token"


@pytest.mark.parametrize(
    ("answer", "cls"),
    [
        ({"token_status": 401}, AuthenticationError),
        ({"token_status": 400, "token_error": "invalid_grant"}, AuthenticationError),
        ({"token_status": 429, "token_error": "slow_down"}, RateLimitError),
        ({"token_status": 503, "token_error": "temporarily_unavailable"}, ServerError),
        ({"token_body": b"<html>"}, ResponseValidationError),
    ],
    ids=["refused", "invalid-grant", "throttled", "unavailable", "malformed"],
)
def test_a_failed_token_request_s_error_keeps_neither_the_secret_nor_the_url_s_password(
    answer: dict[str, Any], cls: type[ProducerSyncError]
) -> None:
    """The token request's body holds the client secret, and its URL may hold a gateway's
    password: its error shows, reprs and pickles neither."""
    fake = FakeAPI(lambda request: httpx2.Response(200), **answer)
    with (
        fake.client(token_url=_TOKEN_URL, max_retries=0) as client,
        pytest.raises(cls) as caught,
    ):
        client.request("GET", "/v2/licenses")
    if isinstance(caught.value, APIError):  # what there was to lose
        assert b"csecret-VERY-SECRET" in caught.value.request.content
    assert "VERY-SECRET" not in str(caught.value) + repr(caught.value)
    again = _round_trip(caught.value)
    assert type(again) is cls
    assert str(again) == str(caught.value)
