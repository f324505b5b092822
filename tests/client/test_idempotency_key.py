"""The SDK's writes carry one ``Idempotency-Key`` across their retries: a write whose
answer was lost is retried without being done twice."""

from __future__ import annotations

import anyio
import httpx2
import pytest
import sqlalchemy as sa

from producersync.client import AsyncClient, Client
from producersync.service.store.tables import jobs
from tests.client.fake import JOB, FakeAPI, error, json_response
from tests.support.fault_proxy import FaultMix, fault_proxy
from tests.support.service import RunningService

_ACCEPTED = {
    "success": True,
    "message": "Job is in progress",
    "job_id": JOB,
    "links": {"status": {"href": f"https://fake/v1/accounts/subscriptions/status/{JOB}"}},
}


def _failing_once() -> FakeAPI:
    """Each write fails once with a 503, then is accepted."""
    seen: set[str] = set()

    def api(request: httpx2.Request) -> httpx2.Response:
        if request.method == "GET":
            return json_response(200, {"embedded": {"subscriptions": []}, "page": {}})
        if request.method not in seen:
            seen.add(request.method)
            return error(503)
        return json_response(202, _ACCEPTED)

    return FakeAPI(api)


def test_each_write_sends_one_key_in_all_its_attempts_and_a_read_none() -> None:
    fake = _failing_once()
    with fake.client(max_retries=1) as client:
        client.subscriptions.replace(["1"])
        client.subscriptions.add(["1"])
        client.subscriptions.remove(["1"])
        list(client.subscriptions.list())
    keys = [(r.method, r.headers.get("idempotency-key")) for r in fake.api_requests]
    writes = keys[:6]
    assert [method for method, _ in writes] == ["POST", "POST", "PUT", "PUT", "DELETE", "DELETE"]
    assert all(key for _, key in writes)
    assert writes[0][1] == writes[1][1] != writes[2][1] == writes[3][1] != writes[4][1]
    assert writes[4][1] == writes[5][1]
    assert keys[6] == ("GET", None)


def test_a_caller_s_own_key_is_sent_in_place_of_one_made() -> None:
    fake = _failing_once()
    with fake.client(max_retries=1) as client:
        client.subscriptions.add(["1"], idempotency_key="step-7")
    assert [r.headers["idempotency-key"] for r in fake.api_requests] == ["step-7", "step-7"]


@pytest.mark.parametrize("key", ["", " ", "k" * 256, 7])
def test_a_key_the_api_would_refuse_is_refused_before_any_request(key: object) -> None:
    fake = _failing_once()
    with fake.client() as client, pytest.raises(ValueError, match="idempotency_key"):
        client.subscriptions.add(["1"], idempotency_key=key)  # type: ignore[arg-type]
    assert fake.api_requests == []


def _jobs(service: RunningService, account_id: int) -> int:
    with service.engine.connect() as conn:
        query = sa.select(sa.func.count()).where(jobs.c.account_id == account_id)
        return int(conn.execute(query).scalar_one())


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_writes_whose_answers_were_lost_make_one_job_each(
    service: RunningService, universe_npns: list[str], kind: str
) -> None:
    """Half the answers lost after the service acted (the connection reset): each call is
    retried until it hears one, and the service does each once."""
    creds = service.account()
    lost_half = FaultMix(server_error=0, rate_limited=0, reset=0, slow=0, lost=50)
    calls = 6
    options = {
        "base_url": "",
        "token_url": f"{service.base_url}/oauth2/token",
        "max_retries": 10,
    }
    with fault_proxy(service.base_url, lost_half, seed=5) as proxy:
        options["base_url"] = proxy.url
        if kind == "sync":
            with Client(creds.client_id, creds.client_secret, **options) as client:
                for npn in universe_npns[:calls]:
                    client.subscriptions.add([npn])
        else:

            async def add() -> None:
                async with AsyncClient(creds.client_id, creds.client_secret, **options) as client:
                    for npn in universe_npns[:calls]:
                        await client.subscriptions.add([npn])

            anyio.run(add)
    assert proxy.dealt["lost"] > 0
    assert _jobs(service, creds.account_id) == calls
