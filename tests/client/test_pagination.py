"""A page reads the page after it, and every v2 paged read (a list, an NPN's records, a
record's children) resumes from a saved continuation token, in both clients."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio
import httpx2
import pytest

from producersync.client import AsyncClient
from tests.client.fake import FakeAPI, error, json_response, license_row, page

KINDS = pytest.mark.parametrize("kind", ["sync", "async"])

Opener = Callable[..., Any]  # (client, **more options) -> the read's pager

# Every v2 paged read: how to open it, and the query its every request must keep.
READS: dict[str, tuple[Opener, dict[str, str]]] = {
    "list": (
        lambda c, **kw: c.licenses.list(active=True, page_size=2, **kw),
        {"active": "true", "size": "2"},
    ),
    "for_npn": (
        lambda c, **kw: c.licenses.for_npn("123", states=["CA"], page_size=2, **kw),
        {"states": "CA", "size": "2"},
    ),
    "for_license": (
        lambda c, **kw: c.license_loas.for_license(7, page_size=2, **kw),
        {"size": "2"},
    ),
    "values": (
        lambda c, **kw: c.regulatory_actions.values(9, page_size=2, **kw),
        {"size": "2"},
    ),
}
EVERY_READ = pytest.mark.parametrize("read", list(READS))


def _records(kept: dict[str, str]) -> Callable[[httpx2.Request], httpx2.Response]:
    """Records 1 to 4 of any v2 stream, two a page, to requests that keep the ``kept``
    query; a next link is, as the API's, its request's with the next token."""

    def handle(request: httpx2.Request) -> httpx2.Response:
        url = request.url
        if any(url.params.get(name) != value for name, value in kept.items()):
            return error(400, "lost its filters")
        token = url.params.get("continuationToken")
        following = {None: ([1, 2], "t2"), "t2": ([3, 4], "t3"), "t3": ([], None)}
        if token not in following:
            return error(400, f"not a token: {token}")
        ids, after = following[token]
        body = page(url.path.rsplit("/", 1)[-1], [{"id": i} for i in ids], after)
        body["links"]["next"]["href"] = str(url.copy_set_param("continuationToken", after or 0))
        return json_response(200, body)

    return handle


def _fake(read: str) -> FakeAPI:
    return FakeAPI(_records(READS[read][1]))


def _run(kind: str, fake: FakeAPI, read: Any) -> Any:
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


def _follow_sync(open_: Opener) -> Any:
    def read(client: Any) -> list[list[int]]:
        first = next(iter(open_(client).pages()))
        second = first.get_next_page()
        last = second.get_next_page()
        with pytest.raises(RuntimeError, match="last page"):
            last.get_next_page()
        return [_ids(first), _ids(second), _ids(last)]

    return read


def _follow_async(open_: Opener) -> Any:
    async def read(client: AsyncClient) -> list[list[int]]:
        pages = open_(client).pages()
        first = await anext(aiter(pages))
        await pages.aclose()
        second = await first.get_next_page()
        last = await second.get_next_page()
        with pytest.raises(RuntimeError, match="last page"):
            await last.get_next_page()
        return [_ids(first), _ids(second), _ids(last)]

    return read


@KINDS
@EVERY_READ
def test_a_page_reads_the_page_after_it(kind: str, read: str) -> None:
    fake = _fake(read)
    follow = _follow_sync if kind == "sync" else _follow_async
    assert _run(kind, fake, follow(READS[read][0])) == [[1, 2], [3, 4], []]
    assert len(fake.api_requests) == 3


def _token_sync(open_: Opener) -> Any:
    return lambda client: next(iter(open_(client).pages())).next_continuation_token


def _token_async(open_: Opener) -> Any:
    async def read(client: AsyncClient) -> str | None:
        pages = open_(client).pages()
        token: str | None = (await anext(aiter(pages))).next_continuation_token
        await pages.aclose()
        return token

    return read


def _resume_sync(open_: Opener, token: str) -> Any:
    return lambda client: [r.id for r in open_(client, continuation_token=token)]


def _resume_async(open_: Opener, token: str) -> Any:
    async def read(client: AsyncClient) -> list[int]:
        return [r.id async for r in open_(client, continuation_token=token)]

    return read


@KINDS
@EVERY_READ
def test_a_read_resumes_from_a_saved_continuation_token(kind: str, read: str) -> None:
    open_, kept = READS[read]
    saved = _run(kind, _fake(read), (_token_sync if kind == "sync" else _token_async)(open_))
    assert saved == "t2"
    fake = _fake(read)  # a new process, after a crash
    resume = _resume_sync if kind == "sync" else _resume_async
    assert _run(kind, fake, resume(open_, saved)) == [3, 4]
    first = fake.api_requests[0].url.params
    assert first["continuationToken"] == "t2"
    assert {name: first[name] for name in kept} == kept


def _v1(request: httpx2.Request) -> httpx2.Response:
    body = {
        "embedded": {"licenses": [license_row(1)]},
        "links": {"next": {"href": "/v1/licenses?page=1&size=1"}},
        "page": {"totalPages": 2},
    }
    return json_response(200, body)


@EVERY_READ
def test_the_last_page_and_a_v1_page_name_no_continuation_token(read: str) -> None:
    with _fake(read).client() as client:
        pages = list(READS[read][0](client).pages())
    assert [p.next_continuation_token for p in pages] == ["t2", "t3", None]
    with FakeAPI(_v1).client() as client:
        v1 = next(iter(client.licenses.list_by_page(page_size=1).pages()))
    assert v1.has_next_page and v1.next_continuation_token is None


def _numbered(request: httpx2.Request) -> httpx2.Response:
    """A v1 list of three records, two a page, its ``page`` object as the contract has it."""
    number = int(request.url.params.get("page", "0"))
    body: dict[str, Any] = {
        "embedded": {"licenses": [license_row(i) for i in (1, 2, 3)][2 * number : 2 * number + 2]},
        "links": {"self": {"href": f"/v1/licenses?page={number}&size=2"}},
        "page": {"size": 2, "totalElements": 3, "totalPages": 2, "number": number},
    }
    if number == 0:
        body["links"]["next"] = {"href": "/v1/licenses?page=1&size=2"}
    return json_response(200, body)


def _where_sync(client: Any) -> list[tuple[Any, ...]]:
    return [_where(p) for p in client.licenses.list_by_page(page_size=2).pages()]


async def _where_async(client: AsyncClient) -> list[tuple[Any, ...]]:
    return [_where(p) async for p in client.licenses.list_by_page(page_size=2).pages()]


def _where(p: Any) -> tuple[Any, ...]:
    return (p.page_number, p.page_size, p.total_pages, p.total_elements, p.has_next_page)


@KINDS
def test_a_v1_page_names_its_number_size_and_totals(kind: str) -> None:
    """A v1 page told its total pages, not which it was: a caller reading page by page
    counted them itself to know where to resume."""
    where = _run(kind, FakeAPI(_numbered), _where_sync if kind == "sync" else _where_async)
    assert where == [(0, 2, 2, 3, True), (1, 2, 2, 3, False)]


def test_a_v2_page_has_no_number() -> None:
    with _fake("list").client() as client:
        first = next(iter(READS["list"][0](client).pages()))
    assert (first.page_number, first.page_size) == (None, None)


def _refused(kind: str, read: str, token: object, message: str, **options: Any) -> None:
    fake = _fake(read)
    client = fake.client() if kind == "sync" else fake.async_client()
    with pytest.raises(ValueError, match=message):
        READS[read][0](client, continuation_token=token, **options)
    assert not fake.api_requests and fake.token_requests == 0


@KINDS
@EVERY_READ
@pytest.mark.parametrize("token", ["", 2, b"t2"])
def test_what_is_not_a_continuation_token_is_refused_before_any_request(
    kind: str, read: str, token: object
) -> None:
    _refused(kind, read, token, "is not a continuation token")


@KINDS
def test_a_token_for_a_list_of_several_partitions_is_refused_before_any_request(
    kind: str,
) -> None:
    _refused(kind, "list", "t2", "this list has 2", npns=[str(n) for n in range(1, 502)])


@KINDS
def test_a_page_shows_how_many_records_it_holds_not_the_records(kind: str) -> None:
    """A Jupyter cell that ends with a page, a debugger, a log line: a page of 1,000
    licenses was shown as megabytes of their fields."""
    rows = [license_row(i) for i in range(1000)]
    fake = FakeAPI(lambda request: json_response(200, page("licenses", rows, "t2")))

    def first(client: Any) -> Any:
        return next(iter(client.licenses.list().pages()))

    async def first_async(client: AsyncClient) -> Any:
        return await anext(aiter(client.licenses.list().pages()))

    shown = repr(_run(kind, fake, first if kind == "sync" else first_async))
    page_class = "SyncPage" if kind == "sync" else "AsyncPage"
    assert shown == (
        f"{page_class}(items=<1000 License>, "
        "next_path='https://fake/v2/licenses?size=2&continuationToken=t2', "
        "page_number=None, total_pages=None, total_elements=None)"
    )


@KINDS
@pytest.mark.parametrize(
    ("read", "shown"),
    [
        (
            lambda c: c.licenses.list(npns=["15645555"], states=["CA"]),
            "RecordPages(GET /v2/licenses?states=CA&size=1000&npns=<1 NPN>; lazy)",
        ),
        (
            lambda c: c.licenses.list(npns=[str(n) for n in range(1, 1202)], concurrency=2),
            "RecordPages(GET /v2/licenses?size=1000&npns=<500 NPNs>, and 2 NPN partitions "
            "more, concurrency=2; lazy)",
        ),
        (
            lambda c: c.addresses.list(states=[]),
            "RecordPages(nothing: a filter list is empty; lazy)",
        ),
        (
            lambda c: c.licenses.list_by_page(active=True),
            "Pager(GET /v1/licenses?active=true&page=0&size=1000; lazy)",
        ),
        (
            lambda c: c.license_loas.for_license(7, continuation_token="t2"),
            "Pager(GET /v2/licenses/7/licenseLoas?size=1000&continuationToken=t2; lazy)",
        ),
    ],
    ids=["list", "partitions", "nothing", "list_by_page", "for_license"],
)
def test_a_lazy_read_shows_what_it_will_ask_for_and_sends_nothing(
    kind: str, read: Opener, shown: str
) -> None:
    """Shown as ``<...SyncRecordPages object at 0x...>``, a list in a notebook's output
    looked like no records at all, and told nothing of the read it stands for."""
    fake = _fake("list")
    prefix = "Sync" if kind == "sync" else "Async"
    if kind == "sync":
        with fake.client() as client:
            assert repr(read(client)) == prefix + shown
    else:

        async def main() -> None:
            async with fake.async_client() as client:
                assert repr(read(client)) == prefix + shown

        anyio.run(main)
    assert not fake.api_requests
