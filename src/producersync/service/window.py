"""A moving window: at most ``limit`` hits in any ``seconds``, per key, and what one hit
found, read with the hit so that concurrent hits never tell each other's counts."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol

from limits.aio.storage import MemoryStorage

__all__ = ["Count", "MemoryWindow", "Window"]


@dataclass(frozen=True, slots=True)
class Count:
    allowed: bool
    remaining: int  # hits left in the window, this one counted if allowed
    reset_seconds: float  # until the oldest counted hit ages out: the window frees one


class Window(Protocol):
    async def hit(self, key: str, limit: int, seconds: int) -> Count:
        """Count a hit on ``key`` if fewer than ``limit`` were counted in the last
        ``seconds`` (a refused hit is not counted)."""
        ...

    async def peek(self, key: str, limit: int, seconds: int) -> Count:
        """What a hit on ``key`` would find, counting nothing (a reset of 0: no hit in
        the window)."""
        ...

    async def reach(self) -> None:
        """Reach the storage once (raising what a hit would), counting nothing."""
        ...


class MemoryWindow:
    """Counted in this process (``limits``' memory storage, which drops aged-out hits)."""

    def __init__(self) -> None:
        self._storage = MemoryStorage()

    async def hit(self, key: str, limit: int, seconds: int) -> Count:
        # No other request runs between the hit and the read (neither yields after the
        # hit is counted), so the count read is this hit's.
        allowed = await self._storage.acquire_entry(key, limit, seconds)
        oldest, counted = await self._storage.get_moving_window(key, limit, seconds)
        return Count(allowed, limit - counted, oldest + seconds - time.time())

    async def peek(self, key: str, limit: int, seconds: int) -> Count:
        oldest, counted = await self._storage.get_moving_window(key, limit, seconds)
        reset = oldest + seconds - time.time() if counted else 0.0
        return Count(counted < limit, limit - counted, reset)

    async def reach(self) -> None:
        """Nothing to reach: the counts are in this process."""
