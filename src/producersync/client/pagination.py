"""Pages and pagers for both pagination styles.

A page knows its items and where the next one is; iteration lives once, in the pagers.
v2 lists follow ``links.next`` (continuation tokens) until a page without ``embedded``,
``continuationToken=0``, or a short page; v1 lists follow ``links.next`` (page numbers)
until there is none. ``embedded`` / ``links`` are also read as ``_embedded`` / ``_links``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar
from urllib.parse import parse_qs, urlsplit

from pydantic import BaseModel, ValidationError

from producersync.client._exceptions import ResponseValidationError

__all__ = ["AsyncPager", "Page", "SyncPager", "parse_page"]

M = TypeVar("M", bound=BaseModel)


@dataclass
class Page(Generic[M]):
    items: list[M]
    next_path: str | None  # the next page's URL, None on the last page
    raw: dict[str, Any] = field(repr=False)

    @property
    def has_next_page(self) -> bool:
        return self.next_path is not None


def _section(body: dict[str, Any], name: str) -> Any:
    value = body.get(name)
    return value if value is not None else body.get(f"_{name}")


def parse_page(body: Any, key: str, model: type[M], size: int | None) -> Page[M]:
    """One page of either style. ``size`` (v2 only) lets a short page end the list
    without the extra request for the empty end marker."""
    try:
        embedded = _section(body, "embedded") or {}
        rows = embedded.get(key) or []
        if not isinstance(rows, list):
            raise TypeError(f"embedded.{key} is a {type(rows).__name__}, not a list")
        items = [model.model_validate(row) for row in rows]
        links = _section(body, "links") or {}
        nxt = (links.get("next") or {}).get("href")
    except (AttributeError, TypeError, ValidationError) as exc:
        raise ResponseValidationError(f"malformed {key} page: {exc}") from exc
    if nxt is not None:
        token = parse_qs(urlsplit(nxt).query).get("continuationToken", [None])[0]
        if not items or token == "0" or (size is not None and len(items) < size):
            nxt = None
    return Page(items, nxt, body)


Fetch = Callable[[str, dict[str, Any] | None], Any]
AsyncFetch = Callable[[str, dict[str, Any] | None], Awaitable[Any]]
Parse = Callable[[Any], Page[M]]


class SyncPager(Generic[M]):
    """Iterates records lazily across pages; ``pages()`` gives the pages themselves."""

    def __init__(
        self, fetch: Fetch, path: str, params: dict[str, Any] | None, parse: Parse[M]
    ) -> None:
        self._fetch, self._path, self._params, self._parse = fetch, path, params, parse

    def pages(self) -> Iterator[Page[M]]:
        path: str | None = self._path
        params = self._params
        while path is not None:
            page = self._parse(self._fetch(path, params))
            yield page
            path, params = page.next_path, None  # the next link carries every parameter

    def __iter__(self) -> Iterator[M]:
        for page in self.pages():
            yield from page.items


class AsyncPager(Generic[M]):
    def __init__(
        self, fetch: AsyncFetch, path: str, params: dict[str, Any] | None, parse: Parse[M]
    ) -> None:
        self._fetch, self._path, self._params, self._parse = fetch, path, params, parse

    async def pages(self) -> AsyncIterator[Page[M]]:
        path: str | None = self._path
        params = self._params
        while path is not None:
            page = self._parse(await self._fetch(path, params))
            yield page
            path, params = page.next_path, None

    async def __aiter__(self) -> AsyncIterator[M]:
        async for page in self.pages():
            for item in page.items:
                yield item
