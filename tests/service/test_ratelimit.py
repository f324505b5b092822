"""Per-client rate limits: headers on every API response, 429 past the limit, shared by
several service processes through Redis."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest

from producersync.service.shared_window import RETRY_SECONDS
from tests.support.databases import REDIS_URL, private_redis, redis_available, store_url
from tests.support.service import RunningService, running_service


@pytest.fixture
def limited(tmp_path: Path) -> Iterator[RunningService]:
    with (
        store_url("sqlite", tmp_path) as url,
        running_service(url, api_rate_limit_per_minute=5, token_rate_limit_per_minute=3) as svc,
    ):
        yield svc


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


def test_token_endpoint_limit(limited: RunningService) -> None:
    creds = limited.account()
    form = {
        "grant_type": "client_credentials",
        "client_id": creds.client_id,
        "client_secret": creds.client_secret,
    }
    responses = [httpx2.post(f"{limited.base_url}/oauth2/token", data=form) for _ in range(4)]
    assert [r.status_code for r in responses] == [200, 200, 200, 429]
    assert responses[-1].json()["error"] == "temporarily_unavailable"
    assert int(responses[-1].headers["retry-after"]) > 0


def test_failed_token_requests_do_not_spend_the_client_budget(limited: RunningService) -> None:
    creds = limited.account()
    url = f"{limited.base_url}/oauth2/token"
    wrong = {
        "grant_type": "client_credentials",
        "client_id": creds.client_id,
        "client_secret": "guess",
    }
    assert [httpx2.post(url, data=wrong).status_code for _ in range(4)] == [401] * 3 + [429]
    right = {**wrong, "client_secret": creds.client_secret}
    assert httpx2.post(url, data=right).status_code == 200


def test_a_client_id_longer_than_any_client_holds_takes_no_bucket(limited: RunningService) -> None:
    """Failures count per client_id given, so that a guesser cannot spend a real client's
    budget; an id over the column's 64 characters is no client's, and each one (up to the
    body's 64 KiB) was kept a minute as a bucket's key: 1,500 such requests grew the
    service by 48 MB. A 64-character id is still counted."""
    url = f"{limited.base_url}/oauth2/token"

    def attempts(client_id: str) -> list[int]:
        form = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": "x"}
        return [httpx2.post(url, data=form).status_code for _ in range(4)]

    assert attempts("psc_" + "0" * 61) == [401, 401, 401, 401]
    assert attempts("psc_" + "0" * 60) == [401, 401, 401, 429]


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
            codes.append(httpx2.get(f"{base}/v2/licenses", headers=headers).status_code)
    assert codes == [200] * 6 + [429]


@pytest.mark.redis
def test_the_api_counts_in_the_process_while_redis_is_away(tmp_path: Path) -> None:
    with (
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
