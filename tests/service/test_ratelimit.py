"""Per-client rate limits: headers on every API response, 429 past the limit, shared by
several service processes through Redis."""

from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx2
import pytest

from producersync.service import shared_window
from producersync.service.api import listing
from producersync.service.api_docs import ASSETS
from producersync.service.auth import token_endpoint
from producersync.service.context import KeyedLock, ServiceContext
from producersync.service.ratelimit import Decision, RateLimiter, moving_window
from producersync.service.shared_window import RETRY_SECONDS
from producersync.service.store import accounts
from producersync.service.store.engine import write_transaction
from tests.support import plain_http
from tests.support.databases import REDIS_URL, private_redis, redis_available, store_url
from tests.support.service import Credentials, RunningService, running_service
from tests.support.waiting import eventually

_LIMITS = {
    "api_rate_limit_per_minute": 5,
    "token_rate_limit_per_minute": 3,
    "token_failure_limit_per_minute": 3,
}


@pytest.fixture
def limited(tmp_path: Path) -> Iterator[RunningService]:
    with store_url("sqlite", tmp_path) as url, running_service(url, **_LIMITS) as svc:
        yield svc


def _address() -> str:
    """A loopback address of this test's own (all of 127/8 reaches the service), so that
    its failures, kept a minute in the shared Redis, are no other test's."""
    return f"127.{random.randint(1, 254)}.{random.randint(0, 255)}.{random.randint(1, 254)}"


def _token_from(
    address: str, base_url: str, creds: Credentials, secret: str = ""
) -> httpx2.Response:
    """A token request from ``address``, with ``secret`` or else the right one."""
    form = {
        "grant_type": "client_credentials",
        "client_id": creds.client_id,
        "client_secret": secret or creds.client_secret,
    }
    with httpx2.Client(transport=httpx2.HTTPTransport(local_address=address)) as http:
        return http.post(f"{base_url}/oauth2/token", data=form)


def test_headers_count_down_then_429_with_retry_after(limited: RunningService) -> None:
    creds = limited.account()
    with limited.client(creds) as http:
        responses = [http.get("/v2/licenses") for _ in range(5)]
        refused = http.get("/v2/licenses")
        not_found = http.get("/v2/nothing-here")
    assert [r.headers["ratelimit-remaining"] for r in responses] == ["4", "3", "2", "1", "0"]
    assert all(r.headers["ratelimit-limit"] == "5" for r in responses)
    assert all(0 < int(r.headers["ratelimit-reset"]) <= 60 for r in responses)
    assert refused.status_code == 429
    assert 0 < int(refused.headers["retry-after"]) <= 60
    body = refused.json()
    assert body["status"] == 429 and body["error"] == "Too Many Requests"
    assert "5 requests per minute" in body["message"]
    assert not_found.status_code == 429  # throttled before routing


def test_the_default_limits_are_the_contract_s(tmp_path: Path) -> None:
    """Unset, a client may make 300 API requests and 200 token requests a minute."""
    with store_url("sqlite", tmp_path) as url, running_service(url) as svc:
        creds = svc.account()
        form = {
            "grant_type": "client_credentials",
            "client_id": creds.client_id,
            "client_secret": creds.client_secret,
        }
        token = plain_http.post(f"{svc.base_url}/oauth2/token", data=form)
        with svc.client(creds) as http:
            answer = http.get("/v2/licenses")
    assert (token.status_code, token.headers["ratelimit-limit"]) == (200, "200")
    assert (answer.status_code, answer.headers["ratelimit-limit"]) == (200, "300")


def test_limits_are_per_client(limited: RunningService) -> None:
    first, second = limited.account(), limited.account()
    with limited.client(first) as http:
        for _ in range(5):
            http.get("/v2/licenses")
        assert http.get("/v2/licenses").status_code == 429
    with limited.client(second) as http:
        assert http.get("/v2/licenses").status_code == 200


def test_error_responses_carry_the_headers(limited: RunningService) -> None:
    creds = limited.account()
    with limited.client(creds) as http:
        response = http.get("/v2/licenses?size=0")
    assert response.status_code == 400
    assert response.headers["ratelimit-remaining"] == "4"


def test_an_unexpected_error_carries_the_headers(
    limited: RunningService, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Starlette's 500 handler answers outside the gate: its answer had no counts."""

    def fails(*args: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(listing.Call, "v2_page", fails)
    # uvicorn's loggers do not propagate to the root, where caplog listens.
    server_log = logging.getLogger("uvicorn.error")
    server_log.addHandler(caplog.handler)
    creds = limited.account()
    try:
        with limited.client(creds) as http:
            response = http.get("/v2/licenses")
        assert response.status_code == 500
        assert response.headers["ratelimit-remaining"] == "4"
        assert response.headers["ratelimit-limit"] == "5"
        assert response.json()["message"] == "Internal error; it has been logged"
        # Still logged, with its traceback: once the answer is sent.
        eventually(lambda: "RuntimeError: a bug" in caplog.text)
    finally:
        server_log.removeHandler(caplog.handler)


def test_token_endpoint_limit(limited: RunningService) -> None:
    creds = limited.account()
    form = {
        "grant_type": "client_credentials",
        "client_id": creds.client_id,
        "client_secret": creds.client_secret,
    }
    responses = [plain_http.post(f"{limited.base_url}/oauth2/token", data=form) for _ in range(4)]
    assert [r.status_code for r in responses] == [200, 200, 200, 429]
    assert responses[-1].json()["error"] == "temporarily_unavailable"
    assert int(responses[-1].headers["retry-after"]) > 0


def test_failed_token_requests_do_not_spend_the_client_budget(limited: RunningService) -> None:
    creds = limited.account()
    address = _address()
    wrong = [_token_from(address, limited.base_url, creds, "guess") for _ in range(2)]
    right = [_token_from(address, limited.base_url, creds) for _ in range(4)]
    assert [r.status_code for r in wrong + right] == [401] * 2 + [200] * 3 + [429]
    assert "token requests per minute for this client" in right[-1].text


def test_token_answers_carry_the_counts_of_their_window(limited: RunningService) -> None:
    """The contract has the rate-limit headers on every answer: the token endpoint's
    carried them on its 429 alone. A token counts in its client's window, a failure in
    its address's."""
    creds = limited.account()
    address = _address()
    answers = [
        _token_from(address, limited.base_url, creds, secret) for secret in ("", "", "guess")
    ]
    counts = [
        (r.status_code, r.headers.get("ratelimit-limit"), r.headers.get("ratelimit-remaining"))
        for r in answers
    ]
    assert counts == [(200, "3", "2"), (200, "3", "1"), (401, "3", "2")]
    assert all(0 < int(r.headers["ratelimit-reset"]) <= 60 for r in answers)
    assert not any("retry-after" in r.headers for r in answers)


def test_an_address_past_its_failures_is_refused_even_the_right_secret(
    limited: RunningService,
) -> None:
    """Failures were counted per client_id and only a wrong secret was refused past them:
    a guesser who kept going got 429 for each wrong secret and 200 for the right one."""
    creds = limited.account()
    guesser, other = _address(), _address()
    guesses = [_token_from(guesser, limited.base_url, creds, f"guess{i}") for i in range(4)]
    right = _token_from(guesser, limited.base_url, creds)
    assert [r.status_code for r in guesses] == [401] * 3 + [429]
    assert right.status_code == 429, right.text
    assert right.json() == {
        "error": "temporarily_unavailable",
        "error_description": (
            "more than 3 failed client authentications per minute from this address; "
            f"retry in {right.headers['retry-after']} s"
        ),
    }
    assert 0 < int(right.headers["retry-after"]) <= 60
    assert right.headers["ratelimit-remaining"] == "0"
    assert "access_token" not in right.text
    # The client itself, from elsewhere, is not locked out.
    assert _token_from(other, limited.base_url, creds).status_code == 200


def test_a_burst_of_guesses_is_looked_at_one_at_a_time(
    limited: RunningService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ten guesses at once from one address, under a cap of three failures: each found the
    failures window as it was before any of them failed, and all ten were looked up and
    checked (a right secret among them got its token)."""
    looked_up: list[str] = []
    real = token_endpoint._find_client

    def slow_find_client(ctx: ServiceContext, client_id: str) -> accounts.ClientRecord | None:
        looked_up.append(client_id)
        time.sleep(0.2)  # the whole burst arrives while the first is looked up
        return real(ctx, client_id)

    monkeypatch.setattr(token_endpoint, "_find_client", slow_find_client)
    creds = limited.account()
    transport = httpx2.AsyncHTTPTransport(local_address=_address())

    async def burst() -> list[httpx2.Response]:
        async with httpx2.AsyncClient(base_url=limited.base_url, transport=transport) as http:
            form = {"grant_type": "client_credentials", "client_id": creds.client_id}
            guesses = [{**form, "client_secret": f"guess{i}"} for i in range(10)]
            return list(
                await asyncio.gather(*(http.post("/oauth2/token", data=g) for g in guesses))
            )

    codes = sorted(r.status_code for r in asyncio.run(burst()))
    assert codes == [401] * 3 + [429] * 7
    assert len(looked_up) == 3


def test_a_keyed_lock_has_one_holder_and_keeps_no_key_none_holds() -> None:
    locks, taken = KeyedLock(), []

    async def take(name: str) -> None:
        async with locks.held("127.0.0.1"):
            taken.append(f"{name} in")
            await anyio.sleep(0.01)
            taken.append(f"{name} out")

    async def both() -> None:
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(take, "first")
            tasks.start_soon(take, "second")

    anyio.run(both)
    assert taken == ["first in", "first out", "second in", "second out"]
    assert not locks._locks


def test_a_client_id_longer_than_any_client_holds_is_a_failure(limited: RunningService) -> None:
    """An id over the column's 64 characters is no client's: refused without a lookup,
    counted as a failure of the address as any other."""
    form = {"grant_type": "client_credentials", "client_id": "psc_" + "0" * 61}
    address = _address()
    with httpx2.Client(transport=httpx2.HTTPTransport(local_address=address)) as http:
        codes = [
            http.post(f"{limited.base_url}/oauth2/token", data={**form, "client_secret": "x"})
            for _ in range(4)
        ]
    assert [r.status_code for r in codes] == [401, 401, 401, 429]


@pytest.mark.redis
def test_failures_count_in_redis_across_service_processes(tmp_path: Path) -> None:
    """Failures from one address count once whichever process answered them: spread over
    two, the guard of each was the process's own."""
    redis_available()
    shared = {**_LIMITS, "rate_limit_storage": REDIS_URL}
    with (
        store_url("sqlite", tmp_path) as url,
        running_service(url, **shared) as one,
        running_service(url, **shared) as two,
    ):
        creds = one.account()
        guesser = _address()
        codes = [
            _token_from(guesser, (one, two)[i % 2].base_url, creds, f"guess{i}").status_code
            for i in range(3)
        ]
        right = [_token_from(guesser, svc.base_url, creds) for svc in (one, two)]
        elsewhere = _token_from(_address(), two.base_url, creds)
    assert codes == [401] * 3
    assert [r.status_code for r in right] == [429, 429]
    assert all("failed client authentications" in r.text for r in right)
    assert elsewhere.status_code == 200


@pytest.mark.redis
def test_redis_shares_one_limit_across_service_processes(tmp_path: Path) -> None:
    redis_available()
    with (
        store_url("sqlite", tmp_path) as url,
        running_service(url, api_rate_limit_per_minute=6, rate_limit_storage=REDIS_URL) as one,
        running_service(url, api_rate_limit_per_minute=6, rate_limit_storage=REDIS_URL) as two,
    ):
        creds = one.account()
        token = one.token(creds)
        headers = {"authorization": f"Bearer {token}"}
        codes = []
        for i in range(7):
            base = (one if i % 2 else two).base_url
            codes.append(plain_http.get(f"{base}/v2/licenses", headers=headers).status_code)
    assert codes == [200] * 6 + [429]


@pytest.mark.redis
def test_the_api_counts_in_the_process_while_redis_is_away(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with (
        caplog.at_level(logging.WARNING, logger=shared_window.__name__),
        private_redis(tmp_path) as redis,
        store_url("sqlite", tmp_path) as url,
        running_service(url, api_rate_limit_per_minute=5, rate_limit_storage=redis.url) as svc,
    ):
        creds = svc.account()
        with svc.client(creds) as http:
            assert http.get("/v2/licenses").status_code == 200
            redis.stop()
            away = [http.get("/v2/licenses").status_code for _ in range(6)]
            token = http.post(
                "/oauth2/token",
                data={
                    "grant_type": "client_credentials",
                    "client_id": creds.client_id,
                    "client_secret": creds.client_secret,
                },
            )
            redis.start()  # empty: it kept nothing
            time.sleep(RETRY_SECONDS)
            back = http.get("/v2/licenses")
    assert away == [200] * 5 + [429]  # this process's own count, from the outage on
    assert token.status_code == 200
    assert back.status_code == 200
    assert back.headers["ratelimit-remaining"] == "4"  # counted in Redis again
    told = [r.getMessage() for r in caplog.records if r.name == shared_window.__name__]
    assert len(told) == 2, told  # one line when it went, one when it came back
    assert told[0].startswith("rate limits: Redis is unavailable, counting in this process: ")
    assert told[1].startswith("rate limits: Redis is back after ")


def _counted_alone(base_url: str) -> float:
    """``producersync_rate_limit_counted_alone_total{limits="api"}`` in the process's
    /metrics (absent: none)."""
    for line in plain_http.get(f"{base_url}/metrics").text.splitlines():
        if line.startswith('producersync_rate_limit_counted_alone_total{limits="api"}'):
            return float(line.split()[-1])
    raise AssertionError("no producersync_rate_limit_counted_alone_total for the api limits")


@pytest.mark.redis
def test_redis_out_of_reach_at_start_is_told_at_start_and_counted_in_the_metrics(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A mistyped Redis host or port was told by the first request only, hours later
    perhaps, and /metrics never told that each process counted alone (N processes
    allowing N times the limit)."""
    with (
        caplog.at_level(logging.WARNING, logger=shared_window.__name__),
        private_redis(tmp_path) as redis,
    ):
        redis.stop()
        with (
            store_url("sqlite", tmp_path) as url,
            running_service(url, api_rate_limit_per_minute=5, rate_limit_storage=redis.url) as svc,
        ):
            told = [r.getMessage() for r in caplog.records if r.name == shared_window.__name__]
            assert len(told) == 1, told  # as it started, before any request
            assert told[0].startswith("rate limits: Redis is unavailable, counting in this process")
            assert _counted_alone(svc.base_url) == 0
            creds = svc.account()
            with svc.client(creds) as http:
                assert [http.get("/v2/licenses").status_code for _ in range(3)] == [200] * 3
                alone = _counted_alone(svc.base_url)
                redis.start()
                time.sleep(RETRY_SECONDS)
                assert http.get("/v2/licenses").status_code == 200
            assert alone >= 3  # the token's request and the three above
            assert _counted_alone(svc.base_url) == alone  # counted in Redis again


@pytest.mark.redis
def test_a_redis_restarted_between_two_requests_counts_the_second(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The pooled connection the restart cut failed the next request: Redis "unavailable"
    in the log, and every process counting alone for 5 s, at each Redis restart or
    failover, where Redis answered a new connection at once."""
    alone: list[str] = []
    with (
        caplog.at_level(logging.WARNING, logger=shared_window.__name__),
        private_redis(tmp_path) as redis,
    ):

        async def two_hits() -> list[Decision]:
            window = moving_window(redis.url, "rate limits", lambda: alone.append("counted"))
            limiter = RateLimiter(window, "api", 5)
            first = await limiter.hit("client")
            redis.stop()
            redis.start()  # empty: the second hit is the window's first again
            return [first, await limiter.hit("client")]

        decisions = anyio.run(two_hits)
    assert [d.remaining for d in decisions] == [4, 4]
    assert alone == [], alone
    assert [r.getMessage() for r in caplog.records if r.name == shared_window.__name__] == []


def test_two_clients_of_one_account_count_apart_and_other_routes_not_at_all(
    limited: RunningService,
) -> None:
    """The limit is each OAuth client's (not the account's), and only /v1 and /v2 count
    (the portal: tests/portal/test_pages.py)."""
    first = limited.account()
    with write_transaction(limited.engine) as conn:
        account = accounts.find_account(conn, first.account)
        client_id, secret = accounts.create_client(conn, account, "producersync.read")
    second = Credentials(first.account, first.account_id, client_id, secret)
    with limited.client(first) as http:
        assert [http.get("/v2/licenses").status_code for _ in range(6)] == [200] * 5 + [429]
        paths = ("/healthz", "/openapi.json", "/metrics", "/docs", f"{ASSETS}/swagger-ui.css")
        others = [http.get(path) for path in paths]
    assert [r.status_code for r in others] == [200] * len(paths)
    assert not any("ratelimit-limit" in r.headers for r in others)
    with limited.client(second) as http:
        assert http.get("/v2/licenses").headers["ratelimit-remaining"] == "4"


def _limiter(limit: int) -> RateLimiter:
    """An API host's limiter on the shared Redis."""
    return RateLimiter(moving_window(REDIS_URL, "rate limits"), "api", limit)


def _hits(limiter: RateLimiter, key: str, n: int) -> list[Decision]:
    async def all_at_once() -> list[Decision]:
        return list(await asyncio.gather(*(limiter.hit(key) for _ in range(n))))

    return asyncio.run(all_at_once())


@pytest.mark.redis
def test_concurrent_requests_through_redis_each_see_their_own_count() -> None:
    """The count a response tells is the one its own request left: read apart from the
    hit, every one of 5 concurrent requests was told 0 remaining."""
    redis_available()
    decisions = _hits(_limiter(5), uuid.uuid4().hex, 7)
    admitted = sorted(d.remaining for d in decisions if d.allowed)
    refused = [d for d in decisions if not d.allowed]
    assert admitted == [0, 1, 2, 3, 4]
    assert [(d.remaining, 1 <= d.reset_seconds <= 60) for d in refused] == [(0, True)] * 2


@pytest.mark.redis
def test_a_host_whose_clock_is_behind_cannot_over_admit(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two API hosts share one window in Redis; one's clock is 61 s behind. Each host
    stamped the requests with its own clock, so the other saw them as aged out and
    admitted the limit again: 10 requests of a limit of 5. Redis's clock is the one."""
    redis_available()
    key = uuid.uuid4().hex
    behind, on_time = _limiter(5), _limiter(5)
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() - 61)
    first = _hits(behind, key, 5)
    monkeypatch.setattr(time, "time", real)
    then = _hits(on_time, key, 1)
    assert [d.allowed for d in first + then] == [True] * 5 + [False]
    assert 1 <= then[0].reset_seconds <= 60


@pytest.mark.redis
def test_a_window_in_redis_expires_with_its_last_request() -> None:
    redis_available()
    import redis

    key = uuid.uuid4().hex
    _hits(_limiter(5), key, 2)
    client = redis.Redis.from_url(REDIS_URL)
    (name,) = client.keys(f"producersync*{key}*")
    assert 0 < client.ttl(name) <= 60
    client.close()


@pytest.mark.redis
def test_a_peek_in_redis_counts_nothing() -> None:
    """The token endpoint's guard looks at an address's failures before it counts one."""
    redis_available()
    limiter, key = _limiter(2), uuid.uuid4().hex

    async def peek_hit_peek() -> list[Decision]:
        empty = await limiter.peek(key)
        await asyncio.gather(limiter.hit(key), limiter.hit(key))
        return [empty, await limiter.peek(key), await limiter.peek(key)]

    empty, full, again = asyncio.run(peek_hit_peek())
    assert (empty.allowed, empty.remaining, empty.reset_seconds) == (True, 2, 0)
    assert (full.allowed, full.remaining, again.remaining) == (False, 0, 0)
    assert 1 <= full.reset_seconds <= 60


@pytest.mark.redis
def test_a_limit_lowered_under_a_full_window_tells_when_enough_requests_age_out() -> None:
    """A window counted under a limit of 10 (one request 50 s ago, nine 10 s ago), asked
    by a process restarted with a limit of 5: it admits one once six have aged out, in
    50 s. The oldest's age-out was told (10 s: a client retrying then was refused again),
    and -5 remaining."""
    redis_available()
    import redis

    key = uuid.uuid4().hex
    client = redis.Redis.from_url(REDIS_URL)
    (now, _) = client.time()
    name = f"producersync:api:{key}"
    client.zadd(name, {"oldest": now - 50, **{f"recent{n}": now - 10 for n in range(9)}})
    client.expire(name, 60)
    client.close()
    limiter = _limiter(5)

    async def hit_and_peek() -> list[Decision]:
        return [await limiter.hit(key), await limiter.peek(key)]

    for decision in asyncio.run(hit_and_peek()):
        assert (decision.allowed, decision.remaining) == (False, 0)
        assert 45 <= decision.reset_seconds <= 50
    assert decision.headers()["retry-after"] == str(decision.reset_seconds)
