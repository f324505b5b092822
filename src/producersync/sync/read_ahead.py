"""A stream's next pages, read while its last ones wait to be written, and the turns of
the writes.

A stream's pages come one after another: the next page's path is in the last one.
Asking for one page ahead while a page is written, and for the next only once that write
is done, is not enough: the mirror takes one writer at a time (SQLite) and a backfill
writes seven streams side by side, so a write often waits its turn longer than a request
takes (with the service 100 ms away, the longest stream had no request in flight for
2.2 s of its 8 s, measured). So a thread per stream reads on by itself, up to ``depth`` pages
ahead of the writes, and the writes take turns by the pages their stream has left
(``mirror.write_transaction``'s priority), as its requests do at the pacer: the longest
stream's pages are written first, and its reading is never the one held up. The SQLite backfill at
100 ms (``bench.sync --latency-ms 100``, alternated, 3 backfills each): 4.4x and 4.6x the
baseline with one page ahead, 5.0x and 5.2x with a reader per stream.

A page read ahead and never taken (a pass stopped, an activation's NPNs never pulled
again) is not lost: the caller reads it again from its checkpointed path. So a reader
nobody takes from for ``idle_seconds`` ends and drops its pages.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

__all__ = ["Fetch", "Parsed", "ReadAhead"]

# A page's records and the path of the next page (None: the last page).
Parsed = tuple[list[Any], str | None]
# Fetch and parse the page at a path, with the pacer priority to ask for it with.
Fetch = Callable[[str, float], Parsed]


class ReadAhead:
    """The pages of one stream from ``path`` on, read in a thread of its own, at most
    ``depth`` pages ahead of those taken. ``priority``: the first page's priority with
    the pacer (its pages left), one less for each page after it."""

    def __init__(
        self,
        fetch: Fetch,
        path: str,
        priority: float,
        *,
        depth: int = 2,
        idle_seconds: float = 120.0,
    ) -> None:
        self._fetch, self._depth, self._idle = fetch, depth, idle_seconds
        # The pages read and not taken yet, in order, or last the error that ended the
        # reading (raised where its page is taken).
        self._pages: deque[Parsed | BaseException] = deque()
        self._next: str | None = path  # the path the next page taken must have
        self._closed = False
        self._changed = threading.Condition()
        threading.Thread(
            target=self._read, args=(path, priority), name="page-ahead", daemon=True
        ).start()

    def take(self, path: str) -> Parsed | None:
        """The page at ``path``, once read (its error, if reading it failed); None if it
        is not this reader's next page (the caller reads it itself), or the reader has
        ended without it."""
        with self._changed:
            if self._closed or path != self._next:
                return None
            while not self._pages and not self._closed:
                self._changed.wait()
            if not self._pages:
                return None
            page = self._pages.popleft()
            self._next = None if isinstance(page, BaseException) else page[1]
            self._changed.notify_all()
        if isinstance(page, BaseException):
            self.close()
            raise page
        return page

    def close(self) -> None:
        """Stop reading, and drop what was read."""
        with self._changed:
            self._closed = True
            self._pages.clear()
            self._changed.notify_all()

    def _read(self, path: str | None, priority: float) -> None:
        while path is not None and self._room(self._depth):
            try:
                page: Parsed | BaseException = self._fetch(path, priority)
            except BaseException as exc:
                page = exc
            with self._changed:
                if self._closed:
                    return
                self._pages.append(page)
                self._changed.notify_all()
            if isinstance(page, BaseException):
                break
            path, priority = page[1], priority - 1
        self._room(1)  # the last pages (or the error) dropped if never taken

    def _room(self, pages: int) -> bool:
        """Wait until fewer than ``pages`` are waiting to be taken: whether to read on
        (not if closed, or if none was taken for ``idle_seconds``: then it closes)."""
        deadline = time.monotonic() + self._idle
        with self._changed:
            while len(self._pages) >= pages and not self._closed:
                left = deadline - time.monotonic()
                if left <= 0:
                    self._closed = True
                    self._pages.clear()
                    self._changed.notify_all()
                    break
                self._changed.wait(left)
            return not self._closed
