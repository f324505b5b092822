"""A scripted ProducerSync for the SDK's fault tests, behind ``httpx2.MockTransport``."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx2
import orjson

from producersync.client import AsyncClient, Client

Handler = Callable[[httpx2.Request], httpx2.Response]
JOB = "0ded8367-01ac-4519-8cd7-ce965d55c0b0"  # a job id, as the API writes one


def page(key: str, items: list[dict[str, Any]], next_token: str | int | None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "links": {
            "self": {"href": "https://fake/v2/x?continuationToken=0"},
            "next": {"href": f"https://fake/v2/{key}?size=2&continuationToken={next_token or 0}"},
        }
    }
    if items:
        body["embedded"] = {key: items}
    return body


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> httpx2.Response:
    return httpx2.Response(
        status,
        content=orjson.dumps(body),
        headers={"content-type": "application/json", **(headers or {})},
    )


def job_status(status: str) -> httpx2.Response:
    """The status of job ``JOB``, as ``GET …/status/{jobId}`` answers it."""
    day = "2026-12-01"
    body = {"id": JOB, "status": status, "details": {}, "createdAt": day, "updatedAt": day}
    return json_response(200, body)


def error(
    status: int, message: str = "boom", headers: dict[str, str] | None = None
) -> httpx2.Response:
    return json_response(
        status,
        {
            "timestamp": 1,
            "status": status,
            "error": "E",
            "message": message,
            "path": "/v2/licenses",
        },
        headers,
    )


@dataclass
class FakeAPI:
    """Serves tokens (``tok-1``, ``tok-2``…) and hands API calls to ``api``."""

    api: Handler
    token_status: int = 200
    token_error: object = "invalid_client"  # the OAuth error of a refused token request
    expires_in: int = 3600
    token_body: bytes | None = None  # served as the token response's body instead, with 200
    token_headers: dict[str, str] = field(default_factory=dict)  # of a refused token request
    token_requests: int = 0
    api_requests: list[httpx2.Request] = field(default_factory=list)
    # As sent: a replayed request object is re-authorised in place.
    authorizations: list[str] = field(default_factory=list)
    _tokens: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        if request.url.path.endswith("/oauth2/token"):
            with self._lock:
                self.token_requests += 1
                number = next(self._tokens)
            if self.token_body is not None:
                return httpx2.Response(200, content=self.token_body)
            if self.token_status != 200:
                return json_response(
                    self.token_status,
                    {"error": self.token_error, "error_description": "no"},
                    self.token_headers,
                )
            return json_response(
                200,
                {
                    "token_type": "Bearer",
                    "expires_in": self.expires_in,
                    "access_token": f"tok-{number}",
                    "scope": "s",
                },
            )
        with self._lock:
            self.api_requests.append(request)
            self.authorizations.append(request.headers.get("authorization", ""))
        return self.api(request)

    def client(self, **options: Any) -> Client:
        options.setdefault("rate_limit", 1_000_000)
        options.setdefault("base_url", "https://fake")
        return Client(
            "cid",
            "csecret-VERY-SECRET",
            transport=httpx2.MockTransport(self),
            **options,
        )

    def async_client(self, **options: Any) -> AsyncClient:
        options.setdefault("rate_limit", 1_000_000)
        options.setdefault("base_url", "https://fake")
        return AsyncClient(
            "cid", "csecret-VERY-SECRET", transport=httpx2.MockTransport(self), **options
        )


def license_row(i: int) -> dict[str, Any]:
    return {
        "id": i,
        "npn": "123",
        "forState": "CA",
        "active": True,
        "licenseLoas": [],
        "futureField": {"kept": True},
    }
