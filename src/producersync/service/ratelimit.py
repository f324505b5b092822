"""Moving-window rate limits per OAuth client, in memory or shared through Redis."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from producersync.service.window import Count, MemoryWindow, Window

__all__ = ["Decision", "RateLimiter", "moving_window"]

_MINUTE = 60


def moving_window(
    storage_uri: str, what: str, counted_alone: Callable[[], object] = lambda: None
) -> Window:
    """Moving windows in ``memory://`` (this process) or ``redis://`` (shared, and counted
    in this process while Redis is out of reach: ``shared_window``, whose log lines name
    ``what`` they count, and which calls ``counted_alone`` for each request so counted).
    One per event loop: a Redis connection belongs to one."""
    if storage_uri.startswith(("redis://", "rediss://")):
        # Imported here: the Redis client cost every process on memory:// (the default)
        # 50 ms of CPU at start.
        from producersync.service.redis_window import RedisWindow
        from producersync.service.shared_window import SharedWindow

        return SharedWindow(RedisWindow(storage_uri), MemoryWindow(), what, counted_alone)
    return MemoryWindow()


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    reset_seconds: int  # until the window frees a request

    def headers(self) -> dict[str, str]:
        headers = {
            "ratelimit-limit": str(self.limit),
            "ratelimit-remaining": str(self.remaining),
            "ratelimit-reset": str(self.reset_seconds),
        }
        if not self.allowed:
            headers["retry-after"] = str(max(1, self.reset_seconds))
        return headers


class RateLimiter:
    """``limit`` requests per rolling minute per key, counted in ``window`` (which the
    process's limiters share: one Redis outage, one log line) under ``namespace``."""

    def __init__(self, window: Window, namespace: str, limit: int) -> None:
        self._window = window
        self._namespace = namespace
        self.limit = limit

    async def hit(self, key: str) -> Decision:
        return _decision(
            await self._window.hit(f"{self._namespace}:{key}", self.limit, _MINUTE), self.limit
        )

    async def reach(self) -> None:
        """Reach the storage the counts are in, counting nothing (``Window.reach``)."""
        await self._window.reach()

    async def peek(self, key: str) -> Decision:
        """Whether ``key`` has a request left, counting none."""
        return _decision(
            await self._window.peek(f"{self._namespace}:{key}", self.limit, _MINUTE), self.limit
        )


def _decision(count: Count, limit: int) -> Decision:
    return Decision(count.allowed, limit, count.remaining, max(0, math.ceil(count.reset_seconds)))
