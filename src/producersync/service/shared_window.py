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

from limits import RateLimitItem
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError
from limits.util import WindowStats

from producersync.db_outage import OutageLog

__all__ = ["RETRY_SECONDS", "SharedWindow"]

log = logging.getLogger(__name__)

RETRY_SECONDS = 5.0  # Redis is asked again this long after it failed


class SharedWindow:
    """The ``hit`` and ``get_window_stats`` of a moving-window limiter on ``shared``
    storage (whose errors it wraps in ``StorageError``), answered by ``local`` while the
    shared one fails."""

    def __init__(self, shared: MovingWindowRateLimiter, local: MovingWindowRateLimiter) -> None:
        self._shared, self._local = shared, local
        self._retry_at = 0.0
        self._outage = OutageLog(log, "rate limits", resource="Redis")

    async def hit(self, item: RateLimitItem, key: str) -> bool:
        if self._shared_up():
            try:
                allowed = await self._shared.hit(item, key)
            except StorageError as exc:
                self._failed(exc)
            else:
                self._outage.succeeded()
                return allowed
        return await self._local.hit(item, key)

    async def get_window_stats(self, item: RateLimitItem, key: str) -> WindowStats:
        if self._shared_up():
            try:
                return await self._shared.get_window_stats(item, key)
            except StorageError as exc:
                self._failed(exc)
        return await self._local.get_window_stats(item, key)

    def _shared_up(self) -> bool:
        return time.monotonic() >= self._retry_at

    def _failed(self, exc: StorageError) -> None:
        self._retry_at = time.monotonic() + RETRY_SECONDS
        self._outage.failed(exc.storage_error, "counting in this process")
