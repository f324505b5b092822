"""Pages and pagers for the API's three pagination styles.

A page knows its items and where the next one is; iteration lives once, in the pagers.
v2 lists follow ``links.next`` (continuation tokens) until a page without ``embedded``,
``continuationToken=0``, or a short page whose next link asks for the same size; v1
lists follow ``links.next`` (page numbers) until there is none. ``embedded`` /
``links`` are also read as ``_embedded`` / ``_links``. A relative next link
(``?continuationToken=…``, ``licenses?…``) is resolved against the URL of the page that
holds it, as a browser would. A link back to a page already read, or past a v1 page's
``totalPages``, is a ``ResponseValidationError``: followed, it would never end. So is an
``embedded`` that holds something but not the list's records:
read as none, it would end the list there. A null list (``"licenses": null``, as Jackson
can write an empty one) is a page of none, as the list left out is.

A pager's pages can fetch the page after them (``get_next_page``, awaited on an
``AsyncPage``), for a caller that reads a list at its own pace; a v2 page names the
continuation token of the next (``next_continuation_token``), which a list started anew
resumes from, and a v1 page its own number (``page_number``), which ``page=`` takes.

The webhook lists (``/v1/webhooks/...``) page by cursor: ``{data, nextBefore}``, the next
page the same request with ``before=nextBefore`` (``parse_cursor_page``), until a page
whose ``nextBefore`` is null.
"""

from __future__ import annotations

import gc
import math
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from functools import cache
from typing import Annotated, Any, Generic, TypeVar
from urllib.parse import urljoin

import httpx2
import orjson
from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    create_model,
)

from producersync.client._exceptions import ResponseValidationError
from producersync.counted import counted
from producersync.model.records import null_as_absent

__all__ = [
    "AsyncPage",
    "AsyncPager",
    "LoopGuard",
    "Page",
    "SyncPage",
    "SyncPager",
    "parse_cursor_page",
    "parse_page",
    "parse_raw_page",
]

M = TypeVar("M", bound=BaseModel)


@dataclass(repr=False)
class Page(Generic[M]):
    """One page of a list: its records (``items``) and where the next is. A v1 page also
    says where it sits, from its ``page`` object: ``page_number`` (0-based, what
    ``list_by_page(page=...)`` and ``subscriptions.page(...)`` take, so a saved one
    resumes there), ``page_size``, ``total_pages`` and ``total_elements``; each None on
    a v2 page, which has none, and where a server left it out."""

    items: list[M]
    next_path: str | None  # the next page's URL, None on the last page
    total_pages: int | None = None  # v1 pages say how many there are; v2 pages cannot
    total_elements: int | None = None  # and how many records, when they were read
    page_number: int | None = None  # v1: this page's number, from 0
    page_size: int | None = None  # v1: the records a page holds, the last page's fewer

    def __repr__(self) -> str:
        # Its records' count, not the records: shown whole, a page of 1,000 licenses is
        # megabytes of text (a Jupyter cell's output, a debugger's, a log line's).
        kind = type(self.items[0]).__name__ if self.items else "record"
        return (
            f"{type(self).__name__}(items=<{len(self.items)} {kind}>, "
            f"next_path={self.next_path!r}, page_number={self.page_number!r}, "
            f"total_pages={self.total_pages!r}, total_elements={self.total_elements!r})"
        )

    @property
    def has_next_page(self) -> bool:
        return self.next_path is not None

    @property
    def next_continuation_token(self) -> str | None:
        """The v2 continuation token of the next page, None on the last page and on v1
        pages: saved, a list made again with the same filters and
        ``continuation_token=`` resumes there (after a crash, say)."""
        if self.next_path is None:
            return None
        token: str | None = httpx2.URL(self.next_path).params.get("continuationToken")
        return token

    def _following(self) -> str:
        if self.next_path is None:
            raise RuntimeError("this is the last page: check has_next_page first")
        return self.next_path


@dataclass
class _Chain:
    """Where a pager's page sits in the walk it belongs to, so that following a link by
    hand (``get_next_page``) is guarded against a loop as ``pages()`` is."""

    guard: LoopGuard
    depth: int

    def follow(self, href: str) -> _Chain:
        self.guard.check(href, self.depth)
        return _Chain(self.guard, self.depth + 1)


@dataclass(repr=False)
class SyncPage(Page[M]):
    """A page a ``SyncPager`` read: it can read the page after it."""

    _pager: SyncPager[M] | None = field(default=None, repr=False, compare=False)
    _chain: _Chain | None = field(default=None, repr=False, compare=False)

    def get_next_page(self) -> SyncPage[M]:
        """The page after this one, fetched with the list's options; ``RuntimeError`` on
        the last page, ``ResponseValidationError`` on a link back to a page of this walk
        (a caller looping on ``has_next_page`` would never stop)."""
        path = self._following()
        assert self._pager is not None and self._chain is not None
        return self._pager._read(path, None, self._chain.follow(path))


@dataclass(repr=False)
class AsyncPage(Page[M]):
    """A page an ``AsyncPager`` read: it can read the page after it, awaited."""

    _pager: AsyncPager[M] | None = field(default=None, repr=False, compare=False)
    _chain: _Chain | None = field(default=None, repr=False, compare=False)

    async def get_next_page(self) -> AsyncPage[M]:
        """``SyncPage.get_next_page``, awaited."""
        path = self._following()
        assert self._pager is not None and self._chain is not None
        return await self._pager._read(path, None, self._chain.follow(path))


@cache
def _envelope(key: str, model: type[BaseModel]) -> TypeAdapter[Any]:
    """A validator for one list's pages, ``embedded``/``_embedded`` and ``links``/``_links``
    alike. Pages are validated from the raw JSON bytes: no intermediate dicts to build and
    then collect, which halves the SDK's work per record."""
    config = ConfigDict(extra="ignore")
    # A null list is no records, as the key left out is (``_records``).
    items: Any = Annotated[list[model], null_as_absent(list)]  # type: ignore[valid-type]
    embedded = create_model(  # type: ignore[call-overload]
        f"{model.__name__}Embedded",
        __config__=ConfigDict(extra="allow"),  # kept, for ``_records_elsewhere``
        **{key: (items, [])},
    )
    envelope = create_model(
        f"{model.__name__}Envelope",
        __config__=config,
        embedded=(
            embedded | None,
            Field(None, validation_alias=AliasChoices("embedded", "_embedded")),
        ),
        links=(
            dict[str, Any] | None,
            Field(None, validation_alias=AliasChoices("links", "_links")),
        ),
        page=(_PageInfo | None, None),
    )
    return TypeAdapter(envelope)


class _PageInfo(BaseModel):
    """A v1 page's ``page`` object (``{size, totalElements, totalPages, number}``)."""

    model_config = ConfigDict(extra="ignore")
    total_pages: int | None = Field(None, alias="totalPages", ge=0)
    total_elements: int | None = Field(None, alias="totalElements", ge=0)
    number: int | None = Field(None, ge=0)
    size: int | None = Field(None, ge=0)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Build a page's thousands of objects without the cyclic collector running dozens of
    times over them (and over the whole heap): measured, it was 60 % of the SDK's CPU on
    1000-record pages. The validator holds the GIL throughout, so no other thread's
    collections are delayed; a collector the application disabled stays disabled."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def parse_page(body: bytes, key: str, model: type[M], size: int | None, *, at: str) -> Page[M]:
    """One page of either style, read from ``at`` (a path or URL). ``size`` (v2 only)
    lets a short page end the list without the extra request for the empty end marker."""
    try:
        with _collector_paused():
            envelope = _envelope(key, model).validate_json(body)
    except ValidationError as exc:
        raise ResponseValidationError(f"malformed {key} page: {exc}") from exc
    items: list[M] = []
    if envelope.embedded is not None:
        items = getattr(envelope.embedded, key)
        if key not in envelope.embedded.model_fields_set:
            _records_elsewhere(key, envelope.embedded.model_extra)
    info = envelope.page or _PageInfo()
    next_path = _next_path(envelope.links, len(items), size, key, at)
    if next_path is not None and info.total_pages is not None:
        # A v1 page that links past its own count would be followed for as long as the
        # server keeps linking.
        following = _page_number(next_path)
        if following is not None and following >= info.total_pages:
            raise ResponseValidationError(
                f"malformed {key} page: links.next is page {following} of "
                f"totalPages {info.total_pages}"
            )
    return Page(items, next_path, info.total_pages, info.total_elements, info.number, info.size)


@cache
def _cursor_envelope(model: type[BaseModel]) -> TypeAdapter[Any]:
    """A validator for a cursor list's pages (``_envelope``'s, for ``{data, nextBefore}``)."""
    items: Any = Annotated[list[model], null_as_absent(list)]  # type: ignore[valid-type]
    envelope = create_model(
        f"{model.__name__}CursorPage",
        __config__=ConfigDict(extra="ignore"),
        data=(items, ...),
        next_before=(str | None, Field(None, alias="nextBefore")),
    )
    return TypeAdapter(envelope)


def parse_cursor_page(body: bytes, model: type[M], *, at: str) -> Page[M]:
    """One page of a cursor list, read from ``at`` (a path with its query): the next is
    ``at`` with ``before`` set to the page's ``nextBefore``, every other parameter kept."""
    try:
        with _collector_paused():
            envelope = _cursor_envelope(model).validate_json(body)
    except ValidationError as exc:
        raise ResponseValidationError(f"malformed {model.__name__} page: {exc}") from exc
    after = envelope.next_before
    # A cursor on a page of none would ask for that same nothing again, for ever.
    following = None if after is None or not envelope.data else _with_before(at, after)
    return Page(envelope.data, following)


def _with_before(at: str, before: str) -> str:
    return str(httpx2.URL(at).copy_set_param("before", before))


def _page_number(href: str) -> float | None:
    """The page a v1 link names, if it names one. ``math.inf`` for a number too long for
    ``int`` to read (over 4,300 digits): past any count, where its ValueError escaped."""
    number = httpx2.URL(href).params.get("page")
    if number is None or not number.isdecimal():
        return None
    try:
        return int(number)
    except ValueError:
        return math.inf


def parse_raw_page(
    body: bytes, key: str, size: int | None, *, at: str
) -> tuple[list[Any], str | None]:
    """One page of either style, read from ``at``, as JSON objects and the next page's
    path, for a caller
    that stores records as they came (the sync's mirror). The envelope is checked, not
    the records: that is a pydantic validation of each, 77 ms a 1,000-license page beside
    the 28 ms of parsing it. A record without an integer id is the caller's to set aside:
    refused here, it failed its whole page, on every retry and every later sync."""
    with _collector_paused():
        try:
            envelope = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise ResponseValidationError(f"malformed {key} page: {exc}") from exc
    if not isinstance(envelope, dict):
        raise ResponseValidationError(f"malformed {key} page: not a JSON object")
    embedded = envelope.get("embedded", envelope.get("_embedded")) or {}
    items = _records(embedded.get(key)) if isinstance(embedded, dict) else None
    if isinstance(embedded, dict) and key not in embedded:
        _records_elsewhere(key, embedded)
    if not isinstance(items, list):
        raise ResponseValidationError(f"malformed {key} page: {key} is not a list")
    links = envelope.get("links", envelope.get("_links"))
    links = links if isinstance(links, dict) else None
    return items, _next_path(links, len(items), size, key, at)


def _records(items: Any) -> Any:
    """A page's list of records, ``[]`` for a null one: the reference has an empty
    collection leave its key out, and Jackson, which the public API's Spring runs, can
    write it as null instead (``"licenses": null``). Refused, that null would fail the page
    of an empty list, and a sync on every retry."""
    return [] if items is None else items


def _records_elsewhere(key: str, embedded: dict[str, Any] | None) -> None:
    """Refuse a page whose ``embedded`` holds something, but not ``key``: read as no
    records, it would end the list there, and every record after it be lost in silence."""
    if embedded:
        raise ResponseValidationError(
            f"malformed {key} page: embedded has no {key!r}, only {sorted(embedded)!r:.200}"
        )


def _next_path(
    links: dict[str, Any] | None, count: int, size: int | None, key: str, at: str
) -> str | None:
    """Where the page after one of ``count`` records, read from ``at``, is; None at the
    end. A v2 page of fewer than ``size`` records is the last only when its next link
    asks for ``size`` too. The API's documented next link carries the token alone, so the
    pages after the first come at its default of 250: read as short, the first of them
    ended a list of 1,000 a page there, silently."""
    nxt = (links or {}).get("next")
    if nxt is None or not count:
        return None
    short = size is not None and count < size
    try:
        href, url = _link(nxt, key)
    except ResponseValidationError:
        if short:
            return None  # the last page by its size: its link is never followed
        raise
    if url.params.get("continuationToken") == "0":
        return None
    if short and url.params.get("size") == str(size):
        return None
    # Relative to the page (RFC 3986 §5). Re-rooted on the base URL as it came, a link of
    # a query alone would be asked at the API's root, and ``licenses?…`` at ``/licenses``.
    return urljoin(at, href)


def _link(nxt: Any, key: str) -> tuple[str, httpx2.URL]:
    """A next link the SDK can follow, as sent and parsed; else ``ResponseValidationError``:
    it would end the list early, silently, or fail deep in httpx2 with its own error."""
    href = nxt.get("href") if isinstance(nxt, dict) else None
    if not isinstance(href, str):
        raise ResponseValidationError(f"malformed {key} page: links.next has no href: {nxt!r:.200}")
    try:
        url = httpx2.URL(href)
    except httpx2.InvalidURL as exc:
        raise ResponseValidationError(f"malformed {key} page: links.next is {href!r:.200}") from exc
    if url.scheme not in ("", "http", "https"):
        # ``javascript:…``, ``data:…``: re-rooted on the base URL as every link is, it
        # would be asked of the API at a path of its text, a 404 that names no page.
        raise ResponseValidationError(f"malformed {key} page: links.next is {href!r:.200}")
    return href, url


def _fields(page: Page[M]) -> dict[str, Any]:
    """What a parsed page holds, for the pager's page made of it: every field, so that a
    field added to ``Page`` reaches both pagers' pages."""
    return {f.name: getattr(page, f.name) for f in fields(Page)}


Fetch = Callable[[str, dict[str, Any] | None], Any]
AsyncFetch = Callable[[str, dict[str, Any] | None], Awaitable[Any]]
Parse = Callable[..., Page[M]]  # (body, *, at): ``parse_page`` with its list's key and model


class LoopGuard:
    """Refuses a next link to a page this list has already read: a server that links
    back (the same continuationToken again, or a cycle) would be followed forever.

    Pages are counted from the first (depth 0). A link is checked from the depth of the
    page holding it, so a page whose next page is fetched twice by hand is not taken for
    a loop: only a link to that page or one before it is."""

    def __init__(self, start: str) -> None:
        self._start = start
        self._depths: dict[tuple[str, str], int] = {}

    def check(self, href: str, depth: int | None = None) -> None:
        """``depth``: that of the page holding ``href``; by default the last page read,
        for a walk that only goes forward."""
        at = len(self._depths) if depth is None else depth
        url = httpx2.URL(href)  # hosts aside: every link is re-rooted on the client's
        where = (url.path, url.query.decode())
        if self._depths.setdefault(where, at + 1) <= at:
            raise ResponseValidationError(
                f"{self._start}: the API linked back to a page already read ({href!r:.200}); "
                f"following it would never end"
            )


def _read_shown(path: str | None, params: dict[str, Any] | None) -> str:
    """What a lazy read will ask for, as its ``repr`` shows it: its first request, an
    ``npns`` list by its count (a partition is 500 NPNs, kilobytes of digits)."""
    if path is None:
        return "nothing: a filter list is empty"
    shown = {
        name: _npns_shown(str(value)) if name == "npns" else value
        for name, value in (params or {}).items()
    }
    query = "&".join(f"{name}={value}" for name, value in shown.items())
    return f"GET {path}{'?' if query else ''}{query}"


def _npns_shown(npns: str) -> str:
    count = len(npns.split(","))
    return f"<{counted(count, 'NPN')}>"


class SyncPager(Generic[M]):
    """Iterates records lazily across pages; ``pages()`` gives the pages themselves.
    A ``path`` of None is a read that selects nothing: it has no pages, and sends
    nothing."""

    def __init__(
        self, fetch: Fetch, path: str | None, params: dict[str, Any] | None, parse: Parse[M]
    ) -> None:
        self._fetch, self._path, self._params, self._parse = fetch, path, params, parse

    def __repr__(self) -> str:
        # Lazy: shown as a bare object, it looked like no records in a notebook's output.
        return f"{type(self).__name__}({self._shown()}; lazy)"

    def _shown(self) -> str:
        return _read_shown(self._path, self._params)

    def pages(self) -> Iterator[SyncPage[M]]:
        if self._path is None:
            return
        page = self._read(self._path, self._params)
        yield page
        while page.has_next_page:  # the next link carries every parameter
            page = page.get_next_page()
            yield page

    def _read(
        self, path: str, params: dict[str, Any] | None, chain: _Chain | None = None
    ) -> SyncPage[M]:
        page = self._parse(self._fetch(path, params), at=path)
        return SyncPage(**_fields(page), _pager=self, _chain=chain or _Chain(LoopGuard(path), 0))

    def __iter__(self) -> Iterator[M]:
        for page in self.pages():
            yield from page.items


class AsyncPager(Generic[M]):
    """``SyncPager``, awaited."""

    def __init__(
        self, fetch: AsyncFetch, path: str | None, params: dict[str, Any] | None, parse: Parse[M]
    ) -> None:
        self._fetch, self._path, self._params, self._parse = fetch, path, params, parse

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._shown()}; lazy)"

    def _shown(self) -> str:
        return _read_shown(self._path, self._params)

    async def pages(self) -> AsyncIterator[AsyncPage[M]]:
        if self._path is None:
            return
        page = await self._read(self._path, self._params)
        yield page
        while page.has_next_page:
            page = await page.get_next_page()
            yield page

    async def _read(
        self, path: str, params: dict[str, Any] | None, chain: _Chain | None = None
    ) -> AsyncPage[M]:
        page = self._parse(await self._fetch(path, params), at=path)
        return AsyncPage(**_fields(page), _pager=self, _chain=chain or _Chain(LoopGuard(path), 0))

    async def __aiter__(self) -> AsyncIterator[M]:
        async for page in self.pages():
            for item in page.items:
                yield item
