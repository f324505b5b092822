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

from redis.exceptions import RedisError

from producersync.db_outage import OutageLog
from producersync.service.window import Count, Window

__all__ = ["RETRY_SECONDS", "SharedWindow"]

log = logging.getLogger(__name__)

RETRY_SECONDS = 5.0  # Redis is asked again this long after it failed


class SharedWindow:
    """A ``Window`` on ``shared`` (Redis), answered by ``local`` while that one fails."""

    def __init__(self, shared: Window, local: Window, what: str) -> None:
        self._shared, self._local = shared, local
        self._retry_at = 0.0
        self._outage = OutageLog(log, what, resource="Redis")

    async def hit(self, key: str, limit: int, seconds: int) -> Count:
        return await self._ask(lambda window: window.hit(key, limit, seconds))

    async def peek(self, key: str, limit: int, seconds: int) -> Count:
        return await self._ask(lambda window: window.peek(key, limit, seconds))

    async def _ask(self, question: Callable[[Window], Awaitable[Count]]) -> Count:
        if time.monotonic() >= self._retry_at:
            try:
                count = await question(self._shared)
            except RedisError as exc:
                self._retry_at = time.monotonic() + RETRY_SECONDS
                self._outage.failed(exc, "counting in this process")
            else:
                self._outage.succeeded()
                return count
        return await question(self._local)
