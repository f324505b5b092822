"""Token reuse, refresh, single flight and the 401 replay."""

from __future__ import annotations

import logging
import pickle
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import anyio
import httpx2
import pytest
from anyio.from_thread import start_blocking_portal
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from producersync.client import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AsyncClient,
    AuthenticationError,
    BadRequestError,
    Client,
    RateLimitError,
    ResponseValidationError,
)
from producersync.client._auth import ClientCredentials, TokenCache
from producersync.client._cancel import Cancellation
from producersync.client._constants import DEFAULT_LIMITS
from producersync.client._pacing import Pacer
from tests.client.fake import FakeAPI, json_response, license_row, page
from tests.support.fault_proxy import FaultMix, fault_proxy
from tests.support.waiting import eventually


def ok_page(request: httpx2.Request) -> httpx2.Response:
    return json_response(200, page("licenses", [], None))


def test_token_is_fetched_lazily_and_reused() -> None:
    fake = FakeAPI(ok_page)
    with fake.client() as client:
        assert fake.token_requests == 0
        for _ in range(5):
            list(client.licenses.list())
    assert fake.token_requests == 1
    assert set(fake.authorizations) == {"Bearer tok-1"}


def test_token_is_refreshed_within_the_margin_of_expiry() -> None:
    clock = [0.0]
    cache = TokenCache(
        "https://fake/oauth2/token", "cid", "secret", None, 300, clock=lambda: clock[0]
    )
    fake = FakeAPI(ok_page)
    with httpx2.Client(transport=httpx2.MockTransport(fake)) as http:
        auth = ClientCredentials(cache)
        http.get("https://fake/v2/licenses", auth=auth)
        clock[0] = 3600 - 301
        http.get("https://fake/v2/licenses", auth=auth)
        assert fake.token_requests == 1
        clock[0] = 3600 - 299  # inside the 5-minute margin
        http.get("https://fake/v2/licenses", auth=auth)
        assert fake.token_requests == 2


def test_a_hundred_threads_without_a_token_make_one_token_request() -> None:
    fake = FakeAPI(ok_page)
    with fake.client() as client:
        barrier = threading.Barrier(100)

        def call() -> None:
            barrier.wait()
            list(client.licenses.list())

        threads = [threading.Thread(target=call) for _ in range(100)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert fake.token_requests == 1
    assert len(fake.api_requests) == 100


def test_a_hundred_tasks_without_a_token_make_one_token_request() -> None:
    fake = FakeAPI(ok_page)

    async def main() -> None:
        async with fake.async_client() as client, anyio.create_task_group() as group:
            for _ in range(100):
                group.start_soon(client.entities.get, "15645555")

    def entity(request: httpx2.Request) -> httpx2.Response:
        return json_response(200, {"id": 1, "npn": "15645555"})

    fake.api = entity
    anyio.run(main)
    assert fake.token_requests == 1
    assert len(fake.api_requests) == 100


def test_a_401_refetches_the_token_once_and_replays_the_call() -> None:
    def api(request: httpx2.Request) -> httpx2.Response:
        if request.headers["authorization"] == "Bearer tok-1":
            return json_response(401, {"status": 401, "message": "expired"})
        return json_response(200, page("licenses", [license_row(1)], None))

    fake = FakeAPI(api)
    with fake.client() as client:
        assert [r.id for r in client.licenses.list()] == [1]
    assert fake.token_requests == 2


class _Watched(Pacer):
    """The client's pacer, logging each slot taken and each status it observes."""

    def __init__(self) -> None:
        super().__init__(1_000_000)
        self.slots: list[float] = []
        self.statuses: list[int] = []

    def take(
        self,
        priority: float = 0.0,
        cancel: Cancellation | None = None,
        until: float | None = None,
    ) -> float:
        self.slots.append(priority)
        return super().take(priority, cancel, until)

    async def atake(self, priority: float = 0.0, until: float | None = None) -> float:
        self.slots.append(priority)
        return await super().atake(priority, until)

    def observe(
        self, status: int, headers: Any, sent_at: float | None = None, body: Any = None
    ) -> None:
        self.statuses.append(status)
        super().observe(status, headers, sent_at, body)


def _revoked_first_token(request: httpx2.Request) -> httpx2.Response:
    if request.headers["authorization"] == "Bearer tok-1":
        return json_response(401, {"status": 401, "message": "expired"})
    return json_response(200, {"id": 1, "npn": "15645555"})


def _calls(kind: str, fake: FakeAPI, pacer: Pacer, count: int, **options: Any) -> list[int]:
    """``count`` calls at once, from threads or tasks of one client paced by ``pacer``:
    the ids they read."""
    if kind == "sync":
        with fake.client(**options) as client, ThreadPoolExecutor(count) as pool:
            client.pacer = pacer
            futures = [pool.submit(client.entities.get, "15645555") for _ in range(count)]
            return [future.result().id for future in futures]

    async def main() -> list[int]:
        ids: list[int] = []

        async def call() -> None:
            ids.append((await client.entities.get("15645555")).id)

        async with fake.async_client(**options) as client, anyio.create_task_group() as group:
            client.pacer = pacer
            for _ in range(count):
                group.start_soon(call)
        return ids

    return anyio.run(main)


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_the_replay_after_a_401_takes_a_pacing_slot_and_its_401_is_read(kind: str) -> None:
    """Replayed inside the auth flow, the call sent two requests in one slot, and the
    401's rate-limit headers were never read. The replay is no retry: it is made with
    retries turned off too."""
    fake, pacer = FakeAPI(_revoked_first_token), _Watched()
    assert _calls(kind, fake, pacer, 1, max_retries=0) == [1]
    assert pacer.statuses == [401, 200]
    assert len(pacer.slots) == len(fake.api_requests) == 2


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_a_burst_of_401s_takes_a_slot_for_every_request_and_one_new_token(kind: str) -> None:
    fake, pacer = FakeAPI(_revoked_first_token), _Watched()
    assert _calls(kind, fake, pacer, 20) == [1] * 20
    assert len(pacer.slots) == len(pacer.statuses) == len(fake.api_requests)
    assert fake.token_requests == 2  # single flight: one refetch for every 401


@pytest.mark.parametrize("status", [401, 400])
def test_a_refused_token_request_raises_at_once(status: int) -> None:
    # RFC 6749 lets a server refuse credentials with a 400 `invalid_client`: the same
    # refusal, the same error.
    fake = FakeAPI(ok_page, token_status=status)
    with fake.client() as client, pytest.raises(AuthenticationError) as caught:
        list(client.licenses.list())
    assert caught.value.status_code == status
    assert caught.value.error == "invalid_client"
    assert caught.value.credentials_refused  # no new token mends it: the secret is wrong
    assert fake.token_requests == 1
    assert not fake.api_requests


@pytest.mark.parametrize("status", [401, 400])
def test_a_refused_token_request_names_the_client_and_says_what_to_check(status: int) -> None:
    """It said "401 Unauthorized: no", which named neither the client nor the endpoint."""
    fake = FakeAPI(ok_page, token_status=status)
    with fake.client() as client, pytest.raises(AuthenticationError) as caught:
        list(client.licenses.list())
    assert str(caught.value).endswith(
        ": no (the token endpoint https://fake/oauth2/token refused client_id 'cid': check "
        "client_id and client_secret; a client revoked, or whose secret was rotated, is "
        "refused until it is given a live one)"
    )
    assert "VERY-SECRET" not in str(caught.value)


def test_a_token_refused_twice_is_no_refusal_of_the_credentials() -> None:
    """An API call's second 401 is an AuthenticationError too, of a token: a caller that
    told the two apart read the OAuth codes itself (the sync kept a copy of them)."""
    fake = FakeAPI(lambda request: httpx2.Response(401, json={"error": "invalid_token"}))
    with fake.client() as client, pytest.raises(AuthenticationError) as caught:
        list(client.licenses.list())
    assert caught.value.error == "invalid_token" and not caught.value.credentials_refused


def test_a_throttled_token_request_says_how_long_to_wait() -> None:
    """The API limits token requests to 200 a minute: its 429 is a RateLimitError like a
    call's, and its ``retry_after`` was None whatever the Retry-After said."""
    fake = FakeAPI(ok_page, token_status=429, token_headers={"retry-after": "7"})
    with fake.client(max_retries=0) as client, pytest.raises(RateLimitError) as caught:
        list(client.licenses.list())
    assert caught.value.retry_after == 7.0


def test_a_malformed_token_request_stays_a_bad_request() -> None:
    fake = FakeAPI(ok_page, token_status=400, token_error="unsupported_grant_type")
    with fake.client() as client, pytest.raises(BadRequestError) as caught:
        list(client.licenses.list())
    assert not isinstance(caught.value, AuthenticationError)


def test_debug_logs_never_carry_the_secret_or_the_token(caplog: pytest.LogCaptureFixture) -> None:
    fake = FakeAPI(ok_page)
    # The SDK's logger by name: a serving command run in this process before (its
    # dictConfig) leaves the producersync logger at INFO, which the root's DEBUG does not lower.
    with caplog.at_level(logging.DEBUG, logger="producersync"), fake.client() as client:
        list(client.licenses.list())
        text = caplog.text + repr(client.tokens)
    assert "GET /v2/licenses -> 200" in caplog.text
    assert "VERY-SECRET" not in text and "tok-1" not in text


_LONG_TOKEN = "tok-LONG-SECRET-1"


def _quoting(where: str, status: int, shape: str) -> Callable[[httpx2.Request], httpx2.Response]:
    """A server whose error quotes what the request carried as credentials: the token
    endpoint its form (``where="token"``), or the API its Authorization header; as an
    error body's message, a key of one, or a page of text (``shape``)."""

    def answer(request: httpx2.Request) -> httpx2.Response:
        token_request = request.url.path.endswith("/oauth2/token")
        if token_request and where != "token":
            return json_response(200, {"access_token": _LONG_TOKEN, "expires_in": 3600})
        quoted = request.content.decode() if token_request else request.headers["authorization"]
        if shape == "text":
            return httpx2.Response(status, text=f"<html>upstream refused {quoted}</html>")
        if shape == "key":
            return json_response(status, {"error": "denied", quoted: True})
        return json_response(status, {"error": "invalid_client", "message": f"bad {quoted}"})

    return answer


@pytest.mark.parametrize(
    ("where", "status", "shape"),
    [
        ("token", 401, "message"),
        ("token", 400, "message"),
        ("token", 500, "text"),
        ("api", 400, "message"),
        ("api", 429, "key"),
        ("api", 502, "text"),
    ],
)
def test_an_error_quoting_the_request_s_credentials_holds_neither_secret_nor_token(
    where: str, status: int, shape: str
) -> None:
    """A proxy repeating the request's headers, or a token endpoint its form: what the
    server quoted went into the error's message and body, the client secret or the bearer
    token with it, and so into every log line and workflow record that kept the error."""
    transport = httpx2.MockTransport(_quoting(where, status, shape))
    client = Client("cid", "csecret-VERY-SECRET", base_url="https://fake", transport=transport)
    with client, pytest.raises(APIStatusError) as caught:
        client.with_options(max_retries=0).entities.get("15645555")
    error = caught.value
    shown = [
        str(error),
        repr(error),
        repr(error.body),
        repr(vars(pickle.loads(pickle.dumps(error)))),
    ]
    for text in shown:
        assert "VERY-SECRET" not in text and "LONG-SECRET" not in text, text
    assert "***" in repr(error.body)
    assert error.status_code == status


def test_a_margin_longer_than_the_token_life_does_not_refetch_every_call() -> None:
    fake = FakeAPI(ok_page, expires_in=120)
    with fake.client(refresh_margin=300) as client:
        for _ in range(3):
            list(client.licenses.list())
    assert fake.token_requests == 1


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"<html>login</html>", "is not JSON"),
        (b"", "is not JSON"),
        (b'["tok"]', "is not a JSON object"),
        (b'{"expires_in": 3600}', "has no access_token"),
        (b'{"access_token": null}', "has no access_token"),
        (b'{"access_token": 42}', "has no access_token"),
        (b'{"access_token": "t", "expires_in": "soon"}', "has expires_in 'soon'"),
        (b'{"access_token": "t", "expires_in": null}', "has expires_in None"),
        (b'{"access_token": "t", "expires_in": -5}', "has expires_in -5"),
        (b'{"access_token": "t", "expires_in": 0}', "has expires_in 0"),
        (b'{"access_token": "t", "expires_in": "nan"}', "has expires_in 'nan'"),
        (b'{"access_token": "t", "expires_in": 1' + b"0" * 400 + b"}", "has expires_in 1000"),
        # A token no header can carry: a CR/LF would end it, non-ASCII is not what was issued.
        (b'{"access_token": "tok-SECRET\\r\\nX-Evil: 1"}', "not visible ASCII"),
        (b'{"access_token": "tok-SECRET\\u00d6"}', "not visible ASCII"),
        (b'{"access_token": "tok SECRET"}', "not visible ASCII"),
        (b'{"access_token": "t", "token_type": "DPoP"}', "has token_type 'DPoP', not Bearer"),
        (b'{"access_token": "t", "token_type": null}', "has token_type None, not Bearer"),
    ],
)
def test_a_malformed_token_response_raises_response_validation_error(body: bytes, why: str) -> None:
    fake = FakeAPI(ok_page, token_body=body)
    with fake.client() as client, pytest.raises(ResponseValidationError, match=why) as caught:
        list(client.licenses.list())
    assert "https://fake/oauth2/token" in str(caught.value)
    assert "SECRET" not in str(caught.value)
    assert fake.token_requests == 1 and not fake.api_requests


@pytest.mark.parametrize("oauth_error", [["invalid_client"], {"code": "invalid_client"}, 7])
def test_a_refused_token_request_with_an_error_that_is_not_a_string_is_still_typed(
    oauth_error: object,
) -> None:
    fake = FakeAPI(ok_page, token_status=400, token_error=oauth_error)
    with fake.client() as client, pytest.raises(BadRequestError) as caught:
        list(client.licenses.list())
    assert caught.value.error is None and caught.value.body["error"] == oauth_error


def test_a_malformed_token_response_raises_response_validation_error_async() -> None:
    fake = FakeAPI(ok_page, token_body=b'{"token": "t"}')

    async def main() -> None:
        async with fake.async_client() as client:
            await client.entities.get("15645555")

    with pytest.raises(ResponseValidationError, match="has no access_token"):
        anyio.run(main)


def test_a_token_given_as_a_numeric_string_lifetime_is_still_accepted() -> None:
    body = b'{"access_token": "t", "expires_in": "3600", "token_type": "bearer"}'
    fake = FakeAPI(ok_page, token_body=body)
    with fake.client() as client:
        list(client.licenses.list())
        list(client.licenses.list())
    assert fake.token_requests == 1


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A server that takes connections and never answers (the kernel's backlog accepts)."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        yield f"http://127.0.0.1:{server.getsockname()[1]}"


@pytest.mark.timeout(20)
def test_a_token_endpoint_that_never_answers_times_out_like_any_call(silent_server: str) -> None:
    started = time.monotonic()
    with (
        Client("cid", "secret", base_url=silent_server, timeout=0.3, max_retries=0) as client,
        pytest.raises(APITimeoutError),
    ):
        list(client.licenses.list())
    assert time.monotonic() - started < 5


@pytest.mark.timeout(20)
def test_a_token_endpoint_that_never_answers_times_out_async(silent_server: str) -> None:
    async def main() -> None:
        async with AsyncClient(
            "cid", "secret", base_url=silent_server, timeout=0.3, max_retries=0
        ) as client:
            await client.entities.get("15645555")

    with pytest.raises(APITimeoutError):
        anyio.run(main)


def _token_endpoint_refusing(request: httpx2.Request) -> httpx2.Response:
    """A transport whose token endpoint refuses connections, as a closed port does."""
    if request.url.path.endswith("/oauth2/token"):
        raise httpx2.ConnectError("[Errno 111] Connection refused")
    return ok_page(request)


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_a_token_endpoint_out_of_reach_is_the_error_s_request_not_the_call_s(
    kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The API answers; its token endpoint refuses connections: the error and its retry's
    log line name the token request, where they named the call's, the API that was up."""
    caplog.set_level(logging.INFO, logger="producersync.client")
    options: dict[str, Any] = {
        "base_url": "https://fake",
        "max_retries": 1,
        "transport": httpx2.MockTransport(_token_endpoint_refusing),
    }

    async def call_async() -> None:
        async with AsyncClient("cid", "secret", **options) as client:
            await client.entities.get("15645555")

    with pytest.raises(APIConnectionError) as caught:
        if kind == "sync":
            with Client("cid", "secret", **options) as client:
                list(client.licenses.list())
        else:
            anyio.run(call_async)
    request = caught.value.request
    assert (request.method, str(request.url)) == ("POST", "https://fake/oauth2/token")
    assert "POST https://fake/oauth2/token: Connection error" in caplog.text


@pytest.mark.timeout(20)
def test_a_call_waiting_for_another_s_token_request_keeps_its_own_deadline() -> None:
    """A thread waited for the token another was fetching for as long as that took: a
    call of a 0.2 s deadline, behind a token request of the client's 185 s, waited the
    185 s. An ``AsyncClient`` task's wait was always within its deadline."""
    fetching, release = threading.Event(), threading.Event()

    def api(request: httpx2.Request) -> httpx2.Response:
        if request.url.path.endswith("/oauth2/token"):
            fetching.set()
            release.wait(15)
        return FakeAPI(lambda r: json_response(200, {"id": 1, "npn": "15645555"}))(request)

    with (
        Client(
            "cid",
            "csecret",
            base_url="https://fake",
            max_retries=0,
            transport=httpx2.MockTransport(api),
        ) as client,
        ThreadPoolExecutor(1) as pool,
    ):
        first = pool.submit(client.entities.get, "15645555")
        assert fetching.wait(10)
        try:
            with pytest.raises(APITimeoutError):
                client.entities.get("15645555", deadline=0.2)
            assert not first.done()  # it had not waited for the token request to end
        finally:
            release.set()
        assert first.result().id == 1


def test_a_401_after_the_refetch_raises_instead_of_refetching_again() -> None:
    """A server that refuses every token: one replay with a new one, then the error."""
    fake = FakeAPI(lambda request: json_response(401, {"status": 401, "message": "revoked"}))

    async def main() -> None:
        async with fake.async_client() as async_client:
            await async_client.entities.get("15645555")

    with fake.client() as client, pytest.raises(AuthenticationError, match="revoked"):
        client.entities.get("15645555")
    with pytest.raises(AuthenticationError, match="revoked"):
        anyio.run(main)
    assert (fake.token_requests, len(fake.api_requests)) == (4, 4)


@pytest.mark.timeout(20)
def test_a_call_interrupted_while_it_fetches_the_token_leaves_the_next_call_free() -> None:
    """Ctrl-C in a thread, or a task cancelled, while the token is fetched: the token's
    lock and the pacer's queue are let go, and the next call gets its token."""
    interrupt = [True]

    def api(request: httpx2.Request) -> httpx2.Response:
        if request.url.path.endswith("/oauth2/token") and interrupt[0]:
            raise KeyboardInterrupt
        return FakeAPI(lambda r: json_response(200, {"id": 1, "npn": "15645555"}))(request)

    with Client(
        "cid", "csecret", base_url="https://fake", transport=httpx2.MockTransport(api)
    ) as client:
        with pytest.raises(KeyboardInterrupt):
            client.entities.get("15645555")
        interrupt[0] = False
        assert client.entities.get("15645555").id == 1

    async def hanging(request: httpx2.Request) -> httpx2.Response:
        if request.url.path.endswith("/oauth2/token") and interrupt[0]:
            await anyio.sleep(60)
        return api(request)

    async def main() -> int:
        async with AsyncClient(
            "cid", "csecret", base_url="https://fake", transport=httpx2.MockTransport(hanging)
        ) as async_client:
            with anyio.move_on_after(0.1):
                await async_client.entities.get("15645555")
            interrupt[0] = False
            with anyio.fail_after(5):
                return (await async_client.entities.get("15645555")).id

    interrupt[0] = True
    assert anyio.run(main) == 1


def test_a_client_made_and_used_inside_a_running_event_loop_works() -> None:
    """A sync Client called from a coroutine (a notebook, an async web app's sync
    helper): its locks and its pacing are threads', and the loop does not disturb them."""
    fake = FakeAPI(lambda request: json_response(200, page("licenses", [license_row(1)], None)))

    async def main() -> list[int]:
        with fake.client() as client:
            return [record.id for record in client.licenses.list()]

    assert anyio.run(main) == [1]
    assert fake.token_requests == 1


class _Revoking:
    """An API whose token ``t1`` is revoked on demand, its answers held back (``hold``)
    until ``release``: the calls in flight then all get their 401 at once."""

    def __init__(self) -> None:
        self.revoked = False
        self.arrived = 0  # API requests since the last ``hold``
        self.tokens = 0
        self._open = threading.Event()
        self._open.set()

    def hold(self) -> None:
        self.arrived = 0
        self._open.clear()

    def release(self) -> None:
        self._open.set()

    async def answer(self, request: Request) -> JSONResponse:
        if request.url.path == "/oauth2/token":
            self.tokens += 1  # one event loop serves every request: no lock needed
            token = {"access_token": f"t{self.tokens}", "token_type": "Bearer", "expires_in": 3600}
            return JSONResponse(token)
        self.arrived += 1
        while not self._open.is_set():
            await anyio.sleep(0.01)
        if self.revoked and request.headers["authorization"] == "Bearer t1":
            return JSONResponse({"status": 401, "message": "revoked"}, status_code=401)
        return JSONResponse({"id": 1, "npn": "15645555"})


_POOL = DEFAULT_LIMITS.max_connections
Call = Callable[[], "Future[Any]"]


@contextmanager
def _pooled_caller(kind: str, url: str) -> Iterator[tuple[Any, Call]]:
    """A client over real connections, and a way to start one call of it from this thread
    (a thread's, or a task's in an event loop of its own)."""
    options: dict[str, Any] = {
        "base_url": url,
        "max_retries": 0,  # a call that waited out the pool fails, not retried
        "rate_limit": 1_000_000,
        "timeout": httpx2.Timeout(10.0, pool=1.0),
    }
    if kind == "sync":
        with Client("cid", "secret", **options) as client, ThreadPoolExecutor(_POOL + 1) as pool:
            yield client, lambda: pool.submit(client.entities.get, "15645555")
        return
    with start_blocking_portal() as portal:
        async_client = portal.call(lambda: AsyncClient("cid", "secret", **options))
        entities = async_client.entities
        try:
            yield async_client, lambda: portal.start_task_soon(entities.get, "15645555")
        finally:
            portal.call(async_client.close)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind", ["sync", "async"])
def test_calls_refused_with_a_401_wait_for_the_new_token_without_holding_a_connection(
    kind: str,
) -> None:
    """A revoked token refuses every call in flight at once. Each waited for the new
    token with its 401 unread, and so with its connection: a call queued for the pool
    took the one the fetching call had freed, was refused in turn, and the token
    request waited for a connection until the pool's timeout."""
    api = _Revoking()
    app = Starlette(routes=[Route("/{path:path}", api.answer, methods=["GET", "POST"])])
    relay = FaultMix(server_error=0, rate_limited=0, reset=0, slow=0)
    with (
        fault_proxy("http://api", relay, transport=httpx2.ASGITransport(app)) as proxy,
        _pooled_caller(kind, proxy.url) as (client, call),
    ):
        assert call().result().id == 1  # t1, before it is revoked
        api.revoked = True
        api.hold()
        calls = [call() for _ in range(_POOL)]
        eventually(lambda: api.arrived == _POOL)  # every connection of the pool in use
        calls.append(call())  # has t1, and waits for a connection
        eventually(lambda: len(client._http._transport._pool._requests) == _POOL + 1)
        api.release()
        outcomes = [future.exception() or future.result().id for future in calls]
    assert outcomes == [1] * (_POOL + 1)
    assert api.tokens == 2
