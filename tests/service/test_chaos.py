"""Chaos settings: latency on every API response; faults (a 500, a 429, a dropped
connection) for admitted API requests only, never changing state; off unless set."""

from __future__ import annotations

import socket
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pydantic
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from producersync.cli.main import app as cli
from producersync.service.app import create_app
from producersync.service.chaos import Chaos
from producersync.service.settings import ServiceSettings
from producersync.service.store.tables import jobs, subscriptions
from tests.support.databases import store_url
from tests.support.service import RunningService, running_service

RATE_LIMIT = 70
LATENCY_MS = 1000
ERROR_KEYS = {"timestamp", "status", "error", "message", "path"}


@pytest.fixture(scope="module")
def chaotic(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningService]:
    """Every admitted API request faults; draws seeded."""
    directory = tmp_path_factory.mktemp("chaotic")
    with (
        store_url("sqlite", directory) as url,
        running_service(
            url, chaos_fault_rate=1.0, chaos_seed=7, api_rate_limit_per_minute=RATE_LIMIT
        ) as svc,
    ):
        yield svc


def _request(
    http: httpx2.Client, method: str = "GET", path: str = "/v2/licenses", **kwargs: object
) -> httpx2.Response | None:
    """The response, or None when the connection was dropped without one."""
    try:
        return http.request(method, path, **kwargs)  # type: ignore[arg-type]
    except (httpx2.RemoteProtocolError, httpx2.ReadError):
        return None


def _kind(response: httpx2.Response | None) -> str:
    return "drop" if response is None else str(response.status_code)


def _job_and_subscription_counts(svc: RunningService, account_id: int) -> tuple[int, int]:
    with svc.engine.connect() as conn:
        job_count = conn.scalar(
            sa.select(sa.func.count()).select_from(jobs).where(jobs.c.account_id == account_id)
        )
        subscription_count = conn.scalar(
            sa.select(sa.func.count())
            .select_from(subscriptions)
            .where(subscriptions.c.account_id == account_id)
        )
    return int(job_count or 0), int(subscription_count or 0)


def test_fault_rate_one_gives_only_the_three_faults(chaotic: RunningService) -> None:
    with chaotic.client(chaotic.account()) as http:
        responses = [_request(http) for _ in range(60)]
    kinds = Counter(_kind(r) for r in responses)
    assert set(kinds) == {"500", "429", "drop"}, kinds
    for response in responses:
        if response is None:
            continue
        body = response.json()
        assert set(body) == ERROR_KEYS
        assert body["status"] == response.status_code
        assert body["path"] == "/v2/licenses"
        assert "injected" in body["message"]
        assert response.headers["ratelimit-limit"] == str(RATE_LIMIT)
        if response.status_code == 429:
            assert body["error"] == "Too Many Requests"
            assert response.headers["retry-after"] == "1"
            assert response.headers["ratelimit-remaining"] == "0"
            assert response.headers["ratelimit-reset"] == "1"
        else:
            assert body["error"] == "Internal Server Error"
            assert "retry-after" not in response.headers


def test_a_dropped_connection_sends_no_byte(chaotic: RunningService) -> None:
    token = chaotic.token(chaotic.account())
    host, port = chaotic.base_url.removeprefix("http://").split(":")
    request = (
        f"GET /v2/licenses HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    replies = []
    for _ in range(30):
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            sock.sendall(request)
            reply = b""
            try:
                while chunk := sock.recv(65536):
                    reply += chunk
            except ConnectionResetError:
                pass
        replies.append(reply)
        if not reply:
            break
    assert b"" in replies
    assert all(r.startswith((b"HTTP/1.1 500 ", b"HTTP/1.1 429 ")) for r in replies if r)


def test_a_fault_never_changes_state(chaotic: RunningService) -> None:
    creds = chaotic.account()
    with chaotic.client(creds) as http:
        kinds = Counter(
            _kind(_request(http, method, "/v1/accounts/subscriptions", json=["10070439"]))
            for method in ("PUT", "POST", "DELETE")
            for _ in range(10)
        )
    assert set(kinds) <= {"500", "429", "drop"}, kinds
    assert _job_and_subscription_counts(chaotic, creds.account_id) == (0, 0)


def test_the_gate_answers_truthfully_before_any_fault(chaotic: RunningService) -> None:
    with chaotic.client() as anonymous:
        unauthenticated = [_request(anonymous) for _ in range(20)]
    with chaotic.client() as forged:
        forged.headers["authorization"] = "Bearer not-a-token"
        bad_token = [_request(forged) for _ in range(20)]
    assert {_kind(r) for r in unauthenticated + bad_token} == {"401"}

    with chaotic.client(chaotic.account()) as http:
        admitted = [_request(http) for _ in range(RATE_LIMIT)]
        throttled = _request(http)
    assert {_kind(r) for r in admitted} <= {"500", "429", "drop"}
    assert throttled is not None and throttled.status_code == 429
    assert "injected" not in throttled.json()["message"]
    assert f"{RATE_LIMIT} requests per minute" in throttled.json()["message"]
    assert throttled.headers["ratelimit-remaining"] == "0"


def test_token_endpoint_and_operations_are_unaffected(chaotic: RunningService) -> None:
    creds = chaotic.account()
    form = {
        "grant_type": "client_credentials",
        "client_id": creds.client_id,
        "client_secret": creds.client_secret,
    }
    with chaotic.client() as http:
        tokens = [_request(http, "POST", "/oauth2/token", data=form) for _ in range(20)]
        operations = [_request(http, "GET", p) for p in ("/healthz", "/openapi.json", "/docs")]
    assert {_kind(r) for r in tokens + operations} == {"200"}


def test_latency_is_added_to_every_api_response_only(tmp_path: Path) -> None:
    with (
        store_url("sqlite", tmp_path) as url,
        running_service(url, chaos_latency_ms=LATENCY_MS) as svc,
    ):
        creds = svc.account()
        with svc.client(creds) as http, svc.client() as anonymous:
            timed = {}
            for name, client, path in [
                ("api", http, "/v2/licenses"),
                ("unauthenticated api", anonymous, "/v1/licenses"),
                ("healthz", http, "/healthz"),
            ]:
                started = time.monotonic()
                status = client.get(path).status_code
                timed[name] = (status, time.monotonic() - started)
            form = {
                "grant_type": "client_credentials",
                "client_id": creds.client_id,
                "client_secret": creds.client_secret,
            }
            started = time.monotonic()
            status = anonymous.post("/oauth2/token", data=form).status_code
            timed["token"] = (status, time.monotonic() - started)

    latency = LATENCY_MS / 1000
    assert timed["api"][0] == 200
    assert timed["unauthenticated api"][0] == 401
    for name in ("api", "unauthenticated api"):
        assert latency <= timed[name][1] < latency + 15, timed
    for name in ("healthz", "token"):
        assert timed[name][0] == 200
        assert timed[name][1] < latency, timed


def test_fault_rate_zero_gives_no_fault(tmp_path: Path) -> None:
    with (
        store_url("sqlite", tmp_path) as url,
        running_service(url, chaos_latency_ms=1, chaos_fault_rate=0) as svc,
    ):
        creds = svc.account()
        with svc.client(creds) as http:
            kinds = Counter(_kind(_request(http)) for _ in range(60))
            accepted = http.put("/v1/accounts/subscriptions", json=["10070439"])
        assert kinds == {"200": 60}
        assert accepted.status_code == 202
        assert _job_and_subscription_counts(svc, creds.account_id)[0] == 1


@pytest.mark.parametrize(
    ("overrides", "installed"),
    [
        ({}, False),
        ({"chaos_seed": 3}, False),
        ({"chaos_latency_ms": 5}, True),
        ({"chaos_fault_rate": 0.1}, True),
    ],
)
def test_chaos_is_installed_only_when_set(overrides: dict[str, object], installed: bool) -> None:
    app = create_app(ServiceSettings(**overrides))  # type: ignore[arg-type]
    middleware: list[object] = [m.cls for m in app.user_middleware]
    assert (Chaos in middleware) is installed


@pytest.mark.parametrize(
    "overrides",
    [
        {"chaos_latency_ms": -1},
        {"chaos_fault_rate": 1.5},
        {"chaos_fault_rate": -0.1},
        {"chaos_latency_ms": float("inf")},
    ],
)
def test_bad_chaos_settings_are_refused(overrides: dict[str, object]) -> None:
    with pytest.raises(pydantic.ValidationError):
        ServiceSettings(**overrides)  # type: ignore[arg-type]


def test_service_run_help_shows_the_chaos_options() -> None:
    result = CliRunner().invoke(cli, ["service", "run", "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "--chaos-latency-ms" in result.output
    assert "--chaos-fault-rate" in result.output
