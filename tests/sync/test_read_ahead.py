"""A stream's pages read ahead of its writes (``sync/read_ahead.py``), with a fetch of
pages held in memory."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from producersync.sync.read_ahead import Parsed, ReadAhead
from tests.support.waiting import eventually

PATHS = [f"/v2/licenses?continuationToken={i}" for i in range(1, 7)]


class Pages:
    """Six pages in a chain, each one record naming its page; ``fail_at`` raises there.
    Notes each fetch, and how many pages were read and not yet taken when it began."""

    def __init__(self, fail_at: str | None = None) -> None:
        self.fail_at = fail_at
        self.fetched: list[tuple[str, float]] = []
        self.taken = 0
        self.ahead_at_fetch: list[int] = []
        self.lock = threading.Lock()

    def fetch(self, path: str, priority: float) -> Parsed:
        with self.lock:
            self.ahead_at_fetch.append(len(self.fetched) - self.taken)
            self.fetched.append((path, priority))
        if path == self.fail_at:
            raise RuntimeError(f"no page at {path}")
        at = PATHS.index(path)
        return [{"id": at}], PATHS[at + 1] if at + 1 < len(PATHS) else None

    def take(self, reader: ReadAhead, path: str) -> Parsed | None:
        page = reader.take(path)
        with self.lock:
            self.taken += 1
        return page


def _records(page: Parsed | None) -> list[Any]:
    assert page is not None
    return page[0]


def test_the_pages_come_in_order_each_fetched_once_with_falling_priority() -> None:
    pages = Pages()
    reader = ReadAhead(pages.fetch, PATHS[0], 6)
    path: str | None = PATHS[0]
    got = []
    while path is not None:
        page = pages.take(reader, path)
        assert page is not None
        got += page[0]
        path = page[1]
    assert got == [{"id": i} for i in range(6)]
    assert pages.fetched == [(p, 6 - i) for i, p in enumerate(PATHS)]
    assert reader.take(PATHS[0]) is None  # its stream ended


def test_a_reader_reads_at_most_depth_pages_ahead_of_those_taken() -> None:
    pages = Pages()
    reader = ReadAhead(pages.fetch, PATHS[0], 6, depth=2)
    eventually(lambda: len(pages.fetched) == 2, what=lambda: pages.fetched)
    assert _records(pages.take(reader, PATHS[0])) == [{"id": 0}]
    eventually(lambda: len(pages.fetched) == 3, what=lambda: pages.fetched)
    for path in PATHS[1:]:
        pages.take(reader, path)
    # No fetch began with two pages waiting to be taken already.
    assert max(pages.ahead_at_fetch) < 2
    reader.close()


def test_a_page_that_failed_raises_its_error_where_it_is_taken_and_ends_the_reader() -> None:
    pages = Pages(fail_at=PATHS[2])
    reader = ReadAhead(pages.fetch, PATHS[0], 6)
    assert _records(pages.take(reader, PATHS[0])) == [{"id": 0}]
    assert _records(pages.take(reader, PATHS[1])) == [{"id": 1}]
    with pytest.raises(RuntimeError, match="no page at"):
        reader.take(PATHS[2])
    assert reader.take(PATHS[2]) is None  # the caller reads it again itself
    assert [path for path, _ in pages.fetched] == PATHS[:3]


def test_a_page_asked_for_from_another_path_is_left_to_the_caller() -> None:
    pages = Pages()
    reader = ReadAhead(pages.fetch, PATHS[0], 6)
    assert reader.take(PATHS[3]) is None
    reader.close()
    assert reader.take(PATHS[0]) is None  # closed: what it had read is dropped


def test_a_reader_nobody_takes_from_drops_its_pages_and_ends() -> None:
    pages = Pages()
    before = {t for t in threading.enumerate() if t.name == "page-ahead"}
    reader = ReadAhead(pages.fetch, PATHS[0], 6, idle_seconds=0.2)
    eventually(lambda: not {t for t in threading.enumerate() if t.name == "page-ahead"} - before)
    assert reader.take(PATHS[0]) is None
    assert len(pages.fetched) == 2
