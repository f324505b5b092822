"""A page reads the page after it, and a v2 list resumes from a saved continuation
token, in both clients."""

from __future__ import annotations

from typing import Any

import anyio
import httpx2
import pytest

from producersync.client import AsyncClient
from tests.client.fake import FakeAPI, error, json_response, license_row, page

KINDS = pytest.mark.parametrize("kind", ["sync", "async"])


def _licenses(request: httpx2.Request) -> httpx2.Response:
    """Licenses 1 to 4, two a page, after an ``active`` filter that every request keeps."""
    token = request.url.params.get("continuationToken")
    if request.url.params.get("active") != "true" and token is None:
        return error(400, "lost its filters")
    following = {None: ([1, 2], "t2"), "t2": ([3, 4], "t3"), "t3": ([], None)}
    if token not in following:
        return error(400, f"not a token: {token}")
    ids, after = following[token]
    return json_response(200, page("licenses", [license_row(i) for i in ids], after))


def _read(kind: str, fake: FakeAPI, read: Any) -> Any:
    """``read(client)`` on a client of ``kind``; awaited for ``AsyncClient``."""
    if kind == "sync":
        with fake.client() as client:
            return read(client)

    async def main() -> Any:
        async with fake.async_client() as client:
            return await read(client)

    return anyio.run(main)


def _ids(page: Any) -> list[int]:
    return [record.id for record in page.items]


def _follow_sync(client: Any) -> list[list[int]]:
    first = next(iter(client.licenses.list(active=True, page_size=2).pages()))
    second = first.get_next_page()
    last = second.get_next_page()
    with pytest.raises(RuntimeError, match="last page"):
        last.get_next_page()
    return [_ids(first), _ids(second), _ids(last)]


async def _follow_async(client: AsyncClient) -> list[list[int]]:
    pages = client.licenses.list(active=True, page_size=2).pages()
    first = await anext(aiter(pages))
    await pages.aclose()  # type: ignore[attr-defined]
    second = await first.get_next_page()
    last = await second.get_next_page()
    with pytest.raises(RuntimeError, match="last page"):
        await last.get_next_page()
    return [_ids(first), _ids(second), _ids(last)]


@KINDS
def test_a_page_reads_the_page_after_it(kind: str) -> None:
    fake = FakeAPI(_licenses)
    read = _follow_sync if kind == "sync" else _follow_async
    assert _read(kind, fake, read) == [[1, 2], [3, 4], []]
    assert len(fake.api_requests) == 3


def _token_sync(client: Any) -> str | None:
    return next(
        iter(client.licenses.list(active=True, page_size=2).pages())
    ).next_continuation_token


async def _token_async(client: AsyncClient) -> str | None:
    pages = client.licenses.list(active=True, page_size=2).pages()
    token = (await anext(aiter(pages))).next_continuation_token
    await pages.aclose()  # type: ignore[attr-defined]
    return token


def _resume_sync(token: str) -> Any:
    return lambda client: [
        r.id for r in client.licenses.list(active=True, page_size=2, continuation_token=token)
    ]


def _resume_async(token: str) -> Any:
    async def read(client: AsyncClient) -> list[int]:
        pages = client.licenses.list(active=True, page_size=2, continuation_token=token)
        return [r.id async for r in pages]

    return read


@KINDS
def test_a_list_resumes_from_a_saved_continuation_token(kind: str) -> None:
    saved = _read(kind, FakeAPI(_licenses), _token_sync if kind == "sync" else _token_async)
    assert saved == "t2"
    fake = FakeAPI(_licenses)  # a new process, after a crash
    resume = _resume_sync if kind == "sync" else _resume_async
    assert _read(kind, fake, resume(saved)) == [3, 4]
    assert fake.api_requests[0].url.params["continuationToken"] == "t2"
    assert fake.api_requests[0].url.params["active"] == "true"


def _v1(request: httpx2.Request) -> httpx2.Response:
    body = {
        "embedded": {"licenses": [license_row(1)]},
        "links": {"next": {"href": "/v1/licenses?page=1&size=1"}},
        "page": {"totalPages": 2},
    }
    return json_response(200, body)


def test_the_last_page_and_a_v1_page_name_no_continuation_token() -> None:
    with FakeAPI(_licenses).client() as client:
        pages = list(client.licenses.list(active=True, page_size=2).pages())
    assert [p.next_continuation_token for p in pages] == ["t2", "t3", None]
    with FakeAPI(_v1).client() as client:
        v1 = next(iter(client.licenses.list_by_page(page_size=1).pages()))
    assert v1.has_next_page and v1.next_continuation_token is None


@KINDS
@pytest.mark.parametrize(
    ("token", "options", "message"),
    [
        ("", {}, "is not a continuation token"),
        ("t2", {"npns": [str(n) for n in range(1, 502)]}, "this list has 2"),
    ],
)
def test_a_continuation_token_that_cannot_resume_the_list_is_refused_before_any_request(
    kind: str, token: str, options: dict[str, Any], message: str
) -> None:
    fake = FakeAPI(_licenses)
    client = fake.client() if kind == "sync" else fake.async_client()
    with pytest.raises(ValueError, match=message):
        client.licenses.list(continuation_token=token, **options)
    assert not fake.api_requests and fake.token_requests == 0
