"""``with_options``: a copy of a client with other retries or timeouts, sharing its
connection pool, token and pacing."""

from __future__ import annotations

import math
from typing import Any

import anyio
import httpx2
import pytest

from producersync.client import ServerError
from tests.client.fake import FakeAPI, error, json_response, license_row, page


def unavailable(request: httpx2.Request) -> httpx2.Response:
    return error(503, headers={"retry-after": "0"})


def one_page(request: httpx2.Request) -> httpx2.Response:
    return json_response(200, page("licenses", [license_row(1)], None))


def test_a_copy_retries_as_it_was_told_and_the_client_as_before() -> None:
    fake = FakeAPI(unavailable)
    with fake.client(max_retries=2) as client:
        assert client.licenses  # made before the copy: the copy must not borrow it
        fast = client.with_options(max_retries=0)
        with pytest.raises(ServerError):
            list(fast.licenses.list())
        assert len(fake.api_requests) == 1
        with pytest.raises(ServerError):
            list(client.licenses.list())
        assert len(fake.api_requests) == 4


def test_a_copy_retries_as_it_was_told_and_the_client_as_before_async() -> None:
    fake = FakeAPI(unavailable)

    async def main() -> None:
        async with fake.async_client(max_retries=2) as client:
            assert client.licenses
            fast = client.with_options(max_retries=0)
            with pytest.raises(ServerError):
                await anext(aiter(fast.licenses.list()))
            assert len(fake.api_requests) == 1
            with pytest.raises(ServerError):
                await anext(aiter(client.licenses.list()))
            assert len(fake.api_requests) == 4

    anyio.run(main)


def test_a_copy_shares_the_token_and_the_pacing() -> None:
    fake = FakeAPI(one_page)
    with fake.client() as client:
        copy = client.with_options(timeout=5)
        assert len(list(client.licenses.list())) == len(list(copy.licenses.list())) == 1
        assert fake.token_requests == 1
        assert copy.pacer is client.pacer  # one schedule: the two never spend the limit twice


def test_a_copy_s_requests_carry_its_timeout_and_deadline() -> None:
    fake = FakeAPI(one_page)
    with fake.client() as client:
        brief = client.with_options(timeout=1)
        list(brief.licenses.list())
        list(client.licenses.list())
    sent = [request.extensions["timeout"]["read"] for request in fake.api_requests]
    assert sent == [1.0, 60.0]
    assert (brief.deadline, client.deadline) == (4.0, 185.0)  # every wait once, added up


def test_a_copy_keeps_a_deadline_given_to_the_client_unless_told_otherwise() -> None:
    with FakeAPI(one_page).client(deadline=10) as client:
        assert client.with_options(timeout=1).deadline == 10
        assert client.with_options(timeout=1, deadline=None).deadline == 4
        assert client.with_options(deadline=math.inf).timeout == client.timeout
        assert client.with_options().max_retries == client.max_retries


def test_closing_a_copy_leaves_the_client_open_and_closing_the_client_closes_both() -> None:
    fake = FakeAPI(one_page)
    with fake.client() as client:
        with client.with_options(max_retries=0) as fast:
            assert len(list(fast.licenses.list())) == 1
        assert len(list(client.licenses.list())) == 1
    with pytest.raises(RuntimeError):
        list(fast.licenses.list())


def test_closing_a_copy_leaves_the_client_open_async() -> None:
    fake = FakeAPI(one_page)

    async def main() -> None:
        async with fake.async_client() as client:
            async with client.with_options(max_retries=0) as fast:
                assert (await anext(aiter(fast.licenses.list()))).id == 1
            assert (await anext(aiter(client.licenses.list()))).id == 1

    anyio.run(main)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"max_retries": -1}, "max_retries must be an integer, 0 or more, not -1"),
        ({"max_retries": 1.5}, "max_retries must be an integer, 0 or more, not 1.5"),
        ({"timeout": -1}, "the connect wait must be positive"),
        ({"deadline": 0}, "deadline must be positive"),
        ({"deadline": math.nan}, "deadline must be positive"),
    ],
)
def test_a_copy_refuses_what_the_client_would(options: dict[str, Any], message: str) -> None:
    with FakeAPI(one_page).client() as client, pytest.raises(ValueError, match=message):
        client.with_options(**options)
    with pytest.raises(TypeError):
        client.with_options(rate_limit=10)  # type: ignore[call-arg]
