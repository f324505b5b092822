"""Per-endpoint rate limits: at most N attempts per second to an endpoint, counted in the
same storage as the API's limits, so several dispatcher processes share one budget."""

from __future__ import annotations

import time

from limits import RateLimitItemPerSecond

from producersync.service.ratelimit import moving_window

__all__ = ["EndpointThrottle"]


class EndpointThrottle:
    def __init__(self, storage_uri: str) -> None:
        self._strategy = moving_window(storage_uri)

    async def wait(self, endpoint_id: str, per_second: int) -> float:
        """0 when an attempt may go now (and counts it); else the seconds until one may."""
        item = RateLimitItemPerSecond(per_second, namespace="endpoint")
        if await self._strategy.hit(item, endpoint_id):
            return 0.0
        stats = await self._strategy.get_window_stats(item, endpoint_id)
        return max(0.05, stats.reset_time - time.time())
