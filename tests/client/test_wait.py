"""A job wait ends at its ``timeout``, a poll under way included, and its error says
which job and what it last read. Polls cut against a real server on loopback
(``tests/support/fault_proxy.py``) that dribbles its answers a byte at a time: a wait
its timeout did not bound would be answered, not raise, so no test needs an upper bound
on the time taken."""

from __future__ import annotations

import pickle
from collections.abc import Callable, Iterator
from typing import Any

import anyio
import httpx2
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from producersync.client import APITimeoutError, AsyncClient, Client, WaitTimeoutError
from tests.client.fake import JOB, FakeAPI, error, job_status, json_response
from tests.support.fault_proxy import FaultProxy, dribbled, fault_proxy

KINDS = pytest.mark.parametrize("kind", ["sync", "async"])


async def completed(request: Request) -> Response:
    """A token for a token request, the job COMPLETED for any other."""
    if request.url.path == "/oauth2/token":
        return Response(b'{"access_token": "t", "expires_in": 3600}')
    return Response(job_status("COMPLETED").content, media_type="application/json")


@pytest.fixture
def proxy() -> Iterator[FaultProxy]:
    """The job's status dribbled a byte every 0.05 s: whole in some 10 s."""
    app = Starlette(routes=[Route("/{path:path}", completed, methods=["GET", "POST"])])
    with fault_proxy("http://api", dribbled(0.05), transport=httpx2.ASGITransport(app)) as up:
        yield up


def wait(kind: str, url: str, options: dict[str, Any], **client: Any) -> Any:
    """``subscriptions.wait(JOB, **options)`` by a new client of ``kind`` at ``url`` that
    holds a token already, so that only the polls go through the proxy."""
    settings = {"timeout": 5.0, "rate_limit": 1_000_000, **client}
    granted = json_response(200, {"access_token": "t"})
    if kind == "sync":
        with Client("cid", "csecret", base_url=url, **settings) as sync_client:
            sync_client.tokens.store(granted)
            return sync_client.subscriptions.wait(JOB, **options)

    async def main() -> Any:
        async with AsyncClient("cid", "csecret", base_url=url, **settings) as async_client:
            async_client.tokens.store(granted)
            return await async_client.subscriptions.wait(JOB, **options)

    return anyio.run(main)


@KINDS
def test_a_poll_under_way_is_given_up_at_the_wait_s_timeout(kind: str, proxy: FaultProxy) -> None:
    """The poll ran on to its own deadline (20 s an attempt here), so a wait of 0.5 s
    answered COMPLETED some 10 s later."""
    with pytest.raises(WaitTimeoutError) as raised:
        wait(kind, proxy.url, {"timeout": 0.5})
    assert (raised.value.job_id, raised.value.last_status) == (JOB, None)
    assert isinstance(raised.value.__cause__, APITimeoutError)
    assert str(raised.value) == f"job {JOB}: no status came within the wait's 0.5 s"


@KINDS
def test_a_poll_that_fails_before_the_wait_s_end_raises_its_own_error(
    kind: str, proxy: FaultProxy
) -> None:
    """Its retries spent within the wait: the poll's timeout, not the wait's."""
    with pytest.raises(APITimeoutError):
        wait(kind, proxy.url, {"timeout": 60, "deadline": 0.3}, max_retries=0)


def _statuses(*answers: Callable[[], httpx2.Response]) -> FakeAPI:
    """A job whose polls are answered in this order, QUEUED after."""
    polls = iter(answers)
    return FakeAPI(lambda request: next(polls, lambda: job_status("QUEUED"))())


def _waited(kind: str, fake: FakeAPI, **options: Any) -> Any:
    if kind == "sync":
        with fake.client() as client:
            return client.subscriptions.wait(JOB, **options)

    async def main() -> Any:
        async with fake.async_client() as client:
            return await client.subscriptions.wait(JOB, **options)

    return anyio.run(main)


@KINDS
def test_a_poll_s_retry_is_given_up_at_the_wait_s_timeout(kind: str) -> None:
    """A 429's Retry-After of 20 s was waited out, and the pacing held every slot as
    long, by a wait of 1 s: which then answered COMPLETED."""
    fake = _statuses(
        lambda: job_status("QUEUED"),
        lambda: error(429, "slow down", {"retry-after": "20"}),
        lambda: job_status("COMPLETED"),
    )
    with pytest.raises(WaitTimeoutError) as raised:
        _waited(kind, fake, timeout=1, poll_interval=0.01)
    assert raised.value.last_status is not None
    assert raised.value.last_status.status == "QUEUED"
    assert len(fake.api_requests) == 2  # the retry never sent


@KINDS
def test_a_wait_s_error_carries_the_job_its_last_status_and_its_timeout(kind: str) -> None:
    """They were in its message alone."""
    with pytest.raises(WaitTimeoutError) as raised:
        _waited(kind, _statuses(), timeout=0.2, poll_interval=0.01)
    exc = raised.value
    assert exc.last_status is not None
    assert (exc.job_id, exc.last_status.id, exc.last_status.status) == (JOB, JOB, "QUEUED")
    assert exc.timeout == 0.2
    assert str(exc) == f"job {JOB} still QUEUED after 0.2 s"
    again = pickle.loads(pickle.dumps(exc))  # as a durable workflow records a step's error
    assert (type(again), str(again)) == (WaitTimeoutError, str(exc))
    assert (again.job_id, again.last_status, again.timeout) == (JOB, exc.last_status, 0.2)


@pytest.mark.parametrize("ends", [float("nan"), "5", True])
def test_a_call_s_end_that_is_not_a_time_is_refused_before_any_request(ends: Any) -> None:
    fake = _statuses()
    with fake.client() as client, pytest.raises(ValueError, match="ends must be a time"):
        client.request("GET", f"/v1/accounts/subscriptions/status/{JOB}", ends=ends)

    async def main() -> None:
        async with fake.async_client() as client:
            await client.request("GET", f"/v1/accounts/subscriptions/status/{JOB}", ends=ends)

    with pytest.raises(ValueError, match="ends must be a time"):
        anyio.run(main)
    assert not fake.api_requests
