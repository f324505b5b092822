"""Moving-window rate limits per OAuth client, in memory or shared through Redis."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from limits import RateLimitItemPerMinute
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string

from producersync.service.shared_window import SharedWindow

__all__ = ["Decision", "RateLimiter", "moving_window"]

_REDIS_TIMEOUT_SECONDS = 1.0


def moving_window(storage_uri: str) -> MovingWindowRateLimiter | SharedWindow:
    """A moving-window limiter on ``memory://`` (this process) or ``redis://`` (shared,
    and counted in this process while Redis is out of reach: ``shared_window``)."""
    if storage_uri.startswith(("redis://", "rediss://")):
        shared = storage_from_string(
            "async+" + storage_uri,
            implementation="redispy",
            key_prefix="producersync",
            wrap_exceptions=True,
            # A Redis that does not answer holds each request this long at most, not for
            # the system's TCP timeout (minutes).
            socket_connect_timeout=_REDIS_TIMEOUT_SECONDS,
            socket_timeout=_REDIS_TIMEOUT_SECONDS,
        )
        local = storage_from_string("async+memory://")
        return SharedWindow(MovingWindowRateLimiter(shared), MovingWindowRateLimiter(local))
    if storage_uri.startswith("memory://"):
        storage_uri = "async+" + storage_uri
    return MovingWindowRateLimiter(storage_from_string(storage_uri))


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
    """``limit`` requests per rolling minute per key; one storage shared by every process
    that points at the same Redis."""

    def __init__(self, storage_uri: str, namespace: str, limit: int) -> None:
        self._strategy = moving_window(storage_uri)
        self._item = RateLimitItemPerMinute(limit, namespace=namespace)
        self.limit = limit

    async def hit(self, key: str) -> Decision:
        allowed = await self._strategy.hit(self._item, key)
        stats = await self._strategy.get_window_stats(self._item, key)
        reset = max(0, math.ceil(stats.reset_time - time.time()))
        return Decision(allowed, self.limit, stats.remaining, reset)
