"""Moving windows counted in Redis, and in this process while Redis is out of reach.

With the counts in Redis only, Redis going away made every API request and every token
request a 500 until it came back (the gate could not count the request). The limits
exist to share one budget between processes, not to guard the data, so the API stays
up: each process counts in its own memory meanwhile (as with ``memory://``: N processes
allow N times the limit) and tries Redis again every few seconds. The log gets a line
when that starts, a minute while it lasts, and when Redis is back.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from redis.exceptions import RedisError

from producersync.db_outage import OutageLog
from producersync.service.window import Count, Window

__all__ = ["RETRY_SECONDS", "SharedWindow"]

log = logging.getLogger(__name__)

RETRY_SECONDS = 5.0  # Redis is asked again this long after it failed

_T = TypeVar("_T")


class SharedWindow:
    """A ``Window`` on ``shared`` (Redis), answered by ``local`` while that one fails;
    ``counted_alone`` is called for each hit or peek ``local`` answers (a metric: a
    warning a minute does not tell how much was counted so)."""

    def __init__(
        self,
        shared: Window,
        local: Window,
        what: str,
        counted_alone: Callable[[], object] = lambda: None,
    ) -> None:
        self._shared, self._local = shared, local
        self._counted_alone = counted_alone
        self._retry_at = 0.0
        self._outage = OutageLog(log, what, resource="Redis")

    async def hit(self, key: str, limit: int, seconds: int) -> Count:
        return await self._ask(lambda window: window.hit(key, limit, seconds))

    async def peek(self, key: str, limit: int, seconds: int) -> Count:
        return await self._ask(lambda window: window.peek(key, limit, seconds))

    async def reach(self) -> None:
        """Ask Redis once (as the process starts): one out of reach (a URL's host or port
        mistyped) is told then, not at the first request, which may come hours later."""
        await self._from_shared(lambda window: window.reach())

    async def _ask(self, question: Callable[[Window], Awaitable[Count]]) -> Count:
        if (count := await self._from_shared(question)) is not None:
            return count
        self._counted_alone()
        return await question(self._local)

    async def _from_shared(self, question: Callable[[Window], Awaitable[_T]]) -> _T | None:
        """Redis's answer, or None: it failed, now or within ``RETRY_SECONDS``."""
        if time.monotonic() < self._retry_at:
            return None
        try:
            answer = await question(self._shared)
        except RedisError as exc:
            self._retry_at = time.monotonic() + RETRY_SECONDS
            self._outage.failed(exc, "counting in this process")
            return None
        self._outage.succeeded()
        return answer
