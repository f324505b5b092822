"""A resource call's own options, ``deadline=`` and ``priority=``: every method of every
resource passes them to the one request path, for each request it sends (every page of a
list). Deadlines against a real server on loopback (``tests/support/fault_proxy.py``),
priorities by the order a saturated pacer lets the calls through."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

import anyio
import httpx2
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from producersync.client import (
    APITimeoutError,
    AsyncClient,
    AsyncPager,
    AsyncRecordPages,
    Client,
    NotFoundError,
    RequestOptions,
    ServerError,
    SyncPager,
    SyncRecordPages,
)
from producersync.client._constants import NPN_CHUNK
from tests.client.fake import JOB, FakeAPI, json_response, license_row
from tests.support.fault_proxy import FaultMix, FaultProxy, dribbled, fault_proxy
from tests.support.staggered import tasks, threads

KINDS = pytest.mark.parametrize("kind", ["sync", "async"])
NPN = "15645555"

Call = Callable[[Any, RequestOptions], Any]
# Every resource method that sends a request, called alike on a Client and an AsyncClient.
CALLS: dict[str, Call] = {
    "licenses.get": lambda c, o: c.licenses.get(1, **o),
    "entities.get": lambda c, o: c.entities.get(NPN, **o),
    "licenses.list": lambda c, o: c.licenses.list(**o),
    "licenses.list_by_page": lambda c, o: c.licenses.list_by_page(**o),
    "licenses.for_npn": lambda c, o: c.licenses.for_npn(NPN, **o),
    "license_loas.for_license": lambda c, o: c.license_loas.for_license(1, **o),
    "regulatory_actions.values": lambda c, o: c.regulatory_actions.values(1, **o),
    "regulatory_actions.get_value": lambda c, o: c.regulatory_actions.get_value(1, **o),
    "subscriptions.list": lambda c, o: c.subscriptions.list(**o),
    "subscriptions.page": lambda c, o: c.subscriptions.page(1, **o),
    "subscriptions.add": lambda c, o: c.subscriptions.add([NPN], **o),
    "subscriptions.replace": lambda c, o: c.subscriptions.replace([NPN], **o),
    "subscriptions.remove": lambda c, o: c.subscriptions.remove([NPN], **o),
    "subscriptions.job": lambda c, o: c.subscriptions.job(JOB, **o),
    "subscriptions.job_details": lambda c, o: c.subscriptions.job_details(JOB, **o),
    "subscriptions.wait": lambda c, o: c.subscriptions.wait(JOB, **o),
}
EVERY_CALL = pytest.mark.parametrize("name", list(CALLS))


def finished(result: Any) -> Any:
    """A sync call's result, a lazy list read to its end."""
    return list(result) if isinstance(result, SyncPager | SyncRecordPages) else result


async def awaited(result: Any) -> Any:
    """An async call's result, a lazy list read to its end."""
    if isinstance(result, AsyncPager | AsyncRecordPages):
        return [item async for item in result]
    return await result


def run(kind: str, url: str, call: Call, options: RequestOptions, **client: Any) -> Any:
    """``call`` with ``options`` on a new client of ``kind`` at ``url`` (``client``: its
    options), which holds a token already, so that only the call's requests are sent."""
    settings = {"max_retries": 0, "rate_limit": 1_000_000, **client}
    granted = json_response(200, {"access_token": "t"})
    if kind == "sync":
        with Client("cid", "csecret", base_url=url, **settings) as sync_client:
            sync_client.tokens.store(granted)
            return finished(call(sync_client, options))

    async def main() -> Any:
        async with AsyncClient("cid", "csecret", base_url=url, **settings) as async_client:
            async_client.tokens.store(granted)
            return await awaited(call(async_client, options))

    return anyio.run(main)


@contextmanager
def proxied(answer: Callable[[Request], Any], mix: FaultMix | None = None) -> Iterator[FaultProxy]:
    """A server on loopback answering every request with ``answer``, through the fault
    proxy's ``mix`` (none by default)."""
    app = Starlette(
        routes=[Route("/{path:path}", answer, methods=["GET", "PUT", "POST", "DELETE"])]
    )
    mix = mix or FaultMix(server_error=0, rate_limited=0, reset=0, slow=0)
    with fault_proxy("http://api", mix, transport=httpx2.ASGITransport(app)) as proxy:
        yield proxy


def padded(length: int) -> Callable[[Request], Awaitable[JSONResponse]]:
    """An answer of more than ``length`` bytes."""

    async def answer(request: Request) -> JSONResponse:
        return JSONResponse({"id": 1, "padding": "x" * length})

    return answer


DRIBBLE = 0.02  # seconds between two bytes of a dribbled response


def timed_out(kind: str, url: str, call: Call, deadline: float) -> None:
    """``call`` with ``deadline``, on a client of no timeout and no deadline (nothing else
    can cut it), ends in an ``APITimeoutError``."""
    with pytest.raises(APITimeoutError):
        run(kind, url, call, {"deadline": deadline}, timeout=None, deadline=math.inf)


def cut_where_it_should(cut: Callable[[float], bool], deadline: float) -> None:
    """``cut(deadline)``, a call cut at its deadline, which says whether the call had got
    as far as the test means it to be cut at: if not (a loaded machine, slow to get there
    within the deadline), made again with twice the deadline, until it had."""
    while not cut(deadline):
        deadline *= 2


@KINDS
@EVERY_CALL
def test_a_resource_call_s_deadline_cuts_a_dribble_the_client_s_would_wait_out(
    kind: str, name: str
) -> None:
    """A byte every 0.02 s, to a client of no timeout and no deadline: nothing but the
    call's deadline can cut the response, which lasts twice that deadline at least (a
    slow machine only draws it out), so that a call that lost its deadline gets it whole.
    Cut as the server answers, in one attempt (max_retries=0)."""

    def cut(deadline: float) -> bool:
        with proxied(padded(int(2 * deadline / DRIBBLE)), dribbled(DRIBBLE)) as proxy:
            timed_out(kind, proxy.url, CALLS[name], deadline)
            assert proxy.dealt["dribble"] <= 1
            return proxy.dealt["dribble"] == 1

    cut_where_it_should(cut, 0.3)


@KINDS
@EVERY_CALL
def test_a_resource_call_s_max_retries_stands_for_the_client_s(kind: str, name: str) -> None:
    """A call that should fail fast, on a client that retries: before, only a second
    client could, pacing apart from the first and spending the limit twice over."""
    fake = FakeAPI(lambda request: json_response(503, {"status": 503, "message": "down"}))
    with fake_client(kind, fake, max_retries=4) as client, pytest.raises(ServerError):
        result = CALLS[name](client, {"max_retries": 0})
        if kind == "sync":
            finished(result)
        else:
            anyio.run(awaited, result)
    assert len(fake.api_requests) == 1


def test_a_request_s_max_retries_may_retry_more_than_the_client_s() -> None:
    answers = iter([503, 503, 200])
    fake = FakeAPI(lambda request: json_response(next(answers), {"id": 1}))
    with fake.client(max_retries=0) as client:
        assert client.request("GET", "/v1/licenses/1", max_retries=2, priority=1) == {"id": 1}
    assert len(fake.api_requests) == 3


PAGES = 3  # of each stream
SLOW = 3  # the request, counted from 1, that the server answers late
LISTS: dict[str, Call] = {
    "continuation tokens": lambda c, o: c.licenses.list(page_size=1, **o),
    "page numbers": lambda c, o: c.licenses.list_by_page(page_size=1, **o),
    "NPN partitions side by side": lambda c, o: c.licenses.list(
        npns=[str(n) for n in range(NPN_CHUNK + 1)], page_size=1, concurrency=2, **o
    ),
}


class Paged:
    """``PAGES`` pages of one license each, in either style; the ``SLOW``th request
    waits ``late`` seconds first."""

    def __init__(self, late: float) -> None:
        self.served = 0
        self.late = late

    async def answer(self, request: Request) -> JSONResponse:
        self.served += 1
        if self.served == SLOW:
            await anyio.sleep(self.late)
        if request.url.path == "/v1/licenses":
            number = int(request.query_params["page"])
            following = f"/v1/licenses?page={number + 1}&size=1"
            return JSONResponse(
                {
                    "embedded": {"licenses": [license_row(number)]},
                    "links": {"next": {"href": following}} if number + 1 < PAGES else {},
                    "page": {"totalPages": PAGES, "totalElements": PAGES},
                }
            )
        token = int(request.query_params.get("continuationToken", 0))
        following = f"/v2/licenses?size=1&continuationToken={(token + 1) % PAGES}"
        return JSONResponse(
            {"embedded": {"licenses": [license_row(token)]}, "links": {"next": {"href": following}}}
        )


@KINDS
@pytest.mark.parametrize("style", list(LISTS))
def test_a_list_s_deadline_goes_with_every_page(kind: str, style: str) -> None:
    """The first pages come at once, a later one late by twice the list's deadline: the
    deadline cuts that one too, where the client, of no timeout and no deadline, would
    wait for it."""

    def cut(deadline: float) -> bool:
        paged = Paged(late=2 * deadline)
        with proxied(paged.answer) as proxy:
            timed_out(kind, proxy.url, LISTS[style], deadline)
        return paged.served >= SLOW  # the pages before it came whole

    cut_where_it_should(cut, 1)


@contextmanager
def fake_client(kind: str, fake: FakeAPI, **options: Any) -> Iterator[Any]:
    """A client of ``kind`` on ``fake``; a sync one closed after. An async one is left
    open: it may be closed only in the loop of its calls, ended by then, and its mock
    transport pools no connection."""
    if kind == "sync":
        with fake.client(**options) as sync_client:
            yield sync_client
        return
    yield fake.async_client(**options)


@KINDS
@pytest.mark.parametrize(
    ("options", "said"),
    [
        ({"deadline": 0}, "deadline must be positive"),
        ({"priority": math.nan}, "priority must be a number, not nan"),
        # A bare TypeError, naming neither the option nor the value.
        ({"deadline": "5"}, r"deadline must be positive \(math.inf for none\), not '5'"),
        ({"priority": "high"}, "priority must be a number, not 'high'"),
        ({"max_retries": -1}, "max_retries must be an integer, 0 or more, not -1"),
        ({"max_retries": True}, "max_retries must be an integer, 0 or more, not True"),
    ],
)
def test_a_list_s_option_that_is_none_is_refused_when_the_list_is_made(
    kind: str, options: dict[str, float], said: str
) -> None:
    fake = FakeAPI(lambda request: json_response(200, {}))
    with fake_client(kind, fake) as client, pytest.raises(ValueError, match=said):
        client.licenses.list(**options)  # lazy: nothing would be sent before iterating
    assert fake.token_requests == 0 and not fake.api_requests


@KINDS
@pytest.mark.parametrize("name", [name for name in CALLS if name != "subscriptions.wait"])
def test_an_option_no_call_takes_is_refused_before_any_request(kind: str, name: str) -> None:
    """``timeout=``, as httpx takes it (``wait``'s own is the whole wait's): a lazy list
    took it unremarked, and failed at its first page with ``request()``'s TypeError,
    which named neither the option to use instead nor where the list was made."""
    fake = FakeAPI(lambda request: json_response(200, {}))
    options: Any = {"timeout": 5}
    with fake_client(kind, fake) as client, pytest.raises(TypeError, match=r"'timeout'.*deadline="):
        result = CALLS[name](client, options)
        if kind == "async" and not isinstance(result, AsyncPager | AsyncRecordPages):
            anyio.run(lambda: result)  # a coroutine: its body checks
    assert fake.token_requests == 0 and not fake.api_requests


@KINDS
def test_a_list_s_limit_as_other_sdks_take_it_is_refused_naming_what_stands_for_it(
    kind: str,
) -> None:
    fake = FakeAPI(lambda request: json_response(200, {}))
    options: Any = {"limit": 10}
    with fake_client(kind, fake) as client, pytest.raises(TypeError, match=r"page_size=.*islice"):
        client.licenses.list(**options)
    assert not fake.api_requests


def test_a_request_s_priority_that_orders_nothing_is_refused_before_it_is_sent() -> None:
    fake = FakeAPI(lambda request: json_response(200, {}))
    with fake.client() as client, pytest.raises(ValueError, match="must be a number, not nan"):
        client.request("GET", "/v1/licenses", priority=math.nan)
    assert not fake.api_requests


LOW = "/v1/calls/low"  # a plain request, at the default priority
HOLD = {"retry-after": "0.4"}  # a 429's: every caller queues behind it


def queue_behind_a_hold(kind: str, fake: FakeAPI, callers: list[Call]) -> None:
    """``callers`` on one client of ``kind``, each in its thread or task, started 0.02 s
    apart while the pacer holds every slot, each read to its end; the order they were
    served in is the fake's. A 404 ends a caller quietly."""
    with fake_client(kind, fake, rate_limit=300) as client:
        client.pacer.observe(429, HOLD)
        if kind == "sync":

            def call(index: int) -> None:
                with suppress(NotFoundError):
                    finished(callers[index](client, {}))

            threads(call, len(callers), 0.02)
            return

        async def acall(index: int) -> None:
            with suppress(NotFoundError):
                await awaited(callers[index](client, {}))

        tasks(acall, len(callers), 0.02)


def low(client: Any, options: RequestOptions) -> Any:
    return client.request("GET", LOW)


@KINDS
@EVERY_CALL
def test_a_resource_call_s_priority_puts_it_ahead_in_the_pacer_s_queue(
    kind: str, name: str
) -> None:
    """A plain request asks first, the call at priority 1 after it: the call is served
    first. (Every request but the plain one is a 404: the order is what counts.)"""
    fake = FakeAPI(
        lambda request: (
            json_response(200, {})
            if request.url.path == LOW
            else json_response(404, {"status": 404, "message": "no"})
        )
    )

    def prioritised(client: Any, options: RequestOptions) -> Any:
        return CALLS[name](client, {"priority": 1})

    queue_behind_a_hold(kind, fake, [low, prioritised])
    assert [request.url.path == LOW for request in fake.api_requests] == [False, True]


def two_states(request: httpx2.Request) -> httpx2.Response:
    """``PAGES`` pages of licenses for the state asked, one a page; each next link keeps
    the state, so every request says whose list it is."""
    state = request.url.params["states"]
    token = int(request.url.params.get("continuationToken", 0))
    following = f"/v2/licenses?states={state}&size=1&continuationToken={(token + 1) % PAGES}"
    return json_response(
        200,
        {"embedded": {"licenses": [license_row(token)]}, "links": {"next": {"href": following}}},
    )


@KINDS
def test_a_list_s_priority_goes_with_every_page(kind: str) -> None:
    """Two lists queue: TX first, at the default priority, then CA at 1. Every page of CA
    goes first, each asked for again within the slot interval (0.2 s) as the one before
    it comes; a priority on its first page alone would let TX's in after it."""
    fake = FakeAPI(two_states)
    queue_behind_a_hold(
        kind,
        fake,
        [
            lambda c, o: c.licenses.list(states=["TX"], page_size=1),
            lambda c, o: c.licenses.list(states=["CA"], page_size=1, priority=1),
        ],
    )
    served = [request.url.params["states"] for request in fake.api_requests]
    assert served == ["CA"] * PAGES + ["TX"] * PAGES
