"""Each attempt's deadline, for the whole of its response: against a real server on
loopback (``tests/support/fault_proxy.py``) that dribbles its responses a byte at a time,
each byte well within the read timeout, the whole far past the deadline."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from typing import Any

import anyio
import httpx2
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from producersync.client import APITimeoutError, AsyncClient, Client
from producersync.client._constants import DEFAULT_TIMEOUT
from tests.client.fake import FakeAPI, json_response
from tests.support.fault_proxy import FaultMix, FaultProxy, dribbled, fault_proxy

BODY = {"id": 1, "padding": "x" * 500}
TIMEOUT = 1.0  # each read's
DEADLINE = 0.5
KINDS = pytest.mark.parametrize("kind", ["sync", "async"])


async def api(request: Request) -> JSONResponse:
    """A token for every token request, ``BODY`` for any other."""
    if request.url.path == "/oauth2/token":
        return JSONResponse({"access_token": "t", "expires_in": 3600})
    return JSONResponse(BODY)


@pytest.fixture
def proxy() -> Iterator[FaultProxy]:
    """A proxy to ``api`` in this process, dribbling every response: a byte every 0.02 s,
    50 of them within a read's timeout, the whole body in over 10 s."""
    app = Starlette(routes=[Route("/{path:path}", api, methods=["GET", "POST"])])
    with fault_proxy("http://api", dribbled(0.02), transport=httpx2.ASGITransport(app)) as up:
        yield up


def get(
    kind: str,
    proxy: FaultProxy,
    client: dict[str, Any] | None = None,
    call: dict[str, Any] | None = None,
    token: bool = True,
) -> Any:
    """``GET /v1/licenses/1`` through the proxy, by a new client of ``kind`` (options
    ``client``, and ``call`` for the call): its body. With ``token``, the client holds
    one already, so that the call alone goes through the proxy."""
    options = {"timeout": TIMEOUT, "max_retries": 0, "rate_limit": 1_000_000, **(client or {})}
    granted = json_response(200, {"access_token": "t"})
    if kind == "sync":
        with Client("cid", "csecret", base_url=proxy.url, **options) as sync_client:
            if token:
                sync_client.tokens.store(granted)
            return sync_client.request("GET", "/v1/licenses/1", **(call or {}))

    async def main() -> Any:
        async with AsyncClient("cid", "csecret", base_url=proxy.url, **options) as async_client:
            if token:
                async_client.tokens.store(granted)
            return await async_client.request("GET", "/v1/licenses/1", **(call or {}))

    return anyio.run(main)


def cut(
    kind: str,
    proxy: FaultProxy,
    client: dict[str, Any],
    call: dict[str, Any] | None = None,
    token: bool = True,
) -> tuple[float, APITimeoutError]:
    """``get`` with these options failing as a timeout, as it must: after how long, and
    the error. Each test's server takes seconds to answer whole, so that a call the
    deadline did not cut would be answered, not raise: no test needs an upper bound on
    the time taken, which a loaded machine could exceed."""
    started = time.monotonic()
    with pytest.raises(APITimeoutError) as raised:
        get(kind, proxy, client, call, token)
    return time.monotonic() - started, raised.value


@KINDS
def test_a_dribbled_response_is_cut_at_its_deadline_and_retried(
    kind: str, proxy: FaultProxy
) -> None:
    # Cut, not answered: the dribble, uncut, would have come whole in over 10 s.
    _, error = cut(kind, proxy, {"deadline": DEADLINE, "max_retries": 1})
    assert proxy.dealt["dribble"] == 2  # retried, as a timeout is
    assert "deadline" in str(error.__cause__)


@KINDS
def test_by_default_a_dribble_is_cut_once_every_wait_s_timeout_has_passed(
    kind: str, proxy: FaultProxy
) -> None:
    # Cut after 4 s at timeout=1, not sooner; uncut, the dribble would have come whole.
    took, _ = cut(kind, proxy, {})
    assert took >= 4


@KINDS
def test_a_dribbled_token_response_is_cut_at_the_call_s_deadline(
    kind: str, proxy: FaultProxy
) -> None:
    cut(kind, proxy, {"deadline": DEADLINE}, token=False)
    assert proxy.dealt["dribble"] == 1  # the token request: the call was never sent


@KINDS
def test_a_call_s_deadline_overrides_the_client_s(kind: str, proxy: FaultProxy) -> None:
    cut(kind, proxy, {"deadline": math.inf}, {"deadline": DEADLINE})


@KINDS
def test_a_slow_response_within_its_deadline_comes_whole(kind: str, proxy: FaultProxy) -> None:
    proxy.use(dribbled(0.001))
    assert get(kind, proxy, {"deadline": 30}) == BODY


@KINDS
def test_no_wait_outlasts_the_deadline(kind: str, proxy: FaultProxy) -> None:
    """A server silent for 5 s, under a read timeout of 60 s: the deadline caps it."""
    proxy.use(FaultMix(server_error=0, rate_limited=0, reset=0, slow=100, slow_seconds=5))
    cut(kind, proxy, {"timeout": 60, "deadline": DEADLINE})


@pytest.mark.parametrize(
    ("timeout", "deadline"),
    [
        (DEFAULT_TIMEOUT, 185.0),  # Timeout(60.0, connect=5.0): each wait once
        (1.0, 4.0),
        # A wait without a timeout counts as the default's: the attempt still ends.
        (httpx2.Timeout(10.0, connect=2.0, pool=None), 82.0),
        (httpx2.Timeout(None), 185.0),
        (None, 185.0),
    ],
)
@pytest.mark.parametrize("client_class", [Client, AsyncClient])
def test_the_deadline_defaults_to_every_wait_s_timeout_once(
    client_class: Any, timeout: httpx2.Timeout | float | None, deadline: float
) -> None:
    client = client_class("cid", "csecret", base_url="https://fake", timeout=timeout)
    assert client.deadline == deadline


@pytest.mark.parametrize("client_class", [Client, AsyncClient])
def test_timeout_none_is_no_timeout_on_any_wait_as_in_httpx(client_class: Any) -> None:
    """It was the client's default, 60 s a wait, where httpx and the docs' own
    ``Timeout(None)`` mean none; left out, the timeout is still the default."""
    unbounded = client_class("cid", "csecret", base_url="https://fake", timeout=None)
    assert unbounded.timeout == httpx2.Timeout(None)
    assert client_class("cid", "csecret", base_url="https://fake").timeout == DEFAULT_TIMEOUT


@pytest.mark.parametrize("deadline", [0, -1.0, math.nan])
def test_a_call_s_deadline_that_is_none_is_refused_before_any_request(deadline: float) -> None:
    api = FakeAPI(lambda request: json_response(200, BODY))
    with api.client() as client, pytest.raises(ValueError, match="deadline must be positive"):
        client.request("GET", "/v1/licenses/1", deadline=deadline)
    assert api.token_requests == 0 and not api.api_requests
