"""Per-endpoint rate limits: at most N attempts per second to an endpoint, counted in the
same storage as the API's limits, so several dispatcher processes share one budget."""

from __future__ import annotations

from collections.abc import Callable

from producersync.service.ratelimit import moving_window

__all__ = ["EndpointThrottle"]


class EndpointThrottle:
    def __init__(
        self, storage_uri: str, counted_alone: Callable[[], object] = lambda: None
    ) -> None:
        # Its own: the dispatcher runs on an event loop of its own.
        self._window = moving_window(storage_uri, "webhook endpoint rate limits", counted_alone)

    async def wait(self, endpoint_id: str, per_second: int) -> float:
        """0 when an attempt may go now (and counts it); else the seconds until one may."""
        count = await self._window.hit(f"endpoint:{endpoint_id}", per_second, 1)
        return 0.0 if count.allowed else max(0.05, count.reset_seconds)
