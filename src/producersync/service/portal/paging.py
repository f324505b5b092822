"""A portal list shown newest first, a page at a time, and its pager's links.

A page is named by one cursor, ``before``: it holds the items older than the item of
that key (an attempt's id, an endpoint's place in the order made), and the newest page
has none. **Older** names the last item shown, so the
cursor's own item is the oldest of the page above: **Newer** reads up from there, oldest
first, to find where that page begins. **Newest** drops the cursor; **Oldest** names the
item above the oldest ``PAGE_SIZE``. Older and newer are the list's own order, which need
not be the ids'.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

__all__ = ["PAGE_SIZE", "Fetch", "Page", "page_of"]

PAGE_SIZE = 20


Row = TypeVar("Row")
Row_co = TypeVar("Row_co", covariant=True)


class Fetch(Protocol[Row_co]):
    """The list's query: at most ``limit`` items, newest first older than the item of key
    ``before``, or oldest first newer than the item of key ``after``, or (``oldest``)
    oldest first from the list's oldest."""

    def __call__(
        self,
        *,
        limit: int,
        before: int | None = None,
        after: int | None = None,
        oldest: bool = False,
    ) -> Sequence[Row_co]: ...


@dataclass(frozen=True, slots=True)
class Page(Generic[Row]):
    """The items shown, and the pager's links as (label, address), in the order shown."""

    items: Sequence[Row]
    links: list[tuple[str, str]]


def page_of(
    fetch: Fetch[Row],
    before: int | None,
    address: Callable[[int | None], str],
    key: Callable[[Row], int],
) -> Page[Row]:
    """The page that ``before`` names; ``address`` gives the address of a page by its
    cursor (``None``: the newest page), ``key`` an item's key, the cursor it names."""
    # One more than a page tells whether there is another beyond it, either way.
    rows = fetch(limit=PAGE_SIZE + 1, before=before)
    links: list[tuple[str, str]] = []
    if before is not None:
        links.append(("Newest", address(None)))
        # The page above is the cursor's item and the PAGE_SIZE - 1 above it: named by
        # the next one up, or the newest page if there are no more.
        newer = fetch(limit=PAGE_SIZE, after=before)
        links.append(
            ("Newer", address(key(newer[PAGE_SIZE - 1]) if len(newer) == PAGE_SIZE else None))
        )
    if len(rows) > PAGE_SIZE:
        links.append(("Older", address(key(rows[PAGE_SIZE - 1]))))
        # The oldest page is the PAGE_SIZE oldest, named by the item above them; without
        # it, the first attempts of thousands would be a hundred Older presses down. Left out
        # where that item is on this page: Older leads to the last page already.
        oldest = fetch(limit=PAGE_SIZE + 1, oldest=True)
        shown = {key(row) for row in rows[:PAGE_SIZE]}
        if len(oldest) > PAGE_SIZE and key(oldest[PAGE_SIZE]) not in shown:
            links.append(("Oldest", address(key(oldest[PAGE_SIZE]))))
    return Page(rows[:PAGE_SIZE], links)
